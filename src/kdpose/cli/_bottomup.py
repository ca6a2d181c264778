"""``kdpose infer`` for bottom-up models (depth pose machines): whole images in (16-bit depth PNGs in millimetres,
or colour images for an RGB model), every person out, no detector. Writes ``predictions.json`` (COCO results format:
``kdpose eval --metric pck-pr`` scores it) and drawn images (depth shown in false colour)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def is_bottom_up(model: str) -> bool:
    """Whether ``--model`` (a zoo name, a pretrained tag or an ``.onnx`` file) is a bottom-up model: its zoo entry
    or the file's metadata says so (``task``)."""
    from kdpose.models import MODELS, PRETRAINED, model_task

    text = str(model)
    if text.lower().endswith(".onnx"):
        from kdpose.export.runtime import OrtRunner

        return OrtRunner(text).meta.task == "bottomup"
    name = PRETRAINED[text].model if text in PRETRAINED else text
    return name in MODELS and model_task(name) == "bottomup"


def check_bottom_up_arguments(args: argparse.Namespace) -> None:
    """Options of the top-down pipeline that mean nothing to a bottom-up model are errors, not silently ignored."""
    from kdpose.errors import ConfigError

    given = [flag for flag, on in (("--det", args.det not in (None, "none")), ("--bboxes", bool(args.bboxes)),
                                   ("--flip", args.flip), ("--openpose", args.openpose),
                                   ("--openpose-json", args.openpose_json), ("--show", args.show),
                                   ("--score-mode", args.score_mode != "mmpose"),
                                   ("--precision", getattr(args, "precision", None) not in (None, "fp32")))
             if on]
    if given:
        raise ConfigError(f"{', '.join(given)}: not for the bottom-up model {args.model}, which finds every person in "
                          "the whole image itself (no boxes, no flip test, fp32)")


def run_bottom_up(args: argparse.Namespace) -> int:
    from kdpose.data.image import read_image
    from kdpose.errors import ConfigError, DataError
    from kdpose.inference.bottomup import BottomUpEstimator, depth_to_bgr, depth_unit_problem, people_to_results
    from kdpose.inference.estimator import job_image_ids
    from kdpose.inference.outputs import image_output_folders, output_stems
    from kdpose.inference.sources import drop_repeats, scan_folder, source_kind
    from kdpose.utils.io import atomic_write, write_json
    from kdpose.viz.draw import draw_skeleton

    check_bottom_up_arguments(args)
    files: list[tuple[Path, str]] = []  # (path, name: relative to its folder, as in top-down jobs)
    for source in args.source:
        kind = source_kind(source)
        if kind not in ("image", "folder"):
            raise ConfigError(f"{source}: bottom-up models read image files and folders, not a {kind}")
        if kind == "folder":
            images, skipped = scan_folder(source, image_output_folders(args.out))  # not the pictures it drew
            files += [(p, p.relative_to(source).as_posix()) for p in images]
            for reason in skipped:  # formats OpenCV cannot read (HEIC, ...): reported, the others are inferred
                print(f"kdpose: skipped {reason}", file=sys.stderr)
        else:
            files.append((Path(source), Path(source).name))
    if not files:
        raise DataError(f"{', '.join(args.source)}: no image files")
    files, repeats = drop_repeats(files)
    for line in repeats:  # the same file given twice (a file and its folder, ...): inferred once
        print(f"kdpose: note: {line}", file=sys.stderr)
    files = files[: args.max_frames] if args.max_frames else files
    names = [name for _, name in files]
    stems = output_stems(names)  # sub/a.png and a.png, a.png and a.jpg: never one output for two images
    image_ids = job_image_ids(names)  # integer file stems, then ids above them for names without a number
    if args.json:
        owner: dict[int, str] = {}
        for (path, name), image_id in zip(files, image_ids):  # named by their paths: two folders' 1.png
            if image_id in owner:
                raise ConfigError(f"{path} would be image_id {image_id} (its integer file stem), like "
                                  f"{owner[image_id]}: predictions.json could not tell their people apart; rename "
                                  "one of them or infer them as separate jobs (each with its own --out)")
            owner[image_id] = str(path)
    est = BottomUpEstimator(args.model, weights=args.weights, backend=args.backend, device=args.device,
                            threads=args.threads, peak_threshold=args.peak_thr, batch_size=args.batch,
                            layout=args.layout)
    mode = "depth" if est.in_channels == 1 else "color"
    out = Path(args.out)
    results: list[dict] = []
    people_total, start = 0, time.perf_counter()
    bad: list[str] = []
    scale_warned: set[tuple[int, ...]] = set()
    for (path, _), stem, image_id in zip(files, stems, image_ids):
        try:
            image = read_image(path, mode=mode)
            problem = depth_unit_problem(image) if mode == "depth" else None
            if problem:  # (the estimator's own warnings are silenced by infer: stderr lines here)
                print(f"kdpose: warning: {path}: {problem}", file=sys.stderr)
            scale = est.scale_problem(image.shape)
            if scale and image.shape[:2] not in scale_warned:  # once per image size
                scale_warned.add(image.shape[:2])
                print(f"kdpose: warning: {scale}", file=sys.stderr)
            people = est(image)
        except DataError as exc:  # a damaged file, or a colour image among depth PNGs: reported, the job goes on
            if len(files) == 1:
                raise
            bad.append(str(exc))
            print(f"kdpose: skipped {exc}", file=sys.stderr)
            continue
        records = people_to_results(image_id, people)
        results += records
        people_total += len(people)
        if args.json_per_image:
            write_json(out / "predictions" / f"{stem}.json", records)
        if not args.no_vis:
            import cv2

            canvas = depth_to_bgr(image) if mode == "depth" else image
            for person in people:
                canvas = draw_skeleton(canvas, person.keypoints, person.scores, est.skeleton, args.kpt_thr)
            ok, data = cv2.imencode(".png", canvas)
            target = out / "vis" / f"{stem}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(target, "wb") as f:
                f.write(data.tobytes())
    if args.json:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "predictions.json", results)
    seconds = max(time.perf_counter() - start, 1e-9)
    done = len(files) - len(bad)
    skipped = f", {len(bad)} unreadable files skipped" if bad else ""
    print(f"kdpose infer: {done} images, {people_total} people, {done / seconds:.1f} images/s "
          f"(bottom-up {est.backend}, eta {est.peak_threshold:g}){skipped}; outputs in {out}", file=sys.stdout)
    return 1 if done == 0 else 0

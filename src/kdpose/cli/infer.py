"""``kdpose infer``: poses of every person in images, folders, URLs, a video or a webcam."""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

NAME = "infer"
# OKS-NMS threshold of --nms auto / on: the trainer's validation default (RecipeCfg eval.nms_thr) and MMPose's
VALIDATION_NMS_THR = 0.9
HELP = "estimate poses in images, folders, URLs, a video or a webcam; write pictures, videos and JSON"

EPILOG = """\
Sources: image files, folders (searched recursively, sorted; a file of an image format OpenCV cannot read, e.g.
HEIC, is reported and skipped) and image URLs, several at once (a shell glob works: kdpose infer shots/*.jpg), or
one video file / stream URL, or a webcam index (0, 1, ...).

Person boxes: with no --det and no --bboxes, the default detector finds them: kdpose-det-tiny.synth-standard_320
(kdpose.detection.registry.DEFAULT_DETECTOR), trained on kdpose's synthetic scenes only, so on photos it misses
people (said at the start; give --det yolox-m.humanart for photos); --det none takes each image as ONE person
filling the whole image. --det (or --detector) takes an official detector tag (downloaded once into
$KDPOSE_CACHE/detectors and checked against its sha256; KDPOSE_OFFLINE=1 forbids the download):
yolox-nano.humanart, yolox-tiny.humanart, yolox-s.humanart, yolox-m.humanart, yolox-l.humanart, yolox-x.humanart,
rtmdet-nano.person; the tag of a trained kdpose detector shipped with the package
(kdpose-det-*.<data>_<size>, docs/detector.md; for synthetic scenes); or a detector .onnx file, built-in detector
weights (.safetensors) or a built-in name. Detector boxes below --bbox-thr (default 0.3) are dropped (it is also
the detector's own score cut), duplicate people are removed by OKS-NMS and people are sorted by score.
--bboxes FILE gives the boxes yourself: a COCO detection-results file or a COCO annotation file (e.g. the ground
truth); each box gives one pose (no score cut unless --bbox-thr, as training validation reads data.val.bbox_file
with bbox_score_thr 0). An image with a box that is NaN or lies outside it (or of another size than an annotation
file gives it) is skipped with one line on stderr and counted in the summary, as unreadable files are, and the job
goes on (a job of that one image fails). By default (--nms auto) these poses then go through the same OKS-NMS
(0.9) as training validation's (eval.nms_thr), and an annotation file gives the boxes validation crops from it
(clipped to [0, W-1] x [0, H-1]; people with no labelled keypoint give no box, counted on stderr), so kdpose eval
of the ground-truth boxes' predictions.json reproduces validation's AP; --nms off gives exactly one pose per box,
in the file's order. Entries are matched to images by file_name, else by image_id = the integer file stem; for a
video, by image_id = --first-frame-id + the frame index (0-based). A video's file must fit its frames: ids outside
F..F+frames-1, or (without --first-frame-id) a first id other than 0, are refused, since a file numbered from 1
would otherwise give every frame the next frame's boxes.

Outputs go to --out (default ./infer_out): predictions.json (--json: COCO results of the whole job, with bbox,
bbox_score and, for videos, frame_id (the 0-based frame index) and track_id, image_id = the id the --bboxes file
gives the image, else the integer file stem, else (names without a number) the next ids above all of those in
job order, for a video --first-frame-id + the frame index; whole-body poses in the split COCO-WholeBody fields
as MMPose writes them; ready for kdpose eval --pred), predictions/
(--json-per-image), vis/ (rendered images or mp4), openpose/ (--openpose-json, --openpose). Files whose names
differ only in the extension (a.jpg, a.png) get a_jpg / a_png outputs, one name from two folders a and a_2; two
images that would share an image id (000001.jpg and sub/000001.jpg) are refused with --json or --bboxes, which key
on it; a file given twice (shots/ shots/a.jpg) is inferred once, and the pictures a job draws (--out's vis/,
openpose/) are never inputs of a source folder holding them. Images are read as BGR and converted to RGB before
normalisation (MMPose's convention; rtmlib feeds the array it gets unconverted, so give rtmlib RGB frames to
match). Keypoint scores are min(max_x, max_y) of the SimCC logits as in MMPose; --score-mode rtmlib averages the
two as rtmlib does (higher scores, so thresholds tuned with rtmlib carry over). PyTorch runs the pose model and the
detector on half the CPUs (1 to 4) unless --threads or OMP_NUM_THREADS says otherwise; on a busy machine fewer
threads are faster.

Examples:
  kdpose infer photo.jpg --model rtmpose-t --weights rtmpose-t.safetensors --det yolox-m.humanart --json
  kdpose infer photos/ --model rtmpose-t.onnx --bboxes dets.json --batch 8 --out results
  kdpose infer data/synth/val --model rtmpose-t --weights w.safetensors --bboxes data/synth/person_keypoints_val.json \\
      --json --no-vis && kdpose eval --gt data/synth/person_keypoints_val.json --pred infer_out/predictions.json
  kdpose infer clip.mp4 --model dwpose-l.onnx --layout coco_wholebody --det yolox-m.humanart --det-every 5 --openpose
  kdpose infer 0 --model rtmpose-t.onnx --det rtmdet-nano.person --max-frames 300 --show     # webcam 0

Bottom-up models (depth pose machines: --model mpm-2s, a pretrained tag or their .onnx) take whole images, 16-bit
depth PNGs in millimetres, and find every person without a detector (--peak-thr sets their detection threshold):
  kdpose infer depth_pngs/ --model mpm-2s.synth-depth-demo_184x184 --json && \
      kdpose eval --gt person_keypoints_val.json --pred infer_out/predictions.json --metric pck-pr
"""


# The flags only a video or webcam job reads, with their defaults: an image job refuses them when changed, since it
# would otherwise run without the tracking / smoothing / detector schedule the user asked for and say nothing.
VIDEO_ONLY = {"det_every": 1, "no_track": False, "no_smooth": False, "min_cutoff": 1.0, "beta": 0.05}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("source", nargs="+", help="image files, folders or URLs; or one video / stream / webcam index")
    parser.add_argument("--model", required=True, help="zoo name (e.g. rtmpose-t), pretrained tag "
                        "(kdpose.models.list_pretrained(), e.g. rtmpose-s.synth-demo_96x64) or an .onnx file")
    parser.add_argument("--weights", help="weights for a zoo name (.safetensors or MMPose .pth); not for .onnx files")
    parser.add_argument("--layout", help="keypoint layout (coco, coco_wholebody, ...); needed for official ONNX "
                                         "files, which do not name theirs")
    parser.add_argument("--det", "--detector", dest="det", default=None,
                        help="person detector (default: kdpose.detection.registry.DEFAULT_DETECTOR, the shipped "
                             "synthetic-scene detector): 'none' (the whole image is one person), an official tag "
                             "(yolox-m.humanart, rtmdet-nano.person, ...), a shipped kdpose detector tag, a detector "
                             ".onnx file (kdpose export or official RTMDet/YOLOX), built-in detector .safetensors "
                             "weights or name, or a COCO detection-results .json (same as --bboxes)")
    parser.add_argument("--bboxes", help="your own person boxes: a COCO detection-results or annotation .json "
                                         "(one pose per box, in the file's order, except that the default --nms "
                                         "auto merges duplicate people: --nms off keeps every box; an image with a "
                                         "box NaN or outside it is skipped and reported, an error for a one-image "
                                         "job)")
    parser.add_argument("--bbox-thr", type=float, default=None,
                        help="ignore boxes scoring below this; default 0.3 for a detector's boxes (also its own "
                             "score cut), 0 for --bboxes (every box gives a pose, as in training validation)")
    parser.add_argument("--first-frame-id", type=int, default=None,
                        help="videos: the image id of the first frame (frame i is image N + i) in the --bboxes file "
                             "and in predictions.json; default 0, and a --bboxes file whose ids do not start at 0 "
                             "or do not fit the frames is refused")
    parser.add_argument("--nms", default="auto", choices=("auto", "on", "off"),
                        help="OKS-NMS (0.9) of duplicate people: auto = as training validation, i.e. of detector "
                             "output and of --bboxes boxes (default; infer + eval on ground-truth boxes then "
                             "reproduces validation's AP), on = the same, off = never (one pose per --bboxes box, "
                             "in the file's order)")
    parser.add_argument("--out", default="infer_out", help="output folder (default: infer_out)")
    parser.add_argument("--json", action="store_true", help="write predictions.json (COCO results of the whole job)")
    parser.add_argument("--json-per-image", action="store_true", help="write predictions/<image>.json per image")
    parser.add_argument("--openpose-json", action="store_true", help="write OpenPose JSON (18-point body, "
                                                                     "hands, face) per image / frame")
    parser.add_argument("--openpose", action="store_true", help="write ControlNet-style pose images / video")
    parser.add_argument("--no-vis", action="store_true", help="do not write rendered images / video")
    parser.add_argument("--show", action="store_true", help="show the rendered frames in a window (needs a display "
                                                            "and an OpenCV with GUI; q or Esc stops)")
    parser.add_argument("--flip", action="store_true", help="flip test (2x pose compute)")
    parser.add_argument("--score-mode", default="mmpose", choices=("mmpose", "rtmlib"),
                        help="SimCC keypoint scores: mmpose = min(max_x, max_y) (default), rtmlib = their mean")
    parser.add_argument("--batch", type=int, default=1, help="frames per batched forward (image jobs, videos "
                                                             "with --det-every 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                        help="zoo names and tags run with torch; an .onnx --model always runs with onnxruntime "
                             "(onnxruntime for a zoo model: export it first with kdpose export)")
    parser.add_argument("--threads", type=int, help="CPU threads of the pose model and the detector (torch default: "
                                                    "half the CPUs, 1 to 4, or OMP_NUM_THREADS; onnxruntime: its "
                                                    "default)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16", "auto"),
                        help="PyTorch models: fp32 (default), bf16 (CPUs with AMX / AVX512-BF16), fp16 (CUDA) or "
                             "auto = the fastest whose accuracy guard passes (fp32 on CPUs without native bf16); "
                             ".onnx files run in their own precision (export --int8 for int8)")
    parser.add_argument("--det-every", type=int, default=VIDEO_ONLY["det_every"],
                        help="videos: run the detector every K frames, "
                             "boxes from the previous poses in between")
    parser.add_argument("--no-track", action="store_true", help="videos: no track ids / smoothing")
    parser.add_argument("--no-smooth", action="store_true", help="videos: track ids but no One-Euro smoothing")
    parser.add_argument("--min-cutoff", type=float, default=VIDEO_ONLY["min_cutoff"],
                        help="videos: One-Euro min cut-off (Hz)")
    parser.add_argument("--beta", type=float, default=VIDEO_ONLY["beta"], help="videos: One-Euro speed coefficient")
    parser.add_argument("--kpt-thr", type=float, default=0.3, help="keypoint score threshold for drawing")
    parser.add_argument("--peak-thr", type=float, default=None,
                        help="bottom-up models: detection threshold (eta) of the confidence peaks (default: the "
                             "model's, 0.1)")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")


def _chunks(frames, size):
    chunk = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, before anything is loaded, options that cannot work together (one-line ``ConfigError``)."""
    from kdpose.errors import ConfigError
    from kdpose.utils.io import check_output_dir

    if args.batch < 1 or args.det_every < 1:
        raise ConfigError("--batch and --det-every must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames must be >= 1, got {args.max_frames}")
    # out of range, a threshold was taken silently: -1 kept every box / peak and drew the keypoints decoding marks
    # invalid (score <= 0, at a made-up place), nan or 2 kept none; box and peak scores are in [0, 1], keypoint
    # scores are raw SimCC maxima and can exceed 1
    for flag, value, high in (("--bbox-thr", args.bbox_thr, 1.0), ("--peak-thr", args.peak_thr, 1.0),
                              ("--kpt-thr", args.kpt_thr, None)):
        if value is not None and not (math.isfinite(value) and value >= 0 and (high is None or value <= high)):
            raise ConfigError(f"{flag} must be {'>= 0' if high is None else 'in [0, 1]'}, got {value}")
    if not (0 < args.min_cutoff < math.inf) or not (0 <= args.beta < math.inf):
        raise ConfigError(f"--min-cutoff must be > 0 and --beta >= 0 (One-Euro smoothing), got {args.min_cutoff} / "
                          f"{args.beta}")
    if args.bboxes and args.det not in (None, "none", args.bboxes):
        raise ConfigError(f"--bboxes {args.bboxes} and --det {args.det} both give the person boxes; use one")
    if args.first_frame_id is not None and args.first_frame_id < 0:
        raise ConfigError(f"--first-frame-id must be >= 0, got {args.first_frame_id}")
    if args.weights and str(args.model).lower().endswith(".onnx"):
        raise ConfigError(f"--weights {args.weights}: {args.model} is an .onnx file, which carries its own weights "
                          "(export the model with these weights: kdpose export)")
    if args.no_vis and not (args.json or args.json_per_image or args.openpose_json or args.openpose or args.show):
        raise ConfigError("--no-vis with none of --json, --json-per-image, --openpose-json, --openpose, --show would "
                          "write nothing")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: --out names a file; give a folder (the outputs go to {out}/predictions.json, "
                          f"{out}/vis/, ...)")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{parent}: --out {out} lies under a file, not a folder")
    check_output_dir(out, "--out")  # a folder that cannot be written (read-only, /proc): refused before the work


def _id_collision(est, first: str, second: str, image_id: int, shown: str | None = None) -> Exception:
    """The one-line error for two images of a job that would share a COCO image id; ``first`` and ``shown`` are
    how the message names them (their paths: two folders' ``1.jpg`` have the same frame name ``second``)."""
    from kdpose.errors import ConfigError

    if est.boxes_from_caller and est.detector.image_id_for(second) is not None:
        why = f"the id {est.detector.path} gives it"
    else:
        why = "its integer file stem"
    harm = (f"both would take the boxes of image {image_id} in {est.detector.path}" if est.boxes_from_caller
            else "predictions.json could not tell their people apart")
    return ConfigError(f"{shown or second} would be image_id {image_id} ({why}), like {first}: {harm}; rename one of "
                       "them or infer them as separate jobs (each with its own --out)")


def image_ids_of_job(names: list[str], est, needed: bool, paths: list[str] | None = None) -> list[int]:
    """The image id of each image of the job (:func:`kdpose.inference.estimator.job_image_ids`: the id a --bboxes
    file gives the name, else the integer file stem, else the next ids above those), after refusing, before
    anything runs, two images whose names give the same id, e.g. ``000001.jpg`` and ``sub/000001.jpg``. The id
    keys the boxes of a --bboxes file and the results of --json, so such images took each other's boxes and merged
    in ``kdpose eval``. ``needed``: the job uses the ids (--json or --bboxes). ``paths`` name the images in the
    message (default: ``names``)."""
    from kdpose.inference.estimator import job_image_ids

    if needed:
        paths = paths or names
        seen: dict[int, int] = {}  # image id -> index of the image whose name gives it
        for i, name in enumerate(names):
            image_id = est.named_image_id(name)
            if image_id is None:
                continue  # no id from the name: job_image_ids gives it one no name gives
            if image_id in seen:
                raise _id_collision(est, paths[seen[image_id]], name, image_id, shown=paths[i])
            seen[image_id] = i
    return job_image_ids(names, est.named_image_id)


def check_boxes_match(names: list[str], ids: list[int], est) -> None:
    """Refuse a --bboxes file that speaks of none of the job's images (``ids``: their image ids; the boxes of
    another image set, a file numbering them otherwise): every image got no pose, predictions.json was empty,
    exit 0."""
    from kdpose.errors import ConfigError

    if not est.boxes_from_caller or not names or not len(est.detector):
        return
    if any(est.detector.knows(name, image_id) for name, image_id in zip(names, ids)):
        return
    raise ConfigError(f"{est.detector.path}: names none of the {len(names)} images of this job (matched by file_name, "
                      f"else image_id = the integer file stem, e.g. {names[0]}): every image would get no pose; are "
                      "these the boxes of another set of images?")


def check_video_ids(args: argparse.Namespace, source, est) -> int:
    """The image id of a video's first frame (--first-frame-id, else 0), after refusing a --bboxes file whose ids
    do not fit the frames (:func:`kdpose.inference.video.check_frame_ids`), --first-frame-id and the other
    video-only flags (``VIDEO_ONLY``) for images, and --json-per-image for videos."""
    from kdpose.errors import ConfigError
    from kdpose.inference.video import check_frame_ids

    if source.is_video and args.json_per_image:  # ignored for videos: with --no-vis the job wrote nothing at all
        raise ConfigError("--json-per-image writes one file per image; for a video use --json (predictions.json, "
                          "each result with its frame_id) or --openpose-json (one file per frame)")
    if not source.is_video:
        if args.first_frame_id is not None:
            raise ConfigError("--first-frame-id is for a video or webcam; images take their ids from the --bboxes "
                              "file or their integer file stems")
        changed = ["--" + name.replace("_", "-") for name, default in VIDEO_ONLY.items()
                   if getattr(args, name) != default]
        if changed:
            raise ConfigError(f"{', '.join(changed)}: for a video or webcam (tracking, smoothing, the detector "
                              "schedule); this job reads images, which are estimated one by one")
        return 0
    if est.boxes_from_caller:
        check_frame_ids(est.detector, source.frame_count, args.first_frame_id, str(args.source[0]))
    return args.first_frame_id or 0


def _require_onnxruntime(args: argparse.Namespace) -> None:
    """One-line error (with the pip hint) when an ONNX model or detector is asked for without onnxruntime."""
    from kdpose.cli.main import require_extra
    from kdpose.inference.detectors import OFFICIAL_DETECTORS

    if str(args.model).lower().endswith(".onnx") or args.backend == "onnxruntime":
        require_extra("onnxruntime", f"running {args.model}")
    det = args.det or ""
    if det.lower().endswith(".onnx") or det in OFFICIAL_DETECTORS:
        require_extra("onnxruntime", f"the detector {args.det}")


def report_skipped_annotations(est) -> None:
    """Say on stderr how many people of a --bboxes annotation file give no pose (no labelled keypoint, or no box
    area): training validation skips the same ones, but a user counting poses per box should not have to guess."""
    skipped = getattr(est.detector, "skipped", 0) if est.boxes_from_caller else 0
    if skipped:
        print(f"kdpose infer: {skipped} annotations of {est.detector.path} give no pose (no labelled keypoint or no "
              "box area), as in training validation", file=sys.stderr)


def boxes_or_skip(est, frame, image_id: int, single: bool, skipped: list[str], video: bool = False):
    """``est.detect`` of one image of an image job (or one frame of a video), or None after one stderr line saying
    why its --bboxes boxes cannot give poses (a box outside the image or not finite, an image of another size than
    the file gives it). Like an unreadable file, one bad entry of the file skips its image and the job goes on; the
    only image of a job keeps it an error (``single``). A video frame is looked up by id alone, as
    :class:`~kdpose.inference.video.VideoPoseEstimator` does (one bad box stopped the whole video, with no output)."""
    from kdpose.errors import DataError

    if video:
        name, label, what = None, f"{frame.index} (image_id {image_id})", "frame"
    else:
        name, label, what = frame.name, frame.name, "image"
    try:
        boxes, scores = est.detect(frame.image, name, image_id)
        if est.boxes_from_caller:  # checked per image: predict_boxes checks the whole batch and stops at one bad box
            est.check_file_boxes(frame.image, boxes, scores, label, what=what)
    except DataError as exc:
        if single:
            raise
        skipped.append(str(exc))
        print(f"kdpose: skipped {exc}", file=sys.stderr)
        return None
    return boxes, scores


def default_detector() -> str:
    """The detector when neither --det nor --bboxes is given: ``DEFAULT_DETECTOR`` (the one switch), else 'none'."""
    from kdpose.detection.registry import DEFAULT_DETECTOR

    return DEFAULT_DETECTOR or "none"


def display_window(image_job: bool):
    """A function that shows a frame in a window, or a ``ConfigError`` saying why there can be none here."""
    from kdpose.errors import ConfigError

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError("--show needs a display (neither DISPLAY nor WAYLAND_DISPLAY is set); the outputs are "
                          "written to --out instead")
    import cv2

    try:
        cv2.namedWindow("kdpose", cv2.WINDOW_NORMAL)
    except cv2.error:
        raise ConfigError("--show needs an OpenCV build with a GUI, and opencv-python-headless has none: pip "
                          "uninstall opencv-python-headless && pip install opencv-python") from None

    def show(frame):
        cv2.imshow("kdpose", frame)
        key = cv2.waitKey(0 if image_job else 1) & 0xFF  # images: any key for the next; videos: run on
        if key in (27, ord("q")):
            raise KeyboardInterrupt

    return show


def _close_windows() -> None:
    import cv2

    try:
        cv2.destroyAllWindows()
    except cv2.error:
        pass


# the official checkpoint to suggest for photos instead of a synthetic-only pose model, by its keypoint layout
PHOTO_MODELS = {"coco": "rtmpose-m.body7_256x192", "coco_wholebody": "dwpose-m.ucoco_256x192"}


def synthetic_weights_note(model: str, photos_tag: str | dict[str, str] | None,
                           flag: str = "--model") -> str | None:
    """One line for weights trained on kdpose's synthetic scenes only (their ``PretrainedCfg.synthetic``), which
    transfer poorly to real images: users should know before they read the poses (or trust the person boxes). None
    for anything else; ``flag`` is the option that takes ``photos_tag`` (a tag, or a tag per keypoint layout: a
    whole-body model is pointed to a whole-body checkpoint, not a body-only one)."""
    from kdpose.models import PRETRAINED

    cfg = dict.get(PRETRAINED, PRETRAINED.full_tag(model))
    if cfg is None or not cfg.synthetic:
        return None
    if isinstance(photos_tag, dict):
        photos_tag = photos_tag.get(cfg.layout)
    advice = f"; for photos use an official one, e.g. {flag} {photos_tag}" if photos_tag else ""
    return (f"{cfg.tag} was trained on kdpose's synthetic scenes only and scores far lower on real images "
            f"(BENCHMARKS.md \"Shipped synthetic weights on real photos\"){advice}")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kdpose.inference.estimator import WHOLE_IMAGE_WARNING, PoseEstimator
    from kdpose.inference.outputs import ResultWriter, image_output_folders
    from kdpose.inference.smoothing import OneEuroParams
    from kdpose.inference.sources import FrameSource, prefetch, source_kind
    from kdpose.inference.video import VideoPoseEstimator
    from kdpose.skeletons import get_skeleton

    # kdpose's own warnings (random weights, CUDA fallback) are also logged: print them once, as log lines
    warnings.filterwarnings("ignore", message="kdpose:", category=RuntimeWarning)
    check_arguments(args)
    _require_onnxruntime(args)
    from kdpose.cli._bottomup import is_bottom_up, run_bottom_up

    if is_bottom_up(args.model):  # a pose machine: whole images, no detector (its own small pipeline)
        note = synthetic_weights_note(args.model, photos_tag=None)
        if note:
            print(f"kdpose: note: {note}", file=sys.stderr)
        return run_bottom_up(args)
    if args.peak_thr is not None:
        from kdpose.errors import ConfigError

        raise ConfigError(f"--peak-thr is for bottom-up models; {args.model} is a top-down one")
    sources = args.source if len(args.source) > 1 else args.source[0]
    video = any(source_kind(s) in ("video", "webcam") for s in args.source)  # a missing path fails here
    drawn = image_output_folders(args.out)  # a second `kdpose infer .` read the first one's infer_out/vis/ pictures
    source = None if video else FrameSource(sources, max_frames=args.max_frames, exclude=drawn)  # empty folders fail
    show = display_window(image_job=not video) if args.show else None
    if args.bboxes:  # always a file of boxes: a name such as dets.txt or shot.jpg is not looked up as a detector
        from kdpose.inference.detectors import DetectionFile

        detector = DetectionFile(args.bboxes)
    else:
        detector = args.det or default_detector()
    est = PoseEstimator(args.model, weights=args.weights, detector=detector, backend=args.backend,
                        device=args.device, layout=args.layout, flip_test=args.flip, bbox_thr=args.bbox_thr,
                        threads=args.threads, nms_thr=None if args.nms == "off" else VALIDATION_NMS_THR,
                        nms_caller_boxes=args.nms != "off", score_mode=args.score_mode, precision=args.precision)
    if source is None:
        source = FrameSource(sources, max_frames=args.max_frames, exclude=drawn)  # opens the video / camera last
    note = synthetic_weights_note(args.model, photos_tag=PHOTO_MODELS)  # after the argument errors
    if note:
        print(f"kdpose: note: {note}", file=sys.stderr)
    if isinstance(detector, str):  # the default detector, or a shipped one, is synthetic-only too: say so
        note = synthetic_weights_note(detector, photos_tag="yolox-m.humanart", flag="--det")
        if note:
            print(f"kdpose: note: the person detector {note}", file=sys.stderr)
    if est.detector is None:
        print(f"kdpose: warning: {WHOLE_IMAGE_WARNING} (--det TAG or --bboxes FILE)", file=sys.stderr)
        est._warned_whole_image = True
    report_skipped_annotations(est)
    ids_needed = bool(args.json or est.boxes_from_caller) and not source.is_video
    job_ids = image_ids_of_job(source.names, est, ids_needed, source.paths)  # none for a video: frame ids
    check_boxes_match(source.names, job_ids, est)
    first_frame_id = check_video_ids(args, source, est)
    openpose_ok = est.skeleton.name in ("coco", "coco_wholebody")
    if (args.openpose or args.openpose_json) and not openpose_ok:
        from kdpose.errors import ConfigError

        raise ConfigError(f"OpenPose outputs need the coco or coco_wholebody layout, not '{est.skeleton.name}'")
    writer = ResultWriter(args.out, est.skeleton, get_skeleton("openpose"), get_skeleton("hand"),
                          is_video=source.is_video, video_name=source.video_name if source.is_video else "video",
                          fps=source.fps, render=not args.no_vis, json=args.json, openpose_json=args.openpose_json,
                          openpose_image=args.openpose, kpt_thr=args.kpt_thr, json_per_image=args.json_per_image,
                          names=source.names, show=show)
    tracker = None
    if source.is_video:
        smoothing = None if args.no_smooth else OneEuroParams(min_cutoff=args.min_cutoff, beta=args.beta)
        tracker = VideoPoseEstimator(est, det_every=args.det_every, tracking=not args.no_track, smoothing=smoothing,
                                     kpt_thr=args.kpt_thr, fps=source.fps, first_frame_id=first_frame_id)
    frames = people = 0
    interrupted = False
    bad: list[str] = []
    bad_boxes: list[str] = []  # images whose --bboxes entries cannot give poses: skipped, reported like bad files
    single = not source.is_video and len(source) == 1
    for line in source.notes:  # a file given twice (a file and its folder, ...), output folders left out
        print(f"kdpose: note: {line}", file=sys.stderr)
    for reason in source.skipped:  # folder files of formats OpenCV cannot read (HEIC, ...): reported, the job goes on
        bad.append(reason)
        print(f"kdpose: skipped {reason}", file=sys.stderr)
    start = time.perf_counter()
    bar = tqdm(total=len(source) or None, unit="frame", file=sys.stderr, dynamic_ncols=True,
               disable=not sys.stderr.isatty())
    try:
        for chunk in _chunks(prefetch(source), args.batch):
            good = [f for f in chunk if f.image is not None]
            for f in chunk:
                if f.error:
                    bad.append(f.error)
                    print(f"kdpose: skipped {f.error}", file=sys.stderr)
            unposed = []  # video frames refused for their --bboxes entry: still in the rendered videos, without poses
            if tracker is not None:
                dets = None
                if est.boxes_from_caller:  # a bad entry of the file skips its frame, as it skips an image
                    dets = [boxes_or_skip(est, f, first_frame_id + f.index, False, bad_boxes, video=True)
                            for f in good]
                    unposed = [f for f, d in zip(good, dets) if d is None]
                    good, dets = [f for f, d in zip(good, dets) if d is not None], [d for d in dets if d is not None]
                results = tracker.process([f.image for f in good], [f.index for f in good], source.video_name,
                                          detections=dets,   # the boxes looked up above: not a second time
                                          timestamps=[f.timestamp for f in good])
                ids = [first_frame_id + f.index for f in good]
            else:
                ids = [job_ids[f.index] for f in good]
                dets = [boxes_or_skip(est, f, i, single, bad_boxes) for f, i in zip(good, ids)]
                kept = [j for j, d in enumerate(dets) if d is not None]
                good, ids, dets = [good[j] for j in kept], [ids[j] for j in kept], [dets[j] for j in kept]
                results = est.predict_boxes([f.image for f in good], [d[0] for d in dets], [d[1] for d in dets],
                                            names=[f.name for f in good])
            posed = {f.index: (f, res, image_id) for f, res, image_id in zip(good, results, ids)}
            for f in sorted(unposed + good, key=lambda f: f.index):   # frame order, for the rendered videos
                if f.index not in posed:
                    writer.add_unposed(f.image)
                    continue
                _, res, image_id = posed[f.index]
                writer.add(f.image, res, f.name, f.index, image_id)
                people += len(res.keypoints)
            frames += len(good)
            bar.update(len(chunk))
            bar.set_postfix(people=people)
    except KeyboardInterrupt:  # the usual way to stop a webcam or a --show window: keep what was processed
        interrupted = True
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
        if show is not None:
            _close_windows()
    writer.close()
    elapsed = max(time.perf_counter() - start, 1e-9)
    per_frame = 1000 / max(frames, 1)
    fps = frames / elapsed
    rate = f"{fps:.1f}" if fps >= 1 else f"{fps:.2g}"  # a slow job printed "0.0 fps"
    line = (f"kdpose infer: {frames} frames, {people} people, {rate} fps ({est.precision}; detector "
            f"{est.timings['detect_s'] * per_frame:.1f} ms/frame, pose {est.timings['pose_s'] * per_frame:.1f} "
            "ms/frame)")
    if tracker is not None and args.det_every > 1:
        line += f", detector on {tracker.detector_runs} frames"
    if bad:
        line += f", {len(bad)} unreadable files skipped"
    if bad_boxes:
        line += f", {len(bad_boxes)} {'frames' if source.is_video else 'images'} skipped for their --bboxes boxes"
    if source.truncated:
        line += " (the video ended before its announced frame count)"
    if interrupted:
        line += " (interrupted)"
    print(f"{line}; outputs in {args.out}")
    if interrupted:
        return 130
    if frames == 0 and (bad or bad_boxes):
        return 1
    return 0

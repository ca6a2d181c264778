"""Write a synthetic dataset to disk in COCO layout, with worker processes and atomic file writes.

Layout under ``out``::

    person_keypoints_<split>.json  (coco)  or  coco_wholebody_<split>.json  (wholebody)
    <split>/000001.jpg ...         RGB images (or .png), or 16-bit PNG depth (millimetres) in depth mode
    <split>_masks/000001.png       instance silhouettes: 0 background, i + 1 = the image's i-th annotation

Files are named by their COCO ``image_id`` (image ``i`` has id ``i + 1``), so tools that take the image id from the
file stem (``kdpose infer``, COCO's own naming) agree with the annotation file.

``file_name`` entries are relative to ``out`` (the annotation file's folder), which is where kdpose's COCO readers
and pycocotools-based tools look by default. Image ``i`` is rendered from the seed ``(seed, split_id, i)`` whatever
the number of workers, so the output is byte-identical for the same settings.

A split is written whole or not at all: it is rendered into a hidden staging folder in ``out`` and then moved in,
the annotation file last, after any annotation file that would describe other images was removed; so an annotation
file in ``out`` always matches the images it lists, even if the run is killed. Both layouts share ``<split>/``, so
one folder holds one layout's split at a time. Without ``overwrite`` a split that holds another dataset (other
settings, seed or image count, the other layout, or files no annotation file lists) is refused before anything is
rendered; the same settings again rewrite the split (byte-identical files, missing ones restored). Other splits
and files in ``out`` are left alone."""
from __future__ import annotations

import errno
import filecmp
import json
import multiprocessing as mp
import numbers
import os
import re
import shutil
import socket
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import cv2
import numpy as np

from ...errors import ConfigError, DataError
from ...utils.cv import opencv_fork_safe
from ...utils.io import atomic_write, write_json
from .coco_format import categories, info, instance_annotation
from .config import SPLITS, SynthConfig
from .rgb import check_backgrounds, list_backgrounds
from .scene import SynthScene, render_scene


def scene_seed(seed: int, split: str, index: int) -> tuple[int, int, int]:
    """The random seed of image ``index`` of a split (shared by the writer and the datasets)."""
    if split not in SPLITS:
        raise ConfigError(f"synth: unknown split '{split}' (valid: {', '.join(SPLITS)})")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        # numpy refuses a negative seed: every image of a split was skipped ("expected non-negative integer")
        raise ConfigError(f"synth: seed must be an integer >= 0, got {seed!r}")
    return (int(seed), SPLITS[split], int(index))


def jpeg_quality(cfg: SynthConfig, seed: tuple[int, int, int]) -> int:
    """JPEG quality of an image, drawn from its own stream so that it does not shift the scene's randomness."""
    lo, hi = cfg.jpeg_quality
    return int(np.random.default_rng(seed + (7,)).integers(lo, hi + 1))


def encode_image(cfg: SynthConfig, scene: SynthScene, seed: tuple[int, int, int]) -> tuple[bytes, str]:
    """The image file's bytes and suffix: JPEG (with artefacts) / PNG for RGB, 16-bit PNG for depth."""
    if scene.modality == "depth":  # "sub" filter + Huffman-only deflate: 2x faster than the defaults on noisy
        # depth, files ~20 % larger than the smallest setting
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
        if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV >= 4.11
            params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
        ok, buf = cv2.imencode(".png", scene.image, params)
        suffix = ".png"
    elif cfg.image_format == "jpg":
        ok, buf = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality(cfg, seed)])
        suffix = ".jpg"
    else:
        ok, buf = cv2.imencode(".png", scene.image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        suffix = ".png"
    if not ok:
        raise DataError("synth: OpenCV could not encode an image")
    return buf.tobytes(), suffix


@dataclass
class _Job:
    cfg: SynthConfig
    out: str
    seed: int
    split: str
    backgrounds: list


_JOB: _Job | None = None
_MAX_PENDING_WRITES = 8  # images whose files may still be in flight per worker


def _init_worker(job: _Job) -> None:
    global _JOB
    _JOB = job


def _write_bytes(path: Path, data: bytes) -> None:
    try:
        with atomic_write(path) as f:
            f.write(data)
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _render_one(index: int) -> tuple[dict, list[dict], list[tuple[Path, bytes]]]:
    """Render image ``index``; return its image entry, its annotations (without annotation ids, which the parent
    assigns in order) and the files to write (image, silhouettes)."""
    job = _JOB
    assert job is not None
    seed = scene_seed(job.seed, job.split, index)
    scene = render_scene(job.cfg, seed, backgrounds=job.backgrounds)
    data, suffix = encode_image(job.cfg, scene, seed)
    image_id = index + 1
    name = f"{image_id:06d}"  # the file stem is the image id (COCO's convention; kdpose infer relies on it)
    file_name = f"{job.split}/{name}{suffix}"
    mask_name = f"{job.split}_masks/{name}.png"
    labels = np.zeros(scene.instance_map.shape, np.uint8)
    for rank, inst in enumerate(scene.instances[:255]):
        labels[scene.instance_map == inst.person_index] = rank + 1
    ok, buf = cv2.imencode(".png", labels)
    h, w = scene.instance_map.shape
    image = {"id": image_id, "file_name": file_name, "width": w, "height": h, "mask_file": mask_name}
    anns = [instance_annotation(inst, scene.instance_map == inst.person_index, image_id, 0, job.cfg.wholebody)
            for inst in scene.instances]
    return image, anns, [(Path(job.out) / file_name, data), (Path(job.out) / mask_name, buf.tobytes())]


def _produce(job: _Job, worker: int, workers: int, num_images: int, emit) -> None:
    """Render images ``worker, worker + workers, ...`` and ``emit((index, image, anns))`` for each once its files
    are on disk (``image`` None and ``anns`` a message when it failed to render). Files are written by a small
    thread pool while the next image renders: ``atomic_write`` fsyncs, and waiting for the disk would otherwise
    idle the core. I/O errors raise ``DataError``."""
    _init_worker(job)
    pending: list[tuple[int, dict, list[dict], list[Future]]] = []

    def finish_oldest() -> None:
        index, image, anns, futures = pending.pop(0)
        for future in futures:
            future.result()  # re-raises a DataError from the writer thread
        emit((index, image, anns))

    with ThreadPoolExecutor(max_workers=4) as io:
        for index in range(worker, num_images, workers):
            try:
                image, anns, files = _render_one(index)
            except Exception as exc:  # noqa: BLE001 - reported by the parent, the other images are kept
                emit((index, None, f"image {index}: {type(exc).__name__}: {exc}"))
                continue
            pending.append((index, image, anns, [io.submit(_write_bytes, path, data) for path, data in files]))
            while pending and (len(pending) > _MAX_PENDING_WRITES or all(f.done() for f in pending[0][3])):
                finish_oldest()
        while pending:
            finish_oldest()


def _worker_process(job: _Job, worker: int, workers: int, num_images: int, queue) -> None:
    try:
        _produce(job, worker, workers, num_images, queue.put)
        queue.put(("done", worker, None))
    except BaseException as exc:  # noqa: BLE001 - the parent re-raises it
        message = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
        queue.put(("error", worker, message))


def _run_workers(job: _Job, workers: int, num_images: int, collect) -> None:
    """Run ``workers`` processes (fork where available) and feed their results to ``collect`` as they come."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_process, args=(job, k, workers, num_images, queue), daemon=True)
             for k in range(workers)]
    with opencv_fork_safe():  # children inherit a pool-free OpenCV (see kdpose.utils.cv)
        for proc in procs:
            proc.start()
    running = set(range(workers))
    try:
        while running:
            try:
                item = queue.get(timeout=5.0)
            except Empty:
                dead = [k for k in running if not procs[k].is_alive()]
                if dead and queue.empty():
                    raise DataError(f"synth: worker process {dead[0]} died (exit code {procs[dead[0]].exitcode})")
                continue
            if item[0] == "done":
                running.discard(item[1])
            elif item[0] == "error":
                raise DataError(item[2])
            else:
                collect(item)
    finally:
        for proc in procs:
            if proc.is_alive() and running:
                proc.terminate()
            proc.join()


ANNOTATION_PREFIXES = ("person_keypoints", "coco_wholebody")  # coco, wholebody


def annotation_path(out: str | os.PathLike, cfg: SynthConfig, split: str) -> Path:
    prefix = ANNOTATION_PREFIXES[1] if cfg.wholebody else ANNOTATION_PREFIXES[0]
    return Path(out) / f"{prefix}_{split}.json"


def _split_folders(out: Path, split: str) -> tuple[Path, Path]:
    return out / split, out / f"{split}_masks"


def _entries(folder: Path) -> list[Path]:
    """What a split folder holds (nothing when it does not exist)."""
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _differences(old, new, prefix: str = "") -> list[str]:
    """``key old -> new`` for each setting that differs between two ``info`` blocks (nested keys dotted)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [f"{prefix[:-1]} {old!r} -> {new!r}"]


def _target_problem(out: Path, cfg: SynthConfig, seed: int, split: str, num_images: int) -> str | None:
    """Why writing this split into ``out`` would change or orphan data that is there (None when it would not):
    another layout's annotation file of the split, an annotation file of other settings, or files in the split's
    folders that no annotation file lists."""
    ours = annotation_path(out, cfg, split)
    for prefix in ANNOTATION_PREFIXES:
        other = out / f"{prefix}_{split}.json"
        if other != ours and other.exists():
            return f"{other} (the other layout) describes the images in {out / split}/ that this split would replace"
    folders = _split_folders(out, split)
    listed: set[str] = set()
    if ours.exists():
        try:
            with open(ours) as f:
                data = json.load(f)
            old = {k: v for k, v in data["info"].items() if k != "skipped_images"}
            listed = {name for im in data["images"] for name in (im["file_name"], im.get("mask_file")) if name}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"{ours} exists and is not an annotation file kdpose synth wrote"
        changed = _differences(old, json.loads(json.dumps(info(cfg, seed, split, num_images))))
        if changed:
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            return f"{ours} holds another {split} split ({shown})"
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, where the split's images go"
        extra = [p for p in _entries(folder) if f"{folder.name}/{p.name}" not in listed]
        if extra:
            whose = f"{ours.name} does not list" if ours.exists() else "no annotation file lists"
            return f"{folder}/ holds {len(extra)} file(s) that {whose} (e.g. {extra[0].name})"
    return None


def _refuse(problem: str) -> DataError:
    return DataError(f"synth: {problem}; pass --overwrite (overwrite=True) to replace the split whole, or write to "
                     "another folder")


_STAGE_PREFIX = ".synth-staging"


def _stage_folder(out: Path) -> Path:
    """A new hidden staging folder in ``out``, named by this host and process; first removes the ones that earlier
    processes of this host left when they were killed (their process is gone)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
    for old in out.glob(f"{_STAGE_PREFIX}.*") if os.name == "posix" else ():  # os.kill(pid, 0) probes on POSIX
        parts = old.name.split(".")
        if len(parts) != 5 or parts[3] != host or not parts[2].isdecimal() or int(parts[2]) == os.getpid():
            continue
        try:
            os.kill(int(parts[2]), 0)
        except ProcessLookupError:  # its writer is gone: nobody will finish it
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix=f"{_STAGE_PREFIX}.{os.getpid()}.{host}.", dir=out))


def _move(src: Path, dst: Path) -> None:
    """``os.replace``, also when ``dst``'s folder is a link to another file system (copied next to ``dst`` first,
    then renamed over it, so ``dst`` is never a partial file)."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with atomic_write(dst) as f, open(src, "rb") as g:
            shutil.copyfileobj(g, f)
        src.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _commit(stage: Path, out: Path, split: str, ann_name: str) -> None:
    """Move a rendered split from ``stage`` into ``out``. Annotation files of the split that would describe other
    images are removed first, the annotation file goes in last: at every moment an annotation file in ``out``
    matches the images it lists. The same annotation file (an identical dataset, e.g. another process rendering
    the same cache) is kept while its identical images are replaced one by one, so its readers never miss a file."""
    target, staged = out / ann_name, stage / ann_name
    for prefix in ANNOTATION_PREFIXES:
        path = out / f"{prefix}_{split}.json"
        if path.exists() and not (path == target and filecmp.cmp(path, staged, shallow=False)):
            path.unlink()
            if path != target:
                print(f"kdpose synth: removed {path}: its images in {out / split}/ were replaced", file=sys.stderr)
    for src, dst in zip(_split_folders(stage, split), _split_folders(out, split)):
        names = {p.name for p in _entries(src)}
        if dst.exists() and not dst.is_dir():
            dst.unlink()
        if names:
            dst.mkdir(exist_ok=True)
        for name in sorted(names):
            _move(src / name, dst / name)
        for path in _entries(dst):
            if path.name not in names:
                _remove(path)
    _move(staged, target)


def write_coco_dataset(out: str | os.PathLike, cfg: SynthConfig, num_images: int, seed: int = 0,
                       split: str = "train", workers: int = 1, progress: bool = False,
                       overwrite: bool = False) -> Path:
    """Render ``num_images`` images and write them with their COCO annotation file; returns the JSON path.

    Args:
        out: output folder (created).
        cfg: generator settings.
        num_images: number of images (>= 0).
        seed: base seed; image i uses ``(seed, split, i)``.
        split: ``"train"``, ``"val"`` or ``"test"`` (separate seed streams and file names).
        workers: worker processes (1 = render in this process).
        progress: show a tqdm progress bar.
        overwrite: replace whatever the split holds in ``out`` (its images, silhouettes and either layout's
            annotation file of the split); without it a split of other settings is a ``DataError`` (module doc).

    An image whose rendering fails is reported on stderr and listed in ``info["skipped_images"]``; the other
    images are written. I/O errors raise ``DataError``.
    """
    cfg = cfg.validated()
    if not isinstance(num_images, int) or num_images < 0:
        raise ConfigError(f"synth: number of images must be >= 0, got {num_images}")
    if workers < 1:
        raise ConfigError(f"synth: workers must be >= 1, got {workers}")
    scene_seed(seed, split, 0)  # validates the split
    out = Path(out)
    above = next((p for p in (out, *out.parents) if p.exists()), None)
    if above is not None and not above.is_dir():  # mkdir said only "File exists" / "Not a directory"
        where = "is a file" if above == out else f"lies under the file {above}"
        raise DataError(f"{out}: {where}; the output must be a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    problem = None if overwrite else _target_problem(out, cfg, seed, split, num_images)
    if problem:
        raise _refuse(problem)
    backgrounds = list_backgrounds(cfg.background_dir)
    if cfg.background_dir is not None and not backgrounds:
        raise ConfigError(f"{cfg.background_dir}: no background images (.jpg, .jpeg, .png, .bmp) in the folder")
    check_backgrounds(backgrounds)
    try:
        stage = _stage_folder(out)
    except OSError as exc:
        raise DataError(f"{out}: cannot write in the output folder ({exc.strerror or exc})") from None
    try:
        coco = _render_split(_Job(cfg, str(stage), int(seed), split, backgrounds), num_images, workers, progress)
        path = annotation_path(out, cfg, split)
        write_json(stage / path.name, coco)
        problem = None if overwrite else _target_problem(out, cfg, seed, split, num_images)
        if problem:  # another process wrote there while this one rendered
            raise _refuse(problem)
        _commit(stage, out, split, path.name)
    except OSError as exc:
        raise DataError(f"{out}: cannot write the {split} split ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return path


def _render_split(job: _Job, num_images: int, workers: int, progress: bool) -> dict:
    """Render a split's images into ``job.out`` and return its COCO annotation dict."""
    cfg, seed, split = job.cfg, job.seed, job.split
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num_images, desc=f"synth {split}", unit="img")
    results: dict[int, tuple[dict, list[dict]]] = {}
    skipped: dict[int, str] = {}

    def collect(item) -> None:
        index, image, anns = item
        if image is None:
            skipped[index] = anns
            print(f"kdpose synth: skipped {anns}", file=sys.stderr)
        else:
            results[index] = (image, anns)
        if bar is not None:
            bar.update(1)

    try:
        if workers == 1 or num_images <= 1:
            _produce(job, 0, 1, num_images, collect)
        else:
            _run_workers(job, min(workers, num_images), num_images, collect)
    finally:
        if bar is not None:
            bar.close()
    images, annotations = [], []
    for index in sorted(results):
        image, anns = results[index]
        images.append(image)
        for ann in anns:
            ann["id"] = len(annotations) + 1
            annotations.append(ann)
    meta = info(cfg, seed, split, num_images)
    if skipped:
        meta["skipped_images"] = [skipped[i] for i in sorted(skipped)]
    return {"info": meta, "licenses": [], "images": images, "annotations": annotations, "categories": categories(cfg)}

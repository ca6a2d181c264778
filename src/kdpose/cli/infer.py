"""``kdpose infer``: poses of every person in an image, a folder of images, a video or a webcam."""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

NAME = "infer"
HELP = "estimate poses in an image, folder, video or webcam; write pictures, videos and JSON"

EPILOG = """\
Sources: an image file, a folder (searched recursively, sorted), a video file, or a webcam index (0, 1, ...).
Outputs go to --out (default ./infer_out): vis/ (rendered images or mp4), predictions/ (--json: COCO results
per image, [{frame_id, instances}] per video, with track ids), openpose/ (--openpose-json, --openpose).
Images are read as BGR and converted to RGB before normalisation (MMPose's convention).

Examples:
  kdpose infer photo.jpg --model rtmpose-t --weights rtmpose-t.safetensors --json
  kdpose infer photos/ --model rtmpose-t.onnx --bboxes dets.json --batch 8 --out results
  kdpose infer clip.mp4 --model dwpose-l.onnx --layout coco_wholebody --det-every 5 --openpose --openpose-json
  kdpose infer 0 --model rtmpose-t.onnx --max-frames 300        # webcam 0
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("source", help="image, folder, video file or webcam index")
    parser.add_argument("--model", required=True, help="zoo name (e.g. rtmpose-t) or an .onnx file")
    parser.add_argument("--weights", help="weights for a zoo name (.safetensors or MMPose .pth)")
    parser.add_argument("--layout", help="keypoint layout (coco, coco_wholebody, ...); needed for official ONNX "
                                         "files, which do not name theirs")
    parser.add_argument("--det", default="none",
                        help="person detector: 'none' (whole image, default), a registered detector name, a detector "
                             ".onnx file (kdpose export or official RTMDet/YOLOX), built-in detector .safetensors "
                             "weights, or a COCO detection-results .json")
    parser.add_argument("--bboxes", help="COCO detection-results file with the person boxes (same as --det FILE)")
    parser.add_argument("--bbox-thr", type=float, default=0.3, help="ignore boxes below this score (0.3)")
    parser.add_argument("--out", default="infer_out", help="output folder (default: infer_out)")
    parser.add_argument("--json", action="store_true", help="write predictions/ JSON (COCO results + track ids)")
    parser.add_argument("--openpose-json", action="store_true", help="write OpenPose JSON (18-point body, "
                                                                     "hands, face) per image / frame")
    parser.add_argument("--openpose", action="store_true", help="write ControlNet-style pose images / video")
    parser.add_argument("--no-vis", action="store_true", help="do not write rendered images / video")
    parser.add_argument("--flip", action="store_true", help="flip test (2x pose compute)")
    parser.add_argument("--batch", type=int, default=1, help="frames per batched forward (folders, videos "
                                                             "with --det-every 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                        help="for zoo names (.onnx files always use onnxruntime)")
    parser.add_argument("--threads", type=int, help="CPU threads of the backend")
    parser.add_argument("--det-every", type=int, default=1, help="videos: run the detector every K frames, "
                                                                 "boxes from the previous poses in between")
    parser.add_argument("--no-track", action="store_true", help="videos: no track ids / smoothing")
    parser.add_argument("--no-smooth", action="store_true", help="videos: track ids but no One-Euro smoothing")
    parser.add_argument("--min-cutoff", type=float, default=1.0, help="One-Euro min cut-off (Hz)")
    parser.add_argument("--beta", type=float, default=0.05, help="One-Euro speed coefficient")
    parser.add_argument("--kpt-thr", type=float, default=0.3, help="keypoint score threshold for drawing")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames (videos, webcams)")


def _chunks(frames, size):
    chunk = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kdpose.errors import ConfigError
    from kdpose.inference.estimator import PoseEstimator, image_id_from_name
    from kdpose.inference.outputs import ResultWriter
    from kdpose.inference.smoothing import OneEuroParams
    from kdpose.inference.sources import FrameSource, prefetch, source_kind
    from kdpose.inference.video import VideoPoseEstimator
    from kdpose.skeletons import get_skeleton

    # kdpose's own warnings (random weights, CUDA fallback) are also logged: print them once, as log lines
    warnings.filterwarnings("ignore", message="kdpose:", category=RuntimeWarning)
    if args.batch < 1 or args.det_every < 1:
        raise ConfigError("--batch and --det-every must be >= 1")
    detector = args.bboxes if args.bboxes else args.det
    source_kind(args.source)  # a missing path fails before the model is loaded
    est = PoseEstimator(args.model, weights=args.weights, detector=detector, backend=args.backend,
                        device=args.device, layout=args.layout, flip_test=args.flip, bbox_thr=args.bbox_thr,
                        threads=args.threads)
    source = FrameSource(args.source, max_frames=args.max_frames)  # opens the video / camera last
    openpose_ok = est.skeleton.name in ("coco", "coco_wholebody")
    if (args.openpose or args.openpose_json) and not openpose_ok:
        raise ConfigError(f"OpenPose outputs need the coco or coco_wholebody layout, not '{est.skeleton.name}'")
    name = "webcam" if source.kind == "webcam" else Path(str(args.source)).stem
    writer = ResultWriter(args.out, est.skeleton, get_skeleton("openpose"), get_skeleton("hand"),
                          is_video=source.is_video, video_name=name, fps=source.fps, render=not args.no_vis,
                          json=args.json, openpose_json=args.openpose_json, openpose_image=args.openpose,
                          kpt_thr=args.kpt_thr)
    video = None
    if source.is_video:
        smoothing = None if args.no_smooth else OneEuroParams(min_cutoff=args.min_cutoff, beta=args.beta)
        video = VideoPoseEstimator(est, det_every=args.det_every, tracking=not args.no_track, smoothing=smoothing,
                                   kpt_thr=args.kpt_thr, fps=source.fps)
    frames = people = 0
    interrupted = False
    bad: list[str] = []
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
            if video is not None:
                results = video.process([f.image for f in good], [f.index for f in good], name)
            else:
                dets = [est.detect(f.image, f.name, image_id_from_name(f.name, f.index)) for f in good]
                results = est.predict_boxes([f.image for f in good], [d[0] for d in dets], [d[1] for d in dets])
            for f, res in zip(good, results):
                writer.add(f.image, res, f.name, f.index, image_id_from_name(f.name, f.index))
                people += len(res.keypoints)
            frames += len(good)
            bar.update(len(chunk))
            bar.set_postfix(people=people)
    except KeyboardInterrupt:  # the usual way to stop a webcam: keep what was processed
        interrupted = True
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    writer.close()
    elapsed = max(time.perf_counter() - start, 1e-9)
    per_frame = 1000 / max(frames, 1)
    line = (f"kdpose infer: {frames} frames, {people} people, {frames / elapsed:.1f} fps (detector "
            f"{est.timings['detect_s'] * per_frame:.1f} ms/frame, pose {est.timings['pose_s'] * per_frame:.1f} "
            "ms/frame)")
    if video is not None and args.det_every > 1:
        line += f", detector on {video.detector_runs} frames"
    if bad:
        line += f", {len(bad)} unreadable files skipped"
    if source.truncated:
        line += " (the video ended before its announced frame count)"
    if interrupted:
        line += " (interrupted)"
    print(f"{line}; outputs in {args.out}")
    if interrupted:
        return 130
    if frames == 0 and bad:
        return 1
    return 0

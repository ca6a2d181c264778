"""``kdpose demo``: the whole system end to end on built-in synthetic data, with an HTML / Markdown report."""
from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "run the end-to-end demo (data, teacher, student with/without distillation, eval, ONNX, report)"

EPILOG = """\
Examples:
  kdpose demo                                  # 8-9 minutes on 2 CPU cores; report in work_dirs/demo/
  kdpose demo --out /tmp/demo --minutes 3      # a shorter (less accurate) run
  kdpose demo --from-scratch --minutes 20      # also train the teacher instead of loading the shipped one
  kdpose demo --layout wholebody               # 133 keypoints, per-part AP (the shipped whole-body rtmpose-m)
  kdpose demo --method sdpose --out /tmp/sd    # SDPose self-distillation of rtmpose-t instead of DWPose
  kdpose demo --method distilpose              # the shipped CSPNeXt-m heatmap teacher (AP ~0.5) -> a regression
                                               # student (DistilPose, CNN variant) on the `standard` preset

Phases: synthetic train/val data -> teacher (the shipped rtmpose-m, or trained) -> rtmpose-t student trained
without and with DWPose distillation (stage 1 + 2, same iterations) -> COCO AP -> ONNX export and timing
(PyTorch vs onnxruntime) -> poses on held-out images and a short video -> OUT/report.html and OUT/report.md.
--minutes scales the training phases (default 10: 8 + 2 epochs for dwpose). See docs/demo.md.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--out", default="work_dirs/demo", help="output folder (default: work_dirs/demo)")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="training budget scale: epochs are proportional to it (default 10)")
    parser.add_argument("--layout", default="coco", help="keypoint layout: coco (17) or wholebody (133)")
    parser.add_argument("--method", default="dwpose",
                        help="distillation method: dwpose (default: the shipped rtmpose-m teaches rtmpose-t, "
                             "stage 1 + 2); sdpose (rtmpose-t teaches itself: its GAU runs 2 cycles in training, "
                             "1 deployed); distilpose (the shipped cspnext-m heatmap teacher teaches a DeepPose "
                             "regression student, deeppose-cspnext-t, with Simulated Heatmaps + confidence); "
                             "stagewise (depth pose machines). See docs/demo.md")
    parser.add_argument("--from-scratch", action="store_true",
                        help="train the teacher too instead of loading the shipped weights")
    parser.add_argument("--seed", type=int, default=21, help="training seed (default 21)")
    parser.add_argument("--train-images", type=int, default=0,
                        help="synthetic training images (default 0: the method's setting's, 640 at 640x480 on "
                             "`standard`, 800 at 320x240 on `hard` (distilpose --layout wholebody))")
    parser.add_argument("--val-images", type=int, default=100, help="synthetic validation images (default 100)")
    parser.add_argument("--detector", "--det", dest="detector", default=None,
                        help="person detector of the pictures and the video (a shipped kdpose detector tag, an "
                             "official tag, a detector .onnx / .safetensors file, or 'none': the ground-truth boxes); "
                             "default: kdpose.detection.registry.DEFAULT_DETECTOR, the shipped "
                             "kdpose-det-tiny.synth-standard_320. Validation AP always uses the ground-truth boxes")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for training and timing (default 0: every core this process may use)")


def run(args: argparse.Namespace) -> int:
    from kdpose.demo import DemoOptions, run_demo

    opts = DemoOptions(out=Path(args.out), minutes=args.minutes, layout=args.layout, method=args.method,
                       from_scratch=args.from_scratch, seed=args.seed, train_images=args.train_images,
                       val_images=args.val_images, threads=args.threads, detector=args.detector)
    opts.validate()  # bad options fail before anything is written
    from kdpose.cli.main import require_extra

    # the ONNX phase and the report's charts come after minutes of training: a missing extra fails now instead
    for module, what in (("onnx", "kdpose demo's ONNX export"), ("onnxruntime", "kdpose demo's onnxruntime timing"),
                         ("matplotlib", "kdpose demo's report charts")):
        require_extra(module, what)
    run_demo(opts)
    return 0

"""``kdpose export``: a zoo model + weights -> ONNX file with kdpose metadata (+ optional fp16 / int8 variants)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "export"
HELP = "export a model to ONNX (RTMPose I/O names, dynamic batch, metadata), check parity, quantise"

EPILOG = """\
The file takes a normalised float32 (B, 3, H, W) RGB batch named 'input' (images are read BGR and converted
to RGB before normalisation, the MMPose convention; mean/std are in the file's metadata). RTMPose/DWPose files
output 'simcc_x', 'simcc_y' exactly like MMDeploy's end2end.onnx, so rtmlib and other RTMPose runners load them
unchanged; heatmap models output 'heatmaps', the detector 'cls_logits', 'box_deltas'. After export the file is
run with onnxruntime and compared with PyTorch (--no-check skips this). --fp16 / --int8 also write
OUT.fp16.onnx / OUT.int8.onnx beside OUT.

Examples:
  kdpose export rtmpose-t --weights rtmpose-t.safetensors --out rtmpose-t.onnx
  kdpose export dwpose-l --weights dw-ll_ucoco.pth --layout coco_wholebody --input-size 288x384 --out dwpose-l.onnx
  kdpose export rtmpose-m --weights w.safetensors --out m.onnx --batch 1 --int8      # official batch-1 style
  kdpose export rtmpose-t --weights w.safetensors --out t.onnx --int8 --int8-calib val/person_keypoints_val.json
  kdpose export rtmpose-m.body7_256x192 --out rtmpose-m.onnx      # pretrained tag (uses the cached download)
  kdpose export kdpose-det-tiny --weights det.safetensors --out det.onnx         # the person detector
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("model", help="zoo name (rtmpose-t, dwpose-l, ...), pretrained tag, or a built-in "
                                      "person detector (kdpose-det-nano, kdpose-det-tiny)")
    parser.add_argument("--weights", help=".safetensors / MMPose .pth file, URL or pretrained tag "
                                          "(omitted: random initialisation, e.g. for speed tests)")
    parser.add_argument("--out", required=True, help="output .onnx file")
    parser.add_argument("--batch", default="dynamic", help="'dynamic' (default) or a fixed batch size N")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--layout", help="keypoint layout (coco, coco_wholebody, hand, ...); default: the model's")
    parser.add_argument("--input-size", help="model input WxH, e.g. 192x256 (default: the layout's)")
    parser.add_argument("--fp16", action="store_true", help="also write OUT.fp16.onnx (float16, for GPUs)")
    parser.add_argument("--int8", action="store_true", help="also write OUT.int8.onnx (dynamic int8 by default)")
    parser.add_argument("--int8-calib", metavar="ANN_JSON",
                        help="with --int8: static int8 calibrated on person crops of this COCO-format keypoint file "
                             "(e.g. the synthetic val set); usually faster on CPUs than dynamic int8")
    parser.add_argument("--calib-images", help="image folder of --int8-calib (default: as the file says)")
    parser.add_argument("--calib-count", type=int, default=64, help="calibration crops (default 64)")
    parser.add_argument("--no-check", action="store_true", help="skip the PyTorch vs onnxruntime parity check")


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'192x256' -> (192, 256) (w, h); None stays None."""
    from kdpose.errors import ConfigError

    if text is None:
        return None
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"--input-size must look like WxH (e.g. 192x256), got '{text}'")
    return int(parts[0]), int(parts[1])


def parse_batch(text: str) -> tuple[bool, int]:
    """'dynamic' -> (True, 1); 'N' -> (False, N)."""
    from kdpose.errors import ConfigError

    if text.lower() == "dynamic":
        return True, 1
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--batch must be 'dynamic' or a positive integer, got '{text}'")
    return False, int(text)


def load_any_model(name: str, weights: str | None, layout: str | None, input_size: tuple[int, int] | None):
    """A pose zoo model / pretrained tag (``kdpose.models.load_model``) or a built-in person detector
    (``kdpose-det-nano`` / ``kdpose-det-tiny``), in eval mode."""
    from kdpose.errors import ConfigError

    if name.startswith("kdpose-det-"):
        from kdpose.detection.detector import create_detector_model, load_detector_model

        if layout is not None:
            raise ConfigError(f"--layout does not apply to the detector {name}")
        if weights:
            return load_detector_model(weights, name, input_size)
        return create_detector_model(name, input_size or (416, 416)).eval()
    from kdpose.models import load_model

    return load_model(name, weights=weights, layout=layout, input_size=input_size)


def run(args: argparse.Namespace) -> int:
    from kdpose.cli.main import require_extra
    from kdpose.errors import ConfigError

    out = Path(args.out)
    if out.suffix != ".onnx":
        raise ConfigError(f"{out}: --out must end with .onnx")
    require_extra("onnx", "kdpose export")
    if not args.no_check or args.int8 or args.fp16:
        require_extra("onnxruntime", "kdpose export's parity check and quantisation",
                      "--no-check skips the check" if not (args.int8 or args.fp16) else "")
    from kdpose.export.onnx import check_parity, export_onnx

    input_size = parse_size(args.input_size)
    dynamic, batch = parse_batch(args.batch)
    if args.int8_calib and not args.int8:
        raise ConfigError("--int8-calib needs --int8")
    model = load_any_model(args.model, args.weights, args.layout, input_size)
    if args.weights is None and "." not in args.model:
        print(f"note: no --weights given: exporting randomly initialised {args.model}")
    name = getattr(model, "model_name", args.model)
    export_onnx(model, out, opset=args.opset, dynamic_batch=dynamic, batch_size=batch, model_name=name)
    w, h = model.input_size
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): {name}, input {w}x{h}, "
          f"batch {'dynamic' if dynamic else batch}, opset {args.opset}")
    if not args.no_check:
        report = check_parity(model, out, batch=2 if dynamic else batch, fp64_reference=True)
        print(f"parity: {report.summary()}")
        if not report.passed:
            print(f"kdpose: error: {out}: onnxruntime output differs from PyTorch beyond tolerance", file=sys.stderr)
            return 1
    if args.fp16:
        from kdpose.export.quantize import quantize_fp16

        half = quantize_fp16(out, out.with_suffix(".fp16.onnx"))
        print(f"wrote {half} ({half.stat().st_size / 2**20:.1f} MiB, fp16 weights, float32 I/O)")
    if args.int8:
        from kdpose.export.quantize import quantize_int8

        calib = None
        if args.int8_calib:
            calib = calibration_crops(model, args.int8_calib, args.calib_images, args.calib_count)
        q = quantize_int8(out, out.with_suffix(".int8.onnx"), calibration=calib)
        kind = "dynamic int8" if calib is None else f"static int8, calibrated on {len(calib)} crops"
        print(f"wrote {q} ({q.stat().st_size / 2**20:.1f} MiB, {kind})")
    return 0


def calibration_crops(model, ann_file: str, image_root: str | None, count: int):
    """(N, 3, H, W) normalised person crops (GT boxes, eval geometry) from a COCO-format keypoint file, spread
    evenly over the file, for static int8 calibration."""
    import numpy as np

    from kdpose.data import TopDownDataset
    from kdpose.data.coco import check_image_folder
    from kdpose.errors import ConfigError, DataError
    from kdpose.layouts import get_layout

    if count < 1:
        raise ConfigError(f"--calib-count must be >= 1, got {count}")
    if int(getattr(model, "in_channels", 3)) != 3:
        raise ConfigError("--int8-calib supports RGB top-down models only")
    samples = get_layout(model.skeleton.name).read_annotations(ann_file, mode="eval", image_root=image_root)
    if not samples:
        raise DataError(f"{ann_file}: no person instances to calibrate on")
    check_image_folder(samples, ann_file, image_root, "--calib-images")
    picks = np.linspace(0, len(samples) - 1, min(count, len(samples))).round().astype(int)
    dataset = TopDownDataset([samples[i] for i in picks], model.codec, skip_bad_images=True)
    return np.stack([np.asarray(dataset[i].inputs, np.float32) for i in range(len(dataset))])

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
OUT.fp16.onnx / OUT.int8.onnx beside OUT; OUT itself stays fp32 (the file rtmlib runs).

int8 is static (QDQ): activation ranges calibrated on person crops, rendered synthetic people unless --int8-calib
gives a COCO-format file; onnxruntime runs it with its integer kernels (VNNI / AMX where the CPU has them).
--int8 dynamic writes OUT.int8-dynamic.onnx instead (ranges computed per batch at run time: it measures
onnxruntime's ConvInteger path, which is slower than fp32 on the CPUs measured; not a speed-up). Each variant
states its precision in the metadata (kdpose.precision: fp16, int8, int8-dynamic).

--val ANN_JSON (or --val synthetic) runs the accuracy guard after quantising and prints its line for each variant:
AP drop (points) and mean keypoint shift (crop pixels) against the fp32 file on the val set's ground-truth boxes;
it fails (exit 1, files kept) beyond 0.5 AP points or 1 px.

Examples:
  kdpose export rtmpose-t --weights rtmpose-t.safetensors --out rtmpose-t.onnx
  kdpose export dwpose-l --weights dw-ll_ucoco.pth --layout coco_wholebody --input-size 288x384 --out dwpose-l.onnx
  kdpose export rtmpose-m --weights w.safetensors --out m.onnx --batch 1 --int8      # official batch-1 style
  kdpose export rtmpose-t --weights w.safetensors --out t.onnx --int8 --int8-calib val/person_keypoints_val.json
  kdpose export rtmpose-m --weights w.safetensors --out m.onnx --int8 --val data/synth/person_keypoints_val.json
  kdpose export rtmpose-m --weights w.safetensors --out m.onnx --int8 --val synthetic --val-count 64
  kdpose export rtmpose-m.body7_256x192 --out rtmpose-m.onnx      # pretrained tag (uses the cached download)
  kdpose export kdpose-det-tiny --weights det.safetensors --out det.onnx         # the person detector
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("model", help="zoo name (rtmpose-t, dwpose-l, mpm-2s, the person detector kdpose-det-tiny, "
                                      "...) or pretrained tag")
    parser.add_argument("--weights", help=".safetensors / MMPose .pth file, URL or pretrained tag "
                                          "(omitted: random initialisation, e.g. for speed tests)")
    parser.add_argument("--out", required=True, help="output .onnx file")
    parser.add_argument("--batch", default="dynamic", help="'dynamic' (default) or a fixed batch size N")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--layout", help="keypoint layout (coco, coco_wholebody, hand, ...); default: the model's")
    parser.add_argument("--input-size", help="model input WxH, e.g. 192x256 (default: the size a pretrained tag "
                        "was trained at, else the layout's)")
    parser.add_argument("--fp16", action="store_true", help="also write OUT.fp16.onnx (float16, for GPUs)")
    parser.add_argument("--int8", nargs="?", const="static", choices=("static", "dynamic"),
                        help="also write OUT.int8.onnx: static QDQ int8, calibrated on person crops (the default); "
                             "'--int8 dynamic' writes OUT.int8-dynamic.onnx (slow ConvInteger path, for comparison)")
    parser.add_argument("--int8-calib", metavar="ANN_JSON",
                        help="with --int8: calibrate on person crops of this COCO-format keypoint file (default: "
                             "rendered synthetic people)")
    parser.add_argument("--calib-images", help="image folder of --int8-calib (default: as the file says)")
    parser.add_argument("--calib-count", type=int, default=64,
                        help="calibration crops, at most (default 64; the rendered scenes or the file may hold "
                             "fewer people: the line printed says how many were used)")
    parser.add_argument("--val", metavar="ANN_JSON|synthetic",
                        help="run the accuracy guard of the --int8 / --fp16 variants on this COCO-format val set "
                             "(ground-truth boxes) or on rendered synthetic people, and print its line")
    parser.add_argument("--val-images", help="image folder of --val (default: as the file says)")
    parser.add_argument("--val-count", type=int, help="images of the val set to use (default: all of a file, 64 "
                                                      "synthetic)")
    parser.add_argument("--no-check", action="store_true", help="skip the PyTorch vs onnxruntime parity check")


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'192x256' -> (192, 256) (w, h); None stays None."""
    from kdpose.errors import ConfigError

    if text is None:
        return None
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdecimal() and int(p) > 0 for p in parts):
        raise ConfigError(f"--input-size must look like WxH (e.g. 192x256), got '{text}'")
    return int(parts[0]), int(parts[1])


def parse_batch(text: str) -> tuple[bool, int]:
    """'dynamic' -> (True, 1); 'N' -> (False, N)."""
    from kdpose.errors import ConfigError

    if text.lower() == "dynamic":
        return True, 1
    if not text.isdecimal() or int(text) < 1:
        raise ConfigError(f"--batch must be 'dynamic' or a positive integer, got '{text}'")
    return False, int(text)


def load_any_model(name: str, weights: str | None, layout: str | None, input_size: tuple[int, int] | None):
    """A zoo model of any task (pose model, pose machine, the person detector ``kdpose-det-*``) or a pretrained
    tag, with ``weights``, in eval mode (``kdpose.models.load_model``)."""
    from kdpose.errors import ConfigError
    from kdpose.models import MODELS, load_model, model_task

    if layout is not None and name in MODELS and model_task(name) == "detection":
        raise ConfigError(f"--layout does not apply to the detector {name} (it predicts boxes, no keypoints)")
    from kdpose.models.pretrained import backbone_only_message

    why = backbone_only_message(name, weights)
    if why is not None:
        raise ConfigError(why)
    return load_model(name, weights=weights, layout=layout, input_size=input_size)


def weights_provenance(model: str, weights: str | None) -> str | None:
    """What the exported file records as its ``kdpose.weights``: the pretrained tag, the URL, or the weights file's
    name (not its local folder); None for a randomly initialised network."""
    from kdpose.models import PRETRAINED

    if weights is None:
        return model if model in PRETRAINED else None
    if weights in PRETRAINED or "://" in weights:
        return weights
    return Path(weights).name


def run(args: argparse.Namespace) -> int:
    from kdpose.cli.main import require_extra
    from kdpose.errors import ConfigError

    from kdpose.utils.io import check_output_file

    out = Path(args.out)
    if out.suffix != ".onnx":
        raise ConfigError(f"{out}: --out must end with .onnx")
    check_output_file(args.out, "--out", "model.onnx")  # a folder, or under a file: refused before any export
    require_extra("onnx", "kdpose export")
    if not args.no_check or args.int8 or args.fp16:
        require_extra("onnxruntime", "kdpose export's parity check and quantisation",
                      "--no-check skips the check" if not (args.int8 or args.fp16) else "")
    from kdpose.export.onnx import check_parity, export_onnx

    input_size = parse_size(args.input_size)
    dynamic, batch = parse_batch(args.batch)
    if args.int8_calib and not args.int8:
        raise ConfigError("--int8-calib needs --int8")
    if args.int8_calib and args.int8 == "dynamic":
        raise ConfigError("--int8-calib calibrates static int8; dynamic int8 computes its ranges at run time")
    if args.val and not (args.int8 or args.fp16):
        raise ConfigError("--val runs the accuracy guard of a quantised variant: add --int8 and/or --fp16")
    if args.int8 and args.calib_count < 1:  # checked here, not after the export and the parity check
        raise ConfigError(f"--calib-count must be >= 1, got {args.calib_count}")
    if args.val_count is not None and args.val_count < 1:
        raise ConfigError(f"--val-count must be >= 1, got {args.val_count}")
    if args.int8 == "static" and args.opset < 13:
        raise ConfigError(f"--int8 (static, per-channel) needs --opset 13 or later (got {args.opset}); or use "
                          "--int8 dynamic")
    model = load_any_model(args.model, args.weights, args.layout, input_size)
    if args.weights is None and "." not in args.model:
        print(f"note: no --weights given: exporting randomly initialised {args.model}")
    # the calibration and guard files are read before the export: a missing one was reported only after the fp32
    # (and int8) files had been written, minutes into a big model
    if args.int8 == "static" and model.info.in_channels != 3 and not args.int8_calib:
        # static int8 calibrates on rendered RGB people; found out after the fp32 file was written, with the advice to
        # "pass calibration crops", which this command cannot do for such a model
        raise ConfigError(f"--int8 (static) calibrates on rendered RGB people and {args.model} takes "
                          f"{model.info.in_channels}-channel input: use --int8 dynamic")
    calib = None
    if args.int8 and args.int8 != "dynamic" and args.int8_calib:
        calib = calibration_crops(model, args.int8_calib, args.calib_images, args.calib_count)
    val = _guard_val_set(model, args) if args.val else None
    name = model.info.name
    source = weights_provenance(args.model, args.weights)
    export_onnx(model, out, opset=args.opset, dynamic_batch=dynamic, batch_size=batch, model_name=name,
                weights=source)
    w, h = model.input_size
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): {name}"
          f"{f' ({source})' if source else ' (random weights)'}, input {w}x{h}, "
          f"batch {'dynamic' if dynamic else batch}, opset {args.opset}")
    if not args.no_check:
        report = check_parity(model, out, batch=2 if dynamic else batch, fp64_reference=True)
        print(f"parity: {report.summary()}")
        if not report.passed:
            print(f"kdpose: error: {out}: onnxruntime output differs from PyTorch beyond tolerance", file=sys.stderr)
            return 1
    variants = []
    if args.fp16:
        from kdpose.export.quantize import quantize_fp16

        half = quantize_fp16(out, out.with_suffix(".fp16.onnx"))
        variants.append(half)
        print(f"wrote {half} ({half.stat().st_size / 2**20:.1f} MiB, fp16 weights, float32 I/O)")
    if args.int8 == "dynamic":
        from kdpose.export.quantize import quantize_int8

        q = quantize_int8(out, out.with_suffix(".int8-dynamic.onnx"), mode="dynamic")
        variants.append(q)
        print(f"wrote {q} ({q.stat().st_size / 2**20:.1f} MiB, dynamic int8: measures onnxruntime's ConvInteger "
              "path, slower than fp32 on most CPUs)")
    elif args.int8:
        from kdpose.export.quantize import quantize_int8

        source = f"{len(calib)} crops of {args.int8_calib}" if calib is not None else None
        q = quantize_int8(out, out.with_suffix(".int8.onnx"), calibration=calib, calibration_count=args.calib_count,
                          calibration_name=source)
        variants.append(q)
        print(f"wrote {q} ({q.stat().st_size / 2**20:.1f} MiB, static int8, calibrated on {_calibration_of(q)})")
    if val is not None:
        return _run_guard(out, variants, val)
    return 0


def _calibration_of(path: Path) -> str:
    """What the int8 file says it was calibrated on (its ``kdpose.calibration`` metadata)."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return props.get("kdpose.calibration", "person crops")


def _guard_val_set(model, args: argparse.Namespace):
    """The accuracy guard's val set of ``--val`` (synthetic, or an annotation file) for ``model``."""
    from kdpose.errors import ConfigError
    from kdpose.valset import load_val_set, synthetic_val_set

    if model.info.task != "topdown" or model.info.in_channels != 3:
        raise ConfigError("--val measures RGB top-down pose models (keypoints); this model is not one")
    if args.val == "synthetic":
        return synthetic_val_set(model.skeleton.name, num_images=args.val_count or 64)
    return load_val_set(args.val, model.skeleton.name, args.val_images, args.val_count)


def _run_guard(fp32: Path, variants: list[Path], val) -> int:
    """Print the accuracy-guard line of each variant; 1 when one fails."""
    from kdpose.inference.guard import guard_onnx

    failed = []
    for path in variants:
        report = guard_onnx(fp32, path, val)
        print(f"{path.name}: {report.line()}")
        if not report.passed:
            failed.append(path.name)
    if failed:
        print(f"kdpose: error: {', '.join(failed)}: failed the accuracy guard (files kept; AP drop <= 0.5 points and "
              "mean keypoint shift <= 1 px are required)", file=sys.stderr)
        return 1
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
    if model.info.task != "topdown" or model.info.in_channels != 3:
        raise ConfigError("--int8-calib supports RGB top-down models only")
    samples = get_layout(model.skeleton.name).read_annotations(ann_file, mode="eval", image_root=image_root)
    if not samples:
        raise DataError(f"{ann_file}: no person instances to calibrate on")
    check_image_folder(samples, ann_file, image_root, "--calib-images")
    picks = np.linspace(0, len(samples) - 1, min(count, len(samples))).round().astype(int)
    dataset = TopDownDataset([samples[i] for i in picks], model.codec, skip_bad_images=True)
    return np.stack([np.asarray(dataset[i].inputs, np.float32) for i in range(len(dataset))])

"""The small weights shipped with kdpose for the demo (``src/kdpose/assets/``) and the tool that makes them.

``python -m kdpose.demo.assets WEIGHTS.safetensors [--layout coco]`` stores a trained teacher as float16
safetensors (half the size; the loader casts back to float32) under the name the demo looks for;
``--student-backbone`` stores the ``backbone.*`` tensors of a CSPNeXt-t pre-training run instead (the students'
starting point). Any other run ships with ``python -m kdpose.tasks.ship RUN_DIR --tag TAG`` (its own file name,
an accuracy check, a model card and the pretrained entry to register)."""
from __future__ import annotations

import argparse
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def shipped_file(tag: str) -> Path | None:
    """The file of the shipped pretrained ``tag`` (:mod:`kdpose.models.shipped`), None when it is not in this
    installation (the demo then trains that part itself and says so)."""
    from ..models.pretrained import get_pretrained_cfg

    path = Path(get_pretrained_cfg(tag).location)
    return path if path.is_file() else None


def teacher_asset(layout: str) -> Path:
    """Where the shipped demo teacher of ``layout`` (``coco`` / ``coco_wholebody``) lives (may not exist)."""
    from .config import TEACHER_MODEL

    return ASSETS_DIR / f"demo_teacher_{TEACHER_MODEL}_{layout}.safetensors"


def student_backbone_asset(layout: str) -> Path:
    """Where the shipped pre-trained CSPNeXt backbone of the demo students lives (may not exist)."""
    from .config import STUDENT_MODEL

    return ASSETS_DIR / f"demo_student_{STUDENT_MODEL}_backbone_{layout}.safetensors"


def write_fp16_asset(src: str | Path, dst: str | Path, prefix: str = "") -> Path:
    """Copy the tensors of ``src`` (safetensors) whose names start with ``prefix`` into ``dst`` with floating
    tensors as float16 (atomically), keeping metadata and adding ``precision: float16``."""
    from safetensors import safe_open

    from ..tasks.ship import write_fp16

    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    return write_fp16(tensors, dst, {k: v for k, v in metadata.items() if k != "format"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdpose.demo.assets", description=__doc__)
    parser.add_argument("weights", help="trained teacher (final.safetensors of configs/demo_teacher_*.yaml)")
    parser.add_argument("--layout", default="coco", choices=["coco", "coco_wholebody"])
    parser.add_argument("--student-backbone", action="store_true",
                        help="WEIGHTS is a cspnext-t-udp pre-training run: keep its backbone as the students' start")
    args = parser.parse_args(argv)
    if args.student_backbone:
        dst = write_fp16_asset(args.weights, student_backbone_asset(args.layout), prefix="backbone.")
    else:
        dst = write_fp16_asset(args.weights, teacher_asset(args.layout))
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    from ..utils.entry import guarded

    raise SystemExit(guarded(main))

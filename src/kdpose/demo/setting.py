"""The data and starting weights a demo method runs on: a :class:`DemoSetting` (synthetic preset, scene size,
crop size, the students' pre-trained backbone) and a :class:`TeacherSpec` (the teacher network and the shipped
tag it is loaded from).

Two settings exist. ``HARD`` is the demo's original scale (the `hard` preset's crowds, 320x240 scenes, 64x96 crops),
where the shipped RTMPose-s teacher scores AP ~0.02. ``STANDARD`` is the COCO-like `standard` preset at the strong
teachers' scale (640x480 scenes with up to 4 people, 96x128 crops), where the shipped CSPNeXt-m heatmap teacher
scores AP ~0.5 (docs/models/). A method runs where its teacher was trained: a teacher's crops and heatmaps only line
up with a student of the same input size. Both settings start the students from the same shipped CSPNeXt-t
backbone (the backbone is resolution-free; its ``backbone.*`` tensors fit any layout).
"""
from __future__ import annotations

from dataclasses import dataclass

STUDENT_BACKBONE_TAG = "cspnext-t-udp.synth-demo-backbone_96x64"


@dataclass(frozen=True)
class DemoSetting:
    """Where a demo method trains and evaluates."""

    name: str
    preset: str | None  # synthetic preset of every split; None: the generator's defaults (= `hard`)
    image_size: tuple[int, int]  # rendered scenes (w, h)
    max_people: int
    input_size: tuple[int, int]  # person crops (w, h)
    train_images: int  # default --train-images
    student_backbone_tag: str = STUDENT_BACKBONE_TAG
    train_seed: int = 1  # synthetic data seeds (as configs/demo_teacher_coco.yaml)
    val_seed: int = 2
    video_seed: int = 3

    def split(self, images: int, seed: int) -> dict:
        """The recipe's ``data.<split>`` block of ``images`` scenes drawn with ``seed``."""
        block = {"synthetic_images": images, "synthetic_seed": seed, "synthetic_size": list(self.image_size),
                 "synthetic_max_people": self.max_people}
        if self.preset is not None:
            block["synthetic_preset"] = self.preset
        return block


HARD = DemoSetting("hard", None, (320, 240), 2, (64, 96), train_images=800)
# 640 standard scenes hold ~1300 labelled people (~2 per scene, 0.4 more too small to label): ~40 iterations of 32
STANDARD = DemoSetting("standard", "standard", (640, 480), 4, (96, 128), train_images=640)
SETTINGS = {s.name: s for s in (HARD, STANDARD)}


@dataclass(frozen=True)
class TeacherSpec:
    """A demo teacher: zoo network ``model``, loaded from the shipped ``tag`` (None: trained in the demo), and, when
    trained here, the heatmap model whose pre-training run starts its backbone (None: from random weights)."""

    model: str
    tag: str | None
    pretrain: str | None = None


__all__ = ["DemoSetting", "HARD", "SETTINGS", "STANDARD", "STUDENT_BACKBONE_TAG", "TeacherSpec"]

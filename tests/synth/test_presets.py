"""The ``standard`` preset: COCO's labelling rule, front-biased headings; ``hard`` stays the defaults."""
from __future__ import annotations

import numpy as np
import pytest

from kdpose.data.synth import SynthConfig, render_scene
from kdpose.tasks.synthetic import synthetic_config
from kdpose.engine.config import SplitCfg
from kdpose.errors import ConfigError


def _instances(cfg, n):
    for i in range(n):
        scene = render_scene(cfg, (3, 1, i))
        for inst in scene.instances:
            yield scene, inst


def test_standard_leaves_small_and_hardly_visible_people_unlabelled_but_keeps_their_boxes():
    cfg = SynthConfig.from_preset("standard", width=320, height=240)
    labelled = unlabelled = 0
    for _, inst in _instances(cfg, 40):
        visible = int((inst.flags[:17] == 2).sum())
        if inst.num_keypoints == 0:
            unlabelled += 1
            assert (inst.flags == 0).all() and inst.bbox is not None and inst.bbox[2] > inst.bbox[0]
            assert inst.area < cfg.min_label_area or visible < cfg.min_visible_keypoints
        else:
            labelled += 1
            assert inst.area >= 1024 and visible >= 4
    assert labelled > 20 and unlabelled > 0   # the rule bites at this image size, and most people stay labelled


def test_hard_labels_tiny_people_that_standard_does_not():
    hard = SynthConfig(width=320, height=240)
    small = [inst for _, inst in _instances(hard, 40) if inst.num_keypoints > 0 and inst.area < 1024]
    assert small   # the hard preset keeps labelling people under 32 x 32 px


def _facing_angles(cfg, n):
    """Angle (degrees) between each person's facing direction (the hips' forward normal) and the direction to the
    camera."""
    out = []
    for i in range(n):
        scene = render_scene(cfg, (4, 1, i))
        for person in scene.layout.people:
            facing = np.cross(person.keypoints[11] - person.keypoints[12], [0.0, 1.0, 0.0])[[0, 2]]
            to_cam = (scene.camera.position - person.keypoints[11])[[0, 2]]
            cos = facing @ to_cam / (np.linalg.norm(facing) * np.linalg.norm(to_cam) + 1e-9)
            out.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.array(out)


def test_heading_knob_biases_people_towards_the_camera():
    all_sides = _facing_angles(SynthConfig(width=320, height=240, heading=1.0, clutter=0), 40)
    facing = _facing_angles(SynthConfig(width=320, height=240, heading=0.0, clutter=0), 40)
    # uniform headings: about half the people turn their back (> 90 degrees); heading 0: hardly anyone does
    assert 0.3 < (all_sides > 90).mean() < 0.7
    assert (facing > 90).mean() < 0.05 and np.median(facing) < 40


def test_recipe_split_takes_the_preset_and_single_settings_override_it():
    split = SplitCfg(synthetic_images=10, synthetic_preset="standard", synthetic_settings={"occlusion": 0.0})
    cfg = synthetic_config(split, "coco", "data.train")
    assert cfg == SynthConfig.from_preset("standard", occlusion=0.0, width=640, height=480, max_people=4)
    with pytest.raises(ConfigError, match="data.val.synthetic_settings: synth: unknown preset 'medium'"):
        synthetic_config(SplitCfg(synthetic_preset="medium"), "coco", "data.val")

"""Rendering: determinism, keypoints on the rendered body, visibility vs an independent 3D occlusion check,
boxes, left/right semantics and the whole-body parts."""
from __future__ import annotations

import numpy as np
import pytest
from occlusion_oracle import oracle_flags

from kdpose.data.synth import SynthConfig, render_scene
from kdpose.data.synth.body import sample_person
from kdpose.data.synth.camera import sample_camera
from kdpose.data.synth.rotations import rot_y
from kdpose.skeletons import get_skeleton


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_same_seed_same_scene(small_cfg, modality):
    cfg = small_cfg.replace(modality=modality)
    a, b = render_scene(cfg, (3, 0, 7)), render_scene(cfg, (3, 0, 7))
    assert a.image.dtype == (np.uint8 if modality == "rgb" else np.uint16)
    assert a.image.shape[:2] == (120, 160)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.instance_map, b.instance_map)
    assert len(a.instances) == len(b.instances)
    for x, y in zip(a.instances, b.instances):
        assert np.array_equal(x.keypoints, y.keypoints) and np.array_equal(x.flags, y.flags)
    c = render_scene(cfg, (3, 0, 8))
    assert not np.array_equal(a.image, c.image)


def _scenes(cfg, n=10, seed=5):
    return [render_scene(cfg, (seed, 0, i)) for i in range(n)]


def test_visible_keypoints_lie_on_the_rendered_body():
    """The z-buffer at a visible keypoint is the keypoint's own body surface: keypoint depth minus the radius of
    the volume around it, within a few centimetres (keypoints whose volume is at least 2 px wide)."""
    cfg = SynthConfig(width=320, height=240, layout="wholebody", distance_range=(1.5, 8.0))
    errors = []
    for scene in _scenes(cfg):
        for inst in scene.instances:
            radius_px = inst.depth_offset * scene.camera.focal / inst.keypoints_cam[:, 2]
            sel = (inst.flags == 2) & (radius_px >= 2.0)
            u = np.round(inst.keypoints[sel, 0]).astype(int)
            v = np.round(inst.keypoints[sel, 1]).astype(int)
            surface = inst.keypoints_cam[sel, 2] - inst.depth_offset[sel]
            errors.append(np.abs(scene.zbuffer[v, u] - surface))
    errors = np.concatenate(errors)
    assert errors.size > 80
    assert np.median(errors) < 0.01
    assert (errors < 0.05).mean() > 0.95


def test_visibility_agrees_with_independent_occlusion_check():
    """Flags from the 2D z-buffer vs flags from marching the 3D ray to each keypoint through the analytic
    capsules and boxes: they agree on at least 95 % of labelled keypoints, and on exactly which are outside."""
    cfg = SynthConfig(width=320, height=240, layout="wholebody", distance_range=(1.5, 8.0))
    agree = total = occluded = 0
    for scene in _scenes(cfg):
        for inst in scene.instances:
            oracle = oracle_flags(scene, inst)
            labelled = inst.flags > 0
            assert not np.any(labelled & (oracle == 0)), "a labelled keypoint lies outside the image"
            agree += int((oracle[labelled] == inst.flags[labelled]).sum())
            total += int(labelled.sum())
            occluded += int((inst.flags == 1).sum())
    assert total > 500 and occluded > 50  # the scenes really contain occlusion
    assert agree / total > 0.95


def test_boxes_contain_visible_keypoints_and_silhouettes(small_cfg):
    for scene in _scenes(small_cfg, n=12):
        masks = scene.masks()
        for inst, mask in zip(scene.instances, masks):
            x0, y0, x1, y1 = inst.bbox
            vis = inst.keypoints[inst.flags == 2]
            assert np.all((vis[:, 0] >= x0) & (vis[:, 0] <= x1) & (vis[:, 1] >= y0) & (vis[:, 1] <= y1))
            rows, cols = np.nonzero(mask)
            assert cols.min() >= np.floor(x0) and cols.max() <= np.ceil(x1)
            assert rows.min() >= np.floor(y0) and rows.max() <= np.ceil(y1)
            assert inst.area == mask.sum() > 0
            assert 0 <= x0 <= x1 <= 160 and 0 <= y0 <= y1 <= 120


def test_left_side_of_a_person_facing_the_camera_is_on_the_image_right():
    skeleton = get_skeleton("coco_wholebody")
    name = {n: i for i, n in enumerate(skeleton.keypoint_names)}
    rng = np.random.default_rng(0)
    camera = sample_camera(rng, 640, 480)
    for _ in range(5):
        person = sample_person(rng, 0.0).transformed(rot_y(np.pi), camera.forward_distance_to_world(3.0, 0.0))
        px = camera.project(camera.to_camera(person.keypoints))
        for part in ("shoulder", "hip", "eye", "ear"):
            assert px[name[f"left_{part}"], 0] > px[name[f"right_{part}"], 0]
        face = skeleton.parts["face"][0]
        assert px[face + 0, 0] < px[face + 16, 0]  # iBUG jaw starts on the subject's right = image left
        assert px[face + 36, 0] < px[face + 45, 0]
        # feet: toes in front of the heel, big toe on the inner side
        cam = camera.to_camera(person.keypoints)
        assert cam[name["left_big_toe"], 2] < cam[name["left_heel"], 2]
        assert abs(px[name["left_big_toe"], 0] - px[0, 0]) < abs(px[name["left_small_toe"], 0] - px[0, 0])
        # hand: 21 points, five chains of four bones of plausible length hanging off the wrist (root)
        hand = skeleton.parts["lefthand"][0]
        pts = person.keypoints[hand:hand + 21]
        assert np.allclose(pts[0], person.keypoints[name["left_wrist"]])
        chains = pts[1:].reshape(5, 4, 3)
        bones = np.linalg.norm(np.diff(chains, axis=1), axis=2)
        assert np.all((bones > 0.008) & (bones < 0.07))


def test_wholebody_parts_and_coco_subset():
    cfg = SynthConfig(width=320, height=240, layout="wholebody", distance_range=(1.5, 4.0), max_people=2)
    body_cfg = cfg.replace(layout="coco")
    saw_valid = {p: 0 for p in ("foot", "face", "lefthand", "righthand")}
    for i in range(6):
        wb, body = render_scene(cfg, (1, 0, i)), render_scene(body_cfg, (1, 0, i))
        assert np.array_equal(wb.instance_map, body.instance_map)
        for a, b in zip(wb.instances, body.instances):
            assert a.keypoints.shape == (133, 2) and b.keypoints.shape == (17, 2)
            assert np.allclose(a.keypoints[:17], b.keypoints) and np.array_equal(a.flags[:17], b.flags)
            for part, (lo, hi) in get_skeleton("coco_wholebody").parts.items():
                if part == "body":
                    continue
                saw_valid[part] += a.part_valid[part]
                if not a.part_valid[part]:
                    assert not a.flags[lo:hi].any() and not a.part_boxes[part].any()
                else:
                    assert (a.flags[lo:hi] == 2).any()
    assert all(count > 0 for count in saw_valid.values()), saw_valid


def test_difficulty_knobs_change_the_data():
    """More occlusion/crowding/clutter -> more occluded keypoints; farther people -> smaller people."""
    def stats(cfg):
        occluded = labelled = 0
        heights = []
        for scene in _scenes(cfg, n=16, seed=11):
            for inst in scene.instances:
                occluded += int((inst.flags == 1).sum())
                labelled += int((inst.flags > 0).sum())
                heights.append(inst.bbox[3] - inst.bbox[1])
        return occluded / max(labelled, 1), float(np.median(heights))

    base = SynthConfig(width=160, height=120, max_people=4, truncation=0.0, distance_range=(2.0, 6.0))
    easy_occ, near_h = stats(base.replace(occlusion=0.0, crowding=0.0, clutter=0))
    hard_occ, _ = stats(base.replace(occlusion=1.0, crowding=1.0, clutter=8))
    assert hard_occ > easy_occ + 0.05
    _, far_h = stats(base.replace(occlusion=0.0, crowding=0.0, clutter=0, distance_range=(6.0, 18.0)))
    assert far_h < 0.6 * near_h

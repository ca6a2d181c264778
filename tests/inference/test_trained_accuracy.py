"""A trained model through the whole top-down pipeline: the shipped demo teacher (RTMPose-s, trained only on kdpose's
synthetic data, src/kdpose/assets/) on held-out synthetic scenes with ground-truth boxes. Keypoints are mapped back
from the crop to the image, so this checks the crop geometry, the decoder and the inverse warp on real predictions,
in both backends."""
from __future__ import annotations

import numpy as np
import pytest

from kdpose.data.synth import SynthConfig, SyntheticSceneDataset
from kdpose.demo.assets import teacher_asset
from kdpose.demo.config import IMAGE_SIZE, INPUT_SIZE, MAX_PEOPLE, TEACHER_MODEL
from kdpose.inference import PoseEstimator

SCENES = 16  # held-out: the teacher was trained on seed 1 and validated on seed 2; these use seed 7
# regression guards for the shipped teacher, below its measured numbers (see the assertion messages): it is weak
# (minutes of CPU training on small synthetic people), so these check the pipeline around a trained model, not SOTA
MEDIAN_PX, PCK02 = 10.0, 0.55  # measured: 7.4 px, 0.61


@pytest.fixture(scope="module")
def scenes():
    data = SyntheticSceneDataset(SynthConfig(width=IMAGE_SIZE[0], height=IMAGE_SIZE[1], max_people=MAX_PEOPLE),
                                 seed=7, split="val")
    out = []
    for i in range(SCENES):
        people = [s for s in data.samples(i) if (s.flags > 0).sum() >= 4]
        if people:
            out.append(people)
    return out


def _errors(estimator, scenes, flip=False):
    """Per labelled keypoint: (error in image pixels, error / longer box side)."""
    errs, rel = [], []
    for people in scenes:
        boxes = np.stack([p.bbox for p in people])
        estimator.flip_test = flip
        try:
            kpts, _ = estimator.predict_arrays(people[0].image, bboxes=boxes)
        finally:
            estimator.flip_test = False
        for p, k in zip(people, kpts):
            labelled = p.visible > 0
            d = np.linalg.norm(k[labelled] - p.keypoints[labelled], axis=-1)
            errs.append(d)
            rel.append(d / max(p.bbox[2] - p.bbox[0], p.bbox[3] - p.bbox[1]))
    return np.concatenate(errs), np.concatenate(rel)


@pytest.fixture(scope="module")
def torch_estimator():
    return PoseEstimator(TEACHER_MODEL, weights=str(teacher_asset("coco")), layout="coco", input_size=INPUT_SIZE,
                         threads=1)


def test_trained_teacher_keypoints_land_near_the_truth(scenes, torch_estimator):
    err, rel = _errors(torch_estimator, scenes)
    assert len(err) > 100
    # measured: see the numbers in the assertion messages (people are 20-120 px tall in 320x240 images)
    print(f"median {np.median(err):.2f} px, PCK@0.2 {(rel < 0.2).mean():.3f}, PCK@0.1 {(rel < 0.1).mean():.3f}")
    assert np.median(err) < MEDIAN_PX, f"median error {np.median(err):.2f} px"
    assert (rel < 0.2).mean() > PCK02, f"PCK@0.2 {(rel < 0.2).mean():.3f}"


def test_trained_teacher_is_far_better_than_the_same_network_untrained(scenes, torch_estimator):
    import torch

    from kdpose.models import create_model

    trained, _ = _errors(torch_estimator, scenes)
    torch.manual_seed(0)
    untrained = PoseEstimator(create_model(TEACHER_MODEL, layout="coco", input_size=INPUT_SIZE).eval(), threads=1)
    random_err, _ = _errors(untrained, scenes)
    print(f"trained {np.median(trained):.2f} px vs untrained {np.median(random_err):.2f} px")
    assert np.median(trained) < 0.5 * np.median(random_err), (np.median(trained), np.median(random_err))


def test_flip_test_does_not_hurt_a_trained_model(scenes, torch_estimator):
    plain, _ = _errors(torch_estimator, scenes)
    flipped, _ = _errors(torch_estimator, scenes, flip=True)
    assert np.median(flipped) <= np.median(plain) * 1.05, (np.median(flipped), np.median(plain))


def test_onnx_backend_gives_the_same_keypoints(scenes, torch_estimator, tmp_path):
    from kdpose.export.onnx import export_onnx
    from kdpose.models import load_model

    model = load_model(TEACHER_MODEL, weights=str(teacher_asset("coco")), layout="coco", input_size=INPUT_SIZE)
    path = export_onnx(model, tmp_path / "teacher.onnx")
    ort = PoseEstimator(str(path), backend="onnxruntime", threads=1)
    for people in scenes[:6]:
        boxes = np.stack([p.bbox for p in people])
        a, _ = torch_estimator.predict_arrays(people[0].image, bboxes=boxes)
        b, _ = ort.predict_arrays(people[0].image, bboxes=boxes)
        np.testing.assert_allclose(a, b, atol=0.5)

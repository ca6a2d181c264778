import numpy as np
import torch

from kdpose.detection.boxes import PointBoxCoder, grid_points
from kdpose.detection.data import RenderedScenes, SceneDetectionDataset, collate_detection
from kdpose.detection.loss import DetectionLoss, assign
from kdpose.models.person_detector import DetOutput


def test_assignment_levels_tiny_people_and_ties():
    points, strides = grid_points((256, 256), (8, 16, 32))
    boxes = torch.tensor([[[10.0, 10, 15, 16],        # 5 x 6 px person: only its centre cell, stride 8
                           [20, 20, 220, 240],         # 220 px tall: strides 16 and 32 (64-256 and >= 128)
                           [100, 100, 140, 180]]])     # inside the big one: shared points go to the smaller box
    assigned = assign(points, strides, boxes, torch.ones(1, 3, dtype=torch.bool))[0]
    tiny = torch.nonzero(assigned == 0).flatten()
    assert tiny.tolist() == [1 * 32 + 1]  # the stride-8 cell (1, 1), centre (12, 12)
    big_strides = set(strides[assigned == 1].tolist())
    assert big_strides == {16.0, 32.0}
    small = assigned == 2
    assert small.sum() > 0 and set(strides[small].tolist()) == {8.0, 16.0}
    inside_both = (points[:, 0] > 100) & (points[:, 0] < 140) & (points[:, 1] > 100) & (points[:, 1] < 180)
    assert not (assigned[inside_both & (strides == 16)] == 1).any()  # the smaller box wins shared points
    # every positive lies within 2.5 strides of its box centre and inside it (or is the centre cell)
    pos = assigned >= 0
    centres = (boxes[0, assigned[pos], :2] + boxes[0, assigned[pos], 2:]) / 2
    assert ((points[pos] - centres).abs().max(1).values < 2.5 * strides[pos]).all()


def test_loss_is_low_for_perfect_predictions_and_handles_empty_images():
    coder = PointBoxCoder((64, 64))
    points, strides = coder.priors()
    gt = torch.tensor([[[8.0, 4, 40, 60]], [[0, 0, 0, 0]]])
    valid = torch.tensor([[True], [False]])
    assigned = assign(points, strides, gt, valid)
    deltas = torch.zeros(2, len(points), 4)
    pos = assigned[0] >= 0
    deltas[0, pos] = coder.encode(points[pos], strides[pos], gt[0, 0].expand(int(pos.sum()), 4))
    logits = torch.full((2, len(points)), -12.0)
    logits[0, pos] = 12.0
    perfect = DetectionLoss(coder)(DetOutput(logits, deltas), gt, valid)
    assert perfect["loss_box"] < 1e-4 and perfect["loss_cls"] < 1e-3 and perfect["num_pos"] == pos.sum()
    wrong = DetectionLoss(coder)(DetOutput(-logits, torch.zeros_like(deltas)), gt, valid)
    assert wrong["loss"] > 10 * perfect["loss"] + 1.0
    empty = DetectionLoss(coder)(DetOutput(logits[1:], deltas[1:]), gt[1:], valid[1:])
    assert empty["num_pos"] == 1 and empty["loss_box"] == 0 and torch.isfinite(empty["loss"])


def test_augmentation_moves_boxes_with_the_pixels():
    from kdpose.data.synth import SynthConfig

    ds = SceneDetectionDataset(RenderedScenes(SynthConfig(width=64, height=48), 1), (64, 64), zoom_range=(0.5, 0.9))
    canvas = np.full((64, 64, 3), 114, np.uint8)
    canvas[10:30, 5:25] = 255  # a white "person" at xyxy (5, 10, 25, 30)
    for seed in range(6):
        out, boxes = ds._augment(canvas, np.array([[5.0, 10, 25, 30]], np.float32), np.random.default_rng(seed))
        ys, xs = np.nonzero(out[..., 0] > 200)
        np.testing.assert_allclose(boxes[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.5)


def test_collate_pads_boxes():
    items = [(torch.zeros(3, 32, 32), np.zeros((0, 4), np.float32), 1, 0.5),
             (torch.ones(3, 32, 32), np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32), 2, 1.0)]
    batch = collate_detection(items)
    assert batch.boxes.shape == (2, 2, 4) and batch.valid.tolist() == [[False, False], [True, True]]
    assert batch.image_id.tolist() == [1, 2] and batch.boxes[1, 1].tolist() == [5, 6, 7, 8]

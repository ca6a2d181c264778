import numpy as np
import pytest
import torch

from kdpose.detection.boxes import PointBoxCoder, aligned_giou, batched_nms, box_iou, grid_points, nms


def brute_force_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS, one pair at a time (the reference)."""
    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


def random_boxes(rng, n):
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.7, 0.95])
def test_nms_equals_brute_force(seed, thr):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    boxes = random_boxes(rng, n)
    scores = np.round(rng.uniform(0, 1, n), 2)  # rounding makes score ties, which must break by index
    got = nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).tolist()
    assert got == brute_force_nms(boxes, scores, thr)


def test_nms_empty_and_single():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0
    assert nms(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([0.3]), 0.5).tolist() == [0]


def test_batched_nms_never_suppresses_across_groups():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert sorted(batched_nms(boxes, scores, torch.tensor([0, 0, 1]), 0.5).tolist()) == [0, 2]
    assert nms(boxes, scores, 0.5).tolist() == [0]


def test_box_encode_decode_round_trip():
    coder = PointBoxCoder((64, 96), (8, 16, 32))
    points, strides = coder.priors()
    assert points.shape == (8 * 12 + 4 * 6 + 2 * 3, 2) and strides.shape == (len(points),)
    rng = np.random.default_rng(0)
    # a box around every point, at distances from 0.3 to 20 strides
    dist = torch.from_numpy(rng.uniform(0.3, 20.0, (len(points), 4))).float() * strides[:, None]
    boxes = torch.cat([points - dist[:, :2], points + dist[:, 2:]], 1)
    deltas = coder.encode(points, strides, boxes)
    np.testing.assert_allclose(coder.decode_deltas(points, strides, deltas).numpy(), boxes.numpy(), rtol=1e-5,
                               atol=1e-3)
    # zero deltas = one stride on each side of the point
    unit = coder.decode_deltas(points[:1], strides[:1], torch.zeros(1, 4))
    assert unit.tolist() == [[-4.0, -4.0, 12.0, 12.0]]


def test_grid_points_are_cell_centres_level_by_level():
    pts, strides = grid_points((32, 16), (8, 16))
    assert pts[:4].tolist() == [[4, 4], [12, 4], [20, 4], [28, 4]]
    assert pts[8:].tolist() == [[8, 8], [24, 8]] and strides[8:].tolist() == [16, 16]


def test_iou_and_giou():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[5.0, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b).numpy(), [[50 / 150, 0.0]], rtol=1e-6)
    iou, giou = aligned_giou(a.expand(2, 4), b)
    np.testing.assert_allclose(iou.numpy(), [1 / 3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(giou.numpy(), [1 / 3, 0.0 - (900 - 200) / 900], rtol=1e-6)

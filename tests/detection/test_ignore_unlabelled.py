"""The ``standard`` preset's unlabelled people (num_keypoints 0: too small or hardly visible for an annotator) as
COCO ignore regions: box AP neither rewards nor penalises detecting them, and training neither demands them nor
pushes them to background. ``hard`` (the default, ``ignore_unlabelled`` false) keeps every person a box."""
import numpy as np
import pytest
import torch

from kdpose.data.synth import SynthConfig
from kdpose.detection.boxes import PointBoxCoder
from kdpose.detection.data import RenderedScenes, SceneDetectionDataset, collate_detection, render_eval_set
from kdpose.detection.evaluate import coco_bbox_eval, to_bbox_results
from kdpose.detection.loss import DetectionLoss, assign, candidates
from kdpose.models.person_detector import DetOutput

STANDARD = SynthConfig.from_preset("standard", width=640, height=480, max_people=4)
SCENES = 8  # seed 0: 20 people, 4 of them unlabelled (num_keypoints 0)


@pytest.fixture(scope="module")
def standard_val():
    return render_eval_set(STANDARD, SCENES, seed=0, ignore_unlabelled=True)


def _detections(eval_set, with_unlabelled: bool, extra: dict | None = None):
    """Exact ground-truth boxes as detections: labelled people score 0.5, unlabelled ones 0.9 (ranked first, the
    worst case for an ignore rule that did not work)."""
    per_image = {im["id"]: ([], []) for im in eval_set.coco_gt["images"]}
    for ann in eval_set.coco_gt["annotations"]:
        if ann["iscrowd"] and not with_unlabelled:
            continue
        x, y, w, h = ann["bbox"]
        per_image[ann["image_id"]][0].append([x, y, x + w, y + h])
        per_image[ann["image_id"]][1].append(0.9 if ann["iscrowd"] else 0.5)
    for image_id, (box, score) in (extra or {}).items():
        per_image[image_id][0].append(box)
        per_image[image_id][1].append(score)
    ids = sorted(per_image)
    return to_bbox_results(ids, [(np.array(per_image[i][0]).reshape(-1, 4), np.array(per_image[i][1]))
                                 for i in ids])


def test_unlabelled_people_are_crowd_regions_in_box_ap(standard_val):
    anns = standard_val.coco_gt["annotations"]
    crowd = sum(a["iscrowd"] for a in anns)
    assert (len(anns), crowd) == (20, 4)  # the unlabelled people exist, and are few
    all_boxes = {**standard_val.coco_gt,
                 "annotations": [{**a, "iscrowd": 0} for a in anns]}  # the old rule: every person a box
    labelled_only = _detections(standard_val, with_unlabelled=False)
    with_unlabelled = _detections(standard_val, with_unlabelled=True)
    # a detector that finds exactly the labelled people is perfect under the ignore rule ...
    m = coco_bbox_eval(standard_val.coco_gt, labelled_only)
    assert m["AP"] == pytest.approx(1.0) and m["AR"] == pytest.approx(1.0)
    # ... and also finding the unlabelled ones, even ranked above every labelled person, costs nothing
    assert coco_bbox_eval(standard_val.coco_gt, with_unlabelled)["AP"] == pytest.approx(1.0)
    # with every person a box, missing the 4 unlabelled ones caps recall at 16 / 20: AP 0.80 instead of 1.0
    assert coco_bbox_eval(all_boxes, labelled_only)["AP"] == pytest.approx(16 / 20, abs=0.011)
    assert coco_bbox_eval(all_boxes, with_unlabelled)["AP"] == pytest.approx(1.0)
    # an ignore region hides no real mistake: a top-scored box on empty ground is a false positive
    empty_ground = {4: ([10.0, 10.0, 60.0, 110.0], 0.99)}  # image 4 has one person, at x 540-598
    fp = coco_bbox_eval(standard_val.coco_gt, _detections(standard_val, False, empty_ground))
    assert fp["AP"] == pytest.approx(16 / 17, abs=0.011)  # 1 false positive above 16 true ones


def test_training_items_mark_the_unlabelled_people(standard_val):
    crowd = [[a["iscrowd"] == 1 for a in standard_val.coco_gt["annotations"] if a["image_id"] == i + 1]
             for i in range(SCENES)]
    scenes = RenderedScenes(STANDARD, SCENES, seed=0, split="val", cache=True)
    # at 640 no box is under MIN_BOX_SIZE (one unlabelled person is 3 px wide, cut by the image border)
    marked = SceneDetectionDataset(scenes, (640, 640), augment=False, ignore_unlabelled=True)
    plain = SceneDetectionDataset(scenes, (640, 640), augment=False)  # hard's rule: every person a box
    for i in range(SCENES):
        assert marked[i].ignore.tolist() == crowd[i]
        assert not plain[i].ignore.any()
        np.testing.assert_array_equal(marked[i].boxes, plain[i].boxes)
    batch = collate_detection([marked[i] for i in range(SCENES)])
    assert int(batch.ignore.sum()) == 4 and not (batch.ignore & ~batch.valid).any()


def _case():
    """One labelled person (100 px tall) and one unlabelled small one (20 x 40) on a 128x128 input, and a network
    output that is perfect on the labelled person and says 'background' everywhere else."""
    coder = PointBoxCoder((128, 128))
    points, strides = coder.priors()
    boxes = torch.tensor([[[10.0, 10, 50, 110], [80, 60, 100, 100]]])
    valid = torch.ones(1, 2, dtype=torch.bool)
    pos = assign(points, strides, boxes, valid[:, :1].clone().expand(1, 2) & torch.tensor([[True, False]]))[0] >= 0
    deltas = torch.zeros(1, len(points), 4)
    deltas[0, pos] = coder.encode(points[pos], strides[pos], boxes[0, 0].expand(int(pos.sum()), 4))
    logits = torch.full((1, len(points)), -12.0)
    logits[0, pos] = 12.0
    would_be_pos = candidates(points, strides, boxes[:, 1:], valid[:, 1:])[0, 0] & ~pos
    return coder, points, strides, boxes, valid, deltas, logits, pos, would_be_pos


def test_ignored_person_is_neither_demanded_nor_background():
    coder, points, strides, boxes, valid, deltas, logits, pos, unl = _case()
    loss = DetectionLoss(coder)
    ignore = torch.tensor([[False, True]])
    detects_it = logits.clone()
    detects_it[0, unl] = 12.0  # the network fires on the unlabelled person's centre points
    missed = loss(DetOutput(logits, deltas), boxes, valid, ignore)
    found = loss(DetOutput(detects_it, deltas), boxes, valid, ignore)
    assert int(unl.sum()) >= 4 and set(strides[unl].tolist()) == {8.0}  # 40 px: the stride-8 level only
    # ignore rule: detecting it or not changes nothing, to the last bit; only the labelled person is a positive
    assert torch.equal(missed["loss"], found["loss"]) and missed["num_pos"] == found["num_pos"] == pos.sum()
    assert missed["loss"] < 1e-4
    # the alternatives the rule avoids: as background, firing on it costs ...
    background = loss(DetOutput(detects_it, deltas), boxes, torch.tensor([[True, False]]))
    assert background["loss_cls"] > 1.0
    # ... and as a box to find, missing it (and having no box for it) costs
    demanded = loss(DetOutput(logits, deltas), boxes, valid, torch.tensor([[False, False]]))
    assert demanded["loss"] > 0.1 and demanded["num_pos"] > pos.sum()
    # points of its box that would not be its positives (another level) stay negatives, as for a labelled person
    inside = (points[:, 0] > 80) & (points[:, 0] < 100) & (points[:, 1] > 60) & (points[:, 1] < 100)
    other_level = inside & (strides == 16)
    assert other_level.any()
    fires_wide = logits.clone()
    fires_wide[0, other_level] = 12.0
    assert loss(DetOutput(fires_wide, deltas), boxes, valid, ignore)["loss_cls"] > 0.1


def test_labelled_positive_inside_an_ignored_box_stays_positive():
    coder = PointBoxCoder((128, 128))
    points, strides = coder.priors()
    # a labelled 30 px person in front of a big unlabelled (hardly visible) one
    boxes = torch.tensor([[[20.0, 20, 110, 120], [50, 50, 70, 80]]])
    valid = torch.ones(1, 2, dtype=torch.bool)
    ignore = torch.tensor([[True, False]])
    out = DetOutput(torch.zeros(1, len(points)), torch.zeros(1, len(points), 4))
    with_rule = DetectionLoss(coder)(out, boxes, valid, ignore)
    labelled_only = DetectionLoss(coder)(out, boxes[:, 1:], valid[:, 1:])
    assert with_rule["num_pos"] == labelled_only["num_pos"] > 0
    assert torch.allclose(with_rule["loss_box"], labelled_only["loss_box"])

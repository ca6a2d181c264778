"""The one scorer of top-down poses from given boxes (``kdpose.evaluation.score_topdown``): COCO metrics, PCK@0.2,
median error and the left/right swap rate in one call, with OKS-NMS and rescoring as explicit protocol choices."""
import numpy as np
import pytest

from kdpose.evaluation import score_topdown, swap_rate
from kdpose.layouts import get_layout

COCO = get_layout("coco")
# a standing person of the COCO layout in a 40 x 100 box at the origin (nose, eyes, ears, shoulders ... ankles)
PERSON = np.array([[20, 10], [17, 7], [23, 7], [14, 9], [26, 9], [8, 25], [32, 25], [5, 45], [35, 45], [4, 62],
                   [36, 62], [12, 60], [28, 60], [12, 80], [28, 80], [12, 98], [28, 98]], np.float64)


def _scene(offsets):
    """People (image id, x, y) -> (COCO ground truth, image ids, keypoints (N, 17, 2), xyxy boxes)."""
    images = sorted({i for i, _, _ in offsets})
    kpts = np.stack([PERSON + [x, y] for _, x, y in offsets])
    boxes = np.array([[x, y, x + 40, y + 100] for _, x, y in offsets], np.float64)
    anns = [{"id": n + 1, "image_id": i, "category_id": 1, "iscrowd": 0, "num_keypoints": 17, "area": 40.0 * 100,
             "bbox": [x, y, 40.0, 100.0], "keypoints": np.concatenate([k, np.full((17, 1), 2.0)], 1).ravel().tolist()}
            for n, ((i, x, y), k) in enumerate(zip(offsets, kpts))]
    gt = {"images": [{"id": i, "width": 640, "height": 480} for i in images], "annotations": anns}
    return gt, np.array([i for i, _, _ in offsets]), kpts, boxes


def test_perfect_poses_score_one_and_report_every_number():
    gt, ids, kpts, boxes = _scene([(1, 10, 10), (1, 200, 50), (2, 30, 30)])
    m = score_topdown(gt, COCO, ids, kpts, np.full(kpts.shape[:2], 0.9), kpts, np.ones(kpts.shape[:2]), boxes)
    assert set(m) == {"AP", "AP50", "AP75", "APM", "APL", "AR", "PCK@0.2", "swapped", "pairs", "median_px", "people"}
    assert m["AP"] == m["AP50"] == m["AR"] == m["APM"] == pytest.approx(1.0)
    assert m["APL"] == -1.0  # AP by person size: area 4000 is medium (32^2 to 96^2), no large people
    assert (m["PCK@0.2"], m["swapped"], m["median_px"], m["people"]) == (1.0, 0.0, 0.0, 3)
    assert m["pairs"] == 3 * len(COCO.skeleton.flip_pairs)


def test_oks_nms_is_a_protocol_choice():
    """Two people standing in one place, each predicted right from its own box: one pose per box finds both; the
    trainer's OKS-NMS (0.9) keeps one of the two identical poses, so recall halves."""
    gt, ids, kpts, boxes = _scene([(1, 10, 10), (1, 10, 10)])
    args = (gt, COCO, ids, kpts, np.full(kpts.shape[:2], 0.9), kpts, np.ones(kpts.shape[:2]), boxes)
    areas = np.full(2, 50.0 * 125.0)
    assert score_topdown(*args)["AR"] == pytest.approx(1.0)
    assert score_topdown(*args, areas=areas, nms_thr=0.9)["AR"] == pytest.approx(0.5)
    assert score_topdown(*args, areas=areas, nms_thr=0.0)["AR"] == pytest.approx(1.0)  # <= 0: off, as the trainer
    with pytest.raises(ValueError, match="areas"):
        score_topdown(*args, nms_thr=0.9)


def test_swap_rate_counts_exchanged_pairs_with_both_points_labelled():
    gt = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 20.0], [10.0, 20.0]]] * 2)   # 2 people, pairs (0, 1), (2, 3)
    pred = gt.copy()
    pred[0, [0, 1]] = pred[0, [1, 0]]          # person 0: first pair exchanged
    pred[1, 2] = [9.0, 20.0]                   # person 1: one point far off, but not nearer its partner's pair
    vis = np.ones((2, 4))
    assert swap_rate(pred, gt, vis, [(0, 1), (2, 3)]) == (0.25, 4)
    vis[0, 1] = 0                              # the exchanged pair is no longer counted
    assert swap_rate(pred, gt, vis, [(0, 1), (2, 3)]) == (0.0, 3)


def test_swapped_limbs_are_counted_and_cost_pck():
    gt, ids, kpts, boxes = _scene([(1, 10, 10)])
    pred = kpts.copy()
    pred[0, [9, 10]] = pred[0, [10, 9]]        # wrists exchanged (32 px apart, box 100 px: 0.32 > 0.2)
    m = score_topdown(gt, COCO, ids, pred, np.full(pred.shape[:2], 0.9), kpts, np.ones(pred.shape[:2]), boxes)
    assert m["swapped"] == pytest.approx(1 / len(COCO.skeleton.flip_pairs))
    assert m["PCK@0.2"] == pytest.approx(15 / 17)


def test_a_whole_body_score_reports_every_part(tmp_path):
    """Whole-body: ``AP`` is the ``wholebody`` part and each part's AP comes as ``<part>.AP``; hands moved away
    leave the body's AP whole and take the hands' (and the whole-body) AP down."""
    from kdpose.data.synth import SynthConfig, write_coco_dataset
    from kdpose.valset import load_val_set

    ann = write_coco_dataset(tmp_path, SynthConfig.from_preset("standard", layout="wholebody"), 3, seed=3, split="val")
    val = load_val_set(ann, "coco_wholebody")
    kpts, labelled = np.concatenate(val.keypoints).astype(np.float64), np.concatenate(val.labelled)
    # unlabelled keypoints predicted at the box centre: COCO's OKS matches a person whose part has no labelled
    # keypoint to a prediction inside its (doubled) box, so a GT copy with (0, 0) there would lose those people
    boxes = np.concatenate(val.boxes)
    kpts = np.where(labelled[..., None], kpts, ((boxes[:, :2] + boxes[:, 2:]) / 2)[:, None, :])
    perfect = val.score(kpts, np.full(kpts.shape[:2], 0.9))
    parts = ("body", "foot", "face", "lefthand", "righthand", "hand")
    assert {f"{p}.AP" for p in parts} <= set(perfect) and "wholebody.AP" not in perfect
    assert all(perfect[f"{p}.AP"] == pytest.approx(1.0) for p in parts) and perfect["AP"] == pytest.approx(1.0)
    off = kpts.copy()
    off[:, 91:133] += 40.0  # both hands 40 px away
    moved = val.score(off, np.full(kpts.shape[:2], 0.9))
    assert moved["body.AP"] == pytest.approx(1.0) and moved["face.AP"] == pytest.approx(1.0)
    assert moved["hand.AP"] < 0.2 and moved["AP"] < perfect["AP"]
    assert labelled[:, 91:133].any()  # the scenes do have labelled hands


def test_the_library_scorer_counts_the_people_kdpose_eval_counts(tmp_path):
    """A person with labelled hands, face and feet but no labelled body keypoint has no pose to predict (no box in
    the val set) yet stays ground truth of its parts for ``kdpose eval``: the library scorer of the same file must
    count it too, also when it is alone in its image (it used to drop that image from its ground truth)."""
    import json

    from kdpose.data.synth import SynthConfig, write_coco_dataset
    from kdpose.evaluation.results import to_coco_results
    from kdpose.evaluation.wholebody import wholebody_eval
    from kdpose.valset import load_val_set

    ann = write_coco_dataset(tmp_path, SynthConfig.from_preset("standard", layout="wholebody", max_people=1), 8,
                             seed=5, split="val")
    data = json.loads(ann.read_text())
    target = next(a for a in data["annotations"] if a["num_keypoints"] > 0 and sum(a["face_kpts"][2::3]) > 0)
    target["keypoints"], target["num_keypoints"] = [0] * 51, 0   # body unlabelled; face (and more) still labelled
    ann.write_text(json.dumps(data))
    val = load_val_set(ann, "coco_wholebody")
    assert target["image_id"] not in val.image_ids  # nobody left to pose in that image
    kpts = np.concatenate(val.keypoints).astype(np.float64) + np.random.default_rng(0).normal(0, 2, (val.num_people,
                                                                                                      133, 2))
    scores = np.full(kpts.shape[:2], 0.9)
    ids = np.repeat(val.image_ids, [len(b) for b in val.boxes])
    cli = wholebody_eval(ann, to_coco_results(ids, kpts, scores, np.ones(len(ids)), np.ones(len(ids)),
                                              "coco_wholebody", nms="none"))
    lib = val.score(kpts, scores)
    for part in ("body", "foot", "face", "hand"):
        assert lib[f"{part}.AP"] == pytest.approx(cli[part]["AP"]), part
    assert lib["AP"] == pytest.approx(cli["wholebody"]["AP"]) and lib["AR"] == pytest.approx(cli["wholebody"]["AR"])
    assert cli["face"]["AR"] < 1.0  # the unposed person's face is a miss

"""The paper's PCK precision / recall on hand-built cases."""
from __future__ import annotations

import numpy as np
import pytest

from kdpose.evaluation.pck_pr import DEFAULT_KAPPAS, match_landmark, pck_precision_recall, plot_pr_curves, pr_curve


def test_kappa_grid_is_005_to_015():
    assert DEFAULT_KAPPAS[0] == pytest.approx(0.05) and DEFAULT_KAPPAS[-1] == pytest.approx(0.15)
    assert len(DEFAULT_KAPPAS) == 11


def test_hand_built_two_landmarks():
    # one image, two GT people of height 100 px, K = 2 landmark types
    gt = np.array([[[0, 0], [50, 0]], [[200, 0], [250, 0]]], np.float32)
    vis = np.ones((2, 2))
    heights = np.array([100.0, 100.0])
    # predictions: landmark 0: 4 px off person 0 (TP at every kappa), 10 px off person 1 (TP only for kappa >= 0.10),
    # plus a far false positive; landmark 1: only person 0 found, 0 px off.
    pred = np.array([[[4, 0], [50, 0]], [[210, 0], [0, 0]], [[500, 500], [0, 0]]], np.float32)
    scores = np.array([[0.9, 0.9], [0.9, 0.0], [0.9, 0.0]], np.float32)
    r = pck_precision_recall([pred], [scores], [gt], [vis], [heights], kappas=[0.05, 0.10, 0.15])
    np.testing.assert_array_equal(r.n_pred, [3, 1])
    np.testing.assert_array_equal(r.n_gt, [2, 2])
    np.testing.assert_array_equal(r.tp, [[1, 1], [2, 1], [2, 1]])
    # landmark 0: P = (1/3, 2/3, 2/3), R = (1/2, 1, 1); landmark 1: P = 1, R = 1/2
    np.testing.assert_allclose(r.per_landmark_precision, [5 / 9, 1.0])
    np.testing.assert_allclose(r.per_landmark_recall, [5 / 6, 0.5])
    assert r.precision == pytest.approx((5 / 9 + 1) / 2)
    assert r.recall == pytest.approx((5 / 6 + 0.5) / 2)
    p, q = (5 / 9 + 1) / 2, (5 / 6 + 0.5) / 2
    assert r.f_score == pytest.approx(2 * p * q / (p + q))
    # the upper-body style subset keeps only the chosen landmark types
    assert r.subset([1]).precision == pytest.approx(1.0) and r.subset([1]).recall == pytest.approx(0.5)
    # a detection threshold above 0.9 removes every prediction: nothing found, precision 0 and recall 0 (precision
    # was 1 before, so a threshold that kept nothing read AP 100)
    r_hi = pck_precision_recall([pred], [scores], [gt], [vis], [heights], kappas=[0.1], score_threshold=0.95)
    assert r_hi.precision == 0.0 and r_hi.recall == 0.0 and r_hi.f_score == 0.0


def test_matching_is_one_to_one_and_uses_each_persons_height():
    # two predictions near one GT point: only one TP, the other is a false positive
    d = match_landmark(np.array([[1.0, 0], [2.0, 0]]), np.array([[0.0, 0]]), np.array([100.0]), 0.15)
    np.testing.assert_allclose(d, [0.01])
    # the same 12 px error is within 0.15 h of a 100 px person but not of a 50 px one
    gt = np.array([[[0, 0]], [[300, 0]]], np.float32)
    pred = np.array([[[12, 0]], [[312, 0]]], np.float32)
    r = pck_precision_recall([pred], [np.ones((2, 1))], [gt], [np.ones((2, 1))], [np.array([100.0, 50.0])],
                             kappas=[0.15])
    assert r.tp[0, 0] == 1


def test_unlabelled_ground_truth_is_ignored_and_empty_images_work():
    gt = np.zeros((1, 1, 2), np.float32)
    r = pck_precision_recall([np.zeros((0, 1, 2))], [np.zeros((0, 1))], [gt], [np.zeros((1, 1))], [np.ones(1)])
    # a landmark type nobody labelled and nobody predicted: nothing to find, nothing wrongly found
    assert r.n_gt[0] == 0 and r.n_pred[0] == 0 and r.precision == 1.0 and r.recall == 1.0
    # predicted where nobody is labelled: false positives only, recall 1 (nothing to miss)
    r = pck_precision_recall([np.zeros((1, 1, 2))], [np.ones((1, 1))], [gt], [np.zeros((1, 1))], [np.ones(1)])
    assert r.n_pred[0] == 1 and r.precision == 0.0 and r.recall == 1.0


def test_no_predictions_score_zero_per_landmark():
    """Two landmark types, one labelled: the labelled type unpredicted is P 0, R 0; the unlabelled one P 1, R 1."""
    gt = np.array([[[10, 10], [0, 0]]], np.float32)
    vis = np.array([[1.0, 0.0]])
    r = pck_precision_recall([np.zeros((0, 2, 2))], [np.zeros((0, 2))], [gt], [vis], [np.array([100.0])])
    np.testing.assert_array_equal(r.per_landmark_precision, [0.0, 1.0])
    np.testing.assert_array_equal(r.per_landmark_recall, [0.0, 1.0])
    assert r.subset([0]).summary() == {"AP": 0.0, "AR": 0.0, "F": 0.0}


def test_pr_curve_best_point_and_plot(tmp_path):
    gt = np.array([[[0, 0]]], np.float32)
    pred = np.array([[[1, 0]], [[80, 80]]], np.float32)
    scores = np.array([[0.9], [0.3]], np.float32)
    etas = [0.1, 0.5, 0.95]
    res = [pck_precision_recall([pred], [scores], [gt], [np.ones((1, 1))], [np.array([100.0])],
                                score_threshold=e) for e in etas]
    curve = pr_curve(res, etas)
    np.testing.assert_allclose(curve.precision, [0.5, 1.0, 0.0])  # at 0.95 nothing is predicted: nothing found
    np.testing.assert_allclose(curve.recall, [1.0, 1.0, 0.0])
    assert curve.best()["eta"] == 0.5 and curve.best()["F"] == pytest.approx(1.0)
    out = plot_pr_curves({"toy": curve}, tmp_path / "pr.png")
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"


def test_pck_pr_eval_refuses_results_of_unknown_images(fixtures):
    """Results whose image ids the ground truth lacks were dropped silently (AP 100, AR 0); now an error."""
    import json

    from kdpose.errors import DataError
    from kdpose.evaluation.pck_pr import pck_pr_eval
    from kdpose.layouts import get_layout

    path = fixtures / "coco/test_coco.json"
    res = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
           for a in json.loads(path.read_text())["annotations"] if a["num_keypoints"] > 0]
    assert pck_pr_eval(path, res, get_layout("coco"))["AR"] == pytest.approx(100.0)
    with pytest.raises(DataError, match="result 0 has image_id 885, which is not in the ground truth"):
        pck_pr_eval(path, [dict(r, image_id=r["image_id"] + 100) for r in res], get_layout("coco"))
    with pytest.raises(DataError, match="result 0 has category_id 2"):
        pck_pr_eval(path, [dict(r, category_id=2) for r in res], get_layout("coco"))


def test_pck_pr_eval_without_predictions_or_ground_truth(fixtures, tmp_path):
    """An empty results file read AP 100, AR 0, F 0 (precision 1 by convention at every threshold); now AP 0, AR 0.
    Ground truth without labelled people has no precision or recall to report: a one-line DataError."""
    import json

    from kdpose.cli.main import main
    from kdpose.errors import DataError
    from kdpose.evaluation.pck_pr import pck_pr_eval
    from kdpose.layouts import get_layout

    path = fixtures / "coco/test_coco.json"
    coco = get_layout("coco")
    assert pck_pr_eval(path, [], coco) == {"AP": 0.0, "AR": 0.0, "F": 0.0, "score_thr": 0.05, "F_upper": 0.0}
    res = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
           for a in json.loads(path.read_text())["annotations"] if a["num_keypoints"] > 0]
    # scores below every threshold: the same as no predictions
    low = [dict(r, keypoints=[v if j % 3 != 2 else 0.01 * (v > 0) for j, v in enumerate(r["keypoints"])])
           for r in res]
    assert pck_pr_eval(path, low, coco)["AP"] == 0.0
    (tmp_path / "empty.json").write_text("[]")
    assert main(["eval", "--gt", str(path), "--pred", str(tmp_path / "empty.json"), "--metric", "pck-pr",
                 "--out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["AP"] == 0.0
    nobody = json.loads(path.read_text())
    nobody["annotations"] = []
    (tmp_path / "nobody.json").write_text(json.dumps(nobody))
    with pytest.raises(DataError, match=r"nobody\.json: the ground truth has no people with labelled keypoints "
                                        r"\(\d+ images\), so PCK precision / recall are undefined"):
        pck_pr_eval(tmp_path / "nobody.json", [], coco)
    with pytest.raises(DataError, match="result 0 field 'keypoints' holds 'x'"):
        pck_pr_eval(path, [dict(res[0], keypoints=["x"] + res[0]["keypoints"][1:])], coco)


def _gt_file(tmp_path, names, name="gt.json"):
    import json

    kpts = [v for k in range(17) for v in (10.0 + 5 * k, 20.0 + 7 * k, 2)]
    data = {"images": [{"id": 1, "file_name": "1.png", "width": 320, "height": 240}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [5, 15, 100, 130],
                             "area": 13000.0, "num_keypoints": 17, "keypoints": kpts}],
            "categories": [{"id": 1, "name": "person", "keypoints": list(names)}]}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path, [{"image_id": 1, "category_id": 1, "score": 1.0,
                   "keypoints": [v if i % 3 != 2 else 0.9 for i, v in enumerate(kpts)]}]


def test_ground_truth_of_another_layout_with_the_same_k_is_refused(tmp_path, capsys):
    """A DIH file (17 landmarks, the depth paper's) scored with the default --layout coco ran: AP / AR / F are
    index-wise and came out right, but F_upper took COCO's upper-body ids, i.e. DIH's neck, head, hips, knees...
    (0.545 instead of 1.0 in the audit's case). The category's keypoint names now pick the refusal."""
    import json

    from kdpose.cli.main import main
    from kdpose.errors import ConfigError
    from kdpose.evaluation.pck_pr import pck_pr_eval
    from kdpose.layouts import get_layout
    from kdpose.skeletons import get_skeleton

    dih, coco = get_layout("dih"), get_layout("coco")
    gt, preds = _gt_file(tmp_path, get_skeleton("dih").keypoint_names)
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    with pytest.raises(ConfigError, match="names the keypoints of layout 'dih', not of 'coco'"):
        pck_pr_eval(gt, preds, coco)
    assert pck_pr_eval(gt, preds, dih)["F_upper"] == pytest.approx(1.0)
    for metric in ("pck-pr", "oks"):
        assert main(["eval", "--gt", str(gt), "--pred", str(tmp_path / "pred.json"), "--metric", metric]) == 2
        assert "kdpose eval --layout dih" in capsys.readouterr().err
    # names of the layout itself, or of no layout, or no names: scored as before
    coco_gt, _ = _gt_file(tmp_path, get_skeleton("coco").keypoint_names, "coco.json")
    other_gt, _ = _gt_file(tmp_path, [f"point_{k}" for k in range(17)], "other.json")
    bare_gt, _ = _gt_file(tmp_path, [], "bare.json")
    for path in (coco_gt, other_gt, bare_gt):
        assert pck_pr_eval(path, preds, coco)["AP"] == pytest.approx(100.0)

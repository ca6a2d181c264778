import json

import pytest

from kdpose.cli.main import main


def test_eval_cli_coco_and_errors(fixtures, tmp_path, capsys):
    gt = fixtures / "coco/test_coco.json"
    anns = json.loads(gt.read_text())["annotations"]
    res = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
           for a in anns if a["num_keypoints"] > 0]
    (tmp_path / "r.json").write_text(json.dumps(res))
    out = tmp_path / "m.json"
    assert main(["eval", "--gt", str(gt), "--pred", str(tmp_path / "r.json"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "AP50" in printed and "1.0000" in printed
    metrics = json.loads(out.read_text())
    assert metrics["AP"] == pytest.approx(1.0) and set(metrics) >= {"AP", "AP50", "AP75", "APM", "APL", "AR"}
    assert main(["eval", "--gt", str(gt), "--pred", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdpose: error:") and "none.json: file not found" in err
    # --metric pck-pr was ignored under --iou-type bbox: box AP printed for a PCK request
    dets = fixtures / "coco/test_coco_det_AP_H_56.json"
    assert main(["eval", "--gt", str(gt), "--pred", str(dets), "--iou-type", "bbox", "--metric", "pck-pr"]) == 2
    assert capsys.readouterr().err.strip() == ("kdpose: error: --metric pck-pr scores keypoints; --iou-type bbox "
                                               "gives COCO box AP (drop one)")


def test_eval_cli_wholebody_per_part(fixtures, tmp_path, capsys):
    gt = fixtures / "coco/test_coco_wholebody.json"
    fields = ["keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts"]
    res = [{"image_id": a["image_id"], "score": 0.9, **{f: a[f] for f in fields}}
           for a in json.loads(gt.read_text())["annotations"] if a["num_keypoints"] > 0]
    (tmp_path / "r.json").write_text(json.dumps(res))
    out = tmp_path / "m.json"
    assert main(["eval", "--gt", str(gt), "--pred", str(tmp_path / "r.json"), "--layout", "wholebody",
                 "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert list(metrics) == ["body", "foot", "face", "lefthand", "righthand", "hand", "wholebody"]
    assert all(m["AP"] == pytest.approx(1.0) for m in metrics.values())
    assert "wholebody" in capsys.readouterr().out
    # without --layout wholebody the same files give the body score: said in one line, not passed off silently
    assert main(["eval", "--gt", str(gt), "--pred", str(tmp_path / "r.json")]) == 0
    captured = capsys.readouterr()
    assert captured.err == (f"kdpose: warning: {gt}: the ground truth also has whole-body keypoints (foot_kpts, "
                            "face_kpts, lefthand_kpts, righthand_kpts); scored here on the 17 keypoints of "
                            "'keypoints' only (the wholebody layout scores every part)\n")
    assert "1.0000" in captured.out


def test_a_binary_file_is_named_not_json(fixtures, tmp_path, capsys):
    """json guessed UTF-16 from the first bytes: "malformed JSON ('utf-16-be' codec can't decode byte ...)"."""
    for name, data in (("odd.bin", bytes([0, 1, 0xbf, 0xfe, 7])), ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(64))):
        blob = tmp_path / name
        blob.write_bytes(data)
        assert main(["eval", "--gt", str(fixtures / "coco/test_coco.json"), "--pred", str(blob)]) == 2
        assert capsys.readouterr().err == (f"kdpose: error: {blob}: not a JSON file (not UTF-8 text; an image or a "
                                           "checkpoint?)\n")


def test_empty_predictions_warn_in_one_line_and_score_zero(fixtures, tmp_path, capsys):
    """An empty results list reported AP 0 without a word (usually a wrong file, or a job that found nobody). It is
    still a valid result (exit 0, AP 0), now with one stderr line naming the file; the API warns likewise."""
    import warnings

    from kdpose.detection.evaluate import coco_bbox_eval
    from kdpose.evaluation import coco_keypoint_eval, wholebody_eval
    from kdpose.evaluation.pck_pr import pck_pr_eval
    from kdpose.layouts import get_layout

    gt = fixtures / "coco/test_coco.json"
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    for extra in ([], ["--iou-type", "bbox"], ["--metric", "pck-pr"]):
        out = tmp_path / "m.json"
        assert main(["eval", "--gt", str(gt), "--pred", str(empty), "--out", str(out), *extra]) == 0, extra
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [f"kdpose: warning: {empty}: the predictions file holds no results (an "
                                             "empty list), scored as an empty set of detections (AP 0)"], extra
        assert json.loads(out.read_text())["AP"] == 0.0
    wb = fixtures / "coco/test_coco_wholebody.json"
    for evaluate in (lambda: coco_keypoint_eval(gt, empty), lambda: coco_bbox_eval(str(gt), str(empty)),
                     lambda: pck_pr_eval(gt, empty, get_layout("coco")), lambda: wholebody_eval(wb, empty)):
        with pytest.warns(RuntimeWarning, match=r"empty.json: the predictions file holds no results"):
            evaluate()
    with warnings.catch_warnings():  # an in-memory empty list (a validation that found nobody): its AP says it
        warnings.simplefilter("error", RuntimeWarning)
        assert coco_keypoint_eval(gt, [])["AP"] == 0.0
    anns = json.loads(gt.read_text())["annotations"]
    res = [{"image_id": a["image_id"], "keypoints": a["keypoints"], "score": 1.0} for a in anns if a["num_keypoints"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # results: no warning
        assert coco_keypoint_eval(gt, res)["AP"] > 0.9


def test_a_ground_truth_without_labelled_people_is_an_error_not_a_table_of_minus_ones(tmp_path, capsys):
    """An images-only file (or one whose people are all unlabelled) printed AP -1 everywhere and exited 0: a script
    reading AP got -1. --metric pck-pr already refused it."""
    from kdpose.skeletons import get_skeleton

    sk = get_skeleton("coco")
    image = {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}
    category = {"id": 1, "name": "person", "keypoints": list(sk.keypoint_names), "skeleton": []}
    unlabelled = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 50], "area": 1500, "iscrowd": 0,
                  "keypoints": [0] * 51, "num_keypoints": 0}
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [20, 20, 1] * 17, "score": 0.9,
                                 "bbox": [10, 10, 30, 50]}]))
    for name, anns in [("images_only.json", []), ("unlabelled.json", [unlabelled])]:
        gt = tmp_path / name
        gt.write_text(json.dumps({"images": [image], "annotations": anns, "categories": [category]}))
        for extra in ([], ["--iou-type", "bbox"]):
            if extra and anns:
                continue  # an unlabelled person still has a box: box AP is defined
            assert main(["eval", "--gt", str(gt), "--pred", str(pred), *extra]) == 2, (name, extra)
            err = capsys.readouterr().err.strip()
            assert f"{name}: the ground truth has no people" in err and "undefined (-1)" in err and "\n" not in err

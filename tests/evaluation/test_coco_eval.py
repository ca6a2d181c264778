import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from kdpose.errors import DataError
from kdpose.evaluation import coco_keypoint_eval, crowdpose_eval, to_coco_results, wholebody_eval
from kdpose.evaluation.wholebody import PART_FIELDS
from kdpose.skeletons import get_skeleton

sys.path.insert(0, str(Path(__file__).parent))
import xtcocotools_reference as xtc_ref  # noqa: E402

XTC_REFERENCE = json.loads(xtc_ref.REFERENCE.read_text())


def gt_as_predictions(gt, fields=("keypoints",)):
    out = []
    for a in gt["annotations"]:
        if a.get("num_keypoints", 1) == 0 or max(a["keypoints"]) <= 0:
            continue
        r = {"image_id": a["image_id"], "category_id": 1, "score": 1.0}
        for f in fields:
            r[f] = list(a[f])
        out.append(r)
    return out


def pycocotools_stats(gt, results, sigmas):
    """pycocotools' keypoint stats, computed directly. ``gt`` is a file or a dataset dict; an empty ``results`` is
    an empty COCO object over the same images (pycocotools' ``loadRes`` fails on an empty list)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = json.loads(Path(gt).read_text()) if isinstance(gt, (str, Path)) else json.loads(json.dumps(gt))
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(json.loads(json.dumps(results)))
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": coco_gt.dataset["images"], "annotations": [],
                               "categories": coco_gt.dataset["categories"]}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_gt_as_predictions_scores_one(fixtures):
    path = fixtures / "coco/test_coco.json"
    m = coco_keypoint_eval(path, gt_as_predictions(json.loads(path.read_text())))
    assert m["AP"] == pytest.approx(1.0) and m["AR"] == pytest.approx(1.0) and m["AP50"] == pytest.approx(1.0)
    assert set(m) == {"AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"}


def test_perturbed_equals_pycocotools(fixtures, tmp_path):
    path = fixtures / "coco/test_coco.json"
    gt = json.loads(path.read_text())
    for seed in range(3):
        res = xtc_ref.perturbed(gt, np.random.default_rng(seed))
        ours = coco_keypoint_eval(path, res)
        direct = pycocotools_stats(path, res, get_skeleton("coco").sigmas_array)
        np.testing.assert_allclose(list(ours.values()), direct, atol=1e-12)
        assert 0 < ours["AP"] < 1
    # results from a file give the same numbers
    (tmp_path / "r.json").write_text(json.dumps(res))
    assert coco_keypoint_eval(path, tmp_path / "r.json") == ours


def test_crowdpose_protocol(fixtures):
    path = fixtures / "crowdpose/test_crowdpose.json"
    gt = json.loads(path.read_text())
    m = crowdpose_eval(path, gt_as_predictions(gt))
    assert m["AP"] == pytest.approx(1.0) and m["AP_medium"] == pytest.approx(1.0)
    assert m["AP_easy"] == -1 and m["AP_hard"] == -1  # both images have crowdIndex in [0.2, 0.8)


@pytest.mark.parametrize("case", ["crowdpose_noisy", "crowdpose_zero_scores"])
def test_crowdpose_equals_xtcocotools(fixtures, case):
    """xtcocotools' keypoints_crowd (use_area=False) on the same results, stored by xtcocotools_reference.py. Results
    whose keypoint scores are all 0 are left out as xtcocotools does (kdpose scored them: AP 0.73 vs 0.95)."""
    path = fixtures / "crowdpose/test_crowdpose.json"
    results = xtc_ref.crowdpose_cases(fixtures)[case]
    ours = crowdpose_eval(path, results)
    for k, v in XTC_REFERENCE["cases"][case].items():
        assert ours[k] == pytest.approx(v, abs=1e-12), k
    if case == "crowdpose_zero_scores":  # the case does exercise the rule: scored as detections AP drops
        plain = coco_keypoint_eval(path, results, layout="crowdpose", use_area=False)
        assert plain["AP"] < ours["AP"] - 0.05


def test_crowdpose_needs_every_crowd_index(fixtures):
    """An image without crowdIndex counted as easy: AP_easy repeated the overall AP, medium and hard said -1."""
    path = fixtures / "crowdpose/test_crowdpose.json"
    gt = json.loads(path.read_text())
    preds = gt_as_predictions(gt)
    for value, problem in [(None, "image entry 0 field 'crowdIndex' is None, expected a finite number"),
                           ("high", "image entry 0 field 'crowdIndex' is 'high'")]:
        gt["images"][0]["crowdIndex"] = value
        with pytest.raises(DataError, match=re.escape(problem)):
            crowdpose_eval(gt, preds)
    del gt["images"][0]["crowdIndex"]
    with pytest.raises(DataError, match=re.escape("image entry 0 (id 106848) has no 'crowdIndex': the CrowdPose "
                                                  "protocol splits images by it")):
        crowdpose_eval(gt, preds)


def test_wholebody_gt_as_predictions(fixtures):
    path = fixtures / "coco/test_coco_wholebody.json"
    gt = json.loads(path.read_text())
    m = wholebody_eval(path, gt_as_predictions(gt, [f for f, _ in PART_FIELDS]))
    assert list(m) == ["body", "foot", "face", "lefthand", "righthand", "hand", "wholebody"]
    for part, stats in m.items():
        assert stats["AP"] == pytest.approx(1.0), part


@pytest.mark.parametrize("seed", [0, 1])
def test_wholebody_matches_xtcocotools(fixtures, seed):
    path = fixtures / "coco/test_coco_wholebody.json"
    res = xtc_ref.wholebody_cases(fixtures)[f"wholebody_seed{seed}"]
    ours = wholebody_eval(path, res)
    # the same predictions as one 133x3 list give the same numbers
    flat = [{**{k: v for k, v in r.items() if k in ("image_id", "score", "foot_score")},
             "keypoints": sum((r[f] for f, _ in PART_FIELDS), [])} for r in res]
    assert wholebody_eval(path, flat) == ours
    for m in ours["hand"]:
        assert ours["hand"][m] == pytest.approx(0.5 * (ours["lefthand"][m] + ours["righthand"][m]))
    # xtcocotools' keypoints_<part> passes (part sigmas, use_area=True), stored by xtcocotools_reference.py
    expected = XTC_REFERENCE["cases"][f"wholebody_seed{seed}"]
    assert set(expected) == set(xtc_ref.WHOLEBODY_CUTS)
    for part, stats in expected.items():
        np.testing.assert_allclose(list(ours[part].values()), list(stats.values()), atol=1e-12, err_msg=part)
        assert list(ours[part]) == list(stats)


def test_empty_predictions_agree_with_pycocotools(fixtures):
    """No predictions gave 0.0 for every metric, APM / APL included where the ground truth has no people of that
    size; pycocotools says -1 (no data) there, and 0 where there are people."""
    path = fixtures / "coco/test_coco.json"
    gt = json.loads(path.read_text())
    sigmas = get_skeleton("coco").sigmas_array
    large = dict(gt, annotations=[a for a in gt["annotations"] if a["area"] > 96 ** 2])
    medium = dict(gt, annotations=[a for a in gt["annotations"] if a["area"] <= 96 ** 2])
    nobody = dict(gt, annotations=[])
    expected = {"all": [0.0] * 10, "large": [0, 0, 0, -1, 0, 0, 0, 0, -1, 0],
                "medium": [0, 0, 0, 0, -1, 0, 0, 0, 0, -1], "nobody": [-1.0] * 10}
    for name, data in (("all", gt), ("large", large), ("medium", medium), ("nobody", nobody)):
        ours = coco_keypoint_eval(data, [])
        assert list(ours.values()) == expected[name], name
        np.testing.assert_array_equal(list(ours.values()), pycocotools_stats(data, [], sigmas), err_msg=name)
    assert coco_keypoint_eval(path, []) == dict.fromkeys(ours, 0.0)  # a file with people of both sizes
    # a whole-body part nobody predicted follows the same rule, and so do the CrowdPose splits
    wb = fixtures / "coco/test_coco_wholebody.json"
    wb_large = json.loads(wb.read_text())
    wb_large["annotations"] = [a for a in wb_large["annotations"] if a["area"] > 96 ** 2]
    m = wholebody_eval(wb_large, [])
    assert m["body"]["APM"] == -1 and m["body"]["APL"] == 0.0 and m["hand"]["APM"] == -1
    crowd = crowdpose_eval(fixtures / "crowdpose/test_crowdpose.json", [])
    assert crowd["AP"] == 0.0 and crowd["AP_medium"] == 0.0 and crowd["AP_easy"] == -1 and crowd["AP_hard"] == -1


def test_bad_inputs(fixtures, tmp_path):
    path = fixtures / "coco/test_coco.json"
    good = gt_as_predictions(json.loads(path.read_text()))
    with pytest.raises(DataError, match=r"missing\.json: file not found"):
        coco_keypoint_eval(tmp_path / "missing.json", good)
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(DataError, match=r"bad\.json: malformed JSON"):
        coco_keypoint_eval(path, tmp_path / "bad.json")
    (tmp_path / "obj.json").write_text("{}")
    with pytest.raises(DataError, match=r"obj\.json: expected a list of results"):
        coco_keypoint_eval(path, tmp_path / "obj.json")
    with pytest.raises(DataError, match="result 0 has image_id 5, which is not in the ground truth"):
        coco_keypoint_eval(path, [dict(good[0], image_id=5)])
    with pytest.raises(DataError, match="result 0 is missing field 'score'"):
        coco_keypoint_eval(path, [{k: v for k, v in good[0].items() if k != "score"}])
    with pytest.raises(DataError, match="result 0 field 'keypoints' has 14 keypoints, layout 'coco' expects 17"):
        coco_keypoint_eval(path, [dict(good[0], keypoints=good[0]["keypoints"][:42])])
    with pytest.raises(DataError, match="layout 'crowdpose' expects 14"):
        coco_keypoint_eval(path, good, layout="crowdpose")
    with pytest.raises(DataError, match="missing fields 'foot_kpts'"):
        wholebody_eval(path, good)
    no_area = json.loads(path.read_text())
    del no_area["annotations"][0]["area"]
    with pytest.raises(DataError, match="annotation 442619 has no 'area'"):
        coco_keypoint_eval(no_area, good)
    assert coco_keypoint_eval(no_area, good, use_area=False)["AP"] == pytest.approx(1.0)


def test_to_coco_results_nms_and_split():
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 200, (17, 2))
    kpts = np.stack([base, base + 0.5, base + 60])  # 0 and 1 duplicates
    scores = np.full((3, 17), 0.9)
    scores[1] = 0.5
    res = to_coco_results([1, 1, 1], kpts, scores, np.ones(3), np.full(3, 5000.0), "coco", nms="oks")
    assert len(res) == 2 and res[0]["score"] == pytest.approx(0.9)
    assert len(res[0]["keypoints"]) == 51 and res[0]["keypoints"][2] == pytest.approx(0.9)
    assert len(to_coco_results([1, 1, 1], kpts, scores, np.ones(3), np.full(3, 5000.0), nms="none")) == 3
    wb = to_coco_results([3], rng.uniform(0, 9, (1, 133, 2)), np.ones((1, 133)), [0.5], [100.0], "wholebody",
                         split_wholebody=True)
    assert {len(wb[0][f]) for f, _ in PART_FIELDS} == {51, 18, 204, 63}


@pytest.mark.parametrize("arg, value, message", [
    # 2 image ids for 8 poses returned 2 results: the other 6 people dropped without a word, AP lowered
    ("image_ids", [1, 2], r"image_ids must be \(8,\), one per pose of keypoints \(8 poses\), got shape \(2,\)"),
    ("areas", np.full(7, 5000.0), r"areas must be \(8,\), one per pose .*got shape \(7,\)"),  # was an IndexError
    ("bbox_scores", np.ones(3), r"bbox_scores must be \(8,\), one per pose .*got shape \(3,\)"),
    ("areas", np.full((8, 1), 5000.0), r"areas must be \(8,\), .*got shape \(8, 1\)"),
    ("keypoint_scores", np.ones((2, 17)), r"keypoint_scores must be \(8, 17\), .*got shape \(2, 17\)"),
    ("keypoints", np.ones((8, 17, 3)), r"keypoints must be \(N, 17, 2\) x, y for layout 'coco', got shape \(8, 17, 3"),
])
def test_to_coco_results_needs_one_entry_per_pose(arg, value, message):
    args = dict(image_ids=np.arange(8) % 3, keypoints=np.random.default_rng(0).uniform(0, 99, (8, 17, 2)),
                keypoint_scores=np.ones((8, 17)), bbox_scores=np.ones(8), areas=np.full(8, 5000.0))
    assert len(to_coco_results(**args, nms="none")) == 8
    with pytest.raises(DataError, match=message):
        to_coco_results(**{**args, arg: value})


def test_unknown_category_or_string_image_id_is_an_error(fixtures):
    """pycocotools scores a result of another category as nothing: AP 0.0 with no word; refused instead."""
    path = fixtures / "coco/test_coco.json"
    good = gt_as_predictions(json.loads(path.read_text()))
    assert coco_keypoint_eval(path, good)["AP"] == pytest.approx(1.0)
    wrong = [dict(r, category_id=2) for r in good]
    with pytest.raises(DataError, match="result 0 has category_id 2, but the ground truth's annotations are of "
                                        "category 1"):
        coco_keypoint_eval(path, wrong)
    with pytest.raises(DataError, match="result 0 has image_id '785' \\(a string; the ground truth's ids are numbers\\)"):
        coco_keypoint_eval(path, [dict(good[0], image_id="785")])
    crowd = fixtures / "crowdpose/test_crowdpose.json"
    crowd_good = gt_as_predictions(json.loads(crowd.read_text()))
    with pytest.raises(DataError, match="result 0 has category_id 2"):
        crowdpose_eval(crowd, [dict(r, category_id=2) for r in crowd_good])
    wb = fixtures / "coco/test_coco_wholebody.json"
    wb_good = gt_as_predictions(json.loads(wb.read_text()), fields=[f for f, _ in PART_FIELDS])
    assert wholebody_eval(wb, wb_good)["wholebody"]["AP"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="result 0 has category_id 3"):
        wholebody_eval(wb, [dict(r, category_id=3) for r in wb_good])


def test_ground_truth_categories_table(fixtures):
    """A ground truth whose 'categories' table is empty gave AP -1 everywhere without a word (pycocotools evaluated
    no category); it now means the person category, as a file without the table does. A table that does not list
    the annotations' category, or an entry without an id, is refused."""
    path = fixtures / "coco/test_coco.json"
    gt = json.loads(path.read_text())
    good = gt_as_predictions(gt)
    assert coco_keypoint_eval(dict(gt, categories=[]), good)["AP"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="annotation 442619 has category_id 1, which 'categories' does not list "
                                        "\\(it lists 2\\)"):
        coco_keypoint_eval(dict(gt, categories=[{"id": 2, "name": "dog"}]), good)
    with pytest.raises(DataError, match="category entry 0 is missing field 'id'"):
        coco_keypoint_eval(dict(gt, categories=[{"name": "person"}]), good)


def test_malformed_files_are_one_line_errors_and_num_keypoints_is_optional(fixtures):
    """Each of these raised a KeyError / TypeError / ValueError traceback from deep inside pycocotools or numpy, or
    (an annotation of an unlisted image, a NaN score) gave a number silently."""
    path = fixtures / "coco/test_coco.json"
    gt = json.loads(path.read_text())
    good = gt_as_predictions(gt)
    no_count = json.loads(path.read_text())
    for a in no_count["annotations"]:
        del a["num_keypoints"]
    assert coco_keypoint_eval(no_count, good)["AP"] == pytest.approx(1.0)  # counted from the flags, as COCO defines

    def broken(edit):
        data = json.loads(path.read_text())
        edit(data)
        return data

    for edit, problem in [
        (lambda d: d["images"][0].pop("id"), "image entry 0 is missing field 'id'"),
        (lambda d: d["annotations"][0].update(keypoints=None), "annotation 442619 field 'keypoints' is None"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotation 442619 field 'bbox' has 3 numbers, "
                                                                "expected 4"),
        (lambda d: d["annotations"][0].update(image_id=999), "annotation 442619 refers to image_id 999, which "
                                                             "'images' does not list"),
    ]:
        with pytest.raises(DataError, match=problem):
            coco_keypoint_eval(broken(edit), good)
    for change, problem in [({"keypoints": None}, "result 0 field 'keypoints' is None"),
                            ({"keypoints": ["x"] + good[0]["keypoints"][1:]}, "result 0 field 'keypoints' holds 'x'"),
                            ({"score": "high"}, "result 0 field 'score' is 'high', expected a finite number"),
                            ({"score": float("nan")}, "result 0 field 'score' is nan"),
                            ({"keypoints": [float("nan")] + good[0]["keypoints"][1:]}, "not a finite number")]:
        with pytest.raises(DataError, match=problem):
            coco_keypoint_eval(path, [dict(good[0], **change)] + good[1:])
    # more values pycocotools fails on deep inside, or (a repeated annotation id) scores silently wrong
    for edit, problem in [
        (lambda d: d["annotations"][0].update(area="big"), "annotation 442619 field 'area' is 'big', expected a "
                                                          "finite number"),
        (lambda d: d["annotations"][0].update(iscrowd=None), "annotation 442619 has iscrowd None, expected 0 or 1"),
        (lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"]), "annotation id 442619 appears twice"),
        (lambda d: d["images"][0].update(id=None), "image entry 0 has id None, expected an integer or a string"),
        (lambda d: d.update(annotations={"a": 1}), "'annotations' is a dict, expected a list"),
    ]:
        with pytest.raises(DataError, match=re.escape(problem)):
            coco_keypoint_eval(broken(edit), good)
    # annotations without an id get ids no other annotation has (i + 1 could repeat one: AP 0.585 -> 0.505)
    no_id = broken(lambda d: d["annotations"][3].pop("id"))
    no_id["annotations"][7]["id"] = 4  # the id i + 1 would have given annotation 3
    res = xtc_ref.perturbed(gt, np.random.default_rng(0))
    assert coco_keypoint_eval(no_id, res) == coco_keypoint_eval(path, res)
    with pytest.raises(DataError, match=re.escape("result 0 has image_id [785], expected an integer (or a string)")):
        coco_keypoint_eval(path, [dict(good[0], image_id=[785])])
    with pytest.raises(DataError, match=re.escape("result 0 field 'keypoints' has 34 numbers, 17 x, y pairs; COCO "
                                                  "format needs x, y and a score per keypoint (51 numbers)")):
        coco_keypoint_eval(path, [dict(good[0], keypoints=[v for i, v in enumerate(good[0]["keypoints"]) if i % 3 < 2])])
    # arrays and numpy numbers (what Python callers hold) are still numbers
    arrays = [dict(r, keypoints=np.asarray(r["keypoints"], np.float32), score=np.float32(r["score"])) for r in good]
    assert coco_keypoint_eval(path, arrays)["AP"] == pytest.approx(1.0)


def test_wholebody_malformed_scores_and_split_fields_are_one_line_errors(fixtures, tmp_path):
    """A non-numeric score or keypoint in the whole-body split fields was a ValueError traceback from numpy / float(),
    and a NaN part score was ranked silently; now a DataError naming the file, the entry and the field."""
    path = fixtures / "coco/test_coco_wholebody.json"
    gt = json.loads(path.read_text())
    good = gt_as_predictions(gt, [f for f, _ in PART_FIELDS])
    (tmp_path / "res.json").write_text(json.dumps([dict(good[0], foot_score="high")] + good[1:]))
    with pytest.raises(DataError, match=r"res\.json: result 0 field 'foot_score' is 'high', expected a finite number"):
        wholebody_eval(path, tmp_path / "res.json")
    for change, problem in [({"score": "high"}, "result 0 field 'score' is 'high', expected a finite number"),
                            ({"wholebody_score": float("nan")}, "result 0 field 'wholebody_score' is nan"),
                            ({"lefthand_score": None}, "result 0 field 'lefthand_score' is None"),
                            ({"foot_kpts": ["x"] + good[0]["foot_kpts"][1:]}, "result 0 field 'foot_kpts' holds 'x'"),
                            ({"face_kpts": None}, "result 0 field 'face_kpts' is None")]:
        with pytest.raises(DataError, match=problem):
            wholebody_eval(path, [dict(good[0], **change)] + good[1:])
    flat = dict(image_id=good[0]["image_id"], score=1.0, keypoints=["x"] * 399)
    with pytest.raises(DataError, match="result 0 field 'keypoints' holds 'x'"):
        wholebody_eval(path, [flat])
    bad_gt = json.loads(path.read_text())
    bad_gt["annotations"][0]["righthand_kpts"][0] = "y"
    first = bad_gt["annotations"][0]["id"]
    with pytest.raises(DataError, match=f"annotation {first} field 'righthand_kpts' holds 'y'"):
        wholebody_eval(bad_gt, good)
    # numeric part scores, numpy numbers included, are still accepted
    scores = [dict(r, foot_score=np.float32(0.5)) for r in good]
    assert wholebody_eval(path, scores)["foot"]["AP"] == pytest.approx(1.0)

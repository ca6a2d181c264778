"""COCO OKS AP/AR through pycocotools, for any layout (per-layout sigmas via ``params.kpt_oks_sigmas``),
and the CrowdPose protocol.

Predictions are COCO results-format dicts: ``image_id``, ``category_id`` (1 if absent), ``keypoints`` (flat
``x, y, score`` * K) and ``score``. Ground truth is a COCO-style annotation file (path) or the loaded dict.
Metric values are fractions in [0, 1] as pycocotools reports them (-1 where a metric is undefined, e.g. no
medium-size ground truth).
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from typing import Sequence

import numpy as np

from ..checks import check_name
from ..data.jsonfile import finite_numbers, finite_score, is_id  # noqa: F401  (re-exported: the evaluators use them)
from ..errors import DataError
from ..skeletons import Skeleton, get_skeleton

COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
CROWD_TYPES = (("AP_easy", 0.0, 0.2), ("AP_medium", 0.2, 0.8), ("AP_hard", 0.8, float("inf")))
PERSON_CATEGORY = {"id": 1, "name": "person", "supercategory": "person"}
WHOLEBODY_PARTS = ("foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")  # COCO-WholeBody's extra fields


def _skeleton(layout: str | Skeleton) -> Skeleton:
    if isinstance(layout, Skeleton):
        return layout
    check_name(layout, "evaluation", "layout", example="coco")
    return get_skeleton(layout)


def load_gt(gt: str | os.PathLike | dict, fields: Sequence[str] = ("image_id", "keypoints", "bbox")) -> tuple[dict, str]:
    """Ground truth as a dict (a deep copy when given a dict) and a name for messages; every annotation must have
    ``fields``."""
    from ..data.jsonfile import load_json, require

    if isinstance(gt, dict):
        data, name = copy.deepcopy(gt), "<ground truth>"
    elif not isinstance(gt, (str, os.PathLike)):  # os.fspath would say only "expected str, bytes or os.PathLike"
        raise TypeError(f"evaluation: gt must be a COCO annotation file path or dict, got {type(gt).__name__} {gt!r}")
    else:
        name = os.fspath(gt)
        data = load_json(name)
        if not isinstance(data, dict):
            hint = (" (a results file, or MMPose's MPII JSON: read that with kdpose.data.load_mpii; the ground truth "
                    "is a COCO annotation file)") if isinstance(data, list) else ""
            raise DataError(f"{name}: expected a COCO annotation object, got a {type(data).__name__}{hint}")
    require(data, ("images", "annotations"), name, "the ground-truth file")
    if not data.get("categories"):  # none or an empty table: the person category, as everywhere in kdpose
        data["categories"] = [PERSON_CATEGORY]
    if not isinstance(data["categories"], list):
        raise DataError(f"{name}: 'categories' is a {type(data['categories']).__name__}, expected a list")
    for i, cat in enumerate(data["categories"]):
        require(cat, ("id",), name, f"category entry {i}")
    category_ids = {cat["id"] for cat in data["categories"]}
    for key in ("images", "annotations"):
        if not isinstance(data[key], list):
            raise DataError(f"{name}: '{key}' is a {type(data[key]).__name__}, expected a list")
    image_ids: set = set()
    for i, img in enumerate(data["images"]):
        require(img, ("id",), name, f"image entry {i}")
        if not is_id(img["id"], text=True):  # null, a list: pycocotools would fail or match nothing
            raise DataError(f"{name}: image entry {i} has id {img['id']!r}, expected an integer or a string")
        if img["id"] in image_ids:
            raise DataError(f"{name}: image id {img['id']!r} appears twice in 'images'")
        image_ids.add(img["id"])
    # pycocotools keeps one annotation per id: a repeated id would drop people from the evaluation, silently
    ann_ids: set = set()
    for i, ann in enumerate(data["annotations"]):
        what = f"annotation {ann.get('id', i) if isinstance(ann, dict) else i}"
        require(ann, fields, name, what)
        # pycocotools would leave it out of every image, silently
        if not is_id(ann["image_id"], text=True) or ann["image_id"] not in image_ids:
            raise DataError(f"{name}: {what} refers to image_id {ann['image_id']!r}, which 'images' does not list")
        for field, size in (("bbox", 4), ("keypoints", None)):
            if field in fields:
                finite_numbers(ann[field], name, what, field, size)
        if "area" in ann:
            finite_score(ann["area"], name, what, "area")
        ann.setdefault("iscrowd", 0)
        if ann["iscrowd"] not in (0, 1):  # also refuses None, text (pycocotools' int() would fail deep inside)
            raise DataError(f"{name}: {what} has iscrowd {ann['iscrowd']!r}, expected 0 or 1")
        ann.setdefault("category_id", 1)
        # pycocotools would evaluate nothing: AP -1 without a word
        if not is_id(ann["category_id"], text=True) or ann["category_id"] not in category_ids:
            listed = ", ".join(map(str, sorted(category_ids, key=str)))
            raise DataError(f"{name}: {what} has category_id {ann['category_id']!r}, which 'categories' does not "
                            f"list (it lists {listed})")
        if "id" in ann:
            if not is_id(ann["id"], text=True):
                raise DataError(f"{name}: {what} (of image {ann['image_id']!r}) has an id that is not an integer")
            if ann["id"] in ann_ids:
                raise DataError(f"{name}: annotation id {ann['id']!r} appears twice in 'annotations'")
            ann_ids.add(ann["id"])
    # annotations without an id get ones above every given id (i + 1 could repeat one of them)
    next_id = max((a for a in ann_ids if isinstance(a, int)), default=0) + 1
    for ann in data["annotations"]:
        if "id" not in ann:
            ann["id"], next_id = next_id, next_id + 1
    return data, name


def load_results(results: str | os.PathLike | Sequence[dict]) -> tuple[list[dict], str]:
    """Predictions as a list of dicts (copied) and a name for messages."""
    from ..data.jsonfile import load_json

    if isinstance(results, (str, os.PathLike)):
        name = os.fspath(results)
        data = load_json(name)
    else:
        name, data = "<predictions>", results
    if not isinstance(data, list):
        raise DataError(f"{name}: expected a list of results in COCO results format, got a {type(data).__name__}")
    for i, r in enumerate(data):
        if not isinstance(r, dict):
            raise DataError(f"{name}: result {i} is a {type(r).__name__}, expected an object")
    # An empty file is a valid answer (nobody found) but more often a wrong file or a job that found nothing: say
    # so. An in-memory list is left alone: its caller built it (training validation of a young detector finds
    # nobody at first, and a warning there would only repeat what its AP says).
    if not data and name != "<predictions>":
        warnings.warn(f"kdpose: {name}: the predictions file holds no results (an empty list), scored as an empty "
                      "set of detections (AP 0)", RuntimeWarning, stacklevel=3)
    return [dict(r) for r in data], name


def check_keypoint_count(anns: Sequence[dict], field: str, k: int, name: str, layout: str, what: str) -> None:
    """Every ``anns[i][field]`` must hold 3 * k numbers."""
    for i, a in enumerate(anns):
        n = len(a[field])
        if n == 2 * k:  # x, y pairs without scores / flags: "has 11.3333 keypoints" named the wrong problem
            raise DataError(f"{name}: {what} {a.get('id', i)} field '{field}' has {n} numbers, {k} x, y pairs; "
                            f"COCO format needs x, y and a {'score' if what == 'result' else 'visibility flag'} "
                            f"per keypoint ({3 * k} numbers)")
        if n != 3 * k:
            raise DataError(f"{name}: {what} {a.get('id', i)} field '{field}' has {n / 3:g} keypoints, "
                            f"layout '{layout}' expects {k}")


def fill_num_keypoints(anns: Sequence[dict]) -> None:
    """Give annotations without ``num_keypoints`` (optional in COCO-format files other tools write; pycocotools'
    keypoint evaluation needs it) its COCO definition: the number of labelled keypoints (flag > 0)."""
    for a in anns:
        if "num_keypoints" not in a:
            a["num_keypoints"] = int((np.asarray(a["keypoints"], np.float64).reshape(-1, 3)[:, 2] > 0).sum())


def gt_keypoint_categories(gt_data: dict) -> set:
    """The category ids a keypoint result may carry: those of the ground truth's annotations (the file's
    ``categories`` table when it has no annotations)."""
    found = {a.get("category_id", 1) for a in gt_data["annotations"]}
    return found or {c["id"] for c in gt_data.get("categories") or [PERSON_CATEGORY]}


def check_result_ids(r: dict, i: int, name: str, gt_image_ids: set, gt_category_ids: set | None = None) -> None:
    """A result's ``image_id`` (and ``category_id``, 1 if absent, when ``gt_category_ids`` is given) must be one of
    the ground truth's: pycocotools would score a result of an unknown id as nothing, silently."""
    if not is_id(r["image_id"], text=True):
        raise DataError(f"{name}: result {i} has image_id {r['image_id']!r}, expected an integer (or a string)")
    if r["image_id"] not in gt_image_ids:
        hint = (" (a string; the ground truth's ids are numbers)"
                if isinstance(r["image_id"], str) and any(not isinstance(g, str) for g in gt_image_ids) else "")
        raise DataError(f"{name}: result {i} has image_id {r['image_id']!r}{hint}, which is not in the ground truth")
    if gt_category_ids is not None and (not is_id(r.get("category_id", 1), text=True)
                                        or r.get("category_id", 1) not in gt_category_ids):
        raise DataError(f"{name}: result {i} has category_id {r.get('category_id', 1)!r}, but the ground truth's "
                        f"annotations are of category {', '.join(map(str, sorted(gt_category_ids, key=str)))}")


def normalise_results(results: list[dict], name: str, gt_image_ids: set, fields: Sequence[str],
                      gt_category_ids: set | None = None) -> list[dict]:
    """Check required fields, image ids and (when ``gt_category_ids`` is given) category ids; convert numbers to
    plain floats (pycocotools mutates its input)."""
    out = []
    for i, r in enumerate(results):
        missing = [f for f in ("image_id", "score", *fields) if f not in r]
        if missing:
            raise DataError(f"{name}: result {i} is missing field{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(map(repr, missing))}")
        check_result_ids(r, i, name, gt_image_ids, gt_category_ids)
        r = dict(r)
        r.setdefault("category_id", 1)
        for f in fields:
            r[f] = finite_numbers(r[f], name, f"result {i}", f).tolist()
        r["score"] = finite_score(r["score"], name, f"result {i}", "score")
        out.append(r)
    return out


def result_boxes_used(results: list[dict], name: str) -> bool:
    """Whether pycocotools' (and xtcocotools') ``loadRes`` takes every prediction's area from its ``bbox`` (it does
    when the first result has a box; else from the keypoints' extent); those boxes are checked (4 finite numbers
    each, converted to plain floats) so that a bad one is a ``DataError`` naming it, not a traceback."""
    if not results or not results[0].get("bbox"):
        return False
    for i, r in enumerate(results):
        if "bbox" not in r:
            raise DataError(f"{name}: result {i} has no 'bbox' while result 0 has one (COCO evaluation then takes "
                            "every prediction's area from its box)")
        r["bbox"] = finite_numbers(r["bbox"], name, f"result {i}", "bbox", size=4).tolist()
    return True


def _coco_from_dict(data: dict):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def run_cocoeval(gt_data: dict, dts: list[dict], sigmas: np.ndarray, dt_areas: Sequence[float] | None = None):
    """Run pycocotools' keypoint evaluation (quietly) and return the evaluated ``COCOeval``. ``dt_areas`` overrides
    the detection areas pycocotools derives from the keypoints.

    No predictions are evaluated as an empty detection set (``COCO.loadRes`` fails on an empty list), so the
    numbers are pycocotools' own: 0 where the ground truth has people (AP, and APM / APL when it has people of that
    size) and -1 where it has none."""
    from pycocotools.cocoeval import COCOeval

    coco_gt = _coco_from_dict(gt_data)
    with contextlib.redirect_stdout(io.StringIO()):
        if dts:
            coco_dt = coco_gt.loadRes(dts)
        else:
            coco_dt = _coco_from_dict({"images": list(gt_data["images"]), "annotations": [],
                                       "categories": gt_data.get("categories") or [PERSON_CATEGORY]})
        if dt_areas is not None:
            for ann, area in zip(coco_dt.dataset["annotations"], dt_areas):
                ann["area"] = float(area)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def stats_dict(ev) -> dict[str, float]:
    """pycocotools' 10 keypoint stats by name."""
    return {k: float(v) for k, v in zip(COCO_STAT_NAMES, ev.stats)}


def coco_keypoint_eval(
    gt: str | os.PathLike | dict,
    results: str | os.PathLike | Sequence[dict],
    layout: str | Skeleton = "coco",
    use_area: bool = True,
) -> dict[str, float]:
    """COCO OKS AP/AR (AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM, ARL) with the layout's sigmas.

    ``use_area=False`` replaces each ground-truth area by ``0.53 * w * h`` of its box (CrowdPose, AIC).
    Raises ``DataError`` on malformed files, wrong keypoint counts or unknown image ids.
    """
    sk = _skeleton(layout)
    gt_data, gt_name = load_gt(gt)
    check_keypoint_count(gt_data["annotations"], "keypoints", sk.num_keypoints, gt_name, sk.name, "annotation")
    extra = [f for f in WHOLEBODY_PARTS if any(f in a for a in gt_data["annotations"][:50])]
    if extra and gt_name != "<ground truth>":  # a forgotten --layout wholebody read as a body-only score
        warnings.warn(f"kdpose: {gt_name}: the ground truth also has whole-body keypoints ({', '.join(extra)}); "
                      f"scored here on the {sk.num_keypoints} keypoints of 'keypoints' only (the wholebody layout "
                      "scores every part)", RuntimeWarning, stacklevel=2)
    fill_num_keypoints(gt_data["annotations"])
    for i, ann in enumerate(gt_data["annotations"]):
        if not use_area:
            ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3]) * 0.53
        elif "area" not in ann:
            raise DataError(f"{gt_name}: annotation {ann.get('id', i)} has no 'area' (OKS needs it; "
                            "use use_area=False to take 0.53 * box area, as CrowdPose does)")
    res, res_name = load_results(results)
    dts = normalise_results(res, res_name, {img["id"] for img in gt_data["images"]}, ("keypoints",),
                            gt_keypoint_categories(gt_data))
    check_keypoint_count(dts, "keypoints", sk.num_keypoints, res_name, sk.name, "result")
    result_boxes_used(dts, res_name)  # pycocotools' loadRes takes the areas from them
    return stats_dict(run_cocoeval(gt_data, dts, sk.sigmas_array))


def crowdpose_eval(
    gt: str | os.PathLike | dict, results: str | os.PathLike | Sequence[dict], layout: str | Skeleton = "crowdpose"
) -> dict[str, float]:
    """CrowdPose protocol (xtcocotools ``keypoints_crowd`` with ``use_area=False``) on pycocotools.

    Returns the COCO stats names plus ``AP_easy`` / ``AP_medium`` / ``AP_hard``: images split by their
    ``crowdIndex`` at 0.2 and 0.8; each value is the plain mean of the precision array over the split (undefined
    entries count as -1, as in the CrowdPose code, so an empty split gives -1). As in xtcocotools, results whose
    keypoint scores are all 0 are left out (pycocotools would count them as detections), and every image must
    have a ``crowdIndex``.
    """
    sk = _skeleton(layout)
    gt_data, gt_name = load_gt(gt)
    check_keypoint_count(gt_data["annotations"], "keypoints", sk.num_keypoints, gt_name, sk.name, "annotation")
    crowd_index = {img["id"]: _crowd_index(img, i, gt_name) for i, img in enumerate(gt_data["images"])}
    fill_num_keypoints(gt_data["annotations"])
    for ann in gt_data["annotations"]:
        ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3]) * 0.53
    res, res_name = load_results(results)
    dts = normalise_results(res, res_name, {img["id"] for img in gt_data["images"]}, ("keypoints",),
                            gt_keypoint_categories(gt_data))
    check_keypoint_count(dts, "keypoints", sk.num_keypoints, res_name, sk.name, "result")
    result_boxes_used(dts, res_name)  # pycocotools' loadRes takes the areas from them
    # xtcocotools leaves out results whose keypoint scores are all 0 (its _prepare); pycocotools would score them
    dts = [r for r in dts if np.count_nonzero(np.asarray(r["keypoints"][2::3]) > 0) > 0]
    ev = run_cocoeval(gt_data, dts, sk.sigmas_array)
    out = stats_dict(ev)
    for key, lo, hi in CROWD_TYPES:
        ids = [image_id for image_id, index in crowd_index.items() if lo <= index < hi]
        with contextlib.redirect_stdout(io.StringIO()):
            ev.params.imgIds = ids
            ev.evaluate()
            ev.accumulate()
        out[key] = float(round(np.mean(ev.eval["precision"][:, :, :, 0, :]), 4))
    return out


def _crowd_index(img: dict, i: int, name: str) -> float:
    """An image's ``crowdIndex``, which puts it in the easy / medium / hard split (a missing one would count the image
    as easy without a word)."""
    if "crowdIndex" not in img:
        raise DataError(f"{name}: image entry {i} (id {img['id']!r}) has no 'crowdIndex': the CrowdPose protocol "
                        "splits images by it (CrowdPose's files give every image one)")
    return finite_score(img["crowdIndex"], name, f"image entry {i}", "crowdIndex")

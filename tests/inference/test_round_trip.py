"""kdpose's own commands fit together: ``synth -> infer --bboxes <GT> --json -> eval`` gives the engine's validation
AP, and video results carry image ids that ``eval`` accepts."""
import json
import shutil

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

from kdpose.cli.main import main  # noqa: E402

from .conftest import synthetic_scene  # noqa: E402

TEACHER = "src/kdpose/assets/demo_teacher_rtmpose-s_coco.safetensors"  # the shipped, trained RTMPose-s


def _engine_metrics(ann, weights):
    """The training engine's own validation (PoseEvaluator over the GT boxes) of ``weights`` on ``ann``."""
    import torch

    from kdpose.data import TopDownDataset, collate_topdown, load_coco_keypoints
    from kdpose.engine.validate import PoseEvaluator
    from kdpose.models import load_model

    model = load_model("rtmpose-s", weights=weights)
    samples = load_coco_keypoints(ann, "coco", mode="eval")
    evaluator = PoseEvaluator(TopDownDataset(samples, model.codec), collate_topdown, ann, model.codec,
                              model.skeleton)
    return evaluator(model, torch.device("cpu"))


@pytest.fixture(scope="module")
def synth_val(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(out), "--images", "6", "--split", "val", "--size", "320x240",
                 "--distance", "2,5", "--occlusion", "0", "--truncation", "0", "--no-progress"]) == 0
    return out


def test_synth_infer_eval_round_trip_equals_the_engines_validation_ap(synth_val, tmp_path, capsys):
    from pathlib import Path

    weights = str(Path(__file__).resolve().parents[2] / TEACHER)
    ann = synth_val / "person_keypoints_val.json"
    gt = json.loads(ann.read_text())
    # synth names each file by its image id, the id that infer takes from the file stem
    assert all(int(Path(im["file_name"]).stem) == im["id"] for im in gt["images"])
    out = tmp_path / "out"
    assert main(["infer", str(synth_val / "val"), "--model", "rtmpose-s", "--weights", weights, "--bboxes",
                 str(ann), "--json", "--no-vis", "--out", str(out)]) == 0
    preds = json.loads((out / "predictions.json").read_text())
    # the boxes validation crops: labelled people only, clipped to [0, W-1] x [0, H-1] (MMPose's COCO parsing), on
    # the right image, in the annotation file's order; OKS-NMS (default --nms auto, as validation) may drop duplicates
    gt_boxes = _validation_boxes(gt)
    assert len(gt_boxes) < len(gt["annotations"]) or any(b != a["bbox"] for (_, b), a in zip(gt_boxes, gt["annotations"]))
    kept = [(p["image_id"], p["bbox"]) for p in preds]
    assert kept and all(box in gt_boxes for box in kept)
    assert main(["eval", "--gt", str(ann), "--pred", str(out / "predictions.json"), "--out",
                 str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    engine = _engine_metrics(str(ann), weights)
    assert engine["AP"] > 0 and engine["AR"] > 0  # a real score, not two zeros that agree
    for key in ("AP", "AP50", "AR"):
        assert metrics[key] == pytest.approx(engine[key], abs=1e-9), key

    # the same images under names that are not ids: the annotation file's images table maps them
    renamed = tmp_path / "renamed"
    (renamed / "imgs").mkdir(parents=True)
    for im in gt["images"]:
        new = f"shot_{im['id']:03d}_x.jpg"
        shutil.copy(synth_val / im["file_name"], renamed / "imgs" / new)
        im["file_name"] = f"imgs/{new}"
    (renamed / "gt.json").write_text(json.dumps(gt))
    assert main(["infer", str(renamed / "imgs"), "--model", "rtmpose-s", "--weights", weights, "--bboxes",
                 str(renamed / "gt.json"), "--json", "--no-vis", "--out", str(tmp_path / "out2"), "--nms", "off"]) == 0
    again = json.loads((tmp_path / "out2" / "predictions.json").read_text())
    assert [(p["image_id"], p["bbox"]) for p in again] == gt_boxes  # --nms off: every validation box, in order
    capsys.readouterr()


def _validation_boxes(gt: dict) -> list[tuple[int, list[float]]]:
    """(image id, xywh rounded to 0.01) of every annotation with a labelled keypoint, clipped to [0, W-1] x [0, H-1]."""
    sizes = {im["id"]: (im["width"], im["height"]) for im in gt["images"]}
    boxes = []
    for a in gt["annotations"]:
        if max(a["keypoints"][2::3], default=0) <= 0:
            continue
        w_img, h_img = sizes[a["image_id"]]
        x, y, w, h = a["bbox"]
        x1, y1 = min(max(x, 0), w_img - 1), min(max(y, 0), h_img - 1)
        x2, y2 = min(max(x + w, 0), w_img - 1), min(max(y + h, 0), h_img - 1)
        boxes.append((a["image_id"], [round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)]))
    return boxes


def test_video_results_have_frame_image_ids_that_eval_accepts(tmp_path, oracle_onnx, capsys):
    image, kpts, boxes = synthetic_scene(people=2, size=(320, 240), seed=5)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    images, annotations, dets = [], [], []
    for f in range(5):
        writer.write(np.roll(image, 2 * f, axis=1))
        images.append({"id": f, "file_name": f"clip_{f:06d}.jpg", "width": 320, "height": 240})
        for p in range(2):
            x1, y1, x2, y2 = (float(v) for v in boxes[p] + [2 * f, 0, 2 * f, 0])
            flat = np.concatenate([kpts[p] + [2 * f, 0], np.full((17, 1), 2.0)], 1).reshape(-1)
            annotations.append({"id": len(annotations) + 1, "image_id": f, "category_id": 1, "iscrowd": 0,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "num_keypoints": 17, "keypoints": flat.tolist()})
            dets.append({"image_id": f, "category_id": 1, "score": 0.9, "bbox": [x1, y1, x2 - x1, y2 - y1]})
    writer.release()
    (tmp_path / "gt.json").write_text(json.dumps({"images": images, "annotations": annotations, "categories": [
        {"id": 1, "name": "person"}]}))
    (tmp_path / "dets.json").write_text(json.dumps(dets))  # boxes of a video are matched by frame index
    out = tmp_path / "out"
    assert main(["infer", str(path), "--model", oracle_onnx, "--bboxes", str(tmp_path / "dets.json"), "--json",
                 "--no-smooth", "--no-vis", "--out", str(out)]) == 0
    preds = json.loads((out / "predictions.json").read_text())
    assert sorted({p["image_id"] for p in preds}) == list(range(5)) and len(preds) == 10
    assert all(p["frame_id"] == p["image_id"] and p["track_id"] in (0, 1) for p in preds)
    assert main(["eval", "--gt", str(tmp_path / "gt.json"), "--pred", str(out / "predictions.json"), "--out",
                 str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["AP50"] == pytest.approx(1.0) and metrics["AP"] > 0.5  # every person found on its own frame
    capsys.readouterr()

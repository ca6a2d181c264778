"""ONNX-only deployments: a PoseEstimator on an .onnx file runs (flip test included) with torch unimportable and
gives the torch backend's numbers; ``score_mode="rtmlib"`` gives rtmlib's SimCC scores on both backends."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from kdpose.inference.decoding import SimCCDecoder  # noqa: E402
from kdpose.inference.estimator import PoseEstimator  # noqa: E402
from kdpose.inference.topdown import crop_people  # noqa: E402

from .conftest import make_tiny_model, synthetic_scene  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from kdpose.export.onnx import export_onnx

    d = tmp_path_factory.mktemp("onnx_np")
    tiny = make_tiny_model()
    export_onnx(tiny, d / "tiny.onnx")
    image, _, boxes = synthetic_scene(people=3, seed=7)
    image = image + np.random.default_rng(2).integers(0, 60, image.shape, dtype=np.uint8)
    return tiny, d / "tiny.onnx", image, boxes


def test_onnx_inference_needs_no_torch(exported, tmp_path):
    tiny, onnx_path, image, boxes = exported
    np.save(tmp_path / "image.npy", image)
    np.save(tmp_path / "boxes.npy", boxes)
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["torch"] = None          # any "import torch" now fails
        import numpy as np
        from kdpose.inference.estimator import PoseEstimator
        image, boxes = np.load({str(tmp_path / 'image.npy')!r}), np.load({str(tmp_path / 'boxes.npy')!r})
        out = {{}}
        for flip in (False, True):
            for mode in ("mmpose", "rtmlib"):
                est = PoseEstimator({str(onnx_path)!r}, flip_test=flip, score_mode=mode)
                res = est.predict_arrays(image, bboxes=boxes)
                out[f"{{flip}}-{{mode}}"] = [res.keypoints.tolist(), res.scores.tolist()]
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for flip in (False, True):
        for mode in ("mmpose", "rtmlib"):
            ref = PoseEstimator(tiny, flip_test=flip, score_mode=mode).predict_arrays(image, bboxes=boxes)
            kpts, scores = (np.asarray(v, np.float32) for v in got[f"{flip}-{mode}"])
            np.testing.assert_allclose(scores, ref.scores, atol=6e-4)   # the file keeps 3 decimals
            np.testing.assert_allclose(kpts, ref.keypoints, atol=1e-3)


def test_rtmlib_score_mode_averages_the_maxima_on_both_backends(exported):
    tiny, onnx_path, image, boxes = exported
    mm = PoseEstimator(tiny).predict_arrays(image, bboxes=boxes)
    rt = PoseEstimator(tiny, score_mode="rtmlib").predict_arrays(image, bboxes=boxes)
    rt_onnx = PoseEstimator(str(onnx_path), score_mode="rtmlib").predict_arrays(image, bboxes=boxes)
    # the expected numbers straight from the network's logits on the same crops
    b = PoseEstimator(tiny).backend
    crops = crop_people([image], [boxes], b.input_size, b.mean, b.std, b.channel_order)
    with torch.inference_mode():
        out = tiny(torch.from_numpy(crops.inputs))
    max_x, max_y = out.x.amax(-1).numpy(), out.y.amax(-1).numpy()
    np.testing.assert_allclose(mm.scores, np.minimum(max_x, max_y), atol=1e-6)
    np.testing.assert_allclose(rt.scores, 0.5 * (max_x + max_y), atol=1e-6)
    np.testing.assert_allclose(rt_onnx.scores, rt.scores, atol=1e-4)
    assert (rt.scores - mm.scores).max() > 0.01   # the two conventions really differ on this model
    valid = mm.scores > 0
    np.testing.assert_allclose(rt.keypoints[valid], mm.keypoints[valid], atol=1e-4)


def test_decoder_is_numpy_on_the_onnx_backend(exported):
    _, onnx_path, _, _ = exported
    backend = PoseEstimator(str(onnx_path), score_mode="rtmlib").backend
    assert isinstance(backend.decoder, SimCCDecoder) and backend.decoder.score_mode == "rtmlib"


def test_infer_cli_score_mode(exported, tmp_path):
    import cv2

    from kdpose.cli.main import main

    _, onnx_path, image, boxes = exported
    cv2.imwrite(str(tmp_path / "scene.png"), image)
    dets = [{"file_name": "scene.png", "image_id": 1, "category_id": 1, "score": 0.9,
             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]} for b in boxes]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    for mode in ("mmpose", "rtmlib"):
        out = tmp_path / mode
        assert main(["infer", str(tmp_path / "scene.png"), "--model", str(onnx_path), "--bboxes",
                     str(tmp_path / "dets.json"), "--json", "--no-vis", "--score-mode", mode, "--out", str(out),
                     "--nms", "off"]) == 0  # one pose per box in the file's order, as the API's bboxes=
        records = json.loads((out / "predictions.json").read_text())
        scores = np.array([r["keypoints"][2::3] for r in records])
        ref = PoseEstimator(str(onnx_path), score_mode=mode).predict_arrays(image, bboxes=boxes)
        np.testing.assert_allclose(scores, ref.scores, atol=6e-4)   # the file keeps 3 decimals


def test_docs_state_the_score_and_channel_rules_for_rtmlib_users():
    from pathlib import Path

    import kdpose.inference.estimator as estimator_module

    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text()
    for text in ("`min(max_x, max_y)` as in MMPose", 'score_mode="rtmlib"', "--score-mode rtmlib", "**rtmlib users**",
                 "give rtmlib RGB frames"):
        assert text in readme, text
    doc = estimator_module.__doc__
    assert "rtmlib" in doc and "RGB" in doc and 'score_mode="rtmlib"' in doc
    # the old claim (scores "as in MMPose and rtmlib") is gone everywhere
    for path in [repo / "README.md", *sorted((repo / "src").rglob("*.py")), *sorted((repo / "docs").glob("*.md"))]:
        assert "as in MMPose and rtmlib" not in path.read_text(), path

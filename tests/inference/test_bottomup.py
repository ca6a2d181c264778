"""Bottom-up inference as a library feature, on the shipped depth teacher (tag mpm-2s.synth-depth-demo_184x184):
``kdpose.BottomUpEstimator`` (torch and onnxruntime, the same people), ``kdpose infer`` on depth PNGs,
``kdpose eval --metric pck-pr`` and ``kdpose export`` of a pose machine."""
from __future__ import annotations

import json

import numpy as np
import pytest

import kdpose
from kdpose.cli.main import main
from kdpose.errors import ConfigError
from kdpose.tasks.depth_setting import EVAL_SIZE, TEACHER_TAG, VAL_SEED, evaluate, render_scenes, synthetic_cfg


@pytest.fixture(scope="module")
def scenes():
    return render_scenes(synthetic_cfg(), 6, VAL_SEED, "val")


@pytest.fixture(scope="module")
def estimator():
    return kdpose.BottomUpEstimator(TEACHER_TAG, input_size=EVAL_SIZE)


def test_the_estimator_finds_people_as_the_depth_metric_does(scenes, estimator):
    from kdpose.demo.depth_assets import load_depth_teacher

    people = estimator(scenes[0].depth)
    assert people and all(p.keypoints.shape == (17, 2) and p.scores.shape == (17,) for p in people)
    assert all(p.score == pytest.approx(float(p.scores.sum())) for p in people)
    batch = estimator([s.depth for s in scenes[:3]])
    assert len(batch) == 3 and [len(b) for b in batch][0] == len(people)
    # the tag loads the network the demo and the depth tables load, and the metric predicts through the same code
    reference = evaluate(load_depth_teacher(), scenes)
    preds, peak = estimator.predict([s.depth for s in scenes], [reference.best["eta"]])
    assert peak == pytest.approx(reference.max_confidence)
    for (kp, sc), (ref_kp, ref_sc) in zip(preds[reference.best["eta"]], reference.people):
        assert np.array_equal(kp, ref_kp) and np.array_equal(sc, ref_sc)
    assert reference.best["F"] > 0.1  # the shipped teacher detects people (val F 0.31 on 60 scenes)


def test_odd_inputs_are_named_errors_and_paths_are_read(scenes, estimator, tmp_path):
    """A path, an empty array or None were IndexError / ZeroDivisionError / TypeError; one array given to predict was
    iterated row by row; a 1x5000 image in whole-image mode asked for a 920000-pixel-wide input (killed for memory)."""
    import cv2

    from kdpose.errors import DataError

    path = tmp_path / "d.png"
    cv2.imwrite(str(path), scenes[0].depth)
    from_file = estimator(path)
    assert [p.keypoints.tolist() for p in from_file] == [p.keypoints.tolist() for p in estimator(scenes[0].depth)]
    (eta, one), = estimator.predict(scenes[0].depth)[0].items()
    listed = estimator.predict([scenes[0].depth])[0][eta]
    assert len(one) == len(listed) == 1 and all(np.array_equal(a, b) for a, b in zip(one[0], listed[0]))
    for bad, problem in [(np.zeros((0, 0), np.uint16), "image 0: empty or not an image"),
                         (None, "got None"), ([None], "image 0: expected a numpy array or a file path, got NoneType"),
                         (tmp_path / "missing.png", "missing.png")]:
        with pytest.raises(DataError, match=problem):
            estimator(bad)
    whole = kdpose.BottomUpEstimator(TEACHER_TAG)  # no input size: each image at the model's height, its own width
    with pytest.raises(DataError, match=r"image 0: 5000x1 pixels, an aspect ratio beyond 16:1"):
        whole(np.full((1, 5000), 3000, np.uint16))


def test_onnxruntime_gives_the_same_people(scenes, estimator, tmp_path):
    pytest.importorskip("onnxruntime")
    from kdpose.export import export_onnx

    model = kdpose.load_model(TEACHER_TAG, input_size=EVAL_SIZE)
    path = export_onnx(model, tmp_path / "teacher.onnx")
    onnx_est = kdpose.BottomUpEstimator(str(path), backend="onnxruntime")
    assert onnx_est.input_size == EVAL_SIZE and onnx_est.in_channels == 1 and onnx_est.skeleton.name == "coco"
    for scene in scenes[:3]:
        a, b = estimator(scene.depth), onnx_est(scene.depth)
        assert len(a) == len(b)
        for pa, pb in zip(a, b):
            found = (pa.scores > 0) & (pb.scores > 0)
            assert np.abs(pa.keypoints[found] - pb.keypoints[found]).max(initial=0.0) < 0.05
    with pytest.raises(ConfigError, match="BottomUpEstimator"):
        kdpose.PoseEstimator(str(path), backend="onnxruntime")
    with pytest.raises(ConfigError, match="BottomUpEstimator"):
        kdpose.PoseEstimator(TEACHER_TAG)
    with pytest.raises(ConfigError, match="PoseEstimator"):
        kdpose.BottomUpEstimator("rtmpose-t")


def test_cli_infer_eval_and_export_of_a_pose_machine(tmp_path, capsys):
    from kdpose.data.synth import write_coco_dataset

    ann = write_coco_dataset(tmp_path / "depth", synthetic_cfg(), 4, seed=VAL_SEED, split="val")
    images = tmp_path / "depth" / "val"
    out = tmp_path / "out"
    assert main(["infer", str(images), "--model", TEACHER_TAG, "--json", "--out", str(out)]) == 0
    assert "bottom-up torch" in capsys.readouterr().out
    results = json.loads((out / "predictions.json").read_text())
    assert results and {r["image_id"] for r in results} <= {im["id"] for im in json.loads(ann.read_text())["images"]}
    assert len(list((out / "vis").glob("*.png"))) == 4
    metrics_file = tmp_path / "metrics.json"
    assert main(["eval", "--gt", str(ann), "--pred", str(out / "predictions.json"), "--metric", "pck-pr",
                 "--out", str(metrics_file)]) == 0
    metrics = json.loads(metrics_file.read_text())
    assert set(metrics) == {"AP", "AR", "F", "score_thr", "F_upper"} and metrics["F"] > 0.05
    assert main(["infer", str(images), "--model", TEACHER_TAG, "--det", "yolox-m.humanart", "--out", str(out)]) == 2
    assert "--det: not for the bottom-up model" in capsys.readouterr().err
    pytest.importorskip("onnxruntime")
    onnx_file = tmp_path / "mpm.onnx"
    assert main(["export", TEACHER_TAG, "--out", str(onnx_file), "--input-size", "248x184"]) == 0
    assert "parity:" in capsys.readouterr().out
    assert main(["infer", str(images), "--model", str(onnx_file), "--json", "--no-vis", "--out",
                 str(tmp_path / "onnx_out")]) == 0
    onnx_results = json.loads((tmp_path / "onnx_out" / "predictions.json").read_text())
    assert len(onnx_results) == len(results)


def test_cli_bottom_up_keeps_one_output_per_image_and_refuses_shared_ids(tmp_path, capsys):
    """vis/ was flat (sub/000001.png overwrote 000001.png's picture), --json-per-image was ignored, and
    000001.png, a.png (place 1 in the job) and sub/000001.png all became image_id 1 in predictions.json."""
    import shutil

    from kdpose.data.synth import write_coco_dataset

    write_coco_dataset(tmp_path / "depth", synthetic_cfg(), 3, seed=VAL_SEED, split="val")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for index, rel in ((1, "000001.png"), (2, "sub/000001.png"), (3, "a.png")):
        shutil.copy(tmp_path / "depth" / "val" / f"{index:06d}.png", src / rel)
    (src / "photo.heic").write_bytes(bytes(40))  # a format OpenCV cannot read: reported, not an image of the job
    out = tmp_path / "out"
    assert main(["infer", str(src), "--model", TEACHER_TAG, "--json-per-image", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "3 images" in captured.out
    assert "kdpose: skipped photo.heic: OpenCV cannot read this HEIC file; convert it to JPEG or PNG" in captured.err
    assert sorted(p.relative_to(out / "vis").as_posix() for p in (out / "vis").rglob("*.png")) == [
        "000001.png", "a.png", "sub/000001.png"]
    per_image = {p.relative_to(out / "predictions").as_posix(): json.loads(p.read_text())
                 for p in (out / "predictions").rglob("*.json")}
    assert sorted(per_image) == ["000001.json", "a.json", "sub/000001.json"]
    assert {r["image_id"] for r in per_image["a.json"]} <= {2}  # no number in the name: the id above the stems'
    assert main(["infer", str(src), "--model", TEACHER_TAG, "--json", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert f"{src}/sub/000001.png would be image_id 1 (its integer file stem), like {src}/000001.png" in err
    assert not (tmp_path / "o2").exists()


def test_cli_bottom_up_skips_a_bad_image_and_goes_on(tmp_path, capsys):
    """A zero-byte PNG or a colour JPEG among depth PNGs stopped the whole job at that file, with no
    predictions.json for the images before and after it."""
    import shutil

    import cv2

    from kdpose.data.synth import write_coco_dataset

    write_coco_dataset(tmp_path / "depth", synthetic_cfg(), 2, seed=VAL_SEED, split="val")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(tmp_path / "depth" / "val" / "000001.png", src / "1.png")
    shutil.copy(tmp_path / "depth" / "val" / "000002.png", src / "4.png")
    cv2.imwrite(str(src / "2.jpg"), np.zeros((32, 32, 3), np.uint8))
    (src / "3.png").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["infer", str(src), "--model", TEACHER_TAG, "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if line.startswith("kdpose: skipped")]
    assert len(skipped) == 2 and "2.jpg: expected a single-channel 16-bit depth image" in skipped[0]
    assert "3.png: empty image file" in skipped[1]
    assert "kdpose infer: 2 images" in captured.out and "2 unreadable files skipped" in captured.out
    assert {r["image_id"] for r in json.loads((out / "predictions.json").read_text())} <= {1, 4}
    assert sorted(p.name for p in (out / "vis").glob("[!.]*")) == ["1.png", "4.png"]
    # nothing readable: exit 1, as for top-down jobs; a single bad image is still an error
    (src / "1.png").unlink()
    (src / "4.png").unlink()
    assert main(["infer", str(src), "--model", TEACHER_TAG, "--json", "--out", str(tmp_path / "o2")]) == 1
    capsys.readouterr()
    assert main(["infer", str(src / "3.png"), "--model", TEACHER_TAG, "--json", "--out", str(tmp_path / "o3")]) == 2
    assert capsys.readouterr().err.strip().endswith("3.png: empty image file")


def test_depth_in_another_unit_than_millimetres_is_named(tmp_path, scenes, capsys):
    """Depth in TUM's 5000 per metre or in centimetres gave 0 people and no word: the median of the measured pixels
    outside a room's 0.3-10 m is now a warning (API) and a stderr line naming the file (CLI)."""
    import cv2

    from kdpose.inference.bottomup import depth_unit_problem

    mm = scenes[0].depth
    assert depth_unit_problem(mm) is None and depth_unit_problem(np.zeros_like(mm)) is None
    assert "median depth" in depth_unit_problem(mm * 5) and "median depth" in depth_unit_problem(mm // 10)
    with pytest.warns(RuntimeWarning, match="depth models take uint16 millimetres"):
        kdpose.BottomUpEstimator(TEACHER_TAG, input_size=EVAL_SIZE)(mm // 10)
    cv2.imwrite(str(tmp_path / "cm.png"), mm // 10)
    cv2.imwrite(str(tmp_path / "mm.png"), mm)
    assert main(["infer", str(tmp_path / "cm.png"), str(tmp_path / "mm.png"), "--model", TEACHER_TAG, "--json",
                 "--out", str(tmp_path / "out")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "median depth" in line]
    assert len(warned) == 1 and warned[0].startswith(f"kdpose: warning: {tmp_path / 'cm.png'}: median depth ")


def test_validation_without_eval_input_size_letterboxes_as_inference(scenes):
    """A recipe without eval.input_size validated at the square training crop (184x184): 4:3 scenes shrank to 0.75
    of the scale the network learnt (F 0.333 -> 0.290 on this teacher), and that number picked the best checkpoint.
    Unset now means each scene's whole-image size at the model's height, as kdpose infer and the accuracy checks."""
    from pathlib import Path

    from kdpose.demo.depth_assets import load_depth_teacher
    from kdpose.engine.config import load_recipe
    from kdpose.layouts import get_layout
    from kdpose.tasks.bottomup import BottomUpEvaluator, eval_input_size

    recipe = Path(__file__).resolve().parents[2] / "configs" / "mpm-2s_synth-depth.yaml"
    assert eval_input_size(load_recipe(recipe)) == EVAL_SIZE
    assert eval_input_size(load_recipe(recipe, ["eval.input_size=[0,0]"])) is None
    model, upper = load_depth_teacher(), get_layout("coco").upper_body
    unset = BottomUpEvaluator(scenes, None, upper)(model, "cpu")
    assert unset == BottomUpEvaluator(scenes, EVAL_SIZE, upper)(model, "cpu")  # 248x184 is 320x240 at 184
    assert unset != BottomUpEvaluator(scenes, (184, 184), upper)(model, "cpu")


def test_a_fixed_input_of_another_aspect_is_named(scenes):
    """A square ONNX export (184x184, the training crop) letterboxed 320x240 scenes at 0.75 of the scale the model
    learnt: F 0.333 -> 0.290, with no word. The estimator now says so once per image size, with the size to use."""
    import warnings

    square = kdpose.BottomUpEstimator(TEACHER_TAG, input_size=(184, 184))
    assert "at 0.75 of the scale the model learnt" in square.scale_problem(scenes[0].depth.shape)
    with pytest.warns(RuntimeWarning, match=r"use input 248x184 for them"):
        square(scenes[0].depth)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        square(scenes[1].depth)  # the same size: said once
        kdpose.BottomUpEstimator(TEACHER_TAG, input_size=EVAL_SIZE)(scenes[0].depth)  # 248x184: the learnt scale
        kdpose.BottomUpEstimator(TEACHER_TAG)(scenes[0].depth)  # whole-image size by default


def test_the_limb_length_prior_is_relative_to_the_image_not_the_letterbox(scenes, monkeypatch):
    """The prior min(0, 0.5 * height / limb length - 1) took the network input's height, padding included, where the
    Idiap code takes the image's: in a 184x184 letterbox of a 320x240 scene the image is 138 px high, and an 82-px
    limb scored 1.000 instead of 0.842."""
    est = kdpose.BottomUpEstimator(TEACHER_TAG, input_size=(184, 184))
    seen = []
    original = type(est.codec).score_limb

    def spy(self, cand_a, cand_b, paf_xy, image_height):
        seen.append(image_height)
        return original(self, cand_a, cand_b, paf_xy, image_height)

    monkeypatch.setattr(type(est.codec), "score_limb", spy)
    with pytest.warns(RuntimeWarning):
        est(scenes[0].depth)
    assert seen and {round(h, 3) for h in seen} == {138.0}  # 240 rows x 0.575
    seen.clear()
    kdpose.BottomUpEstimator(TEACHER_TAG, input_size=EVAL_SIZE)(scenes[0].depth)
    assert seen and set(seen) == {184}  # no padding: the input height itself

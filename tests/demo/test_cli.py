"""``kdpose demo`` option errors: one line, exit code 2, nothing written."""
from __future__ import annotations

import pytest

from kdpose.cli.main import main
from kdpose.demo.config import DemoOptions, base_recipe, plan_budget, stage1_recipe, stage2_recipe, \
    student_recipe, to_recipe


@pytest.mark.parametrize("argv, message", [
    (["--method", "foo"], "--method: 'foo' is not one of dwpose, distilpose, sdpose, stagewise"),
    (["--layout", "mpii"], "--layout: 'mpii' is not one of coco, wholebody"),
    (["--minutes", "0"], "--minutes: must be a positive number"),
    (["--minutes", "nan"], "--minutes: must be a positive number"),
    (["--train-images", "1"], "--train-images/--val-images"),
    (["--threads", "-1"], "--threads and --workers must be >= 0"),
    (["--detector", "kdpose-det-tiny.synth-nothing_320"],
     "--detector: unknown detector tag 'kdpose-det-tiny.synth-nothing_320': kdpose ships"),
    (["--detector", "missing.onnx"], "--detector missing.onnx: no such file"),
    (["--method", "stagewise", "--detector", "yolox-m.humanart"],
     "--detector: the stagewise demo finds people bottom-up"),
    (["--method", "stagewise", "--layout", "wholebody"],
     "--layout wholebody: the stagewise demo (depth pose machines) has the 17 body keypoints only"),
])
def test_bad_options_fail_cleanly(tmp_path, capsys, argv, message):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdpose: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_out_that_is_a_file_fails_before_anything_runs(tmp_path, capsys, monkeypatch):
    """--out naming a file said only "<path>: file exists" (mkdir of the first phase); now one line naming the path
    and saying it is a file, not a folder, before any training (a path under a file likewise)."""
    import kdpose.demo as demo

    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: pytest.fail("the demo started"))
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    for out, message in ((afile, f"{afile}: --out names a file, not a folder"),
                         (afile / "demo", f"{afile}: --out {afile / 'demo'} lies under a file, not a folder")):
        assert main(["demo", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"kdpose: error: {message}"), err
        assert len(err.strip().splitlines()) == 1
    assert afile.read_text() == "keep me"


def test_demo_is_a_listed_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "demo" in capsys.readouterr().out


def test_budget_scales_with_minutes_and_is_fair():
    short, default = plan_budget(DemoOptions(minutes=2), True), plan_budget(DemoOptions(), True)
    assert default.stage1_epochs > short.stage1_epochs >= 1
    assert default.student_epochs == default.stage1_epochs + default.stage2_epochs
    assert default.teacher_epochs == 0 and plan_budget(DemoOptions(), False).teacher_epochs > 0
    opts = DemoOptions()
    plain, s1 = student_recipe(opts, default), stage1_recipe(opts, default, "t.safetensors")
    s2 = stage2_recipe(opts, default, "s1.safetensors")
    # same network, data, seed and optimiser; the step count splits between the two stages
    for key in ("model", "data", "optim"):
        assert plain[key] == s1[key] == s2[key]
    assert plain["train"]["seed"] == s1["train"]["seed"] == s2["train"]["seed"]
    assert plain["train"]["max_epochs"] == s1["train"]["max_epochs"] + s2["train"]["max_epochs"]
    assert s1["distill"]["method"] == "dwpose" and s2["distill"]["method"] == "dwpose_stage2"
    assert "distill" not in plain
    for recipe in (plain, s1, s2, base_recipe(opts, "rtmpose-s", 3)):
        cfg = to_recipe(recipe)  # the engine's strict loader accepts every demo recipe
        assert tuple(cfg.model.input_size) == (96, 128)  # body 17 runs on the `standard` setting (96x128 crops)


def test_from_scratch_pre_trains_both_backbones_with_heatmaps():
    from kdpose.demo.config import PRETRAIN_MODELS, STUDENT_MODEL, TEACHER_MODEL, pretrain_recipe

    opts = DemoOptions(from_scratch=True)
    plan = plan_budget(opts, teacher_shipped=False)
    assert plan.pretrain_epochs >= 1 and plan.teacher_epochs >= 1
    assert plan_budget(DemoOptions(), teacher_shipped=True).pretrain_epochs == 0
    for model, name in ((TEACHER_MODEL, "cspnext-s-udp"), (STUDENT_MODEL, "cspnext-t-udp")):
        recipe = pretrain_recipe(opts, plan, model)
        assert recipe["model"]["name"] == PRETRAIN_MODELS[model] == name
        assert recipe["train"]["max_epochs"] == plan.pretrain_epochs
    assert student_recipe(opts, plan, "b.safetensors")["model"]["init_prefix"] == "backbone."


def test_sdpose_and_distilpose_recipes_are_fair_and_load():
    from kdpose.demo.methods import METHOD_PLUGINS, distilpose_recipe, sdpose_recipe

    opts = DemoOptions()
    plan = plan_budget(opts, False)
    for name in ("sdpose", "distilpose"):
        method = METHOD_PLUGINS[name]
        plain = method.student_recipe(opts, plan, "b.safetensors")
        (phase,) = method.kd_phases(opts, plan, "t.safetensors", "b.safetensors")
        kd = phase.recipe({})
        assert phase.key == "kd" and kd["distill"]["method"] == name and "distill" not in plain
        for key in ("data", "optim", "schedule", "train"):
            assert plain[key] == kd[key], (name, key)
        assert plain["model"]["name"] == kd["model"]["name"] and plain["model"]["init_weights"] == "b.safetensors"
        assert plain["model"]["init_weights"] == kd["model"]["init_weights"]
        assert plain["train"]["max_epochs"] == plan.student_epochs
        to_recipe(kd)
    assert sdpose_recipe(opts, plan)["model"]["name"] == "rtmpose-t"
    assert distilpose_recipe(opts, plan, "t.safetensors")["distill"]["teacher"] == "cspnext-m-udp"
    teacher = METHOD_PLUGINS["distilpose"].teacher_recipe(DemoOptions(method="distilpose"), plan, None)
    assert teacher["model"]["name"] == "cspnext-m-udp" and teacher["model"]["input_size"] == [96, 128]
    assert teacher["train"]["max_epochs"] == plan.teacher_epochs > 0
    assert METHOD_PLUGINS["sdpose"].teacher_spec("coco") is None

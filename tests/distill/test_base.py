"""FrozenTeacher / Distiller base / build_distiller: the teacher never trains, parameters are validated."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from kdpose.distill import DISTILLERS, Distiller, FrozenTeacher, build_distiller
from kdpose.errors import ConfigError, UnknownNameError


def test_frozen_teacher_stays_eval_and_gradient_free():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    teacher = FrozenTeacher(net)
    wrapper = nn.Module()
    wrapper.teacher = teacher
    wrapper.train()
    assert not teacher.training and not net.training
    assert all(not p.requires_grad for p in net.parameters())
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    before = net[1].running_mean.clone()
    y = teacher(x)
    assert not y.requires_grad
    assert torch.equal(net[1].running_mean, before)  # eval-mode BN: statistics untouched
    assert teacher.call(lambda m, inp: m[0](inp), x).shape == (2, 4, 6, 6)


def test_frozen_teacher_renormalises_inputs():
    teacher = FrozenTeacher(nn.Identity(), input_mean=(0.5,), input_std=(2.0,), student_mean=(1.0,), student_std=(4.0,))
    x = torch.tensor([1.0]).view(1, 1, 1, 1)  # student value 1 -> raw 1 * 4 + 1 = 5 -> teacher (5 - 0.5) / 2
    assert teacher(x).item() == pytest.approx(2.25)
    with pytest.raises(ConfigError):
        FrozenTeacher(nn.Identity(), input_mean=(0.5,))


def test_build_distiller_validates_method_and_params():
    assert "distilpose" in DISTILLERS
    with pytest.raises(UnknownNameError, match="distilpos"):
        build_distiller("distilpos", nn.Identity(), nn.Identity())
    with pytest.raises(ConfigError, match="unknown key.*alpha9.*valid: preset"):
        build_distiller("distilpose", nn.Identity(), nn.Identity(), {"alpha9": 1.0})


@pytest.mark.parametrize("method,params,problem", [
    ("dwpose", {"use_gt": "flase"}, "distill.params.use_gt: expected bool, got str 'flase'"),
    ("dwpose", {"use_logit": "false"}, "distill.params.use_logit: expected bool, got str 'false'"),
    ("dwpose", {"decay": 1}, "distill.params.decay: expected bool, got int 1"),
    ("dwpose", {"alpha": "abc"}, "distill.params.alpha: expected float | None, got str 'abc'"),
    ("dwpose", {"beta": [1, 2]}, "distill.params.beta: expected float, got list [1, 2]"),
    ("sdpose", {"cycles": "two"}, "distill.params.cycles: expected int, got str 'two'"),
    ("distilpose", {"use_cs": "yes"}, "distill.params.use_cs: expected bool | None, got str 'yes'"),
    ("stagewise", {"tau": 2.5}, "distill.params.tau: expected int, got float 2.5"),
])
def test_build_distiller_checks_param_types_before_building(method, params, problem):
    """A typo in an on/off switch used to mean "on" (bool("flase")): DWPose's "logits alone, without ground truth"
    ablation then trained with the ground truth and exited 0. Wrong types were tracebacks."""
    with pytest.raises(ConfigError, match=re.escape(problem)):
        build_distiller(method, nn.Identity(), None if method == "sdpose" else nn.Identity(), params)


def test_build_distiller_takes_yaml_floats_written_without_a_dot():
    from kdpose.models import create_model

    student = create_model("rtmpose-t", input_size=(64, 96))
    teacher = create_model("rtmpose-t", input_size=(64, 96))
    distiller = build_distiller("dwpose", student, teacher, {"beta": "5e-2", "use_gt": False})  # YAML 1.1: a string
    assert distiller.beta == pytest.approx(0.05) and distiller.use_gt is False


def test_distiller_keeps_teacher_out_of_state_and_parameters_but_moves_it():
    student, teacher_net = nn.Linear(2, 2), nn.Linear(2, 3)
    distiller = Distiller(student, teacher_net)
    assert distiller.model is student and distiller.teacher.model is teacher_net
    assert set(distiller.state_dict()) == {"model.weight", "model.bias"}
    assert {id(p) for p in distiller.parameters()} == {id(p) for p in student.parameters()}
    distiller.to(torch.float64)
    assert teacher_net.weight.dtype == torch.float64 and student.weight.dtype == torch.float64
    distiller.train()
    assert student.training and not distiller.teacher.training


def test_a_teacher_trained_for_another_size_or_layout_is_refused_naming_the_recipe_key(tmp_path):
    """The recipe runs the teacher at the student's input size with the recipe's layout; teacher weights trained for
    another size or layout are refused before training. A heatmap teacher (its weights fit any size) used to train
    the student from crops at another scale than it learnt, without a word."""
    from kdpose.engine.config import RecipeCfg, from_dict
    from kdpose.models import create_model, save_weights
    from kdpose.tasks import build_task

    heatmap = save_weights(create_model("cspnext-t-udp", input_size=(64, 96)), tmp_path / "hm.safetensors")
    recipe = {"model": {"name": "deeppose-cspnext-t", "layout": "coco", "input_size": [32, 32]},
              "distill": {"method": "distilpose", "teacher": "cspnext-t-udp", "teacher_weights": str(heatmap),
                          "params": {"preset": "sh"}}}
    cfg = from_dict(RecipeCfg, recipe)
    with pytest.raises(ConfigError, match=r"distill.teacher_weights: .*hm.safetensors was trained at 64x96 \(w x h\), "
                                          r"but the recipe runs it at 32x32 \(model.input_size \(the student's\)\)"):
        build_task(cfg, create_model("deeppose-cspnext-t", input_size=(32, 32)))
    # a pretrained tag states its size too (the shipped demo teacher: 64x96), also when named as the teacher itself
    cfg = from_dict(RecipeCfg, {**recipe, "distill": {"method": "dwpose", "teacher": "rtmpose-s.synth-demo_96x64",
                                                      "teacher_input_size": [48, 64]}})
    with pytest.raises(ConfigError, match=r"distill.teacher: rtmpose-s.synth-demo_96x64 was trained at 64x96 .* runs "
                                          r"it at 48x64 \(distill.teacher_input_size\)"):
        build_task(cfg, create_model("rtmpose-t", input_size=(48, 64)))
    cfg = from_dict(RecipeCfg, {**recipe, "model": {**recipe["model"], "layout": "coco_wholebody"}})
    with pytest.raises(ConfigError, match=r"hm.safetensors predicts layout 'coco', the recipe's layout is "
                                          r"'coco_wholebody'"):
        build_task(cfg, create_model("deeppose-cspnext-t", layout="coco_wholebody", input_size=(32, 32)))


def test_an_unknown_teacher_or_model_name_names_its_recipe_key():
    """A recipe names two models (model.name, distill.teacher); "unknown model 'rtmpos-s'" did not say which."""
    from kdpose.engine.config import RecipeCfg, from_dict
    from kdpose.models import create_model
    from kdpose.tasks import build_task, get_task

    recipe = {"model": {"name": "rtmpose-t", "layout": "coco", "input_size": [32, 32]},
              "distill": {"method": "dwpose", "teacher": "rtmpos-s"}}
    with pytest.raises(ConfigError, match=r"^distill.teacher: unknown model 'rtmpos-s'; did you mean rtmpose-s"):
        build_task(from_dict(RecipeCfg, recipe), create_model("rtmpose-t", input_size=(32, 32)))
    tag = {**recipe, "distill": {"method": "dwpose", "teacher": "rtmpose-m.synth-nope_128x96"}}
    with pytest.raises(ConfigError, match=r"^distill.teacher: unknown pretrained weights 'rtmpose-m.synth-nope"):
        build_task(from_dict(RecipeCfg, tag), create_model("rtmpose-t", input_size=(32, 32)))
    student = {**recipe, "model": {**recipe["model"], "name": "rtmpos-t"}}
    with pytest.raises(ConfigError, match=r"^model.name: unknown model 'rtmpos-t'; did you mean rtmpose-t"):
        get_task(from_dict(RecipeCfg, student))


def test_a_teacher_without_weights_is_refused_not_distilled_from_random_weights(tmp_path):
    """An empty distill.teacher_weights built the teacher with random weights and distilled from it, exit 0 (in
    DWPose stage 2 the exported student kept that random backbone). A misspelt teacher with tag weights ran as the
    tag's network under the misspelt name."""
    from kdpose.engine.config import RecipeCfg, from_dict
    from kdpose.models import create_model
    from kdpose.tasks import build_task

    student = create_model("rtmpose-t", input_size=(32, 32))
    recipe = {"model": {"name": "rtmpose-t", "layout": "coco", "input_size": [32, 32]},
              "distill": {"method": "dwpose", "teacher": "rtmpose-s"}}
    for method in ("dwpose", "dwpose_stage2"):
        cfg = from_dict(RecipeCfg, {**recipe, "distill": {**recipe["distill"], "method": method}})
        with pytest.raises(ConfigError, match=rf"^distill.teacher_weights: empty, so '{method}' would distil from a "
                                              r"randomly initialised rtmpose-s; give the trained teacher's weights"):
            build_task(cfg, student)
    misspelt = {**recipe, "distill": {"method": "dwpose", "teacher": "rtmpose-zz",
                                      "teacher_weights": "rtmpose-s.synth-demo_96x64"}}
    with pytest.raises(ConfigError, match=r"^distill.teacher: unknown model 'rtmpose-zz'"):
        build_task(from_dict(RecipeCfg, misspelt), student)


def test_load_model_refuses_an_unknown_name_with_tag_weights():
    from kdpose.errors import UnknownNameError
    from kdpose.models import load_model

    with pytest.raises(UnknownNameError, match=r"unknown model 'rtmpose-zz'"):
        load_model("rtmpose-zz", weights="rtmpose-s.synth-demo_96x64")
    assert load_model("rtmpose-s", weights="rtmpose-s.synth-demo_96x64").info.name == "rtmpose-s"


def test_an_unknown_model_kwarg_names_the_key_and_the_valid_ones():
    """A typo in model.kwargs failed inside the factory: "TypeError: build_rtmpose() got an unexpected keyword
    argument 'fooo'" as a traceback."""
    from kdpose.engine.config import RecipeCfg, from_dict
    from kdpose.tasks.base import build_model

    cfg = from_dict(RecipeCfg, {"model": {"name": "rtmpose-t", "layout": "coco", "input_size": [32, 32],
                                          "kwargs": {"fooo": 1}}})
    with pytest.raises(ConfigError, match=r"^model.kwargs: rtmpose-t takes no argument 'fooo' \(build_rtmpose\(\) got "
                                          r"an unexpected keyword argument 'fooo'\)$"):
        build_model(cfg.model)
    cfg.model.name = "deeppose-cspnext-t"  # a factory without **kwargs: the same message
    with pytest.raises(ConfigError, match=r"^model.kwargs: deeppose-cspnext-t takes no argument 'fooo'"):
        build_model(cfg.model)

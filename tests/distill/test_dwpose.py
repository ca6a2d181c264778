"""DWPose: hand-computed losses, r(t), the frozen teacher (eval/train mode), stage 2 freezing, export keys, recipes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kdpose.codecs.simcc import SimCCOutput
from kdpose.data.sample import Batch, stack_dataclasses
from kdpose.distill import build_distiller
from kdpose.distill.dwpose import (DWPoseDistiller, DWPoseStage2Distiller, FeatureDistillLoss, feature_distill_loss,
                                   kd_decay, logit_distill_loss)
from kdpose.engine.optim import build_optimizer
from kdpose.errors import ConfigError
from kdpose.models import create_model, load_model, save_weights
from kdpose.models.checkpoint_files import extract_state_dict
from kdpose.utils.progress import TrainProgress

from ..conftest import benchmark_fixture

torch.set_num_threads(1)
SIZE = (32, 64)  # (w, h): 1x2 stage-4 feature map, 64 / 128 SimCC bins
LAYOUT = "coco_wholebody"


def _model(name: str = "rtmpose-t", seed: int = 0, size=SIZE):
    torch.manual_seed(seed)
    return create_model(name, layout=LAYOUT, input_size=size)


def _batch(codec, k: int = 133, n: int = 2, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    w, h = codec.input_size
    kpts = rng.uniform([2, 2], [w - 3, h - 3], size=(n, k, 2)).astype(np.float32)
    vis = (rng.random((n, k)) > 0.3).astype(np.float32)
    target = stack_dataclasses([codec.encode(p, v) for p, v in zip(kpts, vis)])
    return Batch(inputs=torch.from_numpy(rng.standard_normal((n, 3, h, w)).astype(np.float32)), target=target,
                 keypoints=torch.from_numpy(kpts), visible=torch.from_numpy(vis), center=torch.zeros(n, 2),
                 scale=torch.ones(n, 2), image_id=torch.arange(n), bbox_score=torch.ones(n))


# ------------------------------------------------------------------------------------------ hand-computed losses


def test_feature_loss_code_and_paper_normalisation():
    s = torch.tensor([[[[1.0, 2.0]]], [[[0.0, 3.0]]]])  # (N=2, C=1, H=1, W=2)
    t = torch.zeros_like(s)
    # squared errors 1 + 4 + 0 + 9 = 14: code = 14 / N = 7, paper = 14 / (N C H W) = 3.5
    assert feature_distill_loss(s, t, "code").item() == pytest.approx(7.0)
    assert feature_distill_loss(s, t, "paper").item() == pytest.approx(3.5)
    with pytest.raises(ConfigError, match="differ"):
        feature_distill_loss(s, torch.zeros(2, 1, 2, 2))


def test_feature_loss_align_conv_and_alpha():
    loss = FeatureDistillLoss(1, 2, alpha=0.5)
    with torch.no_grad():
        loss.align.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
        loss.align.bias.copy_(torch.tensor([0.0, 1.0]))
    s = torch.tensor([[[[1.0, 3.0]]]])             # N=1, Cs=1 -> aligned channels [2, 6] and [0, -2]
    t = torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]])  # N=1, Ct=2
    # (2-1)^2 + (6-1)^2 + 0 + (-2)^2 = 1 + 25 + 4 = 30; alpha 0.5 -> 15
    assert loss(s, t).item() == pytest.approx(15.0)
    assert FeatureDistillLoss(4, 4, alpha=1.0).align is None  # as the released FeaLoss: no conv for equal channels


def test_logit_loss_is_kl_summed_over_bins_divided_by_k():
    # keypoint 0, x: student uniform over 2 bins, teacher softmax(10 * [0, ln3/10]) = [1/4, 3/4]; all else equal
    s = SimCCOutput(torch.zeros(1, 2, 2), torch.zeros(1, 2, 3))
    t = SimCCOutput(torch.tensor([[[0.0, math.log(3.0) / 10.0], [0.0, 0.0]]]), torch.zeros(1, 2, 3))
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert logit_distill_loss(s, t, 10.0, formulation="code").item() == pytest.approx(kl / 2, rel=1e-5)
    assert logit_distill_loss(s, t, 10.0, formulation="paper").item() == pytest.approx(kl, rel=1e-5)
    mask = torch.tensor([[0.0, 1.0]])  # Table 7: the masked variant drops keypoint 0's (invisible) term
    assert logit_distill_loss(s, t, 10.0, weights=mask).item() == pytest.approx(0.0, abs=1e-7)
    # batch mean: a second, identical-to-teacher sample halves the loss
    s2 = SimCCOutput(torch.cat([s.x, t.x]), torch.cat([s.y, t.y]))
    t2 = SimCCOutput(torch.cat([t.x, t.x]), torch.cat([t.y, t.y]))
    assert logit_distill_loss(s2, t2, 10.0).item() == pytest.approx(kl / 4, rel=1e-5)


def test_decay_schedule():
    assert kd_decay(None) == 1.0
    assert kd_decay(TrainProgress(0, 270)) == 1.0                       # r(1) = 1
    assert kd_decay(TrainProgress(135, 270)) == pytest.approx(0.5)
    assert kd_decay(TrainProgress(269, 270)) == pytest.approx(1 / 270)  # r(t_max) = 1 / t_max
    r = [kd_decay(TrainProgress(e, 10, iteration=e * 7)) for e in range(10)]
    assert np.allclose(r, 1 - np.arange(10) / 10)  # by epoch, constant inside an epoch (the iteration is ignored)


# ------------------------------------------------------------------------------------------ stage 1


def test_stage1_total_matches_its_parts():
    student, teacher = _model("rtmpose-t", 0), _model("rtmpose-s", 1)
    d = DWPoseDistiller(student, teacher)
    assert d.alpha == 7e-5 and d.beta == 0.1
    batch = _batch(student.codec)
    out = d(batch, TrainProgress(3, 10))
    # recompute each term outside the distiller
    s_feats = student.forward_features(batch.inputs)
    s_out = student.forward_head(s_feats)
    with torch.no_grad():
        t_feats = teacher.forward_features(batch.inputs)
        t_out = teacher.forward_head(t_feats)
    kpt = student.loss_fn(s_out, batch)["loss"]
    fea = 7e-5 * feature_distill_loss(d.distill_losses["loss_fea"].align(s_feats[-1]), t_feats[-1])
    logit = 0.1 * logit_distill_loss(s_out, t_out)
    r = 1 - 3 / 10
    for name, value in (("loss_kpt", kpt), ("loss_fea", fea), ("loss_logit", logit)):
        assert out[name].item() == pytest.approx(value.item(), rel=1e-5), name
    assert out["kd_decay"].item() == pytest.approx(r)
    assert out["loss"].item() == pytest.approx((kpt + r * fea + r * logit).item(), rel=1e-5)


@pytest.mark.parametrize("switches, expected", [
    ({"use_feature": False, "use_logit": False}, {"kpt"}),
    ({"use_gt": False, "use_feature": False}, {"logit"}),
    ({"decay": False}, {"kpt", "fea", "logit"}),
])
def test_stage1_switches(switches, expected):
    student, teacher = _model("rtmpose-t", 0), _model("rtmpose-s", 1)
    d = build_distiller("dwpose", student, teacher, switches)
    out = d(_batch(student.codec), TrainProgress(5, 10))
    r = 1.0 if not d.decay else 0.5
    total = sum((r if k != "kpt" else 1.0) * out[f"loss_{k}"] for k in expected)
    assert out["loss"].item() == pytest.approx(float(total), rel=1e-5)
    assert ("loss_fea" in out) == ("fea" in expected or switches.get("use_feature", True))
    assert ("fea" in expected) == ("loss_fea" in d.distill_losses)


def test_stage1_logit_mask_uses_visibility_weights():
    student, teacher = _model("rtmpose-t", 0), _model("rtmpose-t", 1)
    batch = _batch(student.codec)
    masked = DWPoseDistiller(student, teacher, use_feature=False, logit_mask=True)(batch)["loss_logit"]
    with torch.no_grad():
        expected = 0.1 * logit_distill_loss(student(batch.inputs), teacher(batch.inputs),
                                            weights=batch.target.weights)
    assert masked.item() == pytest.approx(expected.item(), rel=1e-5)
    free = DWPoseDistiller(student, teacher, use_feature=False)(batch)["loss_logit"]
    assert free.item() > masked.item()  # invisible keypoints add terms when unmasked


def test_teacher_gets_no_gradient_and_stays_eval():
    student, teacher = _model("rtmpose-t", 0), _model("rtmpose-s", 1)
    d = DWPoseDistiller(student, teacher)
    d.train()
    assert student.training and not teacher.training
    stats = {k: v.clone() for k, v in teacher.state_dict().items()}
    out = d(_batch(student.codec), TrainProgress(0, 10))
    out["loss"].backward()
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(v, stats[k]) for k, v in teacher.state_dict().items())  # BN statistics untouched
    assert d.distill_losses["loss_fea"].align.weight.grad is not None  # the align conv trains with the student
    assert all(p.grad is not None for p in student.parameters())


def test_teacher_train_mode_uses_batch_statistics():
    student, teacher = _model("rtmpose-t", 0), _model("rtmpose-s", 1)
    d = build_distiller("dwpose", student, teacher, {"teacher_mode": "train"})
    d.train()
    assert teacher.training
    before = {k: v.clone() for k, v in teacher.state_dict().items() if "running_mean" in k}
    out = d(_batch(student.codec), TrainProgress(0, 10))
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    changed = [k for k, v in before.items() if not torch.equal(v, teacher.state_dict()[k])]
    assert changed  # batch statistics: running estimates move, as in the released code
    d.eval()
    assert not teacher.training


def test_stage1_rejects_bad_setups():
    with pytest.raises(ConfigError, match="input size 64x128 differs"):
        DWPoseDistiller(_model("rtmpose-t"), _model("rtmpose-s", size=(64, 128)))
    with pytest.raises(ConfigError, match="teacher_mode"):
        build_distiller("dwpose", _model(), _model("rtmpose-s"), {"teacher_mode": "batch"})
    with pytest.raises(ConfigError, match="formulation"):
        build_distiller("dwpose", _model(), _model("rtmpose-s"), {"formulation": "mmpose"})
    with pytest.raises(ConfigError, match="nothing to train"):
        build_distiller("dwpose", _model(), _model("rtmpose-s"),
                        {"use_gt": False, "use_feature": False, "use_logit": False})
    d = build_distiller("dwpose", _model(), _model("rtmpose-s"), {"formulation": "paper"})
    assert d.alpha == 5e-5


# ------------------------------------------------------------------------------------------ stage 2


def _train_steps(task, batch, steps: int = 3) -> None:
    from kdpose.engine.config import OptimCfg

    opt = build_optimizer(task, OptimCfg(lr=1e-2, weight_decay=0.05))
    task.train()
    for _ in range(steps):
        loss = task(batch, TrainProgress(0, 1))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_stage2_updates_only_the_head():
    trained = _model("rtmpose-t", 1)
    d = build_distiller("dwpose_stage2", _model("rtmpose-t", 0), trained)
    assert isinstance(d, DWPoseStage2Distiller)
    student = d.model
    assert all(torch.equal(v, trained.backbone.state_dict()[k]) for k, v in student.backbone.state_dict().items())
    assert {n for n, p in d.named_parameters() if p.requires_grad} == {f"model.head.{n}" for n, _ in
                                                                       student.head.named_parameters()}
    backbone = {k: v.clone() for k, v in student.backbone.state_dict().items()}  # parameters and BN buffers
    head = {k: v.clone() for k, v in student.head.state_dict().items()}
    teacher_state = {k: v.clone() for k, v in trained.state_dict().items()}
    _train_steps(d, _batch(student.codec))
    assert not student.backbone.training and student.head.training
    assert all(torch.equal(v, backbone[k]) for k, v in student.backbone.state_dict().items())  # bit-identical
    assert any(not torch.equal(v, head[k]) for k, v in student.head.state_dict().items())
    assert all(torch.equal(v, teacher_state[k]) for k, v in trained.state_dict().items())


def test_stage2_loss_is_gamma_times_logit_kd_on_shared_features():
    trained = _model("rtmpose-t", 1)
    d = build_distiller("dwpose_stage2", _model("rtmpose-t", 0), trained, {"gamma": 2.0})
    batch = _batch(d.model.codec)
    d.train()
    out = d(batch)
    with torch.no_grad():
        feats = trained.forward_features(batch.inputs)
        expected = 2.0 * logit_distill_loss(d.model.forward_head(feats), trained.forward_head(feats))
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(out) == {"loss", "loss_logit", "loss_kpt"}  # the GT loss is logged, not trained on
    out["loss"].backward()
    assert all(p.grad is None for p in d.model.backbone.parameters())


def test_stage2_rejects_trained_head_and_other_architectures():
    trained = _model("rtmpose-t", 1)
    copy = _model("rtmpose-t", 0)
    copy.load_state_dict(trained.state_dict())
    with pytest.raises(ConfigError, match="re-initialised head"):
        build_distiller("dwpose_stage2", copy, trained)
    with pytest.raises(ConfigError, match="not the teacher's architecture"):
        build_distiller("dwpose_stage2", _model("rtmpose-s"), trained)


# ------------------------------------------------------------------------------------------ export


def test_distilled_students_load_into_plain_rtmpose(tmp_path):
    student, teacher = _model("rtmpose-t", 0), _model("rtmpose-s", 1)
    d1 = DWPoseDistiller(student, teacher)
    batch = _batch(student.codec)
    _train_steps(d1, batch, steps=1)
    assert any(k.startswith("distill_losses.loss_fea.align.") for k in d1.state_dict())
    save_weights(d1.model, tmp_path / "s1.safetensors")
    plain = load_model("rtmpose-t", weights=tmp_path / "s1.safetensors", layout=LAYOUT, input_size=SIZE)
    assert set(plain.state_dict()) == set(create_model("rtmpose-t", layout=LAYOUT, input_size=SIZE).state_dict())
    d1.model.eval()
    with torch.no_grad():
        assert torch.equal(plain(batch.inputs).x, d1.model(batch.inputs).x)

    # official distiller key layout (student.*, teacher.*, distill_losses.*): the stage-1 transfer keeps student.*
    official = {**{f"student.{k}": v for k, v in d1.model.state_dict().items()},
                **{f"teacher.{k}": v for k, v in teacher.state_dict().items()},
                **{k: v for k, v in d1.state_dict().items() if k.startswith("distill_losses.")}}
    assert extract_state_dict(official).keys() == d1.model.state_dict().keys()

    d2 = build_distiller("dwpose_stage2", _model("rtmpose-t", 2), plain)
    _train_steps(d2, batch, steps=1)
    save_weights(d2.model, tmp_path / "s2.safetensors")
    plain2 = load_model("rtmpose-t", weights=tmp_path / "s2.safetensors", layout=LAYOUT, input_size=SIZE)
    # the stage-2 export equals the released transfer: teacher.backbone + student.head
    official2 = {**{f"student.{k}": v for k, v in d2.model.state_dict().items()},
                 **{f"teacher.{k}": v for k, v in plain.state_dict().items()}}
    transferred = extract_state_dict(official2, distiller_part="stage2")
    assert all(torch.equal(transferred[k], v) for k, v in plain2.state_dict().items())


def test_recipe_builds_dwpose_task_through_the_engine(tmp_path):
    from kdpose.tasks import build_model, build_task
    from kdpose.engine.config import DistillCfg, ModelCfg, RecipeCfg

    teacher = _model("rtmpose-s", 1)
    save_weights(teacher, tmp_path / "teacher.safetensors")
    cfg = RecipeCfg(model=ModelCfg(name="rtmpose-t", layout=LAYOUT, input_size=SIZE),
                    distill=DistillCfg(method="dwpose", teacher="rtmpose-s",
                                       teacher_weights=str(tmp_path / "teacher.safetensors"),
                                       params={"teacher_mode": "eval", "decay": True}))
    task = build_task(cfg, build_model(cfg.model))
    assert isinstance(task, DWPoseDistiller)
    assert torch.equal(task.teacher.model.head.cls_x.weight, teacher.head.cls_x.weight)
    # a teacher trained at another resolution (its weights say so) is refused by DWPose, which needs the same one
    big = save_weights(create_model("rtmpose-s", layout=LAYOUT, input_size=(64, 128)), tmp_path / "big.safetensors")
    cfg.distill.teacher_input_size, cfg.distill.teacher_weights = (64, 128), str(big)
    with pytest.raises(ConfigError, match="same resolution"):
        build_task(cfg, build_model(cfg.model))


# ------------------------------------------------------------------------------------------ benchmark driver


# overrides the distillation tests' `bench` (DistilPose's driver) in this module
bench = benchmark_fixture("benchmarks/dwpose/run.py", "dwpose_bench_run")


def test_benchmark_driver_writes_tables_from_finished_runs(tmp_path, bench):
    import json

    assert [r.name for r in bench.needed_runs(["table4"])] == ["teacher", "baseline", "s1", "baseline+s2", "s1+s2"]
    cmd = bench.command(bench.RUNS["logit+mask"], 2, tmp_path, tmp_path / "synth", "cpu", False, 1)
    joined = " ".join(cmd)
    assert "use_gt: false" in joined and "logit_mask: true" in joined and "alpha: 7.000e-05" in joined
    assert f"distill.teacher_weights={tmp_path / 'teacher' / 'seed0' / 'final.safetensors'}" in joined
    assert "train.seed=2" in joined

    root = tmp_path / "full"  # fabricated finished runs: AP 0.5 + 0.1 * seed for every part
    for name in ("logit", "logit+mask"):
        for seed in (0, 1):
            work = root / name / f"seed{seed}"
            work.mkdir(parents=True)
            rec = {"kind": "val", "elapsed_min": 2.0, **{p: {"AP": 0.5 + 0.1 * seed} for p in bench.PARTS}}
            (work / "log.jsonl").write_text(json.dumps({"kind": "train", "loss": 1.0}) + "\n" + json.dumps(rec) + "\n")
            (work / "final.safetensors").write_text("")
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nother text\n\n<!-- dwpose:table7 -->\nold\n<!-- /dwpose:table7 -->\ntail\n")
    assert bench.main(["table7", "--seeds", "0", "1", "--work-root", str(tmp_path), "--markdown", str(md),
                       "--report-only", "--results", str(tmp_path / "results.json")]) == 0
    text = md.read_text()
    assert "old" not in text and text.startswith("# Benchmarks\n\nother text") and text.endswith("tail\n")
    assert "| Logit + mask | `logit+mask` | 55.0 +- 7.1 |" in text
    assert "python benchmarks/dwpose/run.py table7" in text
    assert json.loads((tmp_path / "results.json").read_text())["logit"]["n"] == 2

    # the CPU scale: its own recipes, the shipped teacher (no training command), the teacher's model in stage 2
    cpu = bench.SCALES["cpu"]
    assert bench.command(bench.RUNS["teacher"], 0, tmp_path, tmp_path / "synth", "cpu", False, 1, cpu) is None
    s2 = " ".join(bench.command(bench.RUNS["teacher+s2"], 1, tmp_path, tmp_path / "synth", "cpu", False, 1, cpu))
    assert "dwpose_cpu_s2_t.yaml" in s2 and "model.name=rtmpose-s" in s2 and "distill.teacher=rtmpose-s" in s2
    flat = root / "baseline" / "seed0"  # a body-17 run logs a flat AP: the body column
    flat.mkdir(parents=True)
    (flat / "log.jsonl").write_text(json.dumps({"kind": "val", "AP": 0.25}) + "\n")
    (flat / "pck.json").write_text(json.dumps({"pck": 0.75}))
    summary = bench.summarise(bench.RUNS["baseline"], [0], root, cpu)
    assert summary["stats"]["body"] == (0.25, 0.0) and summary["stats"]["pck"] == (0.75, 0.0)
    table = bench.format_table(bench.TABLES["table5"], {"baseline": summary, **{n: summary for n in (
        "baseline+s2", "teacher", "teacher+s2")}}, [0], False, cpu)
    assert "| RTMPose-s + S2 | `teacher+s2` | 25.00 +- 0.00 | 75.0 +- 0.0 |" in table
    assert "body AP | PCK@0.2" in table and "run.py table5 --scale cpu" in table


def test_readme_dwpose_snippet_runs():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## DWPose", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md#dwpose", "exec"), {})  # noqa: S102 (our own documentation)


def test_distill_cli_refuses_plain_recipes(capsys):
    from pathlib import Path

    from kdpose.cli.main import main

    recipe = Path(__file__).resolve().parents[2] / "configs" / "rtmpose-t_synth-body.yaml"
    assert main(["distill", str(recipe)]) == 2
    assert "distill.method is empty" in capsys.readouterr().err


def test_dwpose_refuses_a_heatmap_model_at_build_time():
    # it failed at the first step with "'HeatmapOutput' object has no attribute 'x'" after the data was built
    heatmap = _model("cspnext-t-udp")
    with pytest.raises(ConfigError, match="the teacher 'cspnext-t-udp' is not a SimCC model"):
        build_distiller("dwpose", _model(), heatmap)
    with pytest.raises(ConfigError, match="the student 'cspnext-t-udp' is not a SimCC model"):
        build_distiller("dwpose", heatmap, _model("rtmpose-s"))
    with pytest.raises(ConfigError, match="is not a SimCC model"):
        build_distiller("dwpose_stage2", _model("cspnext-t-udp", seed=1), heatmap)


def test_dwpose_keeps_a_renormalising_teacher():
    # a FrozenTeacher passed in (frozen_teacher_for's, for a teacher trained with another normalisation) was wrapped
    # again and failed ('FrozenTeacher' object has no attribute 'info'); it must keep re-normalising
    from kdpose.distill import FrozenTeacher

    student, teacher = _model(), _model("rtmpose-s", seed=1)
    mean, std = (120.0, 110.0, 100.0), (60.0, 55.0, 50.0)
    s_mean, s_std = tuple(student.info.mean), tuple(student.info.std)
    frozen = FrozenTeacher(teacher, input_mean=mean, input_std=std, student_mean=s_mean, student_std=s_std)
    d = build_distiller("dwpose", student, frozen, {"teacher_mode": "train"})
    assert d.teacher is frozen and frozen.mode == "train" and frozen.renormalises
    x = _batch(student.codec).inputs
    seen = []
    handle = teacher.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        d.teacher(x)
    finally:
        handle.remove()
    pixels = x * torch.tensor(s_std).view(1, 3, 1, 1) + torch.tensor(s_mean).view(1, 3, 1, 1)
    expected = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(seen[0], expected)
    d(_batch(student.codec), TrainProgress(0, 10))["loss"].backward()  # the feature / logit path runs
    with pytest.raises(ConfigError, match="stage 2: the student is the teacher's own network"):
        build_distiller("dwpose_stage2", _model("rtmpose-s", seed=2), frozen)

"""SDPose: MCT cycles, the deployed one-cycle model == the base model (params, FLOPs, outputs, weights), the
self-distillation task (loss terms, pairs, presets, which side the token losses detach), SDPose-Reg with RLE."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from kdpose.codecs.heatmap import HeatmapOutput
from kdpose.codecs.regression import RegressionOutput
from kdpose.distill import build_distiller
from kdpose.distill.sdpose import SDPoseTask, TABLE5_PRESETS, consecutive_pairs, token_distill_mse
from kdpose.errors import ConfigError
from kdpose.export.flops import count_flops
from kdpose.models import create_model, load_model, save_weights

from ..conftest import benchmark_fixture, topdown_batch

SMALL = {"input_size": (48, 64), "dim": 32, "depth": 2, "heads": 4, "stem_planes": 8}


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------ zoo
@pytest.mark.parametrize("name,expected", [("sdpose-t", 4_398_528), ("sdpose-s-v1", 6_620_736),
                                           ("sdpose-s-v2", 6_227_520), ("sdpose-b", 13_145_984)])
def test_param_counts_match_the_spec(name, expected):
    # spec section 7 / 3.3 (4.4M, 6.6M, 6.2M, 13.2M in the paper)
    assert _params(create_model(name)) == expected


def test_sdpose_reg_params_and_head():
    model = create_model("sdpose-reg")
    assert round(_params(model) / 1e6, 1) == 5.4                      # paper Table 2
    assert model.head.mlp_head[-1].out_features == 4                  # (x, y, sigma logits): RLE head


@pytest.mark.parametrize("name", ["sdpose-t", "sdpose-s-v1", "sdpose-s-v2", "sdpose-b", "sdpose-mini-t",
                                  "sdpose-mini-s-v1", "sdpose-mini-s-v2", "sdpose-mini-b"])
def test_heatmap_zoo_shapes(name):
    model = create_model(name, input_size=(48, 64)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 48))
    assert isinstance(out, HeatmapOutput) and out.heatmaps.shape == (2, 17, 16, 12)


@pytest.mark.parametrize("name", ["sdpose-reg", "sdpose-mini-reg"])
def test_regression_zoo_shapes_and_decode(name):
    model = create_model(name, input_size=(48, 64)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 48))
    assert isinstance(out, RegressionOutput)
    assert out.coords.shape == (2, 17, 2) and out.sigma.shape == (2, 17, 2) and out.scores.shape == (2, 17)
    assert ((out.sigma > 0) & (out.sigma < 1)).all()
    torch.testing.assert_close(out.scores, (1 - out.sigma).mean(-1))
    kpts, scores = model.codec.decode(out)
    torch.testing.assert_close(kpts, out.coords * torch.tensor([48.0, 64.0]))


# ------------------------------------------------------------------------------- deployed = base model
def test_one_cycle_model_is_the_tokenpose_model():
    torch.manual_seed(0)
    sd = create_model("sdpose-mini-s-v1", input_size=(48, 64)).eval()
    base = create_model("tokenpose-mini-s", input_size=(48, 64)).eval()
    base.load_state_dict(sd.state_dict(), strict=True)                 # same parameter names and shapes
    assert _params(sd) == _params(base)
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(sd(x).heatmaps, base(x).heatmaps, rtol=0, atol=0)
    flops_sd, flops_base = count_flops(sd), count_flops(base)
    assert flops_sd.flops == flops_base.flops and flops_sd.params == flops_base.params
    # the counter does see the cycles: deploying two cycles costs one more encoder pass
    sd.head.set_cycles(2)
    assert count_flops(sd).flops > flops_base.flops


def test_cycle_one_tokens_equal_forward_tokens_and_cycles_chain():
    torch.manual_seed(0)
    model = create_model("sdpose-s-v1", **SMALL).eval()
    head = model.head
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, 64, 48))
        cycles = head.forward_cycles(feats, 3)
        torch.testing.assert_close(cycles[0].keypoint, head.forward_tokens(feats).keypoint, rtol=0, atol=0)
        # cycle 2 = the same layers applied to cycle 1's whole output sequence (keypoint tokens carried over)
        seq1 = torch.cat([cycles[0].keypoint, cycles[0].visual], dim=1)
        seq2 = head.transformers[0](seq1, head.embed.pos, head.num_keypoints)
        torch.testing.assert_close(cycles[1].keypoint, seq2[:, :17])
        torch.testing.assert_close(cycles[1].visual, seq2[:, 17:])
        assert not torch.allclose(cycles[1].keypoint, cycles[2].keypoint)
        head.set_cycles(3)                                            # Table 6: deploy the last cycle
        torch.testing.assert_close(model.forward_head(feats).heatmaps, head.forward_from_tokens(cycles[2]).heatmaps)


def test_saved_task_weights_load_into_the_plain_model(tmp_path):
    torch.manual_seed(0)
    model = create_model("sdpose-mini-reg", input_size=(48, 64))
    task = build_distiller("sdpose", model, None, {"cycles": 2})
    opt = torch.optim.Adam(task.parameters(), lr=1e-3)
    task(topdown_batch(model.codec))["loss"].backward()
    opt.step()
    assert any(k.startswith("rle.flow.") for k in task.state_dict())  # the flow trains with the task ...
    assert not any("flow" in k for k in model.state_dict())             # ... and never enters the model
    path = save_weights(task.model, tmp_path / "sdpose.safetensors")
    plain = load_model("sdpose-mini-reg", weights=path)                 # strict
    heat = create_model("sdpose-mini-s-v1", input_size=(48, 64))
    save_weights(heat, tmp_path / "heat.safetensors")
    base = load_model("tokenpose-mini-s", weights=tmp_path / "heat.safetensors")
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(plain(x).coords, task.model.eval()(x).coords)
        torch.testing.assert_close(base(x).heatmaps, heat.eval()(x).heatmaps)


# ------------------------------------------------------------------------------------------ the task
def test_task_loss_terms_and_weights():
    torch.manual_seed(0)
    model = create_model("sdpose-s-v1", **SMALL)
    batch = topdown_batch(model.codec)
    task = build_distiller("sdpose", model, None, {"cycles": 3})
    assert task.pairs == [(2, 1), (3, 2)] == consecutive_pairs(3)
    out = task(batch)
    assert {"loss_pose_c1", "loss_pose_c2", "loss_pose_c3", "loss_kt", "loss_vt"} <= set(out)
    pose = out["loss_pose_c1"] + out["loss_pose_c2"] + out["loss_pose_c3"]   # summed over cycles, as the code
    expected = pose + 5e-6 * out["loss_kt"] + 5e-6 * out["loss_vt"]
    torch.testing.assert_close(out["loss"].detach(), expected)
    # recompute the token terms from the cycles directly
    with torch.no_grad():
        cycles = model.head.forward_cycles(model.forward_features(batch.inputs), 3)
        kt = sum(torch.mean((cycles[s - 1].keypoint - cycles[t - 1].keypoint) ** 2) for t, s in [(2, 1), (3, 2)])
    torch.testing.assert_close(out["loss_kt"], kt)


def test_token_losses_vanish_when_cycles_are_equal():
    # one layer whose residual branches output 0 is the identity, and with depth 1 no position is re-added: every
    # cycle returns the same tokens, so the token losses are exactly 0 and every cycle's pose loss is the same
    model = create_model("sdpose-s-v1", **{**SMALL, "depth": 1})
    layer = model.head.transformers[0].layers[0]
    for linear in (layer.attn.to_out, layer.mlp[2]):
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
    out = SDPoseTask(model, cycles=3)(topdown_batch(model.codec))
    assert out["loss_kt"].item() == 0.0 and out["loss_vt"].item() == 0.0
    assert out["loss_pose_c1"].item() == out["loss_pose_c2"].item() == out["loss_pose_c3"].item()


def _cycle_token_grads(detach_target: bool, use_tokens: bool) -> list[torch.Tensor]:
    """Gradient of the task loss w.r.t. each cycle's keypoint tokens (cycle 2 is the target of pair 2->1)."""
    torch.manual_seed(0)
    model = create_model("sdpose-s-v1", **SMALL)
    kept: list[torch.Tensor] = []
    original = model.head.forward_cycles

    def forward_cycles(feats, n):
        tokens = original(feats, n)
        for t in tokens:
            t.keypoint.retain_grad()
            kept.append(t.keypoint)
        return tokens

    model.head.forward_cycles = forward_cycles
    task = SDPoseTask(model, cycles=2, use_kt=use_tokens, use_vt=use_tokens, w_kt=1.0, w_vt=1.0,
                      detach_target=detach_target)
    task(topdown_batch(model.codec))["loss"].backward()
    return [t.grad.clone() for t in kept]


def test_detached_target_gets_no_token_gradient():
    plain = _cycle_token_grads(detach_target=True, use_tokens=False)
    detached = _cycle_token_grads(detach_target=True, use_tokens=True)
    # the target (cycle 2) sees only its own pose loss; the student (cycle 1) also gets the distillation gradient
    torch.testing.assert_close(detached[1], plain[1])
    assert (detached[0] - plain[0]).abs().max() > 1e-6


def test_default_follows_the_released_code_gradient_into_both_cycles():
    plain = _cycle_token_grads(detach_target=False, use_tokens=False)
    both = _cycle_token_grads(detach_target=False, use_tokens=True)
    assert (both[1] - plain[1]).abs().max() > 1e-6 and (both[0] - plain[0]).abs().max() > 1e-6


def test_token_distill_mse_detach_flag():
    a = torch.randn(2, 3, 4, requires_grad=True)
    b = torch.randn(2, 3, 4, requires_grad=True)
    token_distill_mse(a, b, detach_target=True).backward()
    assert a.grad is not None and b.grad is None


@pytest.mark.parametrize("preset", list(TABLE5_PRESETS))
def test_table5_presets_select_terms(preset):
    torch.manual_seed(0)
    model = create_model("sdpose-s-v1", **SMALL)
    out = build_distiller("sdpose", model, None, {"preset": preset})(topdown_batch(model.codec))
    pose_all, kt, vt = TABLE5_PRESETS[preset]
    assert ("loss_pose_c1" in out) == pose_all and "loss_pose_c2" in out
    assert ("loss_kt" in out) == kt and ("loss_vt" in out) == vt
    assert torch.isfinite(out["loss"])


def test_pairs_are_configuration():
    model = create_model("sdpose-s-v1", **SMALL)
    assert SDPoseTask(model, cycles=3, pairs=[[2, 1]]).pairs == [(2, 1)]
    assert SDPoseTask(model, cycles=3, pairs=[[3, 1]]).pairs == [(3, 1)]
    one = SDPoseTask(model, cycles=1)
    assert one.pairs == [] and set(one(topdown_batch(model.codec))) == {"loss", "loss_pose_c1"}
    for bad in ([[1, 2]], [[4, 3]], [[2]]):
        with pytest.raises(ConfigError):
            SDPoseTask(model, cycles=3, pairs=bad)


def test_config_errors():
    model = create_model("sdpose-s-v1", **SMALL)
    with pytest.raises(ConfigError, match="self-distillation"):
        build_distiller("sdpose", model, create_model("tokenpose-s-v1", **SMALL), {})
    assert isinstance(build_distiller("sdpose", model, model, {"ignore_teacher": True}), SDPoseTask)
    with pytest.raises(ConfigError, match="MCT"):
        SDPoseTask(create_model("tokenpose-s-v1", **SMALL))
    with pytest.raises(ConfigError, match="preset or"):
        SDPoseTask(model, preset="all", use_kt=False)
    with pytest.raises(ConfigError, match="unknown key"):
        build_distiller("sdpose", model, None, {"cycle": 2})
    with pytest.raises(ConfigError):
        SDPoseTask(model, pose_cycles="first")


def test_sdpose_reg_trains_with_rle_on_every_cycle():
    torch.manual_seed(0)
    model = create_model("sdpose-mini-reg", input_size=(48, 64))
    task = SDPoseTask(model, cycles=2)
    assert task.rle is not None
    batch = topdown_batch(model.codec)
    out = task(batch)
    out["loss"].backward()
    assert {"loss_pose_c1", "loss_pose_c2", "loss_kt", "loss_vt"} <= set(out)
    assert all(p.grad is not None for p in task.rle.flow.parameters())
    assert model.head.mlp_head[-1].weight.grad.abs().sum() > 0
    # heatmap models keep their own loss_fn
    assert SDPoseTask(create_model("sdpose-s-v1", **SMALL)).rle is None


def test_engine_builds_the_task_without_a_teacher():
    from kdpose.tasks import build_task
    from kdpose.engine.config import DistillCfg, ModelCfg, RecipeCfg

    cfg = RecipeCfg(model=ModelCfg(name="sdpose-mini-s-v1", input_size=(48, 64)),
                    distill=DistillCfg(method="sdpose", params={"cycles": 3, "pairs": [[2, 1]]}))
    task = build_task(cfg, create_model("sdpose-mini-s-v1", input_size=(48, 64)))
    assert isinstance(task, SDPoseTask) and task.cycles == 3 and task.pairs == [(2, 1)]



def test_a_teacher_left_in_an_sdpose_recipe_is_said_to_be_unused(caplog):
    """--set distill.method=sdpose on a DWPose recipe trained without a word that its teacher is not used."""
    import logging

    from kdpose.engine.config import DistillCfg, ModelCfg, RecipeCfg
    from kdpose.tasks import build_task

    cfg = RecipeCfg(model=ModelCfg(name="sdpose-mini-s-v1", input_size=(48, 64)),
                    distill=DistillCfg(method="sdpose", teacher="rtmpose-m.synth-standard_128x96"))
    with caplog.at_level(logging.WARNING, logger="kdpose.tasks.base"):
        build_task(cfg, create_model("sdpose-mini-s-v1", input_size=(48, 64)))
    assert [r.getMessage() for r in caplog.records] == [
        "distill.teacher / distill.teacher_weights are not used: 'sdpose' distils the model into itself"]


def test_load_model_reads_mmpose_0x_keypoint_head_keys(tmp_path):
    # MMPose 0.x files (SDPose / DistilPose / TokenPose releases) name the head keypoint_head.*; load_model renames it
    reference = create_model("sdpose-mini-s-v1", input_size=(48, 64)).eval()
    state = {("keypoint_head." + k[5:] if k.startswith("head.") else k): v for k, v in reference.state_dict().items()}
    torch.save({"meta": {"epoch": 300}, "state_dict": state}, tmp_path / "mmpose0x.pth")
    model = load_model("tokenpose-mini-s", weights=tmp_path / "mmpose0x.pth", input_size=(48, 64))
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x).heatmaps, reference(x).heatmaps)


def test_deployed_sdpose_exports_as_the_plain_one_cycle_network(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from kdpose.export import export_onnx

    torch.manual_seed(0)
    sd = create_model("sdpose-mini-s-v1", input_size=(48, 64)).eval()
    base = create_model("tokenpose-mini-s", input_size=(48, 64)).eval()
    base.load_state_dict(sd.state_dict())
    graphs = [onnx.load(str(export_onnx(m, tmp_path / f"{i}.onnx"))).graph for i, m in enumerate((sd, base))]
    assert [n.op_type for n in graphs[0].node] == [n.op_type for n in graphs[1].node]
    sizes = [sorted(int(np.prod(t.dims)) for t in g.initializer) for g in graphs]
    assert sizes[0] == sizes[1]
    reg = create_model("sdpose-mini-reg", input_size=(48, 64)).eval()
    path = export_onnx(reg, tmp_path / "reg.onnx")
    x = torch.randn(1, 3, 64, 48)
    outs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    with torch.no_grad():
        ref = reg(x)
    np.testing.assert_allclose(outs[0], ref.coords.numpy(), atol=1e-4)


# the SDPose driver benchmarks/sdpose/run.py
run = benchmark_fixture("benchmarks/sdpose/run.py", "sdpose_bench_run")


def test_benchmark_rows_are_valid_recipes(run):
    # every row of the driver is a recipe + --set overrides that the strict loader accepts and the engine builds
    from pathlib import Path

    from kdpose.tasks import build_model, build_task
    from kdpose.engine.config import load_recipe

    rows = {r.key: (label, r) for table in run.TABLES.values() for label, r in table()}
    assert len(rows) == 14                                              # distinct trainings (shared rows once)
    configs = Path(__file__).resolve().parents[2] / "configs"
    for label, row in rows.values():
        cfg = load_recipe(configs / row.recipe, row.overrides() + ["model.input_size=[48, 64]"])
        task = build_task(cfg, build_model(cfg.model))
        deployed = task.model.head.cycles
        if row.task is None:
            assert deployed == 1 and not isinstance(task, SDPoseTask), label
        else:
            assert isinstance(task, SDPoseTask) and task.cycles == row.task["cycles"], label
            # Table 6 deploys every cycle it trains; the self-distilled rows deploy one
            assert deployed == (task.cycles if row.task.get("preset") == "none" and row.model_kwargs else 1), label


def test_trainer_checkpoint_without_ema_loads_the_deployed_model(tmp_path):
    # the trainer saves task.state_dict(): "model.*" = the network, "rle.flow.*" = the training-only flow
    torch.manual_seed(0)
    model = create_model("sdpose-mini-reg", input_size=(48, 64))
    task = SDPoseTask(model, cycles=2)
    torch.save({"format": "kdpose-train-1", "model": task.state_dict(), "ema": None, "epoch": 1}, tmp_path / "last.pt")
    loaded = load_model("sdpose-mini-reg", weights=tmp_path / "last.pt", input_size=(48, 64))
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).coords, model.eval()(x).coords)


@pytest.mark.parametrize("variant,cycles", [("t", 3), ("s_v1", 2), ("s_v2", 2), ("b", 2), ("reg", 2)])
def test_coco_recipes_build(variant, cycles):
    from pathlib import Path

    from kdpose.tasks import build_model, build_task
    from kdpose.engine.config import load_recipe

    path = Path(__file__).resolve().parents[2] / "configs" / f"sdpose_{variant}_coco-256x192.yaml"
    cfg = load_recipe(path, ["model.input_size=[48, 64]", "model.init_weights="])  # SDPose-B: no ImageNet download
    assert cfg.distill.method == "sdpose" and not cfg.distill.teacher and cfg.optim.weight_decay == 0.0
    task = build_task(cfg, build_model(cfg.model))
    assert task.cycles == cycles and task.pairs == consecutive_pairs(cycles)
    assert task.weights == {"kt": 5e-6, "vt": 5e-6} and task.pose_all and not task.detach_target
    assert (task.rle is not None) == (variant == "reg")


# ------------------------------------------------------------------------------------------------ CPU-scale tables
def test_cpu_benchmark_rows_share_runs_and_build(run):
    # Tables 5 / 6 / 7 at CPU scale: 7 distinct trainings; Table 5's pose+kt IS Table 7's 2->1 run and its "none" IS
    # Table 6's 2-cycle run (deployed with 1 cycle there, 2 here); the L_vt rows are n/a (RTMCC has no visual tokens)
    from pathlib import Path

    from kdpose.tasks import build_model, build_task
    from kdpose.engine.config import load_recipe

    t5, t6, t7 = (run.CPU_TABLES[k]() for k in ("5", "6", "7"))
    rows = {r.run.key: r.run for r in t5 + t6 + t7 if r.run is not None}
    assert len(rows) == 7
    by_label = {r.label.split(" ")[0]: r for r in t5}
    assert by_label["pose+kt"].run.key == t7[1].run.key and by_label["none"].run.key == t6[1].run.key
    assert by_label["pose+vt"].run is None and by_label["all"].run is None and t6[-1].run is None
    assert [r.deploy_cycles for r in t6[:3]] == [1, 2, 3] and {r.deploy_cycles for r in t5 + t7} == {1}
    configs = Path(__file__).resolve().parents[2] / "configs"
    switches = {}
    for key, row in rows.items():
        task = build_task(load_recipe(configs / row.recipe, row.overrides()), build_model(load_recipe(
            configs / row.recipe, row.overrides()).model))
        switches[key] = None if row.task is None else (task.cycles, task.pose_all, task.use_kt)
    assert switches[t6[0].run.key] is None
    assert [switches[by_label[k].run.key] for k in ("none", "pose", "pose+kt", "kt")] == [
        (2, False, False), (2, True, False), (2, True, True), (2, False, True)]
    assert switches[t6[2].run.key] == (3, False, False) and switches[t7[2].run.key] == (3, True, True)


def test_cpu_token_table_rows_switch_visual_token_losses(run):
    # Table 5t: the token model (sdpose-cspnext-t) with visual tokens; the paper's token weights (5e-6)
    from pathlib import Path

    from kdpose.tasks import build_model, build_task
    from kdpose.engine.config import load_recipe

    rows = run.CPU_TABLES["5t"]()
    configs = Path(__file__).resolve().parents[2] / "configs"
    switches = []
    for row in rows:
        recipe = load_recipe(configs / row.run.recipe, row.run.overrides())
        assert recipe.model.name == "sdpose-cspnext-t" and row.deploy_cycles == 1
        task = build_task(recipe, build_model(recipe.model))
        switches.append(None if row.run.task is None else (task.cycles, task.pose_all, task.use_kt, task.use_vt,
                                                           task.weights["vt"]))
    assert switches == [None, (2, False, False, False, 5e-6), (2, True, False, False, 5e-6), (2, True, True, False, 5e-6),
                        (2, True, False, True, 5e-6), (2, False, True, True, 5e-6), (2, True, True, True, 5e-6)]
    t7 = run.CPU_TABLES["7t"]()  # shares the 1-cycle and 2->1 runs with 5t
    assert [r.run.key for r in t7[:2]] == [rows[0].run.key, rows[-1].run.key] and t7[2].run.task["cycles"] == 3
    reg = []  # Table 1t: the RLE TokenReg head trained by the sdpose task's RLE loss, 1 vs 2 cycles
    for row in run.CPU_TABLES["1t"]():
        recipe = load_recipe(configs / row.run.recipe, row.run.overrides())
        task = build_task(recipe, build_model(recipe.model))
        reg.append((recipe.model.name, task.cycles, task.rle is not None, row.deploy_cycles))
    assert reg == [("sdpose-reg-cspnext-t", 1, True, 1), ("sdpose-reg-cspnext-t", 2, True, 1)]


def test_cpu_entries_paired_counts_and_table(run):
    from pathlib import Path

    cpu = run.cpu_scale
    rows = run.table6_cpu()
    fake = {("plain", 1): [0.5, 0.6, 0.7], ("none__", 2): [0.55, 0.5, 0.8], ("none__", 3): [0.4, None, 0.6]}

    def metrics(work, cycles):  # work = root/<key>/seed<S>
        seed = int(work.name[4:])
        values = next(v for (k, c), v in fake.items() if work.parent.name.endswith(k) and c == cycles)
        return {"ap": None if values[seed] is None else values[seed] / 100, "pck": values[seed]}

    entries = cpu.build_entries(rows, Path("/nonexistent"), [0, 1, 2], (64, 96), metrics=metrics,
                                cost=lambda name, size, cycles, **kw: {"params_m": 3.2, "gflops": 0.05 * cycles,
                                                                 "cpu_ms": 7.0})
    ref, two, three, na = entries
    assert ref["pck_wins"] is None and ref["pck_mean"] == pytest.approx(0.6) and ref["pck_std"] == pytest.approx(0.1)
    assert two["pck_wins"] == (2, 3) and two["ap_wins"] == (2, 3)
    assert three["pck_wins"] == (0, 2) and three["pck_mean"] == pytest.approx(0.5)  # seed 1 unfinished: left out
    assert na["run"] is None
    text = cpu.format_table("T6", entries, "1 cycle", "note")
    lines = text.splitlines()
    assert lines[2].endswith("| params (M) | GMACs | CPU ms |")  # the cost's "gflops" value is MACs
    assert "| 2 cycles | 2 | 0.62 +- 0.16 | 61.7 +- 16.1 | 2/3 / 2/3 | 3.200 | 0.100 | 7.0 |" in lines
    assert any(line.startswith("| 1 cycle | 1 |") and "| ref |" in line for line in lines)
    assert f"| fewer layers, 2 / 3 cycles | n/a: {rows[-1].note} | | | | | | |" in lines


def test_cpu_deployed_network_runs_every_cycle(tmp_path, run):
    # Table 6 re-evaluates the trained weights with head.set_cycles(N); cached results are read back, not recomputed
    import json
    import shutil
    from pathlib import Path

    cpu = run.cpu_scale
    torch.manual_seed(0)
    model = create_model("rtmpose-t", input_size=(64, 96)).eval()
    save_weights(model, tmp_path / "final.safetensors")
    shutil.copy(Path(__file__).resolve().parents[2] / "configs" / "dwpose_cpu_s1_s-t.yaml", tmp_path / "config.yaml")
    deployed, _ = cpu._load_deployed(tmp_path, 2)
    x = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        one_cycle = model(x).x
        model.head.set_cycles(2)
        torch.testing.assert_close(deployed(x).x, model(x).x, rtol=1e-4, atol=1e-14)
        two_cycles = deployed(x).x
    assert deployed.head.cycles == 2  # outputs are ~1e-9 at init: compare relative to their size
    assert (two_cycles - one_cycle).abs().max() > 0.1 * one_cycle.abs().max()
    (tmp_path / "log.jsonl").write_text(json.dumps({"kind": "val", "AP": 0.002}) + "\n")
    (tmp_path / "pck.json").write_text(json.dumps({"pck": 0.75}))
    (tmp_path / "deploy_c3.json").write_text(json.dumps({"ap": 0.001, "pck": 0.7}))
    assert cpu.deployed_metrics(tmp_path, 1) == {"ap": 0.002, "pck": 0.75}
    assert cpu.deployed_metrics(tmp_path, 3) == {"ap": 0.001, "pck": 0.7}
    one, two = cpu.deployed_cost("rtmpose-t", (64, 96), 1), cpu.deployed_cost("rtmpose-t", (64, 96), 2)
    assert one["params_m"] == two["params_m"] and two["gflops"] > one["gflops"]

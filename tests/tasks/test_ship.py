"""The shipping tool (issue 22): a tiny run trained through kdpose's API is shipped into a temporary assets folder as
float16 weights with the model's facts, loads back equal within float16 precision (whole network and backbone only),
and its model card lists the run's numbers; the printed PretrainedCfg entry is valid source for shipped.py."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kdpose.engine.config import RecipeCfg, from_dict
from kdpose.engine.precision import resolve_amp
from kdpose.errors import ConfigError
from kdpose.models import load_model, load_weights
from kdpose.models.pretrained import AccuracyCheck, PretrainedCfg
from kdpose.models.weights import read_model_info, read_weights_metadata
from kdpose.tasks import train
from kdpose.tasks.model_card import RunSummary
from kdpose.tasks.ship import FP16_ATOL, FP16_RTOL, main, ship_run

SPLIT = {"synthetic_size": [160, 128], "synthetic_max_people": 2}
CHECK = AccuracyCheck(metrics=(), images=3, size=(160, 128), max_people=2, seed=2)  # the val images: people


def tiny_recipe(tmp_path: Path) -> dict:
    """RTMPose-t at 64x64 trained for two steps on four rendered images, validated once on three."""
    return {"model": {"name": "rtmpose-t", "layout": "coco", "input_size": [64, 64]},
            "data": {"batch_size": 2, "val_batch_size": 2, "workers": 0, "persistent_workers": False,
                     "cache_dir": str(tmp_path / "cache"), "augment": "light",
                     "train": {**SPLIT, "synthetic_images": 4, "synthetic_seed": 1},
                     "val": {**SPLIT, "synthetic_images": 3, "synthetic_seed": 2}},
            "schedule": {"warmup_iters": 1},
            "train": {"max_epochs": 1, "stage2_epochs": 0, "epoch_iters": 2, "device": "cpu", "threads": 1,
                      "ema": False, "log_interval": 1, "seed": 0, "tensorboard": False},
            "eval": {"interval": 1, "use_ema": False}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ship")
    torch.set_num_threads(1)
    train(from_dict(RecipeCfg, tiny_recipe(tmp)), tmp / "run")
    return tmp / "run"


def assert_fp16_equal(shipped: dict, reference: dict) -> None:
    assert set(shipped) == set(reference)
    for key, ref in reference.items():
        got = shipped[key]
        if ref.is_floating_point():
            torch.testing.assert_close(got.float(), ref.float(), rtol=FP16_RTOL, atol=FP16_ATOL, msg=key)
        else:
            assert torch.equal(got, ref), key


def test_a_shipped_run_loads_back_and_its_card_lists_the_run(run_dir, tmp_path):
    before = sorted(p.name for p in run_dir.iterdir())
    lines = []
    shipped = ship_run(run_dir, "rtmpose-t.synth-tiny_64x64", assets_dir=tmp_path / "assets",
                       cards_dir=tmp_path / "cards", recipe="", check=CHECK, log=lines.append)
    assert sorted(p.name for p in run_dir.iterdir()) == before  # nothing written into the run folder
    assert shipped.asset == tmp_path / "assets" / "rtmpose-t.synth-tiny_64x64.safetensors"
    # float16 on disk, the model's facts in the header; loads back equal to the trained weights within fp16 rounding
    meta = read_weights_metadata(shipped.asset)
    assert meta["precision"] == "float16" and meta["tag"] == "rtmpose-t.synth-tiny_64x64"
    info = read_model_info(shipped.asset)
    assert info is not None and info.name == "rtmpose-t" and info.input_size == (64, 64) and info.layout == "coco"
    from safetensors.torch import load_file

    raw = load_file(str(shipped.asset))
    assert {v.dtype for v in raw.values() if v.is_floating_point()} == {torch.float16}
    trained = load_model("rtmpose-t", weights=str(run_dir / "best.safetensors"))
    back = load_model("rtmpose-t", weights=str(shipped.asset))  # layout and input size from the header
    assert back.info.input_size == (64, 64)
    assert_fp16_equal(back.state_dict(), trained.state_dict())
    # the card: the run's validation numbers, its iterations, time, core-hours and the commands
    run = RunSummary.read(run_dir)
    val = run.of_kind("val")[-1]
    card = shipped.card.read_text()
    assert shipped.card == tmp_path / "cards" / "rtmpose-t.synth-tiny_64x64.md"
    for key in ("AP", "AP50", "AR"):
        assert f"{val[key]:.4f}" in card, key
    assert f"iterations: {run.iterations} " in card and run.iterations == 2
    amp = run.of_kind("setup")[0]["amp"]  # `auto`: bf16 on an AMX CPU, none elsewhere
    assert amp == resolve_amp("auto", torch.device("cpu"))[0]
    assert f"core-hours: {run.core_hours:.2f}" in card and f"amp: {amp}" in card
    # shipping it again (the tag exists now) needs --overwrite and keeps the check's images and seed
    assert (f"python -m kdpose.tasks.ship {run_dir} --tag rtmpose-t.synth-tiny_64x64 --weights best "
            f"--check-images 3 --check-seed 2 --overwrite") in card
    assert "python -m kdpose.tasks.accuracy rtmpose-t.synth-tiny_64x64" in card
    # the check was measured on the shipped file, and the entry to paste is valid source for that PretrainedCfg
    assert shipped.measured is not None and 0.0 <= shipped.measured["PCK@0.2"] <= 1.0
    assert f"{shipped.measured['PCK@0.2']:.4f}" in card
    entry = eval(shipped.entry.rstrip(","), {"PretrainedCfg": PretrainedCfg, "AccuracyCheck": AccuracyCheck})
    assert entry.tag == "rtmpose-t.synth-tiny_64x64" and entry.asset == shipped.asset.name
    assert entry.loads == "model" and entry.input_size == (64, 64)
    # trained on rendered scenes: the entry says so, and `kdpose infer` will warn on photos
    assert entry.synthetic and entry.source == "kdpose (shipped, synthetic data)"
    assert dict(entry.check.metrics)["PCK@0.2"] == round(shipped.measured["PCK@0.2"], 4)
    assert (entry.check.images, entry.check.seed, entry.check.size) == (3, 2, (160, 128))


def test_backbone_only_shipping(run_dir, tmp_path, capsys):
    assert main([str(run_dir), "--tag", "rtmpose-t.synth-tiny-backbone_64x64", "--backbone", "--weights", "final",
                 "--assets-dir", str(tmp_path), "--cards-dir", str(tmp_path), "--recipe", ""]) == 0
    printed = capsys.readouterr().out
    assert "loads='backbone'" in printed and "check=" not in printed
    asset = tmp_path / "rtmpose-t.synth-tiny-backbone_64x64.safetensors"
    from safetensors.torch import load_file

    raw = load_file(str(asset))
    assert raw and all(k.startswith("backbone.") for k in raw)
    trained = load_model("rtmpose-t", weights=str(run_dir / "final.safetensors"))
    fresh = load_model("rtmpose-t", input_size=(64, 64))
    load_weights(fresh, str(asset), loads="backbone")
    assert_fp16_equal(fresh.backbone.state_dict(), trained.backbone.state_dict())
    card = (tmp_path / "rtmpose-t.synth-tiny-backbone_64x64.md").read_text()
    assert "backbone.*" in card and "No accuracy check" in card


def test_one_file_serves_the_model_and_its_backbone_tag(run_dir, tmp_path, capsys):
    """--backbone-tag: a second tag (loads backbone, own card, no check) on the SAME file, not a second copy."""
    assert main([str(run_dir), "--tag", "rtmpose-t.synth-tiny_64x64", "--backbone-tag",
                 "rtmpose-t.synth-tiny-backbone_64x64", "--no-check", "--weights", "final",
                 "--assets-dir", str(tmp_path), "--cards-dir", str(tmp_path), "--recipe", ""]) == 0
    printed = capsys.readouterr().out
    entries = [line.strip() for line in printed.splitlines() if line.strip().startswith("PretrainedCfg(")]
    assert len(entries) == 2
    assert "'rtmpose-t.synth-tiny_64x64'" in entries[0] and "loads=" not in entries[0]
    assert "'rtmpose-t.synth-tiny-backbone_64x64'" in entries[1] and "loads='backbone'" in entries[1]
    assert all("asset='rtmpose-t.synth-tiny_64x64.safetensors'" in e for e in entries)
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == ["rtmpose-t.synth-tiny_64x64.safetensors"]
    trained = load_model("rtmpose-t", weights=str(run_dir / "final.safetensors"))
    fresh = load_model("rtmpose-t", input_size=(64, 64))
    load_weights(fresh, str(tmp_path / "rtmpose-t.synth-tiny_64x64.safetensors"), loads="backbone")
    assert_fp16_equal(fresh.backbone.state_dict(), trained.backbone.state_dict())
    card = (tmp_path / "rtmpose-t.synth-tiny-backbone_64x64.md").read_text()
    assert "backbone.*" in card and "No accuracy check" in card and "--backbone-tag" in card
    with pytest.raises(ConfigError, match="--backbone-tag"):
        ship_run(run_dir, "a", backbone=True, backbone_tag="b", assets_dir=tmp_path, cards_dir=tmp_path,
                 check=False, log=lambda *_: None)


def test_wall_time_and_core_hours_follow_each_session(tmp_path):
    """Two sessions (2 threads, then 1 after a resume): core-hours add wall x threads per session."""
    (tmp_path / "config.yaml").write_text(json.dumps(tiny_recipe(tmp_path)))
    records = [{"kind": "setup", "iter": 0, "amp": "none", "threads": 2},
               {"kind": "train", "iter": 50, "epoch": 1, "elapsed_min": 30.0},
               {"kind": "val", "iter": 100, "epoch": 1, "elapsed_min": 60.0, "AP": 0.1, "AP50": 0.3},
               {"kind": "setup", "iter": 100, "amp": "none", "threads": 1},
               {"kind": "train", "iter": 150, "epoch": 2, "elapsed_min": 90.0},
               {"kind": "val", "iter": 200, "epoch": 2, "elapsed_min": 120.0, "AP": 0.05, "AP50": 0.4}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    run = RunSummary.read(tmp_path)
    assert run.wall_minutes == 120.0 and run.core_hours == pytest.approx(2.0 + 1.0)
    assert run.threads == [1, 2] and run.iterations == 200 and run.iters_per_epoch == 100
    assert run.shipped_val("best")["AP"] == 0.1 and run.shipped_val("final")["AP"] == 0.05
    # a run started with --set shows what it changed from its recipe file
    recipe = tiny_recipe(tmp_path)
    recipe["optim"] = {"lr": 0.01}
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))
    assert run.recipe_differences(tmp_path / "recipe.yaml") == ["optim.lr: 0.01 -> 0.004"]


def test_a_detector_run_ships_with_a_box_ap_check(tiny_detector_run, tmp_path, capsys):
    """The person detector's run (configs/kdpose-det-tiny_synth-standard.yaml, shrunk): float16 file with the
    detector's facts, no keypoint layout in the entry, an accuracy check of COCO box AP on rendered scenes with the
    recipe's ignore rule, and a card that says how to use it."""
    from kdpose.detection import PersonDetector
    from kdpose.tasks.accuracy import measure_detection, render_detection

    tag = "kdpose-det-tiny.synth-tiny_64"
    assert main([str(tiny_detector_run), "--tag", tag, "--assets-dir", str(tmp_path), "--cards-dir", str(tmp_path),
                 "--check-images", "4", "--recipe", "configs/kdpose-det-tiny_synth-standard.yaml"]) == 0
    printed = capsys.readouterr().out
    line = next(ln.strip() for ln in printed.splitlines() if ln.strip().startswith("PretrainedCfg("))
    entry = eval(line.rstrip(","), {"PretrainedCfg": PretrainedCfg, "AccuracyCheck": AccuracyCheck})
    assert (entry.model, entry.layout, entry.input_size, entry.loads) == ("kdpose-det-tiny", "", (64, 64), "model")
    check = entry.check
    assert (check.modality, check.ignore_unlabelled, check.preset, check.size, check.seed, check.images) == \
        ("detection", True, "standard", (160, 120), 1, 4)
    assert [name for name, _ in check.metrics] == ["AP", "AP50", "AP75", "AR"]
    asset = tmp_path / f"{tag}.safetensors"
    info = read_model_info(asset)
    assert info.name == "kdpose-det-tiny" and info.task == "detection" and info.layout is None
    assert read_weights_metadata(asset)["precision"] == "float16"
    trained = load_model("kdpose-det-tiny", weights=str(tiny_detector_run / "best.safetensors"))
    back = load_model("kdpose-det-tiny", weights=str(asset))  # input size from the header
    assert back.input_size == (64, 64)
    assert_fp16_equal(back.state_dict(), trained.state_dict())
    # the declared numbers are what the box-AP check measures on the shipped file
    measured = measure_detection(back, render_detection(check))
    assert dict(check.metrics) == {k: round(measured[k], 4) for k in ("AP", "AP50", "AP75", "AR")}
    assert PersonDetector(str(asset)).input_size == (64, 64)
    card = (tmp_path / f"{tag}.md").read_text()
    val = RunSummary.read(tiny_detector_run).of_kind("val")[-1]
    assert "person detector" in card and f'PersonDetector("{tag}")' in card and f"--det {tag}" in card
    assert "ignore regions" in card and f"{val['AP']:.4f}" in card and "APS" in card
    assert f"python -m kdpose.tasks.accuracy {tag} --recipe configs/kdpose-det-tiny_synth-standard.yaml" in card


def test_a_shipped_tag_is_never_replaced_silently_nor_written_outside_its_folders(tmp_path):
    """With the defaults (the package's assets/ and docs/models/), a reused tag replaced the shipped weights and their
    card without a word, and '../../x' wrote outside both folders."""
    from kdpose.tasks.ship import ship_run

    kwargs = {"assets_dir": tmp_path / "assets", "cards_dir": tmp_path / "cards", "check": False}
    with pytest.raises(ConfigError, match=r"rtmpose-m.synth-standard_128x96: already shipped \('rtmpose-m"
                                          r".synth-standard_128x96' is a registered tag\).*--overwrite"):
        ship_run(tmp_path / "no-run-needed", "rtmpose-m.synth-standard_128x96", **kwargs)
    for bad in ("../../escape", "a/b", "x..y", ""):
        with pytest.raises(ConfigError, match="a tag is letters, digits"):
            ship_run(tmp_path / "no-run-needed", bad, **kwargs)
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "mine.synth_64x64.md").write_text("an earlier card")
    with pytest.raises(ConfigError, match=r"already shipped \(.*mine.synth_64x64.md exists\)"):
        ship_run(tmp_path / "no-run-needed", "mine.synth_64x64", **kwargs)
    assert (tmp_path / "cards" / "mine.synth_64x64.md").read_text() == "an earlier card"


def test_a_whole_body_card_shows_each_parts_ap_and_ar(tmp_path):
    """Whole-body val records hold 10 COCO numbers for each of 7 parts: the card's table keeps each part's AP and AR
    (15 columns with epoch, iteration and wall min, not 73)."""
    from kdpose.tasks.model_card import CardFacts, render_card

    recipe = tiny_recipe(tmp_path)
    recipe["model"]["layout"] = recipe["data"]["layout"] = "coco_wholebody"
    (tmp_path / "config.yaml").write_text(json.dumps(recipe))
    parts = ("body", "foot", "face", "lefthand", "righthand", "hand", "wholebody")
    coco = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
    val = {"kind": "val", "iter": 2, "epoch": 1, "elapsed_min": 1.0,
           **{p: {m: round(0.01 * i + 0.001 * j, 4) for j, m in enumerate(coco)} for i, p in enumerate(parts)}}
    (tmp_path / "log.jsonl").write_text(json.dumps({"kind": "setup", "iter": 0, "amp": "none", "threads": 1}) + "\n"
                                        + json.dumps(val) + "\n")
    facts = CardFacts(tag="rtmpose-t.synth-wb_64x64", asset="a.safetensors", size_mb=1.0, sha256="0" * 16,
                      loads="model", recipe="r.yaml", weights="final", commands=[])
    card = render_card(RunSummary.read(tmp_path), facts)
    header = next(line for line in card.splitlines() if line.startswith("| epoch"))
    assert header == ("| epoch | iteration | wall min | " + " | ".join(f"{p}/{m}" for p in parts for m in ("AP", "AR"))
                      + " | shipped |")
    row = next(line for line in card.splitlines() if line.startswith("| 1 |"))
    assert "| 0.0600 | 0.0650 | yes |" in row  # the whole-body part's AP and AR, then the shipped mark


def test_shipping_a_registered_tag_again_keeps_its_checks_images_and_seed():
    """An interim file replaced by the final one is checked on the same images as before (and as the tests assert),
    unless the command says otherwise; a new tag gets 16 images and the val seed + 1."""
    from kdpose.models import PRETRAINED
    from kdpose.tasks.ship import check_defaults

    old = PRETRAINED["rtmpose-m.synth-standard_128x96"].check
    assert (old.images, old.seed) == (32, 1)
    assert check_defaults("rtmpose-m.synth-standard_128x96", None, None) == (32, 1)
    assert check_defaults("rtmpose-m.synth-standard_128x96", 8, None) == (8, 1)
    assert check_defaults("rtmpose-m.synth-standard_128x96", None, 5) == (32, 5)
    assert check_defaults("rtmpose-t.synth-new_64x64", None, None) == (16, None)
    assert PRETRAINED["cspnext-m-udp.synth-standard-backbone_128x96"].check is None  # backbone tags: no check
    assert check_defaults("cspnext-m-udp.synth-standard-backbone_128x96", None, None) == (16, None)

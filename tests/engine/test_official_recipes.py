"""Full-scale recipes equal the official configs (configs/official/official_recipes.yaml) field by field, except the
deviations listed there, each with its reason and named in the recipe's header. Every full-scale recipe has a row.

Rule (explicit): a recipe is full-scale when it trains on a real dataset read from disk (``data.train`` has no
``synthetic_images``); recipes that render kdpose's synthetic data are CPU miniatures or synthetic benchmarks with no
official counterpart, and their names carry one of ``MINIATURE_MARKERS``.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml

from kdpose.data.transforms import (AUGMENT_RECIPES, CoarseDropout, RandomBBoxTransform, RandomFlip,
                                    RandomHalfBodyV0, RandomScaleRotation, RandomShiftBBoxCenter, TopDownV0Recipe,
                                    build_train_pipeline)
from kdpose.engine.config import RecipeCfg, load_recipe
from kdpose.models import PRETRAINED, create_model

REPO = Path(__file__).resolve().parents[2]
TABLE_FILE = REPO / "configs" / "official" / "official_recipes.yaml"
MINIATURE_MARKERS = ("_synth", "_cpu_", "_mini_", "demo_", "detector_")
# the only kinds of deviation a row may list; a new kind needs a reason here and in the table
ALLOWED_DEVIATIONS = {
    "teacher.bn_mode": "DWPose's released distiller keeps the frozen teacher's BatchNorm in train mode",
    "schedule.type": "kdpose has one scheduler (warm-up, flat, cosine); SDPose's MMPose 0.29 configs step the lr",
}
META = {"source", "base", "based_on", "published", "note", "deviations"}
# official fields that only exist for the official schedule type, compared only when kdpose has the same type
STEP_ONLY = ("schedule.steps", "schedule.gamma")


@functools.lru_cache(maxsize=None)
def table() -> dict:
    return yaml.safe_load(TABLE_FILE.read_text())["recipes"]


def is_full_scale(path: Path) -> bool:
    return load_recipe(path).data.train.synthetic_images == 0


def rows_missing(config_dir: Path, rows: dict) -> tuple[list[str], list[str]]:
    """(full-scale recipes in ``config_dir`` without a row, rows without a recipe)."""
    full = {p.name for p in sorted(config_dir.glob("*.yaml")) if is_full_scale(p)}
    return sorted(full - set(rows)), sorted(set(rows) - full)


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def header(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(ln[1:].strip() for ln in lines[: next(i for i, ln in enumerate(lines) if not ln.startswith("#"))])


def _augmentation(cfg: RecipeCfg, model) -> dict:
    recipe = AUGMENT_RECIPES[cfg.data.augment]
    pipeline = build_train_pipeline(model.skeleton, tuple(cfg.model.input_size), recipe=cfg.data.augment)
    epochs = cfg.train.max_epochs

    def first(stage, kind):
        return next(t for t in pipeline.stages[stage].transforms if isinstance(t, kind))

    if isinstance(recipe, TopDownV0Recipe):
        shift, half = first("strong", RandomShiftBBoxCenter), first("strong", RandomHalfBodyV0)
        scale_rot = first("strong", RandomScaleRotation)
        assert pipeline.stages["strong"] is pipeline.stages["weak"]   # one stage: never switches
        return {"pipeline": "mmpose-0.x", "shift": shift.shift_factor, "shift_prob": shift.prob,
                "flip_prob": first("strong", RandomFlip).prob,
                "half_body": {"min_keypoints": half.min_keypoints, "prob": half.prob},
                "scale_factor": scale_rot.scale_factor, "rotate_factor": scale_rot.rotate_factor,
                "rotate_prob": scale_rot.rotate_prob, "stage2_from_epoch": epochs}
    view = {"pipeline": "rtmpose"}
    for stage, name in (("strong", "stage1"), ("weak", "stage2")):
        box = first(stage, RandomBBoxTransform)
        view[name] = {"shift": box.shift_factor, "scale": list(box.scale_factor), "rotate": box.rotate_factor,
                      "dropout_p": first(stage, CoarseDropout).prob}
    stage2 = cfg.train.stage2_epochs   # the trainer switches at max_epochs - stage2_epochs (none when 0)
    view["stage2_from_epoch"] = epochs - stage2 if stage2 > 0 else epochs
    return view


def _weights_file(value: str) -> str:
    return PRETRAINED[value].file_name if value in PRETRAINED else Path(value).name


def kdpose_view(path: Path) -> dict:
    """A recipe expressed in the table's fields (flattened), from the loaded recipe and the objects it builds."""
    cfg = load_recipe(path)
    m = cfg.model
    model = create_model(m.name, layout=m.layout, input_size=tuple(m.input_size), **m.kwargs)
    assert cfg.data.layout == m.layout, f"{path.name}: data.layout {cfg.data.layout} != model.layout {m.layout}"
    nproc = re.findall(r"--nproc_per_node (\d+)", header(path))
    sc, epochs = cfg.schedule, cfg.train.max_epochs
    cosine = sc.cosine_start_epoch if sc.cosine_start_epoch >= 0 else epochs // 2
    view = {
        "model": m.name, "layout": m.layout, "input_size": list(m.input_size),
        "codec": dict(model.codec.params()),
        "gpus": int(nproc[0]) if len(set(nproc)) == 1 else nproc,
        "batch_per_gpu": cfg.data.batch_size, "epochs": epochs,
        "optimizer": {"type": "AdamW", "lr": cfg.optim.lr, "weight_decay": cfg.optim.weight_decay,
                      "norm_decay_mult": cfg.optim.norm_decay_mult, "bias_decay_mult": cfg.optim.bias_decay_mult,
                      "clip_grad_norm": cfg.optim.clip_grad_norm},
        "schedule": {"type": "flat-cosine", "warmup_iters": sc.warmup_iters,
                     "warmup_start_factor": sc.warmup_start_factor, "cosine_start_epoch": min(cosine, epochs),
                     "eta_min_factor": sc.eta_min_factor},
        "augmentation": _augmentation(cfg, model),
        "backbone_init": None,
        "ema": {"enabled": cfg.train.ema, "momentum": cfg.train.ema_momentum},
        "bn": "SyncBN" if cfg.train.sync_bn else "BN",
        "seed": cfg.train.seed,
        "eval": {"interval": cfg.eval.interval, "flip_test": cfg.eval.flip_test},
    }
    if m.init_weights:
        assert m.init_weights in PRETRAINED, f"{path.name}: model.init_weights should be a pretrained tag"
        loads = PRETRAINED[m.init_weights].loads
        load = ("partial" if loads == "backbone-partial" and not m.init_prefix else
                "prefix backbone." if m.init_prefix == "backbone." or (loads == "backbone" and not m.init_prefix)
                else f"loads={loads}, init_prefix={m.init_prefix!r}")
        view["backbone_init"] = {"file": _weights_file(m.init_weights), "load": load}
    dc = cfg.distill
    if dc.method:
        view["loss"] = {"method": dc.method, **dc.params}
    if dc.teacher:
        teacher = {"model": dc.teacher, "bn_mode": dc.params.get("teacher_mode", "eval"),
                   "input_size": list(dc.teacher_input_size) if any(dc.teacher_input_size) else list(m.input_size)}
        run = re.fullmatch(r"work_dirs/([^/]+)/[^/]+\.safetensors", dc.teacher_weights)
        if run:
            teacher["from_recipe"] = f"{run.group(1)}.yaml"
        else:
            teacher["file"] = _weights_file(dc.teacher_weights)
        view["teacher"] = teacher
    return flatten(view)


def official_view(row: dict) -> dict:
    return flatten({k: v for k, v in row.items() if k not in META})


def same(key: str, official, ours, official_row: dict) -> bool:
    if key == "optimizer.type" and official == "Adam" and ours == "AdamW":
        return official_row.get("optimizer.weight_decay") == 0.0   # AdamW without weight decay is Adam
    if isinstance(official, float) or isinstance(ours, float):
        return ours == pytest.approx(official, rel=1e-9)
    if isinstance(official, list) and isinstance(ours, (list, tuple)):
        return len(official) == len(ours) and all(same(key, a, b, official_row) for a, b in zip(official, ours))
    return official == ours


def compare(name: str, row: dict) -> list[str]:
    """Every difference between the recipe and its official row that is not a listed deviation."""
    path = REPO / "configs" / name
    ours, official = kdpose_view(path), official_view(row)
    deviations = row.get("deviations") or {}
    problems = []
    for key, dev in deviations.items():
        if key not in ALLOWED_DEVIATIONS:
            problems.append(f"{key}: not an allowed kind of deviation ({', '.join(ALLOWED_DEVIATIONS)})")
            continue
        if ours.get(key) != dev["kdpose"]:
            problems.append(f"{key}: deviation says kdpose uses {dev['kdpose']!r}, the recipe gives {ours.get(key)!r}")
        if same(key, official.get(key), ours.get(key), official):
            problems.append(f"{key}: listed as a deviation but equal to the official value (stale entry)")
        if len(dev.get("reason", "").split()) < 8:
            problems.append(f"{key}: a deviation needs its reason")
        if dev["header"] not in " ".join(header(path).split()):
            problems.append(f"{key}: the recipe header does not document the deviation ({dev['header']!r})")
    step_schedule = official.get("schedule.type") == "step"
    for key, value in official.items():
        if key in deviations or (key in STEP_ONLY and "schedule.type" in deviations):
            continue
        if key == "seed" and value is None:     # the official run fixes no seed
            continue
        if step_schedule and key in STEP_ONLY:
            problems.append(f"{key}: official {value!r} has no kdpose counterpart")
            continue
        if key not in ours:
            problems.append(f"{key}: official {value!r}, the recipe has no such setting")
        elif not same(key, value, ours[key], official):
            problems.append(f"{key}: official {value!r}, recipe {ours[key]!r}")
    return problems


def test_the_rule_separates_full_scale_recipes_from_miniatures():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        marked = any(marker in path.name for marker in MINIATURE_MARKERS)
        assert is_full_scale(path) != marked, f"{path.name}: full-scale = real data = no miniature marker in the name"


def test_every_full_scale_recipe_has_a_row_and_every_row_a_recipe():
    missing, stale = rows_missing(REPO / "configs", table())
    assert not missing, f"full-scale recipes without a row in {TABLE_FILE.name}: {missing}"
    assert not stale, f"rows in {TABLE_FILE.name} without a recipe: {stale}"
    assert len(table()) == 17


def test_a_new_full_scale_recipe_without_a_row_is_reported(tmp_path):
    (tmp_path / "rtmpose-l_coco-256x192.yaml").write_text((REPO / "configs" / "rtmpose-m_coco-256x192.yaml")
                                                           .read_text().replace("rtmpose-m", "rtmpose-l"))
    (tmp_path / "rtmpose-t_synth-body.yaml").write_text((REPO / "configs" / "rtmpose-t_synth-body.yaml").read_text())
    assert rows_missing(tmp_path, table()) == (["rtmpose-l_coco-256x192.yaml"], sorted(table()))


@pytest.mark.parametrize("name", sorted(yaml.safe_load(TABLE_FILE.read_text())["recipes"]))
def test_recipe_equals_its_official_config(name):
    row = table()[name]
    assert row.get("source") or (row.get("based_on") and row.get("note")), f"{name}: cite the official config"
    problems = compare(name, row)
    assert not problems, f"{name} differs from {row.get('source') or row.get('based_on')}:\n" + "\n".join(problems)


def test_the_comparison_catches_a_changed_value():
    row = dict(table()["rtmpose-m_coco-256x192.yaml"])
    assert compare("rtmpose-m_coco-256x192.yaml", row) == []
    row["augmentation"] = {**row["augmentation"], "stage1": {**row["augmentation"]["stage1"], "rotate": 90.0}}
    row["bn"] = "BN"
    row["backbone_init"] = None
    problems = compare("rtmpose-m_coco-256x192.yaml", row)
    assert any(p.startswith("augmentation.stage1.rotate: official 90.0, recipe 80.0") for p in problems), problems
    assert any(p.startswith("bn: official 'BN', recipe 'SyncBN'") for p in problems), problems
    assert any(p.startswith("backbone_init: official None") for p in problems), problems
    row = dict(table()["sdpose_t_coco-256x192.yaml"])
    row["deviations"] = {"schedule.type": {**row["deviations"]["schedule.type"], "header": "not in the header"}}
    assert compare("sdpose_t_coco-256x192.yaml", row) == [
        "schedule.type: the recipe header does not document the deviation ('not in the header')"]
    row["deviations"] = {}
    assert "schedule.type: official 'step', recipe 'flat-cosine'" in compare("sdpose_t_coco-256x192.yaml", row)


def test_every_listed_deviation_is_allowed_and_explained():
    for name, row in table().items():
        for key, dev in (row.get("deviations") or {}).items():
            assert key in ALLOWED_DEVIATIONS, f"{name}: {key}"
            assert {"kdpose", "reason", "header"} <= set(dev), f"{name}: {key}"


def test_docs_list_every_full_scale_recipe_with_its_published_number():
    docs = (REPO / "docs" / "training.md").read_text()
    for name, row in table().items():
        line = next((ln for ln in docs.splitlines() if ln.startswith(f"| `configs/{name}`")), None)
        assert line, f"docs/training.md: no row for configs/{name} in the full-scale recipe table"
        value = row["published"]["value"]
        if value is not None:
            assert f"{value}" in line, f"docs/training.md: {name}: published {value} not in {line!r}"
        assert "torchrun --nproc_per_node" in line, line

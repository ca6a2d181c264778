"""Ship a training run as pretrained weights in one command.

    python -m kdpose.tasks.ship RUN_DIR --tag TAG [--weights best|final|FILE] [--backbone] [--recipe configs/X.yaml]
                                [--backbone-tag TAG2]

From a run folder of ``kdpose train`` (``config.yaml``, ``log.jsonl``, ``best``/``final.safetensors`` or ``.pt``,
``val_results.json``) of a pose model or of the person detector (``kdpose-det-*``) it

1. loads the weights into the recipe's network (strictly) and writes them as float16 safetensors with the network's
   facts (``ModelInfo``) in the header, atomically, to ``src/kdpose/assets/<TAG>.safetensors`` (``--backbone``: only
   the ``backbone.*`` tensors, a pre-trained backbone for other networks), and checks the float16 round trip;
2. measures the shipped file on a small fixed val set drawn like the recipe's val split (another seed; the
   :class:`~kdpose.models.pretrained.AccuracyCheck` of the entry: top-down pose AP on ground-truth boxes, bottom-up
   F, or a detector's COCO box AP with the recipe's ignore rule; not for ``--backbone``);
3. writes the model card ``docs/models/<TAG>.md`` (recipe, data, epochs / iterations, wall time and core-hours,
   precision, the val metrics of every validation, the check, the commands that reproduce each number);
4. prints the ``PretrainedCfg`` entry to paste into ``src/kdpose/models/shipped.py`` (Python source is not edited).

``--backbone-tag TAG2`` also registers the same file's ``backbone.*`` tensors as a second tag (``loads="backbone"``,
its own card, no check): a heatmap pre-training run is both a model and the backbone other networks start from, and
one file serves both tags instead of two copies of the backbone in the package.

Nothing is written into the run folder.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

import torch

from ..errors import CheckpointError, ConfigError
from ..models.pretrained import AccuracyCheck, PretrainedCfg
from .model_card import CardFacts, RunSummary, render_card

PACKAGE = Path(__file__).resolve().parents[1]
ASSETS_DIR = PACKAGE / "assets"
REPO = PACKAGE.parents[1]  # src layout: <repo>/src/kdpose
FP16_RTOL = 2.0 ** -10  # float16 keeps 11 significant bits: a rounding error of at most half this, relative
FP16_ATOL = 1e-7  # values below float16's smallest subnormal (6e-8) become 0
CHECK_MODALITY = {"topdown": "rgb", "bottomup": "depth", "detection": "detection"}  # task kind -> AccuracyCheck


def to_fp16(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float16 (contiguous, on the CPU); others unchanged. Raises when a value overflows."""
    out = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point():
            half = value.to(torch.float16)
            if not torch.isfinite(half).all() and torch.isfinite(value).all():
                raise CheckpointError(f"{key}: values beyond float16's range (|x| > 65504); ship it as float32")
            value = half
        out[key] = value.contiguous()
    return out


def write_fp16(state: Mapping[str, torch.Tensor], path: str | os.PathLike, metadata: Mapping[str, str]) -> Path:
    """``state`` as float16 safetensors at ``path``, atomically, with string ``metadata`` (plus ``precision``)."""
    from ..utils.io import atomic_write, safetensors_bytes

    path = Path(path)
    data = safetensors_bytes(to_fp16(state), {"format": "pt", **{str(k): str(v) for k, v in metadata.items()},
                                              "precision": "float16"})
    with atomic_write(path, "wb") as f:
        f.write(data)
    return path


def check_fp16_round_trip(path: str | os.PathLike, reference: Mapping[str, torch.Tensor]) -> float:
    """Every tensor of ``path`` equals ``reference`` within float16 precision; returns the largest relative error."""
    from safetensors.torch import load_file

    shipped = load_file(str(path))
    if set(shipped) != set(reference):
        raise CheckpointError(f"{path}: holds other tensors than the model's")
    worst = 0.0
    for key, ref in reference.items():
        ref, got = ref.detach().cpu(), shipped[key]
        if not ref.is_floating_point():
            if not torch.equal(got, ref):
                raise CheckpointError(f"{path}: {key} differs from the trained weights")
            continue
        ref, got = ref.float(), got.float()
        if not torch.allclose(got, ref, rtol=FP16_RTOL, atol=FP16_ATOL):
            raise CheckpointError(f"{path}: {key} differs from the trained weights by more than float16 rounding")
        if ref.numel():
            worst = max(worst, float(((got - ref).abs() / ref.abs().clamp_min(1e-3)).max()))
    return worst


@dataclass
class Shipped:
    """What :func:`ship_run` wrote and measured."""

    asset: Path
    card: Path
    entry: str  # the PretrainedCfg entry for shipped.py
    measured: dict | None
    max_rel_error: float
    extra_entries: list[str] = field(default_factory=list)  # --backbone-tag: its entry (same file)
    extra_cards: list[Path] = field(default_factory=list)


def resolve_weights(run: RunSummary, weights: str) -> tuple[Path, str]:
    """(file, label) of ``best`` / ``final`` (``.safetensors``, else the trainer's ``.pt``) or a given file."""
    if weights in ("best", "final"):
        for suffix in (".safetensors", ".pt"):
            path = run.run_dir / f"{weights}{suffix}"
            if path.is_file():
                return path, weights
        raise ConfigError(f"{run.run_dir}: no {weights}.safetensors or {weights}.pt")
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(f"{path}: --weights names no file")
    return path, path.name


def default_recipe(run: RunSummary) -> str:
    """``configs/<name>.yaml`` of the repository whose name is the run's (``work_dir`` or folder name), else ""."""
    for name in (Path(run.cfg.work_dir).name, run.run_dir.name):
        path = REPO / "configs" / f"{name}.yaml"
        if name and path.is_file():
            return f"configs/{name}.yaml"
    return ""


def check_defaults(tag: str, images: int | None, seed: int | None) -> tuple[int, int | None]:
    """The accuracy check's image count and seed: the given ones; else, when ``tag`` is registered with a check (a
    tag shipped again, e.g. an interim file replaced by the final one), that check's, so the new numbers stay
    comparable with the old ones and with the tests; else 16 images and :func:`default_check`'s seed."""
    from ..models import PRETRAINED

    old = PRETRAINED[tag].check if tag in PRETRAINED else None
    if old is None:
        return (16 if images is None else images), seed
    return (old.images if images is None else images), (old.seed if seed is None else seed)


def default_check(run: RunSummary, images: int = 16, seed: int | None = None) -> AccuracyCheck | None:
    """A check drawn like the run's val split (top-down: RGB and ground-truth boxes; bottom-up: depth, the recipe's
    evaluation size; detection: whole RGB images, the recipe's ignore rule) on another seed, metrics to be measured;
    None when the val split is not synthetic."""
    from .base import get_task

    val = run.cfg.data.val
    if val.synthetic_images <= 0:
        return None
    task = get_task(run.cfg)
    if task.name not in ("topdown", "bottomup", "detection"):
        return None
    eval_size = tuple(run.cfg.eval.input_size)
    return AccuracyCheck(metrics=(), images=int(images), size=tuple(val.synthetic_size),
                         max_people=int(val.synthetic_max_people),
                         seed=int(val.synthetic_seed + 1 if seed is None else seed), split="val",
                         preset=val.synthetic_preset, modality=CHECK_MODALITY[task.name],
                         settings=tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                               for k, v in val.synthetic_settings.items())),
                         input_size=eval_size if task.name == "bottomup" and all(eval_size) else None,
                         ignore_unlabelled=task.name == "detection" and
                         bool(task.settings(run.cfg)["ignore_unlabelled"]))


def is_detector(cfg) -> bool:
    """The recipe trains the person detector (no keypoint layout; ``model.kwargs`` are task settings there)."""
    from ..models import model_task

    return model_task(cfg.model.name) == "detection"


def load_run_model(cfg, weights: str | os.PathLike):
    """The recipe's network with ``weights`` loaded strictly (eval mode)."""
    from ..models import load_model

    if is_detector(cfg):
        return load_model(cfg.model.name, weights=str(weights), input_size=tuple(cfg.model.input_size))
    return load_model(cfg.model.name, weights=str(weights), layout=cfg.model.layout,
                      input_size=tuple(cfg.model.input_size), **cfg.model.kwargs)


def entry_text(cfg: PretrainedCfg) -> str:
    """Python source of a ``PretrainedCfg`` entry for shipped.py (fields at their defaults left out)."""
    def args(obj, positional: int = 0) -> str:
        parts = []
        for i, f in enumerate(fields(obj)):
            value = getattr(obj, f.name)
            if i < positional:
                parts.append(repr(value))
            elif value != f.default:
                shown = f"AccuracyCheck({args(value)})" if isinstance(value, AccuracyCheck) else repr(value)
                parts.append(f"{f.name}={shown}")
        return ", ".join(parts)

    return f"PretrainedCfg({args(cfg, positional=4)}),"


_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")


def ship_run(run_dir: str | os.PathLike, tag: str, *, weights: str = "best", backbone: bool = False,
             recipe: str | None = None, assets_dir: str | os.PathLike = ASSETS_DIR,
             cards_dir: str | os.PathLike | None = None, asset_name: str | None = None,
             check: AccuracyCheck | None | bool = True, machine: str = "", notes: str = "",
             backbone_tag: str | None = None, backbone_notes: str = "", overwrite: bool = False,
             log=print) -> Shipped:
    """Ship ``run_dir`` as pretrained ``tag`` (see the module doc). ``check``: True = :func:`default_check`,
    False / None = none, or a check whose ``metrics`` are replaced by the measured ones. ``backbone_tag``: also a
    backbone-only tag on the same file (not with ``backbone``: that file is backbone-only already). A tag already
    registered, or whose file or card exists, is refused unless ``overwrite``: the defaults write into the package's
    assets and docs/models, so a reused tag replaced the shipped weights and their card without a word."""
    from ..models import PRETRAINED
    from .accuracy import declared_metrics, measure

    for name in (tag, backbone_tag):
        if name is not None and not _TAG.fullmatch(name):  # "../../x" wrote outside the assets and cards folders
            raise ConfigError(f"--tag {name!r}: a tag is letters, digits, '.', '_' and '-' (<model>.<data>_<h>x<w>), "
                              "with no '/' or '..'")
    targets = [Path(assets_dir) / (asset_name or f"{tag}.safetensors"), _cards_dir(cards_dir) / f"{tag}.md"]
    if backbone_tag is not None:
        targets.append(_cards_dir(cards_dir) / f"{backbone_tag}.md")
    taken = [f"'{t}' is a registered tag" for t in (tag, backbone_tag) if t in PRETRAINED] + \
        [f"{p} exists" for p in targets if p.exists()]
    if taken and not overwrite:
        raise ConfigError(f"{tag}: already shipped ({'; '.join(taken)}); pick another tag, or pass --overwrite to "
                          "replace it")

    run = RunSummary.read(run_dir)
    cfg = run.cfg
    card = _cards_dir(cards_dir) / f"{tag}.md"  # before any work: the card needs a place
    if backbone_tag is not None and (backbone or backbone_tag == tag):
        raise ConfigError(f"--backbone-tag {backbone_tag}: needs a whole-network file and a tag other than --tag")
    source, label = resolve_weights(run, weights)
    recipe = default_recipe(run) if recipe is None else recipe
    model = load_run_model(cfg, source)
    state = {k: v for k, v in model.state_dict().items() if not backbone or k.startswith("backbone.")}
    if not state:
        raise CheckpointError(f"{source}: the network has no backbone.* tensors")
    val = run.shipped_val(label)
    metadata = {**model.info.to_metadata(), "kdpose_version": _version(), "tag": tag, "recipe": recipe,
                "loads": "backbone" if backbone else "model", "run_weights": label,
                "val_metrics": _json({k: v for k, v in (val or {}).items() if k != "kind"})}
    asset = write_fp16(state, Path(assets_dir) / (asset_name or f"{tag}.safetensors"), metadata)
    worst = check_fp16_round_trip(asset, state)
    log(f"wrote {asset} ({asset.stat().st_size / 1e6:.1f} MB; float16 round trip within {worst:.1e} relative)")
    if check is True:
        check = None if backbone else default_check(run)
    measured = None
    if check:
        measured = measure(load_run_model(cfg, asset), check)
        check = replace(check, metrics=declared_metrics(measured, check.modality))
        log(f"accuracy check: {check.describe()}")
    w, h = cfg.model.input_size
    layout = "" if is_detector(cfg) else cfg.model.layout  # "": no keypoints
    synthetic = cfg.data.train.synthetic_images > 0 or cfg.data.train.synthetic_fresh
    entry = PretrainedCfg(tag, cfg.model.name, layout, (w, h), url="",
                          source="kdpose (shipped, synthetic data)" if synthetic else "kdpose (shipped)", notes=notes,
                          loads="backbone" if backbone else "model", asset=asset.name, recipe=recipe,
                          check=check or None, synthetic=synthetic)
    facts = CardFacts(tag=tag, asset=_shown(asset), size_mb=asset.stat().st_size / 1e6, sha256=_sha256(asset),
                      loads=entry.loads, recipe=recipe, weights=label, check=entry.check, measured=measured,
                      machine=machine, notes=notes,
                      commands=_commands(run, entry, label, backbone, backbone_tag),
                      recipe_diffs=_recipe_diffs(run, recipe))
    _write_card(card, render_card(run, facts))
    log(f"wrote {card}")
    shipped = Shipped(asset, card, entry_text(entry), measured, worst)
    if backbone_tag is not None:
        if not any(k.startswith("backbone.") for k in state):
            raise CheckpointError(f"{source}: the network has no backbone.* tensors for --backbone-tag")
        backbone_notes = backbone_notes or f"the backbone.* tensors of {tag} (the same file)"
        part = replace(entry, tag=backbone_tag, loads="backbone", check=None, notes=backbone_notes)
        part_card = card.with_name(f"{backbone_tag}.md")
        part_facts = replace(facts, tag=backbone_tag, loads="backbone", check=None, measured=None,
                             notes=backbone_notes, commands=_commands(run, entry, label, backbone, backbone_tag))
        _write_card(part_card, render_card(run, part_facts))
        log(f"wrote {part_card}")
        shipped.extra_entries.append(entry_text(part))
        shipped.extra_cards.append(part_card)
    return shipped


def _write_card(path: Path, text: str) -> None:
    from ..utils.io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(text)


def _commands(run: RunSummary, entry: PretrainedCfg, label: str, backbone: bool,
              backbone_tag: str | None = None) -> list[tuple[str, str]]:
    recipe = entry.recipe or f"{run.run_dir}/config.yaml"
    cmds = [(f"kdpose train {recipe} --work-dir {run.run_dir} --auto-resume",
             "the run: weights, log.jsonl (the val rows above), val_results.json")]
    ship = f"python -m kdpose.tasks.ship {run.run_dir} --tag {entry.tag} --weights {label}"
    ship += " --backbone" if backbone else ""
    ship += f" --backbone-tag {backbone_tag}" if backbone_tag else ""
    ship += f" --recipe {entry.recipe}" if entry.recipe else ""
    ship += f" --check-images {entry.check.images} --check-seed {entry.check.seed}" if entry.check is not None else ""
    ship += " --overwrite"  # the tag is shipped: making it again replaces its file and this card
    cmds.append((ship, "this file again (replaces it), its check and this card"))
    if entry.check is not None:
        cmds.append((f"python -m kdpose.tasks.accuracy {entry.tag}", "the accuracy check's numbers"))
        cmds.append((f"pytest tests/models/test_shipped_accuracy.py -k '{entry.tag}'", "asserts them"))
        if entry.check.modality in ("rgb", "detection") and entry.recipe.endswith(".yaml"):
            cmds.append((f"python -m kdpose.tasks.accuracy {entry.tag} --recipe {entry.recipe}",
                         "the shipped float16 file on the recipe's val split"))
    return cmds


def _recipe_diffs(run: RunSummary, recipe: str) -> list[str]:
    """The settings the run changed from its recipe file (a path, or relative to the repository)."""
    if not recipe.endswith((".yaml", ".yml")):
        return []
    path = next((p for p in (Path(recipe), REPO / recipe) if p.is_file()), None)
    return run.recipe_differences(path) if path is not None else []


def _cards_dir(cards_dir: str | os.PathLike | None) -> Path:
    if cards_dir is not None:
        return Path(cards_dir)
    if not (REPO / "pyproject.toml").is_file():
        raise ConfigError("kdpose is not running from its repository: give --cards-dir for the model card")
    return REPO / "docs" / "models"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json(value) -> str:
    import json

    return json.dumps(value)


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdpose.tasks.ship", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="run folder of kdpose train (config.yaml, log.jsonl, weights)")
    parser.add_argument("--tag", required=True, help="pretrained tag, <model>.<data>_<h>x<w> (see shipped.py)")
    parser.add_argument("--weights", default="best", help="best (default), final, or a weights file")
    parser.add_argument("--backbone", action="store_true", help="ship only the backbone.* tensors (no check)")
    parser.add_argument("--backbone-tag", default=None, help="also register the file's backbone.* tensors as this "
                        "tag (same file, loads backbone)")
    parser.add_argument("--recipe", default=None, help="configs/<recipe>.yaml that trained it (default: the one "
                        "named like the run)")
    parser.add_argument("--assets-dir", default=str(ASSETS_DIR), help="where the file goes (default: %(default)s)")
    parser.add_argument("--cards-dir", default=None, help="where the card goes (default: <repo>/docs/models)")
    parser.add_argument("--asset-name", default=None, help="file name (default: <TAG>.safetensors)")
    parser.add_argument("--check-images", type=int, default=None, help="images of the accuracy check (default: "
                        "the registered tag's check when it is shipped again, else 16)")
    parser.add_argument("--check-seed", type=int, default=None, help="its seed (default: the registered tag's check, "
                        "else the val seed + 1)")
    parser.add_argument("--no-check", action="store_true", help="measure no accuracy check")
    parser.add_argument("--machine", default="", help="the machine that trained it, for the card")
    parser.add_argument("--notes", default="", help="one line for the entry and the card")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace a tag that is already shipped (its file "
                                                                  "and card)")
    args = parser.parse_args(argv)
    if args.threads < 1:  # torch's own RuntimeError was a traceback
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    run = RunSummary.read(args.run_dir)
    images, seed = check_defaults(args.tag, args.check_images, args.check_seed)
    check = False if args.no_check or args.backbone else default_check(run, images, seed)
    shipped = ship_run(args.run_dir, args.tag, weights=args.weights, backbone=args.backbone, recipe=args.recipe,
                       assets_dir=args.assets_dir, cards_dir=args.cards_dir, asset_name=args.asset_name,
                       check=check, machine=args.machine, notes=args.notes, backbone_tag=args.backbone_tag,
                       overwrite=args.overwrite)
    entries = [shipped.entry, *shipped.extra_entries]
    print(f"\nAdd {'this entry' if len(entries) == 1 else 'these entries'} to register_pretrained(...) in "
          "src/kdpose/models/shipped.py (and link the card from src/kdpose/assets/README.md):\n")
    for text in entries:
        print("    " + text)
    return 0


if __name__ == "__main__":
    from ..utils.entry import guarded

    raise SystemExit(guarded(main))

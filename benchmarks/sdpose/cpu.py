"""CPU-scale SDPose tables (``benchmarks/sdpose/run.py --scale cpu``): deployed-network evaluation, PCK, paired
per-seed counts and the table text.

The CPU scale cycles RTMPose-t's own transformer layer (the RTMCC head's GAU over the K keypoint tokens). A row is a
training configuration (``run.Run``) plus the number of GAU cycles the *deployed* network runs:

* 1 (Tables 5 and 7, SDPose's deployment): the plain RTMPose-t network. Its AP is the trainer's last validation
  (``log.jsonl``, EMA weights = ``final.safetensors``); PCK@0.2 is computed here and cached in ``pck.json``.
* N > 1 (Table 6, the MCT deployed as trained, predicting from the last cycle): ``final.safetensors`` is loaded into
  RTMPose-t, ``head.set_cycles(N)`` is set and AP (the recipe's COCO evaluator, ground-truth boxes) and PCK@0.2 are
  computed here, cached in ``deploy_c<N>.json``. The trainer's own validation always runs one cycle (the deployed
  SDPose network), so its logged AP is *not* Table 6's number for these rows.

PCK@0.2 (``kdpose.inference.pck.pck_on_annotations``: ground-truth boxes, 0.2 x the longer box side) is the readable metric
here: AP is ~0.1-2 % at this budget. Each row also says on how many seeds it beats the table's reference row
(paired by seed: same initialisation seed and data order).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

if __name__ == "__main__":  # run.py loads this file; run alone, it would fail on its imports: say what to run
    from kdpose.utils.entry import not_a_command

    not_a_command("benchmarks/sdpose/cpu.py", "benchmarks/sdpose/run.py",
                  "python benchmarks/sdpose/run.py --scale cpu --tables 7 6 5")

from _miniature import REPO, mean_std, read_metrics  # noqa: E402  (benchmarks/ is on sys.path: run.py puts it there)


@dataclass(frozen=True)
class CpuRow:
    """One table row: a training configuration (``run.Run``; None = not applicable at this scale) and the GAU
    cycles of the deployed network."""

    label: str
    run: Any | None
    deploy_cycles: int = 1
    note: str = ""  # why a row is n/a, or which other table's run it shares


# ------------------------------------------------------------------------------------------------ evaluation


def _val_annotation(work: Path) -> str | None:
    """The val annotation file of the run's own recipe: exactly its synthetic split, since a shared cache (the
    `standard` scale reuses .kdpose_cache/synth) holds other recipes' val splits too. None before it is rendered."""
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.synthetic import synthetic_split_paths

    cfg = load_recipe(work / "config.yaml")
    ann = synthetic_split_paths(cfg.data, cfg.data.val, "val")[0]
    ann = ann if ann.is_absolute() else REPO / ann  # a relative cache is the trainer's, which runs in the repo
    return str(ann) if ann.is_file() else None


def _load_deployed(work: Path, cycles: int):
    """(RTMPose-t with ``work``'s final weights running ``cycles`` GAU cycles, the run's typed recipe)."""
    from kdpose.engine.config import load_recipe
    from kdpose.models import load_model

    cfg = load_recipe(work / "config.yaml")
    model = load_model(cfg.model.name, weights=str(work / "final.safetensors"), layout=cfg.model.layout,
                       input_size=tuple(cfg.model.input_size), **cfg.model.kwargs)
    model.head.set_cycles(cycles)
    return model, cfg


def _pck(model, work: Path) -> float | None:
    import yaml

    from kdpose.inference.pck import pck_on_annotations as pck_on_val
    from kdpose.inference import PoseEstimator

    config = yaml.safe_load((work / "config.yaml").read_text())
    ann = _val_annotation(work)
    if ann is None:
        return None
    return pck_on_val(PoseEstimator(model, device="cpu"), ann, config["model"]["layout"])


def deployed_metrics(work: Path, cycles: int) -> dict[str, float | None]:
    """``{"ap", "pck"}`` of ``work``'s final weights deployed with ``cycles`` GAU cycles (None: run not finished).

    One cycle: AP from the run's log, PCK cached in ``pck.json``; more cycles: both cached in ``deploy_c<N>.json``."""
    weights = work / "final.safetensors"
    done = weights.is_file() and weights.stat().st_size > 0 and (work / "config.yaml").is_file()
    if cycles == 1:
        ap = read_metrics(work)["final_ap"]
        cached = work / "pck.json"
        if cached.is_file():
            return {"ap": ap, "pck": json.loads(cached.read_text())["pck"]}
        if not done:
            return {"ap": ap, "pck": None}
        import torch

        torch.set_num_threads(1)
        pck = _pck(_load_deployed(work, 1)[0], work)
        if pck is not None:
            cached.write_text(json.dumps({"pck": pck}))
        return {"ap": ap, "pck": pck}
    cached = work / f"deploy_c{cycles}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    if not done:
        return {"ap": None, "pck": None}
    import torch

    from kdpose.tasks.topdown import build_datasets, build_evaluator

    torch.set_num_threads(1)
    model, cfg = _load_deployed(work, cycles)
    _, val_set, val_ann = build_datasets(cfg, model)
    out_dir = work / f"deploy_c{cycles}"  # its val_results.json, apart from the trainer's
    out_dir.mkdir(exist_ok=True)
    with torch.no_grad():
        ap = float(build_evaluator(cfg, model, val_set, val_ann, out_dir)(model, torch.device("cpu"))["AP"])
    result = {"ap": ap, "pck": _pck(model, work)}
    cached.write_text(json.dumps(result))
    return result


_COSTS: dict[tuple, dict] = {}


def deployed_cost(model_name: str, input_size: tuple[int, int], cycles: int, **model_kwargs) -> dict:
    """Params (M), GMACs and CPU ms (batch 1, one thread) of ``model_name`` deployed with ``cycles`` GAU
    cycles (the flop counter sees every cycle's GAU pass; the parameters are the same at any cycle count)."""
    key = (model_name, tuple(input_size), cycles, tuple(sorted(model_kwargs.items())))
    if key not in _COSTS:
        from kdpose.export.bench import bench_torch
        from kdpose.export.flops import count_flops
        from kdpose.models import create_model

        model = create_model(model_name, input_size=tuple(input_size), **model_kwargs).eval()
        model.head.set_cycles(cycles)
        compute = count_flops(model)
        # the machine is shared: the fastest of 3 medians is the least disturbed by other jobs
        latency = min(bench_torch(model, batch=1, threads=1, warmup=3, iters=30).median_ms for _ in range(3))
        _COSTS[key] = {"params_m": compute.params / 1e6, "gflops": compute.gmacs, "cpu_ms": latency}
    return _COSTS[key]


# ------------------------------------------------------------------------------------------------ rows


def paired_wins(row: Sequence[dict], ref: Sequence[dict], metric: str) -> tuple[int, int]:
    """(seeds where ``row`` is above ``ref`` on ``metric``, seeds both have): per-seed records ``{"seed", metric}``."""
    ref_by_seed = {r["seed"]: r.get(metric) for r in ref}
    pairs = [(r[metric], ref_by_seed[r["seed"]]) for r in row
             if r.get(metric) is not None and ref_by_seed.get(r["seed"]) is not None]
    return sum(a > b for a, b in pairs), len(pairs)


def summarise(label: str, row: CpuRow, per_seed: list[dict], cost: dict | None, ref: list[dict] | None) -> dict:
    """A row's report entry: AP and PCK mean +- std over the finished seeds, paired counts against ``ref``."""
    entry = {"row": label, "run": None if row.run is None else row.run.key, "deploy_cycles": row.deploy_cycles,
             "note": row.note, "seeds": per_seed, **(cost or {})}
    for metric in ("ap", "pck"):
        entry[f"{metric}_mean"], entry[f"{metric}_std"] = mean_std(
            [s[metric] for s in per_seed if s.get(metric) is not None])
        entry[f"{metric}_wins"] = None if ref is None or ref is per_seed else paired_wins(per_seed, ref, metric)
    return entry


def _pct(mean: float | None, std: float | None, digits: int) -> str:
    return "n/a" if mean is None else f"{100 * mean:.{digits}f} +- {100 * std:.{digits}f}"


def _wins(value: tuple[int, int] | None) -> str:
    return "ref" if value is None else f"{value[0]}/{value[1]}"


def format_table(title: str, entries: list[dict], ref_label: str, note: str) -> str:
    """Markdown: AP and PCK@0.2 in % (mean +- std), paired per-seed counts against ``ref_label``, deployed cost."""
    lines = [f"**{title}**", "",
             f"| row | deployed cycles | AP (%) | PCK@0.2 (%) | AP / PCK above `{ref_label}` (seeds) "
             "| params (M) | GMACs | CPU ms |", "|---|---|---|---|---|---|---|---|"]
    for e in entries:
        if e["run"] is None:
            lines.append(f"| {e['row']} | n/a: {e['note']} | | | | | | |")
            continue
        wins = "ref" if e["ap_wins"] is None else f"{_wins(e['ap_wins'])} / {_wins(e['pck_wins'])}"
        label = e["row"] + (f" ({e['note']})" if e["note"] else "")
        lines.append(f"| {label} | {e['deploy_cycles']} | {_pct(e['ap_mean'], e['ap_std'], 2)} "
                     f"| {_pct(e['pck_mean'], e['pck_std'], 1)} | {wins} | {e['params_m']:.3f} | {e['gflops']:.3f} "
                     f"| {e['cpu_ms']:.1f} |")
    return "\n".join(lines + ["", note])


def build_entries(rows: list[CpuRow], root: Path, seeds: Sequence[int], input_size: tuple[int, int],
                  metrics=deployed_metrics, cost=deployed_cost) -> list[dict]:
    """Every row's report entry (the first applicable row is the reference of the paired counts); ``metrics`` and
    ``cost`` are injectable for tests."""
    entries, ref = [], None
    for row in rows:
        if row.run is None:
            entries.append(summarise(row.label, row, [], None, None))
            continue
        per_seed = [{"seed": s, **metrics(root / row.run.key / f"seed{s}", row.deploy_cycles)} for s in seeds]
        ref = per_seed if ref is None else ref
        cost_of = cost(row.run.model, input_size, row.deploy_cycles, **row.run.model_kwargs)
        entries.append(summarise(row.label, row, per_seed, cost_of, ref))
    return entries

"""DWPose (Yang et al. 2023) Tables 4, 5, 6 and 7 in miniature on kdpose's synthetic whole-body benchmark.

One command per table; each trains the runs its rows need (skipping finished ones, resuming interrupted ones) and
writes the table, with per-part AP mean +- std over the seeds, into BENCHMARKS.md between its markers:

    python benchmarks/dwpose/run.py table4     # stage 1 / stage 2 / both vs the student baseline
    python benchmarks/dwpose/run.py table5     # stage 2 alone on trained models (student t and teacher m)
    python benchmarks/dwpose/run.py table6     # GT / feature / logit / decay ablation of stage 1
    python benchmarks/dwpose/run.py table7     # logit KD with and without the visibility mask
    python benchmarks/dwpose/run.py teacher-mode   # frozen teacher in eval mode (default) vs train mode (code)
    python benchmarks/dwpose/run.py all --jobs 2   # everything, two runs at a time (one thread each)
    python benchmarks/dwpose/run.py table6 --quick --seeds 0   # pipeline smoke test: numbers are meaningless
    python benchmarks/dwpose/run.py table6 --dry-run           # print the training commands only

Setting (recorded in the tables): teacher RTMPose-m trained once (configs/dwpose_synth_teacher_m.yaml, seed 0),
student RTMPose-t (configs/dwpose_synth_s1_m-t.yaml, 15 epochs; stage 2 configs/dwpose_synth_s2_t.yaml, 3 epochs =
20%), 133 keypoints, input 96x128, synthetic whole-body data (2000 train / 200 val images of 320x240 with 1-2
people, generator seeds 10 / 11), GT boxes, no flip test; seeds 0 1 2 vary the student's initialisation and data
order. The paper's UBody mixture is not used in miniature (one synthetic source).
Work dirs go to ``--work-root`` (default work_dirs/dwpose_bench, git-ignored); results.json beside this file.

``--scale cpu`` is what fits a 2-core CPU session (about 2 minutes of one core per student run): the demo's shipped
RTMPose-s teacher (src/kdpose/assets, evaluated, not trained) -> RTMPose-t students started from the demo's shipped
CSPNeXt-t backbone, body-17 (COCO layout: body AP only), input 64x96, the demo's synthetic data (800 train / 100 val
images), stage 1 12 epochs of 25 iterations, stage 2 3 epochs (configs/dwpose_cpu_s1_s-t.yaml,
configs/dwpose_cpu_s2_t.yaml). Its tables also give PCK@0.2 (ground-truth boxes), readable where AP is near 0:

    python benchmarks/dwpose/run.py all --scale cpu --jobs 2

``--scale standard`` runs the cpu scale's rows on the `standard` preset against the strong RTMPose-m teacher (tag
rtmpose-m.synth-standard_128x96, or ``--teacher-weights FILE``), RTMPose-t students at 96x128 for ``--iters``
iterations each, with paired per-seed counts: see benchmarks/dwpose/standard.py (recipes, budget, folders).

    python benchmarks/dwpose/run.py table4 table5 table6 table7 --scale standard
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared driver pieces

from _miniature import CONFIGS, REPO, ap_cell, load_sibling, mean_std, train_command, work_folders  # noqa: E402
from _miniature import write_section as write_marked_section  # noqa: E402

from kdpose.utils.entry import guarded, require_at_least  # noqa: E402

BENCHMARKS_MD = REPO / "BENCHMARKS.md"
PARTS = ("body", "foot", "face", "hand", "wholebody")
TEACHER_RECIPE = "dwpose_synth_teacher_m.yaml"
S1_RECIPE = "dwpose_synth_s1_m-t.yaml"
S2_RECIPE = "dwpose_synth_s2_t.yaml"


@dataclass(frozen=True)
class Scale:
    """Recipes and teacher of one benchmark scale; the rows and tables are the same at every scale."""

    name: str
    teacher_recipe: str
    s1_recipe: str
    s2_recipe: str
    teacher_model: str
    parts: tuple[str, ...]
    teacher_asset: str | None = None  # trained teacher weights (repository path or absolute): evaluated, not trained
    pck: bool = False  # also PCK@0.2 of every run's final weights (ground-truth boxes)
    student_sets: tuple[str, ...] = ()  # overrides of every student recipe (s1 and s2) at this scale
    # the rest is set by the `standard` scale (standard.py), whose teacher and budget come from the command line
    recipe_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # recipe -> its runs' overrides (budget)
    run_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # run -> overrides after the row's own
    quick_sets: tuple[str, ...] | None = None  # replaces QUICK
    data_cache: Path | None = None  # synthetic cache of the full runs, shared with the teacher (default: work root's)
    folder: str = ""  # under <work-root>/<scale>/<full|quick>: keeps runs of different teachers apart
    runs_folder: str = ""  # where the runs not in ``folders`` go (under ``folder``): keeps budgets apart
    folders: dict[str, str] = field(default_factory=dict)  # run -> its own folder (under ``folder``)
    paired: bool = False  # tables give per-seed counts against their reference rows and the training minutes
    note: str = ""  # the tables' words on the teacher and the budget (default: shipped weights or one run)
    flags: str = ""  # options repeated in each table's command line


SCALES = {
    "gpu": Scale("gpu", TEACHER_RECIPE, S1_RECIPE, S2_RECIPE, "rtmpose-m", PARTS),
    "cpu": Scale("cpu", "dwpose_cpu_s1_s-t.yaml", "dwpose_cpu_s1_s-t.yaml", "dwpose_cpu_s2_t.yaml", "rtmpose-s",
                 ("body",), teacher_asset="src/kdpose/assets/demo_teacher_rtmpose-s_coco.safetensors", pck=True),
    # the same students with 133 keypoints (the backbone still starts from the shipped body-17 pre-training)
    "cpu-wholebody": Scale("cpu-wholebody", "dwpose_cpu_wb_teacher_s.yaml", "dwpose_cpu_s1_s-t.yaml",
                           "dwpose_cpu_s2_t.yaml", "rtmpose-s", PARTS, pck=True,
                           student_sets=("model.layout=coco_wholebody", "data.layout=coco_wholebody",
                                         "eval.metric=wholebody.AP")),
}

# shrinks data and schedule so that the whole chain runs in minutes (smoke test of the pipeline only)
QUICK = ["train.max_epochs=1", "eval.interval=1", "data.train.synthetic_images=24", "data.val.synthetic_images=8",
         "data.batch_size=8", "data.val_batch_size=16",
         "data.workers=0", "data.persistent_workers=false", "train.epoch_iters=3", "schedule.warmup_iters=2",
         "train.log_interval=1"]


def params(**switches) -> str:
    """``distill.params`` override with the stage-1 defaults of the recipe and ``switches`` applied."""
    values = {"alpha": 7.0e-5, "beta": 0.1, "use_gt": True, "use_feature": True, "use_logit": True, "decay": True,
              "logit_mask": False, "formulation": "code", "teacher_mode": "eval"} | switches
    def fmt(v) -> str:  # YAML 1.1 needs the dot in 7.0e-05
        return str(v).lower() if isinstance(v, bool) else f"{v:.3e}" if isinstance(v, float) else str(v)

    text = ", ".join(f"{k}: {fmt(v)}" for k, v in values.items())
    return f"distill.params={{{text}}}"


@dataclass(frozen=True)
class Run:
    """One training run per seed: a recipe, overrides, and which earlier run provides its teacher weights."""

    name: str
    recipe: str
    overrides: tuple[str, ...] = ()
    teacher_run: str | None = None  # run whose final.safetensors is distill.teacher_weights
    seeded: bool = True  # False: trained once (seed 0) and shared by all seeds
    cli: str = "distill"


RUNS: dict[str, Run] = {r.name: r for r in [
    Run("teacher", TEACHER_RECIPE, ("train.seed=0",), seeded=False, cli="train"),
    Run("baseline", S1_RECIPE, ("distill.method=",), cli="train"),
    Run("gt+fea", S1_RECIPE, (params(use_logit=False, decay=False),), "teacher"),
    Run("logit", S1_RECIPE, (params(use_gt=False, use_feature=False, decay=False),), "teacher"),
    Run("logit+mask", S1_RECIPE, (params(use_gt=False, use_feature=False, decay=False, logit_mask=True),),
        "teacher"),
    Run("fea+logit", S1_RECIPE, (params(use_gt=False, decay=False),), "teacher"),
    Run("gt+fea+logit", S1_RECIPE, (params(decay=False),), "teacher"),
    Run("s1", S1_RECIPE, (params(),), "teacher"),
    Run("s1-teacher-train", S1_RECIPE, (params(teacher_mode="train"),), "teacher"),
    Run("s1+s2", S2_RECIPE, (), "s1"),
    Run("baseline+s2", S2_RECIPE, (), "baseline"),
    Run("teacher+s2", S2_RECIPE, ("model.name={teacher}", "distill.teacher={teacher}"), "teacher"),
]}


@dataclass
class Table:
    """A paper table: rows of (label, run name, paper's whole-body AP or None)."""

    key: str
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    paper: str = ""
    reference: str = "baseline"  # the run the other rows are paired with, seed by seed (scales with ``paired``)
    paired_with: dict[str, str] = field(default_factory=dict)  # rows paired with another run than ``reference``


TABLES: dict[str, Table] = {t.key: t for t in [
    Table("table4", "Table 4: the two distillation stages (teacher {Teacher} -> student RTMPose-t)",
          [("teacher {Teacher}", "teacher"), ("student RTMPose-t", "baseline"), ("+ first stage", "s1"),
           ("+ second stage", "baseline+s2"), ("+ first + second stage", "s1+s2")],
          "paper (x -> l, COCO + UBody): whole-body 62.1 / 62.9 / 62.2 / 63.1, student above the 63.0 teacher"),
    Table("table5", "Table 5: second stage (S2) alone on trained models",
          [("RTMPose-t", "baseline"), ("RTMPose-t + S2", "baseline+s2"), ("{Teacher}", "teacher"),
           ("{Teacher} + S2", "teacher+s2")],
          "paper: +0.1 to +0.4 whole-body AP for m / l / x, mostly from foot and hand",
          paired_with={"teacher+s2": "teacher"}),
    Table("table6", "Table 6: components of the first stage (GT / Fea / Logit / Decay)",
          [("GT", "baseline"), ("GT + Fea", "gt+fea"), ("Logit", "logit"), ("Fea + Logit", "fea+logit"),
           ("GT + Fea + Logit", "gt+fea+logit"), ("GT + Fea + Logit + Decay", "s1")],
          "paper (l -> m, COCO): 60.4 / 61.8 / 60.9 / 61.4 / 62.0 / 62.3"),
    Table("table7", "Table 7: visibility mask in logit distillation (logit only, no GT)",
          [("Logit, no mask (DWPose)", "logit"), ("Logit + mask", "logit+mask")],
          "paper: 60.9 without the mask, 59.8 with it", reference="logit"),
    Table("teacher-mode", "Frozen teacher's BatchNorm mode in stage 1 (not in the paper)",
          [("teacher in eval mode (kdpose default)", "s1"), ("teacher in train mode (released code)",
                                                              "s1-teacher-train")],
          "the released distiller never calls teacher.eval(): batch statistics", reference="s1"),
]}


def run_dir(root: Path, run: Run, seed: int, scale: Scale = SCALES["gpu"]) -> Path:
    folder = scale.folders.get(run.name) or str(Path(scale.runs_folder) / run.name)
    return root / folder / (f"seed{seed}" if run.seeded else "seed0")


def teacher_name(scale: Scale) -> str:
    """``rtmpose-m`` -> ``RTMPose-m`` (table labels)."""
    return "RTMPose-" + scale.teacher_model.split("-", 1)[1]


def command(run: Run, seed: int, root: Path, cache: Path, device: str, quick: bool, threads: int,
            scale: Scale = SCALES["gpu"]) -> list[str] | None:
    """The CLI command of one run at ``scale``, or None when it already finished (or is a shipped teacher)."""
    if run.name == "teacher" and scale.teacher_asset:
        return None
    recipe = {TEACHER_RECIPE: scale.teacher_recipe, S1_RECIPE: scale.s1_recipe, S2_RECIPE: scale.s2_recipe}[run.recipe]
    sets = [f"train.device={device}", f"data.cache_dir={cache}", f"train.threads={threads}"]
    sets += list(scale.student_sets) if recipe != scale.teacher_recipe else []
    sets += list(scale.recipe_sets.get(recipe, ())) + (quick_sets(scale) if quick else [])
    sets += [o.replace("{teacher}", scale.teacher_model) for o in run.overrides]
    sets += list(scale.run_sets.get(run.name, ()))
    if run.seeded:
        sets.append(f"train.seed={seed}")
    if run.teacher_run:
        teacher = run_dir(root, RUNS[run.teacher_run], seed, scale) / "final.safetensors"
        sets.append(f"distill.teacher_weights={teacher}")
    return train_command(recipe, run_dir(root, run, seed, scale), sets, cli=run.cli)


def quick_sets(scale: Scale) -> list[str]:
    return list(QUICK if scale.quick_sets is None else scale.quick_sets)


def data_sets(scale: Scale, cache: Path, quick: bool) -> list[str]:
    """The overrides that make the stage-1 recipe's data the students' (for the teacher's evaluation and PCK)."""
    return [f"data.cache_dir={cache}", *scale.student_sets] + (quick_sets(scale) if quick else [])


def val_annotations(scale: Scale, cache: Path, quick: bool) -> Path:
    """The val annotation file of the students' data (rendered or not yet)."""
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.synthetic import synthetic_split_paths

    cfg = load_recipe(CONFIGS / scale.s1_recipe, data_sets(scale, cache, quick))
    return synthetic_split_paths(cfg.data, cfg.data.val, "val")[0]


def prepare_shipped_teacher(scale: Scale, root: Path, cache: Path, quick: bool = False) -> None:
    """A shipped teacher becomes a finished run: its weights copied to ``final.safetensors`` and its val AP
    (the stage-1 recipe's data, ground-truth boxes) written to ``log.jsonl`` as a training run would."""
    import shutil

    work = run_dir(root, RUNS["teacher"], 0, scale)
    if (work / "log.jsonl").is_file() and (work / "final.safetensors").is_file():
        return
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.topdown import evaluate_weights

    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / scale.teacher_asset, work / "final.safetensors")
    cfg = load_recipe(CONFIGS / scale.s1_recipe, data_sets(scale, cache, quick) + [
        f"model.name={scale.teacher_model}", "model.init_weights=", "distill.method="])
    metrics = evaluate_weights(cfg, work / "final.safetensors", work / "eval")
    (work / "log.jsonl").write_text(json.dumps({"kind": "val", "iter": 0, **metrics}) + "\n")


def needed_runs(tables: list[str]) -> list[Run]:
    """The runs of ``tables`` plus the runs they take teachers from, in dependency order."""
    return [RUNS[n] for n in with_teacher_runs([name for key in tables for _, name in TABLES[key].rows])]


def with_teacher_runs(names: list[str]) -> list[str]:
    """``names`` plus the runs they take teachers from, each teacher before its student (also ``--only``)."""
    ordered: list[str] = []

    def add(name: str) -> None:
        if RUNS[name].teacher_run:
            add(RUNS[name].teacher_run)
        if name not in ordered:
            ordered.append(name)

    for name in names:
        add(name)
    return ordered


def depth(run: Run) -> int:
    return 0 if run.teacher_run is None else 1 + depth(RUNS[run.teacher_run])


def train_all(runs: list[Run], seeds: list[int], args, root: Path, cache: Path, scale: Scale) -> None:
    """Train every missing run, ``--jobs`` at a time (one torch thread each when parallel), seed-major: every row gets
    its first seed before any row gets its second, so an interrupted session still leaves every row with a number. A
    run starts once its teacher run has finished (and is skipped when that run failed)."""
    import threading
    import time

    threads = 1 if args.jobs > 1 else args.threads
    jobs = []  # (order key, work dir, teacher work dir or None, command)
    for index, run in enumerate(runs):
        for rank, seed in enumerate(seeds if run.seeded else [0]):
            cmd = command(run, seed, root, cache, args.device, args.quick, threads, scale)
            if cmd is not None:
                teacher = run_dir(root, RUNS[run.teacher_run], seed, scale) if run.teacher_run else None
                jobs.append(((rank + depth(run), index), run_dir(root, run, seed, scale), teacher, cmd))
    jobs.sort(key=lambda job: job[0])
    for job in jobs:
        print("+", " ".join(job[3]), flush=True)
    if args.dry_run or not jobs:
        return
    failed: set[Path] = set()
    lock = threading.Lock()

    def work(job) -> None:
        _, work_dir, teacher, cmd = job
        while teacher is not None and not (teacher / "final.safetensors").is_file():
            with lock:
                if teacher in failed:
                    print(f"skipped {work_dir}: its teacher run {teacher} failed", flush=True)
                    failed.add(work_dir)
                    return
            time.sleep(5)
        while _in_use(work_dir):  # an earlier driver's run still going on: wait for it instead of a second copy
            time.sleep(10)
        if (work_dir / "final.safetensors").is_file():
            return
        try:
            _run(cmd)
        except subprocess.CalledProcessError as err:
            print(f"FAILED ({err.returncode}): {work_dir}", flush=True)
            with lock:
                failed.add(work_dir)

    if scale.teacher_asset:
        prepare_shipped_teacher(scale, root, cache, args.quick)  # (its evaluation renders the synthetic data)
    else:
        work(jobs[0])  # the first run renders the synthetic data: never two renderers at once
        jobs = jobs[1:]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(work, jobs))


def _in_use(work_dir: Path) -> bool:
    """Whether another process (an interrupted driver's training run) is training into ``work_dir`` (Linux)."""
    needle = f"--work-dir\0{work_dir}\0".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def _run(cmd: list[str]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    subprocess.run(cmd, check=True, cwd=REPO, env=env)


# ---------------------------------------------------------------------------------------------- results


def read_metrics(work: Path) -> dict[str, float] | None:
    """Per-part AP of the last validation in ``log.jsonl`` (nested ``{"body": {"AP": ..}}`` or flat keys; a flat
    ``AP`` of a body-17 run is the body AP)."""
    log = work / "log.jsonl"
    if not log.is_file():
        return None
    last = None
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "val":
            last = rec
    if last is None:
        return None
    out = {}
    for part in PARTS:
        value = last.get(part, {}).get("AP") if isinstance(last.get(part), dict) else last.get(f"{part}.AP")
        if value is not None:
            out[part] = float(value)
    if "body" not in out and "AP" in last:
        out["body"] = float(last["AP"])
    out["minutes"] = float(last.get("elapsed_min", 0.0))
    return out


def run_pck(work: Path, scale: Scale, model: str, ann: Path | None) -> float | None:
    """PCK@0.2 of ``work``'s final weights on the val annotations ``ann`` (ground-truth boxes), cached in
    ``pck.json``."""
    cached, weights = work / "pck.json", work / "final.safetensors"
    if cached.is_file():
        return json.loads(cached.read_text())["pck"]
    if not weights.is_file() or weights.stat().st_size == 0 or ann is None or not ann.is_file():
        return None
    import yaml

    from kdpose.inference.pck import pck_on_annotations as pck_on_val
    from kdpose.inference import PoseEstimator

    recipe = yaml.safe_load((CONFIGS / scale.s1_recipe).read_text())
    # the run's own resolved recipe (a shipped teacher has none: the stage-1 recipe's model settings)
    config = yaml.safe_load((work / "config.yaml").read_text()) if (work / "config.yaml").is_file() else recipe
    layout = config["model"]["layout"]
    estimator = PoseEstimator(model, weights=str(weights), layout=layout,
                              input_size=tuple(config["model"]["input_size"]), device="cpu")
    value = pck_on_val(estimator, ann, layout)
    cached.write_text(json.dumps({"pck": value}))
    return value


def summarise(run: Run, seeds: list[int], root: Path, scale: Scale = SCALES["gpu"], ann: Path | None = None) -> dict:
    """Per-seed metrics of ``run`` (and PCK on the val annotations ``ann`` at scales with ``pck``), mean +- std."""
    dirs = {s: run_dir(root, run, s, scale) for s in (seeds if run.seeded else [0])}
    per_seed = {s: read_metrics(d) for s, d in dirs.items()}
    if scale.pck:
        model = scale.teacher_model if run.name.startswith("teacher") else "rtmpose-t"
        for s, d in dirs.items():
            if per_seed[s] is not None:
                pck = run_pck(d, scale, model, ann)
                if pck is not None:
                    per_seed[s]["pck"] = pck
    done = [m for m in per_seed.values() if m]
    stats = {}
    for part in (*PARTS, "pck"):
        values = [m[part] for m in done if part in m]
        if values:
            stats[part] = mean_std(values)
    return {"run": run.name, "seeds": {str(k): v for k, v in per_seed.items()}, "n": len(done), "stats": stats,
            "wall_minutes": sum(m.get("minutes", 0.0) for m in done)}


def _cell(stats: tuple[float, float] | None, digits: int = 1) -> str:
    """``mean +- std`` in %, ``digits`` decimals (two where AP is still near 0), or ``n/a``."""
    if stats is None or stats[0] is None:
        return ap_cell(None, None)
    return f"{100 * stats[0]:.{digits}f} +- {100 * stats[1]:.{digits}f}"


def format_table(table: Table, summaries: dict[str, dict], seeds: list[int], quick: bool,
                 scale: Scale = SCALES["gpu"]) -> str:
    columns = list(scale.parts) + (["pck"] if scale.pck else [])
    names = [("PCK@0.2" if c == "pck" else f"{c} AP") if scale.pck else c for c in columns]
    teacher = teacher_name(scale)
    names += ["vs reference: AP / PCK higher on"] if scale.paired else []
    lines = [f"**{table.title.format(Teacher=teacher)}**"
             + (" (QUICK smoke settings: numbers are meaningless)" if quick else ""), "",
             "| row | run | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 2)]
    for label, name in table.rows:
        if name not in summaries:  # left out with --only
            continue
        s = summaries[name]
        cells = [_cell(s["stats"].get(c), digits=2 if scale.pck and c != "pck" else 1) for c in columns]
        cells += [paired_cell(table, name, summaries, scale)] if scale.paired else []
        seeds_note = " (1 run)" if not RUNS[name].seeded else "" if s["n"] == len(seeds) else f" ({s['n']} seeds)"
        lines.append(f"| {label.format(Teacher=teacher)} | `{name}`{seeds_note} | " + " | ".join(cells) + " |")
    flag = "" if scale.name == "gpu" else f" --scale {scale.name}"
    note = scale.note or ("the shipped weights" if scale.teacher_asset else "one run, seed 0")
    lines += ["", f"AP{' and PCK' if scale.pck else ''} in %, mean +- std over seeds {seeds} (teacher: {note}). "
              f"{table.paper}."]
    if scale.paired:
        minutes = sum(summaries[name]["wall_minutes"] for name in dict.fromkeys(name for _, name in table.rows)
                      if name in summaries)
        lines += ["\"Higher on\": seeds where the row beats its reference of the same seed (a one-run teacher: "
                  f"every seed). {minutes:.0f} training minutes for this table's runs."]
    lines += [f"Command: `python benchmarks/dwpose/run.py {table.key}{flag}{scale.flags}`"]
    return "\n".join(lines)


def headline_part(scale: Scale) -> str:
    """The part whose AP the paired counts compare: whole-body where the scale has it, else body."""
    return "wholebody" if "wholebody" in scale.parts else scale.parts[0]


def paired(row: dict, ref: dict, metric: str) -> tuple[int, int]:
    """(seeds where ``row`` beats ``ref`` on ``metric``, seeds both have); a one-run reference (the teacher) pairs
    with every seed."""
    ref_values = {seed: m[metric] for seed, m in ref["seeds"].items() if m and metric in m}
    if not RUNS[ref["run"]].seeded:
        ref_values = {seed: ref_values["0"] for seed in row["seeds"]} if "0" in ref_values else {}
    pairs = [(m[metric], ref_values[seed]) for seed, m in row["seeds"].items()
             if m and metric in m and seed in ref_values]
    return sum(a > b for a, b in pairs), len(pairs)


def paired_cell(table: Table, name: str, summaries: dict[str, dict], scale: Scale) -> str:
    """``wins/seeds`` on AP and on PCK against the row's reference, ``reference``, or ``-`` (a row paired with
    nothing: the teacher of a table about students)."""
    if name == table.reference or name in table.paired_with.values():
        return "reference"
    ref = table.paired_with.get(name, table.reference)
    if not RUNS[name].seeded or ref not in summaries:
        return "-"
    (aw, at), (pw, pt) = (paired(summaries[name], summaries[ref], m) for m in (headline_part(scale), "pck"))
    return f"{aw}/{at} / {pw}/{pt} vs `{ref}`"


def write_section(key: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- dwpose:KEY -->`` and ``<!-- /dwpose:KEY -->`` in BENCHMARKS.md, atomically."""
    write_marked_section("dwpose", key, text, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", nargs="+", choices=[*TABLES, "all"], help="one or more tables, or all")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--scale", choices=[*SCALES, "standard"], default="gpu",
                        help="gpu: the whole-body 96x128 recipes (hours); cpu: the demo-sized body-17 setting; "
                             "standard: the `standard` preset against the strong RTMPose-m teacher (standard.py)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    parser.add_argument("--threads", help="torch threads of a lone run (default: auto, all cores, at --scale "
                                          "standard; 0, torch's default, elsewhere)")
    parser.add_argument("--work-root", type=Path, default=REPO / "work_dirs" / "dwpose_bench")
    parser.add_argument("--quick", action="store_true", help="tiny data and 3 iterations per run (smoke test)")
    parser.add_argument("--dry-run", action="store_true", help="print the training commands, train nothing")
    parser.add_argument("--report-only", action="store_true", help="only read finished runs and write the tables")
    parser.add_argument("--markdown", type=Path, default=BENCHMARKS_MD, help="file whose dwpose sections are rewritten")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md (--markdown) alone")
    parser.add_argument("--results", type=Path, default=None,
                        help="per-run numbers as JSON (default: results.json beside this script)")
    parser.add_argument("--iters", type=int, help="--scale standard: stage-1 iterations of every student row "
                                                  "(default 600, quick 5; rounded down to a multiple of 5)")
    parser.add_argument("--teacher-weights", metavar="TAG|FILE",
                        help="--scale standard: the teacher (default: tag rtmpose-m.synth-standard_128x96)")
    parser.add_argument("--teacher-s2-iters", type=int,
                        help="--scale standard: stage-2 iterations of the teacher + S2 row (default: the students' "
                             "stage-2 budget, 20%% of --iters; the paper's proportion of the teacher's run is ~7500)")
    parser.add_argument("--amp", choices=("auto", "none", "bf16"), default="auto",
                        help="--scale standard: the students' train.amp (default auto: bf16 on CPUs with native bf16, "
                             "else fp32); none / bf16 force it and keep those runs in their own folders")
    parser.add_argument("--only", nargs="+", metavar="RUN", choices=list(RUNS),
                        help="train and report only these runs of the tables (and the runs they take teachers from); "
                             "the tables are printed with only those rows, BENCHMARKS.md is left alone")
    args = parser.parse_args(argv)
    if args.scale != "standard" and (args.iters or args.teacher_weights or args.teacher_s2_iters
                                     or args.amp != "auto"):
        parser.error("--iters, --teacher-weights, --teacher-s2-iters and --amp are --scale standard options")
    if args.iters is not None and args.iters < 5:
        parser.error("--iters: at least 5 (one iteration per epoch)")
    if args.teacher_s2_iters is not None and args.teacher_s2_iters < 1:
        parser.error("--teacher-s2-iters: at least 1")
    if args.threads is None:
        args.threads = "auto" if args.scale == "standard" else "0"
    check_outputs(parser, args)

    keys = list(TABLES) if "all" in args.table else list(dict.fromkeys(args.table))
    scale = standard_scale(args) if args.scale == "standard" else SCALES[args.scale]
    root, cache = work_folders(args.work_root / ("" if scale.name == "gpu" else scale.name), args.quick)
    root = root / scale.folder
    cache = scale.data_cache if scale.data_cache and not args.quick else cache
    runs = needed_runs(keys)
    if args.only:
        only = set(with_teacher_runs(args.only))
        runs = [run for run in runs if run.name in only]
    if not args.report_only:
        train_all(runs, args.seeds, args, root, cache, scale)
    if args.dry_run:
        return 0
    ann = val_annotations(scale, cache, args.quick) if scale.pck else None
    summaries = {run.name: summarise(run, args.seeds, root, scale, ann) for run in runs}
    stem = "results" + ("" if scale.name == "gpu" else f"_{scale.name}") + ("_quick" if args.quick else "")
    results_file = args.results or Path(__file__).with_name(f"{stem}.json")
    old = read_results(results_file)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(old | summaries, indent=2) + "\n")
    for key in keys:
        text = format_table(TABLES[key], summaries, args.seeds, args.quick, scale)
        print(text + "\n")
        if not args.quick and not args.no_markdown and not args.only:
            write_section(key if scale.name == "gpu" else f"{scale.name}-{key}", text, args.markdown)
    return 0


def read_results(path: Path) -> dict:
    """The per-run numbers already in ``path`` ({} when it does not exist); a ``DataError`` naming the file when it is
    not a JSON object (checked before any run too, so it cannot stop the script after hours of training)."""
    from kdpose.data.jsonfile import load_json
    from kdpose.errors import DataError

    if not path.is_file():
        return {}
    old = load_json(path)
    if not isinstance(old, dict):
        raise DataError(f"{path}: holds a {type(old).__name__}, expected the per-run numbers of an earlier run "
                        "(a JSON object); give another --results file")
    return old


def check_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad counts and unwritable or unreadable output files before the first run trains."""
    from kdpose.utils.io import check_output_dir, check_output_file

    require_at_least(parser, args, jobs=1, seeds=0)
    if args.threads != "auto" and not args.threads.isdigit():
        parser.error(f"--threads must be 'auto' or a count (0: torch's default), got '{args.threads}'")
    check_output_dir(args.work_root, "--work-root")
    if args.results is not None:
        check_output_file(args.results, "--results", "results.json")
        read_results(args.results)
    if not (args.no_markdown or args.quick or args.only):
        check_output_file(args.markdown, "--markdown", "BENCHMARKS.md")


def standard_scale(args) -> Scale:
    """The `standard` scale of this command line: its teacher (exits with one line while the default tag is not
    registered), budget, folders and the words its tables say about them."""
    std = _standard_module()
    teacher = std.teacher_of(args.teacher_weights)
    iters = args.iters or (std.QUICK_ITERS if args.quick else std.DEFAULT_ITERS)
    iters -= iters % std.EPOCHS
    s2_iters = std.stage2_iters(iters)
    teacher_s2_iters = args.teacher_s2_iters or s2_iters
    flags = "".join(f" {flag} {value}" for flag, value in (
        ("--iters", args.iters), ("--teacher-weights", args.teacher_weights),
        ("--teacher-s2-iters", args.teacher_s2_iters)) if value)
    flags += (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds != [0, 1, 2] else "")
    flags += " --quick" if args.quick else ""
    flags += f" --amp {args.amp}" if args.amp != "auto" else ""
    batch = 8 if args.quick else 32
    note = (f"{teacher.weights}, measured once; students {iters} stage-1 + {s2_iters} stage-2 iterations of batch "
            f"{batch}; teacher + S2: {teacher_s2_iters} iterations; {precision_words(args.amp, args.device)}")
    amp_sets = () if args.amp == "auto" else (f"train.amp={args.amp}",)
    amp_folder = "" if args.amp == "auto" else "-" + ("fp32" if args.amp == "none" else args.amp)
    return Scale("standard", std.TEACHER_RECIPE, std.S1_RECIPE, std.S2_RECIPE, std.TEACHER_MODEL, ("body",),
                 teacher_asset=str(teacher.file), pck=True, paired=True, note=note, flags=flags,
                 recipe_sets={std.S1_RECIPE: std.stage1_sets(iters), std.S2_RECIPE: std.stage2_sets(s2_iters)},
                 run_sets={"teacher+s2": std.stage2_sets(teacher_s2_iters)}, quick_sets=std.QUICK,
                 data_cache=REPO / ".kdpose_cache" / "synth", folder=teacher.key, runs_folder=f"it{iters}{amp_folder}",
                 folders={"teacher": "teacher", "teacher+s2": f"teacher+s2-it{teacher_s2_iters}{amp_folder}"},
                 student_sets=amp_sets)


def precision_words(amp: str, device: str) -> str:
    """What ``train.amp`` the runs of this command use, resolved on this machine (a table says how it was trained:
    ``auto`` is bf16 on an AMX CPU and fp32 on an AVX2 one)."""
    import torch

    from kdpose.engine.precision import resolve_amp

    resolved, _ = resolve_amp(amp, torch.device("cpu" if device in ("auto", "cpu") else device))
    return f"train.amp {amp} = {'fp32' if resolved == 'none' else resolved} here"


def _standard_module():
    """benchmarks/dwpose/standard.py (this driver also runs when a test loads it from its file)."""
    return load_sibling(__file__, "standard", "dwpose")


if __name__ == "__main__":
    sys.exit(guarded(main))

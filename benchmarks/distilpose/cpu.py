"""DistilPose Tables 4, 5 and 6 at CPU scale: ``python benchmarks/distilpose/run.py --scale cpu``.

The setting of ``kdpose demo --method distilpose`` (what learns in minutes on one CPU core): CSPNeXt UDP heatmap
teachers started from the shipped backbones (src/kdpose/assets), trained once (seed 0, 4 epochs); every student is
the DeepPose regression network on RTMPose-t's backbone (``deeppose-cspnext-t``, GAP + Linear) started from the
shipped CSPNeXt-t backbone, body-17, input 64x96, the demo's synthetic data (800 train / 100 val images), 12 epochs.
Recipes: configs/distilpose_cpu_teacher_{s,t}.yaml, configs/distilpose_cpu_deeppose_t.yaml. Rows shared by several
tables (the plain student, + L_SH, the cs+sh student) are trained once. The token rows of Table 4 (L_KT, L_VT, TDE,
all) need tokens in both networks (and the from-scratch TokenPose minis learn nothing at this scale): table ``4t``
runs the whole ablation on the token pair of ``kdpose.models.token_cspnext`` (a TokenPose head on the shipped
CSPNeXt-s -> a TokenReg student on the shipped CSPNeXt-t: stride-32 tokens, d 96, 2 layers), recipes
configs/distilpose_cpu_token_{teacher_s,t}.yaml.

Each table gives AP (%, two decimals: it is near 0 here) and PCK@0.2 (ground-truth boxes, readable where AP is not)
as mean +- std over the seeds, the per-seed paired count against the table's reference row, and the deployed
network's params, GMACs (the paper's GFLOPs) and CPU latency (batch 1, one thread) at 64x96, as the paper's Table 3.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

if __name__ == "__main__":  # run.py loads this file; run alone, it would fail on its imports: say what to run
    from kdpose.utils.entry import not_a_command

    not_a_command("benchmarks/distilpose/cpu.py", "benchmarks/distilpose/run.py",
                  "python benchmarks/distilpose/run.py --scale cpu --seeds 0 1 2")

from _miniature import (REPO, mean_std, measure_cost, read_metrics, train, training_minutes,  # noqa: E402
                        work_folders, write_results, write_section)

INPUT_SIZE = (64, 96)
STUDENT_RECIPE = "distilpose_cpu_deeppose_t.yaml"
STUDENT_MODEL = "deeppose-cspnext-t"
DEFAULT_EPOCHS = 12
TEACHERS = {  # run name -> (recipe, zoo model, label)
    "teacher-s": ("distilpose_cpu_teacher_s.yaml", "cspnext-s-udp", "CSPNeXt-s UDP heatmap"),
    "teacher-t": ("distilpose_cpu_teacher_t.yaml", "cspnext-t-udp", "CSPNeXt-t UDP heatmap"),
    "token-teacher-s": ("distilpose_cpu_token_teacher_s.yaml", "tokenpose-cspnext-s", "TokenPose on CSPNeXt-s"),
}
TOKEN_RECIPE, TOKEN_MODEL = "distilpose_cpu_token_t.yaml", "distilpose-cspnext-t"
NO_CONFIDENCE = "model.kwargs={use_confidence: false}"  # nothing trains s_k without L_CS: decode score 1
QUICK = ["data.train.synthetic_images=24", "data.val.synthetic_images=8", "data.batch_size=8",
         "data.val_batch_size=16", "train.max_epochs=1", "train.stage2_epochs=0", "eval.interval=1",
         "train.epoch_iters=3", "schedule.warmup_iters=2", "train.log_interval=1"]
NOT_APPLICABLE = "n/a: no tokens in a CNN student (token student: table 4t)"


@dataclass(frozen=True)
class StudentRun:
    """A DeepPose student trained per seed: ``preset`` None is the plain student (no distillation)."""

    name: str
    preset: str | None
    teacher: str = "teacher-s"
    recipe: str = STUDENT_RECIPE
    model: str = STUDENT_MODEL

    def overrides(self, teacher_dir: Path) -> list[str]:
        if self.preset is None:
            return ["distill.method=", NO_CONFIDENCE]
        over = [f"distill.teacher={TEACHERS[self.teacher][1]}",
                f"distill.teacher_weights={teacher_dir / 'final.safetensors'}",
                f"distill.params={{preset: '{self.preset}'}}"]
        from kdpose.distill.distilpose import TABLE4_PRESETS

        uses_cs = TABLE4_PRESETS[self.preset][0]  # ("all" trains the confidence too)
        return over + ([] if uses_cs else [NO_CONFIDENCE])


def _token_run(preset: str | None) -> StudentRun:
    return StudentRun(f"token-{preset or 'baseline'}", preset, "token-teacher-s", TOKEN_RECIPE, TOKEN_MODEL)


STUDENTS = {r.name: r for r in [StudentRun("baseline", None), StudentRun("cs", "cs"), StudentRun("sh", "sh"),
                                StudentRun("cs+sh", "cs+sh"), StudentRun("cs+sh-from-t", "cs+sh", "teacher-t"),
                                *(_token_run(p) for p in (None, "kt", "vt", "tde", "all"))]}
PAPER_TABLE4 = ("paper (TokenPose-S student, COCO val AP): baseline 56.0, one Simulated-Heatmaps term 63.2 / 56.4, "
                "L_CS + L_SH 64.1, KT 67.1, VT 61.7, TDE 67.5, all 71.6")


@dataclass(frozen=True)
class CpuTable:
    """Rows (label, run name or None for a row that does not apply) and the run every row is paired with."""

    key: str
    title: str
    rows: tuple[tuple[str, str | None], ...]
    reference: str
    paper: str
    missing: str = NOT_APPLICABLE  # the text of a row that does not apply (run None)


TABLES = {t.key: t for t in [
    CpuTable("4", "Table 4 (CPU scale): knowledge-transfer ablation, teacher CSPNeXt-s UDP -> DeepPose-CSPNeXt-t",
             (("baseline (no KD)", "baseline"), ("+ L_CS", "cs"), ("+ L_SH", "sh"), ("+ L_CS + L_SH", "cs+sh"),
              ("+ L_KT", None), ("+ L_VT", None), ("+ TDE (L_KT + L_VT)", None), ("all", None)),
             "baseline", PAPER_TABLE4),
    CpuTable("4t", "Table 4 (CPU scale, token pair): TokenPose-CSPNeXt-s teacher -> DistilPose-CSPNeXt-t "
             "(TokenReg) student",
             (("teacher TokenPose-CSPNeXt-s", "token-teacher-s"), ("baseline (no KD)", "token-baseline"),
              ("+ L_KT", "token-kt"), ("+ L_VT", "token-vt"),
              ("+ TDE (L_KT + L_VT)", "token-tde"), ("all", "token-all")),
             "token-baseline", PAPER_TABLE4),
    CpuTable("5", "Table 5 (CPU scale): stronger teacher -> better student (cs+sh, DeepPose-CSPNeXt-t)",
             (("teacher CSPNeXt-t UDP (weaker)", "teacher-t"), ("student from CSPNeXt-t", "cs+sh-from-t"),
              ("teacher CSPNeXt-s UDP (stronger)", "teacher-s"), ("student from CSPNeXt-s", "cs+sh")),
             "cs+sh-from-t", "paper (stemnet student): no teacher 56.0, stemnet teacher 63.6, HRNet-W48 teacher 71.6"),
    CpuTable("6", "Table 6 (CPU scale): CNN student, Simulated Heatmaps only",
             (("CSPNeXt-s UDP heatmap (teacher)", "teacher-s"), ("DeepPose-CSPNeXt-t", "baseline"),
              ("DeepPose-CSPNeXt-t + SH", "sh")),
             "baseline", "paper (ResNet-50, COCO val AP): SimpleBaseline teacher 70.4, DeepPose 52.6, + SH 59.7"),
]}


def needed(tables: list[str]) -> tuple[list[str], list[str]]:
    """(teacher runs, student runs) the tables need, teachers first, each once."""
    names = [name for key in tables for _, name in TABLES[key].rows if name]
    students = list(dict.fromkeys(n for n in names if n in STUDENTS))
    teachers = list(dict.fromkeys([n for n in names if n in TEACHERS]
                                  + [STUDENTS[n].teacher for n in students if STUDENTS[n].preset]))
    return sorted(teachers, key=list(TEACHERS).index), students


def student_sets(epochs: int) -> list[str]:
    """Schedule overrides of every student when ``epochs`` is not the recipe's 12 (all rows cut equally)."""
    if epochs == DEFAULT_EPOCHS:
        return []
    return [f"train.max_epochs={epochs}", f"train.stage2_epochs={epochs // 5}", f"eval.interval={epochs}"]


def val_annotations(cache: Path) -> Path | None:
    """The val split's annotation file in the synthetic cache ``cache`` (None before it is rendered)."""
    anns = sorted(cache.glob("val-*/*_val.json"))
    return anns[0] if anns else None


def run_pck(work: Path, model: str, ann: Path | None, input_size: tuple[int, int] = INPUT_SIZE,
            weights: str | None = None) -> float | None:
    """PCK@0.2 of ``weights`` (default: ``work``'s final weights; a file or a pretrained tag) on the val annotations
    ``ann`` (ground-truth boxes), cached in ``work/pck.json``."""
    from kdpose.models import PRETRAINED

    cached = work / "pck.json"
    if cached.is_file():
        return json.loads(cached.read_text())["pck"]
    weights = weights or str(work / "final.safetensors")
    if ann is None or not (weights in PRETRAINED or Path(weights).is_file()):
        return None
    from kdpose.inference.pck import pck_on_annotations as pck_on_val
    from kdpose.inference import PoseEstimator

    estimator = PoseEstimator(model, weights=weights, layout="coco", input_size=input_size, device="cpu")
    value = pck_on_val(estimator, ann, "coco")
    work.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"pck": value}))
    return value


def summarise(work_dirs: dict[int, Path], model: str, ann: Path | None,
              input_size: tuple[int, int] = INPUT_SIZE) -> dict:
    """Per-seed final AP, PCK and training minutes of one row, and their mean +- std."""
    seeds = []
    for seed, work in work_dirs.items():
        ap = read_metrics(work)["final_ap"]
        seeds.append({"seed": seed, "ap": ap, "pck": run_pck(work, model, ann, input_size) if ap is not None else None,
                      "minutes": training_minutes(work)})
    out = {"seeds": seeds}
    for metric in ("ap", "pck"):
        out[metric] = mean_std([s[metric] for s in seeds if s[metric] is not None])
    return out


def paired(row: dict, ref: dict, metric: str) -> tuple[int, int]:
    """(seeds where ``row`` beats ``ref`` on ``metric``, seeds both have): a teacher (one run) pairs with every seed."""
    ref_by_seed = {s["seed"]: s[metric] for s in ref["seeds"] if s[metric] is not None}
    wins = total = 0
    for s in row["seeds"]:
        other = ref_by_seed.get(s["seed"], next(iter(ref_by_seed.values())) if len(ref_by_seed) == 1 else None)
        if s[metric] is not None and other is not None:
            total += 1
            wins += s[metric] > other
    return wins, total


def _cell(stats: tuple[float | None, float | None], runs: int) -> str:
    mean, std = stats
    if mean is None:
        return "not run"
    return f"{100 * mean:.2f} (1 run)" if runs == 1 else f"{100 * mean:.2f} +- {100 * std:.2f}"


def format_table(table: CpuTable, results: dict[str, dict], seeds: list[int], epochs: int, quick: bool,
                 teachers: Collection[str] = tuple(TEACHERS), budget: str | None = None) -> str:
    """One markdown table: AP and PCK mean +- std, paired counts against ``table.reference``, and cost columns.
    ``teachers``: the rows that are teachers (one run, never paired); ``budget``: the footnote's words on the runs
    (default: one run per teacher, students ``epochs`` epochs)."""
    note = " (QUICK smoke settings: numbers are meaningless)" if quick else ""
    lines = [f"**{table.title}**{note}", "",
             "| row | run | network | AP % | PCK@0.2 % | vs `" + table.reference + "`: AP / PCK higher on | "
             "params (M) | GMACs | CPU ms |", "|---|---|---|---|---|---|---|---|---|"]
    ref = results.get(table.reference)
    for label, name in table.rows:
        if name is None:
            lines.append(f"| {label} | - | - | {table.missing} | | | | | |")
            continue
        r = results[name]
        runs = len([s for s in r["seeds"] if s["ap"] is not None])
        vs = "reference"
        if name != table.reference and name not in teachers and ref is not None:
            (aw, at), (pw, pt) = paired(r, ref, "ap"), paired(r, ref, "pck")
            vs = f"{aw}/{at} / {pw}/{pt}"
        elif name in teachers:
            vs = "(teacher, 1 run)"
        lines.append(f"| {label} | `{name}` | {r['model']} | {_cell(r['ap'], runs)} | {_cell(r['pck'], runs)} "
                     f"| {vs} | {r['params_m']:.2f} | {r['gflops']:.3f} | {r['cpu_ms']:.1f} |")
    budget = budget or f"(teachers: one run, seed 0); students {epochs} epochs"
    lines += ["", f"AP and PCK@0.2 in %, mean +- std over seeds {seeds} {budget}; \"higher on\": seeds where the row "
              f"beats the reference row of the same seed. {table.paper}."]
    return "\n".join(lines)


def run_cpu(args) -> int:
    """Train what the tables need (teachers, then students seed-major), read it back, write the tables."""
    tables = args.tables
    root, cache = work_folders(args.work_root / "cpu", args.quick)
    # students of a cut schedule never mix with 12-epoch ones; the teachers are the same for every schedule
    student_root = root if args.epochs == DEFAULT_EPOCHS else root / f"ep{args.epochs}"
    base = [f"train.device={args.device}", f"data.cache_dir={cache}", "train.threads=1"]
    base += QUICK if args.quick else []
    teachers, students = needed(tables)
    dirs = {t: {0: root / t / "seed0"} for t in teachers}
    dirs |= {s: {seed: student_root / s / f"seed{seed}" for seed in args.seeds} for s in students}
    if not args.report_only:
        for name in teachers:
            train(TEACHERS[name][0], dirs[name][0], base + ["train.seed=0"])
        for seed in args.seeds:  # seed-major: an interrupted session still has every row's first seed
            for name in students:
                run = STUDENTS[name]
                sets = base + student_sets(args.epochs) + [f"train.seed={seed}"]
                train(run.recipe, dirs[name][seed], sets + run.overrides(dirs[run.teacher][0]))
    costs: dict[str, dict] = {}
    results = {}
    ann = val_annotations(cache)
    for name, work in dirs.items():
        model = TEACHERS[name][1] if name in TEACHERS else STUDENTS[name].model
        if model not in costs:
            costs[model] = measure_cost(model, INPUT_SIZE)
        results[name] = {"run": name, "model": model, **summarise(work, model, ann), **costs[model]}
    seeds = " ".join(map(str, args.seeds))
    command = f"python benchmarks/distilpose/run.py --scale cpu --tables {' '.join(tables)} --seeds {seeds}" + (
        f" --epochs {args.epochs}" if args.epochs != DEFAULT_EPOCHS else "")
    minutes = sum(s["minutes"] or 0.0 for r in results.values() for s in r["seeds"])
    texts = {key: format_table(TABLES[key], results, args.seeds, args.epochs, args.quick)
             + f"\n\nCommand: `{command}` ({minutes:.0f} training minutes of one core for all tables)."
             for key in tables}
    publish("cpu", texts, results, args)
    return 0


def publish(scale: str, texts: dict[str, str], results: dict[str, dict], args) -> None:
    """Each table's text into BENCHMARKS.md between its ``distilpose:<scale>-table<key>`` markers (not in quick
    mode or with ``--no-markdown``), every table into ``<out>/<scale>/results.json|md``, and to stdout."""
    if not args.quick and not args.no_markdown:
        for key, text in texts.items():
            write_section("distilpose", f"{scale}-table{key}", text, REPO / "BENCHMARKS.md")
    report = "\n\n".join(texts.values())
    write_results(args.out / scale, args.quick, list(results.values()), report + "\n")
    print(report)

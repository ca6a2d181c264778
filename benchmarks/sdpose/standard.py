"""SDPose Tables 5, 6 and 7 on the `standard` preset: ``python benchmarks/sdpose/run.py --scale standard``.

The CPU scale's tables (cpu.py, rows in run.py: RTMPose-t whose RTMCC head cycles its GAU, the shipped CSPNeXt-t
backbone ``cspnext-t-udp.synth-demo-backbone_96x64``, L_kt weight 5e-3, no L_vt) on data where the model becomes
accurate (issue 23): at 64x96 on the demo's `hard`-preset images the plain model sits near AP 0, so those tables
compare noise. Here every row trains ``--iters`` iterations of batch 32 at input 96x128 on the data of
configs/rtmpose-m_synth-standard.yaml, key for key (20000 `standard` scenes of 640x480 with up to 4 people, 500 val
images, ground-truth boxes; cache .kdpose_cache/synth, so the renders of the `standard` teacher are reused instead
of costing another hour of the 2-core CPU). Recipe: configs/sdpose_std_rtmpose-t_synth-standard.yaml. The rows,
their shared trainings, the deployed-network evaluation (Table 6 re-evaluated with all its cycles), PCK@0.2,
paired per-seed counts and the table text are the CPU scale's; this module only sets recipe, data and budget.

Tables (seeds 0 1 2; AP and PCK@0.2 mean +- std; paired counts against the table's first row; the deployed
network's params, GMACs and CPU latency at 96x128):
* 7: 1 cycle (plain RTMPose-t) vs 2 cycles 2->1 vs 3 cycles 3->2, 2->1, all deployed with one cycle;
* 6: 1 / 2 / 3 cycles without self-distillation (L_pose on the last cycle), deployed with all their cycles;
* 5: the loss terms at 2 cycles (none, pose, pose+kt, kt), deployed with one; the L_vt rows are n/a for RTMCC.
7 distinct trainings per seed (Table 5's `none` and `pose+kt` are Table 6's and Table 7's 2-cycle runs).

The budget must put the plain one-cycle model well above AP 0.3, or the tables compare models that are still
learning the task. The default ``--iters`` 6000 is MEASURED (2026-12-06, ``--check-budget --iters 6000``, bf16 on a
2-vCPU Xeon with AMX): the plain RTMPose-t reached AP 40.2 % on seed 0 in 25.5 minutes. (The earlier default, 4000,
was an estimate from the CSPNeXt-m heatmap teacher's curve on this data, 34.4 after 3789 iterations at a flat lr;
RTMPose-t after 1000 iterations of the roadmap recipe is at 15.6-16.7, so 4000 would have been near the line.)
Every table's note warns when the plain model's AP is not above 0.3 on every seed.

Cost, measured for the plain row (the tables print every run's training minutes): 0.25 s per iteration in bf16 on the
AMX CPU (both threads, the whole loop), 25.5 minutes for 6000 iterations including validation; each extra GAU cycle
adds ~8 % of the forward MACs (0.095 / 0.103 / 0.110 GMACs for 1 / 2 / 3 cycles): 2 cycles measured 27.8
minutes, 3 cycles 26.9 (seed 0; the trainer's clock, summed over the pieces of a stopped and resumed run).
The 7 trainings of one seed: 25.5 + 4 x 27.8 + 2 x 26.9 ~ 3.2 h; three seeds ~9.6 h, plus Table 6's re-evaluations
(~10 min). In fp32 on a 2-core AVX2 CPU (~0.45 s per step) about 1.8x that. Runs go seed-major, so an interrupted
session keeps every row's first seed; rerunning resumes (a stopped run continues from its ``last.pt``).

Outputs: ``<work-root>/standard/full/it<iters>/<run>/seed<S>/`` (a different budget never mixes with another),
``<out>/standard/results.json|md``, and the tables between ``<!-- sdpose:standard-table<N> -->`` markers of
BENCHMARKS.md (not in quick mode or with ``--no-markdown``).

Run records: a finished run leaves ``<out>/standard/records/it<iters>/<run>/seed<S>.json`` (its deployed AP and PCK@0.2,
training minutes, precision, CPU model, torch version), small files meant to be committed. The tables need many
hours spread over sessions, and a session may get a new machine without the work dirs: a run with a record is not
trained again and the tables read its numbers from the record. The tables name the CPUs their runs were trained on
(rows from one machine and precision compare best: BENCHMARKS.md's bf16 section). Delete a record to retrain it.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

if __name__ == "__main__":  # run.py loads this file; run alone, it would fail on its imports: say what to run
    from kdpose.utils.entry import not_a_command

    not_a_command("benchmarks/sdpose/standard.py", "benchmarks/sdpose/run.py",
                  "python benchmarks/sdpose/run.py --scale standard --tables 7 6 5")

from _miniature import (REPO, mean_std, quick_standard_sets, read_metrics, train, training_minutes,  # noqa: E402
                        work_folders,
                        write_results, write_section)
# run.py loads cpu.py under this name before this file: evaluation and the table format are shared
from sdpose_bench_cpu import CpuRow, build_entries, deployed_metrics, format_table  # noqa: E402

RECIPE = "sdpose_std_rtmpose-t_synth-standard.yaml"
INPUT_SIZE = (96, 128)
EPOCHS = 5  # the iterations are split into 5 epochs: cosine from the 3rd, weak augmentation (stage 2) in the last
DEFAULT_ITERS = 6000  # measured: the plain model at AP 40.2 % (module doc)
QUICK_ITERS = 3  # quick: one epoch (each epoch end writes a checkpoint: the smoke test's largest cost)
PLAIN_AP_TARGET = 0.3  # the plain model must be above this for the tables to compare trained models
QUICK_BATCH = 4
QUICK = quick_standard_sets(QUICK_BATCH)


def on_standard(rows: list[CpuRow]) -> list[CpuRow]:
    """The CPU scale's rows (labels, trainings, deployed cycles, notes) trained with this scale's recipe."""
    return [row if row.run is None else replace(row, run=replace(row.run, recipe=RECIPE)) for row in rows]


def schedule_sets(iters: int, epochs: int = EPOCHS) -> list[str]:
    """``iters`` iterations (rounded down to a multiple of ``epochs``) as the trainer's epochs: the last one in
    stage 2 (unless it is the only one), validation once at the end."""
    return [f"train.max_epochs={epochs}", f"train.epoch_iters={iters // epochs}",
            f"train.stage2_epochs={int(epochs > 1)}", f"eval.interval={epochs}"]


def training_order(tables: dict[str, list[CpuRow]]) -> list:
    """Each distinct training once: the plain model first (it checks the budget), then in table order."""
    runs = list({row.run.key: row.run for rows in tables.values() for row in rows if row.run is not None}.values())
    return sorted(runs, key=lambda run: run.task is not None)


def record_file(records: Path, key: str, seed: int) -> Path:
    return records / key / f"seed{seed}.json"


def read_record(records: Path | None, key: str, seed: int) -> dict | None:
    path = None if records is None else record_file(records, key, seed)
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def import_record_modules() -> None:
    """Import now what :func:`write_record` imports later: a driver runs for hours, and a kdpose source edited
    meanwhile would otherwise be imported half old, half new when the record is written (an ImportError after a
    finished training)."""
    import kdpose.engine.config  # noqa: F401
    import kdpose.export.peaks  # noqa: F401
    import kdpose.inference  # noqa: F401
    import kdpose.inference.pck  # noqa: F401
    import kdpose.models  # noqa: F401
    import kdpose.tasks.topdown  # noqa: F401
    import kdpose.utils.io  # noqa: F401


def write_record(records: Path, work: Path, key: str, seed: int, cycles: set[int]) -> dict:
    """The finished run ``work``'s record (module doc): its network deployed with each of ``cycles`` evaluated now,
    written atomically, so that the tables no longer need the work dir."""
    import torch

    from kdpose.export.peaks import cpu_report
    from kdpose.utils.io import write_json

    setups = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines() if '"setup"' in line]
    record = {"run": key, "seed": seed, "final_ap": read_metrics(work)["final_ap"],
              "deployed": {str(c): deployed_metrics(work, c) for c in sorted(cycles)},
              "training_minutes": training_minutes(work),
              "precision": sorted({s["amp"] for s in setups if s.get("kind") == "setup"}),
              "cpu": cpu_report()["cpu"], "torch": torch.__version__}
    write_json(record_file(records, key, seed), record, indent=1)
    return record


def recorded_metrics(records: Path, runs_dir: Path):
    """``build_entries``' metrics: a run's record where it has one, else the work dir's evaluation."""
    def metrics(work: Path, cycles: int) -> dict:
        record = read_record(records, work.parent.name, int(work.name.removeprefix("seed")))
        if record is not None and str(cycles) in record["deployed"]:
            return record["deployed"][str(cycles)]
        return deployed_metrics(work, cycles)
    return metrics


def plain_check(plain_dir: Path, seeds: list[int], iters: int, records: Path | None = None) -> tuple[float | None, str]:
    """(mean AP of the plain one-cycle model over its finished seeds, the sentence the table notes carry: a warning
    unless every seed is above the target). A seed's record, where ``records`` has one, stands for its work dir."""
    def final_ap(seed: int) -> float | None:
        record = read_record(records, plain_dir.name, seed)
        return record["final_ap"] if record is not None else read_metrics(plain_dir / f"seed{seed}")["final_ap"]

    aps = [ap for ap in map(final_ap, seeds) if ap is not None]
    mean = mean_std(aps)[0]
    if mean is None:
        return None, (f"The plain 1-cycle RTMPose-t has no finished run: this budget ({iters} iterations) is not "
                      f"checked yet (it should put that model above AP {100 * PLAIN_AP_TARGET:.0f} %).")
    per_seed = ", ".join(f"{100 * ap:.1f}" for ap in aps)
    if min(aps) > PLAIN_AP_TARGET:
        return mean, (f"Budget check: the plain 1-cycle RTMPose-t is at AP {100 * mean:.1f} % ({per_seed}) after "
                      f"{iters} iterations, above the {100 * PLAIN_AP_TARGET:.0f} % this scale asks for.")
    return mean, (f"**WARNING: the plain 1-cycle RTMPose-t is at AP {100 * mean:.1f} % ({per_seed}) after {iters} "
                  f"iterations, NOT above {100 * PLAIN_AP_TARGET:.0f} % on every seed: these rows compare models that "
                  "are still learning the task; rerun with a larger --iters.**")


def deploy_cycles(tables: dict[str, list[CpuRow]]) -> dict[str, set[int]]:
    """Each training's key -> the cycle counts its rows deploy it with."""
    cycles: dict[str, set[int]] = {}
    for rows in tables.values():
        for row in rows:
            if row.run is not None:
                cycles.setdefault(row.run.key, set()).add(row.deploy_cycles)
    return cycles


def run_standard(args, cpu_tables: dict[str, list[CpuRow]], notes: dict[str, str]) -> int:
    """Train the rows of ``cpu_tables`` (the CPU scale's, by table key) on the `standard` data, seed-major, and write
    the tables; with ``args.check_budget`` train only the plain row's first seed and report its AP (exit 1 when it
    is not above the target)."""
    iters = args.iters or (QUICK_ITERS if args.quick else DEFAULT_ITERS)
    iters = iters if args.quick else EPOCHS * (iters // EPOCHS)  # what the schedule runs (and the folder says)
    tables = {key: on_standard(rows) for key, rows in cpu_tables.items()}
    root, quick_cache = work_folders(args.work_root / "standard", args.quick)
    cache = quick_cache if args.quick else REPO / ".kdpose_cache" / "synth"  # the `standard` teacher's renders
    runs_dir = root / f"it{iters}"
    base = [f"train.device={args.device}", f"train.threads={args.threads}", f"data.cache_dir={cache}"]
    base += (QUICK + schedule_sets(iters, epochs=1)) if args.quick else schedule_sets(iters)
    records = args.out / "standard" / ("records_quick" if args.quick else "records") / f"it{iters}"
    order, cycles = training_order(tables), deploy_cycles(tables)
    plain = order[0]
    seeds = args.seeds[:1] if args.check_budget else args.seeds
    import_record_modules()
    for seed in seeds:  # seed-major: an interrupted session still has every row's first seed
        for run in [plain] if args.check_budget else order:
            work = runs_dir / run.key / f"seed{seed}"
            if record_file(records, run.key, seed).is_file():
                continue
            if not args.report_only:
                train(run.recipe, work, base + [f"train.seed={seed}"] + run.overrides())
            if (work / "final.safetensors").is_file():  # finished: keep its numbers beyond this machine
                write_record(records, work, run.key, seed, cycles[run.key])
            if run is plain and not args.report_only:
                print(plain_check(runs_dir / plain.key, [seed], iters, records)[1], flush=True)
    budget_note = plain_check(runs_dir / plain.key, seeds, iters, records)[1]
    if args.check_budget:
        return 0 if budget_note.startswith("Budget check") else 1
    write_tables(args, tables, notes, runs_dir, iters, budget_note, records)
    return 0


def machines_note(records: Path, keys: list[str], seeds: list[int]) -> str:
    """Which CPUs and precisions the recorded runs were trained with, e.g. "Trained on: AMD EPYC (bf16) 21 runs."."""
    found = [read_record(records, key, seed) for key in keys for seed in seeds]
    counts = Counter(f"{r['cpu']} ({'/'.join(r['precision'])})" for r in found if r is not None)
    return ("Trained on: " + ", ".join(f"{name} {n} run{'s' * (n > 1)}" for name, n in counts.most_common()) + "."
            if counts else "")


def write_tables(args, tables: dict[str, list[CpuRow]], notes: dict[str, str], runs_dir: Path, iters: int,
                 budget_note: str, records: Path) -> None:
    """Evaluate every row's deployed network (from its record where there is one), then results.json / .md under
    ``<out>/standard`` and each table into BENCHMARKS.md (unless quick or --no-markdown)."""
    seeds = " ".join(map(str, args.seeds))
    batch = QUICK_BATCH if args.quick else 32

    def minutes_of(key: str, seed: int) -> float:
        record = read_record(records, key, seed)
        return (record["training_minutes"] if record else training_minutes(runs_dir / key / f"seed{seed}")) or 0.0

    keys = [run.key for run in training_order(tables)]
    minutes = sum(minutes_of(key, s) for key in keys for s in args.seeds)
    trained_on = machines_note(records, keys, args.seeds)
    trained_on = f" {trained_on}" if trained_on else ""
    command = f"python benchmarks/sdpose/run.py --scale standard --tables {{table}} --seeds {seeds}" + (
        " --quick" if args.quick else "") + (f" --iters {args.iters}" if args.iters else "")
    report, texts = [], []
    for table, rows in tables.items():
        setting = (f"standard preset: RTMPose-t from the shipped backbone, GAU cycles, 96x128, "
                   f"{iters} iterations of batch {batch}, seeds [{seeds}]"
                   + (", QUICK smoke settings: numbers are meaningless" if args.quick else ""))
        entries = build_entries(rows, runs_dir, args.seeds, INPUT_SIZE, metrics=recorded_metrics(records, runs_dir))
        report += [{"table": table, "iters": iters, **e} for e in entries]
        ref = next(row.label for row in rows if row.run is not None)
        note = (f"AP and PCK@0.2 in %, mean +- std over seeds {seeds}; paired: the seeds on which the row is above "
                f"`{ref}`. {budget_note} {notes[table]}\n\nCommand: `{command.format(table=table)}` "
                f"({minutes:.0f} training minutes for all the tables of this run).{trained_on}")
        text = format_table(f"Table {table} ({setting})", entries, ref, note)
        texts.append(text)
        if not args.quick and not args.no_markdown:
            write_section("sdpose", f"standard-table{table}", text, REPO / "BENCHMARKS.md")
    write_results(args.out / "standard", args.quick, report, "\n\n".join(texts) + "\n")
    print("\n\n".join(texts))

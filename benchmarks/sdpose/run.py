"""SDPose (CVPR 2024) Tables 5, 6, 7 and the SDPose-S-V1 vs TokenPose-S-V1 comparison, in miniature on the synthetic
body benchmark.

Every row is one ``kdpose train`` run per seed (a subprocess: exactly what a user gets from the CLI) of
``configs/sdpose_mini_s_v1.yaml`` (the ``tokenpose-mini-s`` network: stemnet 32 planes, 4x3 patches, 4 layers, d 96,
input 96x128) with overrides. Rows shared by several tables (the one-cycle baseline, SDPose 2->1) are trained once.
The report gives AP (val, last epoch) mean +- std over the seeds next to the *deployed* model's parameters,
GMACs (the paper's GFLOPs) and CPU latency (batch 1, one thread).

Tables (miniature analogues; the paper's 12 layers are the mini's 4, its "fewer layers" 4 are the mini's 2):
  6     no distillation, the MCT deployed with all its cycles (predict from the last): 4 layers x 1/2/3 cycles,
        2 layers x 2/3 cycles (paper: 12 x 1/2/3 = 69.5/73.3/72.4, 4 x 2/3 = 69.4/70.8 AP).
  7     self-distillation, deployed with one cycle: 1 cycle, 2 cycles (2->1), 3 cycles (3->2, 2->1)
        (paper 69.5 / 72.3 / 71.7).
  5     loss ablation with 2 cycles, deployed with one cycle (presets of kdpose.distill.sdpose.TABLE5_PRESETS;
        paper 55.4 / 70.2 / 69.6 / 71.7 / 58.2 / 72.3).
  1     TokenPose-S-V1 vs SDPose-S-V1 at identical inference cost (same network, same FLOPs), plus SDPose-Reg
        (RLE, 1 vs 2 cycles).

CPU scale (``--scale cpu``, rows and evaluation in benchmarks/sdpose/cpu.py): Tables 7, 6 and 5 with RTMPose-t's GAU
as the cycled layer, from the shipped pre-trained backbone, minutes per run; AP and PCK@0.2 of the deployed network
(Table 6: run with all its cycles), per-seed paired counts. Table 7 there is also Table 1's comparison at identical
inference cost. ``--scale standard`` (benchmarks/sdpose/standard.py): the same rows at 96x128 on the `standard`
preset for ``--iters`` iterations (default 6000: the plain model at AP 40.2 %, measured; about 9.6 h of the 2-core
AMX CPU in bf16 for the three tables).

Examples:
    python benchmarks/sdpose/run.py --tables 1 5 6 7 --seeds 0 1 2 --device cuda
    python benchmarks/sdpose/run.py --scale cpu --tables 7 6 5         # ~12 new runs of 3 minutes of one core
    python benchmarks/sdpose/run.py --tables 7 --seeds 0 --quick       # smoke run: tiny data, 1 epoch
    python benchmarks/sdpose/run.py --scale standard --check-budget    # the plain model's AP at the budget (~26 min)
    python benchmarks/sdpose/run.py --scale standard --tables 7 6 5    # the tables on `standard` data (~9.6 h)
    python benchmarks/sdpose/run.py --report-only                       # re-read finished runs

Outputs: ``<work-root>/{full,quick}/<run>/seed<S>/`` (work dirs, default ``work_dirs/sdpose_bench``), the synthetic data
rendered once under ``<work-root>``, ``<out>/results[_quick].json|md``, and (full runs only) the tables between the
``<!-- sdpose:tableN -->`` markers of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared driver pieces

from _miniature import (REPO, add_run_arguments, ap_cell, load_sibling, measure_cost, train_seeds,  # noqa: E402
                        work_folders, write_results)
from _miniature import write_section as write_marked_section  # noqa: E402


def standard_module():
    """benchmarks/sdpose/standard.py (it imports cpu.py's evaluation and table format, loaded just below)."""
    return load_sibling(__file__, "standard", "sdpose")


cpu_scale = load_sibling(__file__, "cpu", "sdpose")
CpuRow = cpu_scale.CpuRow

BENCHMARKS_MD = REPO / "BENCHMARKS.md"
RECIPE = "sdpose_mini_s_v1.yaml"
INPUT_SIZE = (96, 128)

# Quick mode shrinks data and schedule so that the whole pipeline runs in minutes on a CPU.
QUICK = ["data.train.synthetic_images=32", "data.val.synthetic_images=8", "data.batch_size=16",
         "data.val_batch_size=16", "data.workers=0", "train.max_epochs=1", "eval.interval=1", "train.epoch_iters=2",
         "schedule.warmup_iters=2", "train.log_interval=1", "train.threads=1"]


@dataclass
class Run:
    """One training configuration: the zoo model + factory kwargs and the SDPose task params (None = plain)."""

    model: str = "sdpose-mini-s-v1"
    model_kwargs: dict = field(default_factory=dict)
    task: dict | None = None
    recipe: str = RECIPE

    def overrides(self) -> list[str]:
        over = [f"model.name={self.model}", f"model.kwargs={_flow(self.model_kwargs)}"]
        if self.task is None:
            over.append("distill.method=")
        else:
            over += ["distill.method=sdpose", f"distill.params={_flow(self.task)}"]
        return over

    @property
    def key(self) -> str:
        text = f"{self.model}-{_flow(self.model_kwargs)}-{'plain' if self.task is None else _flow(self.task)}"
        return "".join(c if c.isalnum() or c in "-+." else "_" for c in text)


def _flow(mapping: dict) -> str:
    """A YAML flow mapping for --set (e.g. ``{cycles: 2, preset: 'pose+kt'}``)."""
    items = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in mapping.items())
    return "{" + items + "}"


# CPU scale (``--scale cpu``, benchmarks/sdpose/cpu.py): SDPose's MCT on RTMPose-t's own transformer layer (the
# RTMCC head's GAU over the keypoint tokens; kdpose.models.heads.rtmcc), in the setting of ``kdpose demo --method
# sdpose``: the shipped pre-trained CSPNeXt-t backbone, body-17, 64x96, the demo's 800 / 100 synthetic images,
# 12 epochs (configs/dwpose_cpu_s1_s-t.yaml with its DWPose terms replaced by the sdpose task). From-scratch TokenPose
# minis learn nothing in a CPU session; these networks do. L_kt weight 5e-3: the SimCC KL loss is ~1000x TokenPose's
# heatmap MSE (docs/demo.md); RTMCC has no visual tokens, so no L_vt. Rows shared by tables are trained once.
CPU_RECIPE = "dwpose_cpu_s1_s-t.yaml"
CPU_INPUT_SIZE = (64, 96)
CPU_W_KT = 5.0e-3
NO_VT = "RTMCC has no visual tokens, so there is no L_vt"


def _cpu_run(task: dict | None = None) -> Run:
    return Run(model="rtmpose-t", recipe=CPU_RECIPE, task=task)


CPU_PLAIN = _cpu_run()                                           # 1 cycle, plain training (the DWPose baseline)


def _cpu_sdpose(cycles: int) -> Run:
    """2->1 / 3->2, 2->1: L_pose on every cycle + L_kt (= preset ``all``, and ``pose+kt``, without visual tokens)."""
    return _cpu_run({"cycles": cycles, "w_kt": CPU_W_KT})


def _cpu_no_distill(cycles: int) -> Run:
    return _cpu_run({"cycles": cycles, "preset": "none"})        # L_pose on the last cycle only


def table7_cpu() -> list[CpuRow]:
    return [CpuRow("1 cycle (RTMPose-t)", CPU_PLAIN), CpuRow("2 cycles, 2->1", _cpu_sdpose(2)),
            CpuRow("3 cycles, 3->2, 2->1", _cpu_sdpose(3))]


def table6_cpu() -> list[CpuRow]:
    return [CpuRow("1 cycle", CPU_PLAIN, 1), CpuRow("2 cycles", _cpu_no_distill(2), 2),
            CpuRow("3 cycles", _cpu_no_distill(3), 3),
            CpuRow("fewer layers, 2 / 3 cycles", None, note="RTMCC has a single GAU layer: nothing to remove")]


def table5_cpu() -> list[CpuRow]:
    return [CpuRow("none (last-cycle L_pose)", _cpu_no_distill(2), note="Table 6's 2-cycle run, deployed with 1"),
            CpuRow("pose (L_pose on both cycles)", _cpu_run({"cycles": 2, "preset": "pose"})),
            CpuRow("pose+kt", _cpu_sdpose(2), note="= all: Table 7's 2->1 run"),
            CpuRow("pose+vt", None, note=f"{NO_VT}: it would train exactly as `pose`"),
            CpuRow("kt (kt+vt without L_vt)", _cpu_run({"cycles": 2, "pose_cycles": "last", "use_kt": True,
                                                         "use_vt": False, "w_kt": CPU_W_KT})),
            CpuRow("all", None, note=f"{NO_VT}: it would train exactly as `pose+kt`"),
            CpuRow("1 cycle, plain (reference)", CPU_PLAIN, note="Table 7's first row")]


# Table 5 / 7 with visual tokens: the TokenPose head on the shipped CSPNeXt-t (``sdpose-cspnext-t``,
# configs/sdpose_cpu_token_t.yaml: stride-32 tokens, d 96, 2 layers, 8 epochs), token weights as the paper (5e-6).
CPU_TOKEN_RECIPE = "sdpose_cpu_token_t.yaml"


def _cpu_token(task: dict | None = None) -> Run:
    return Run(model="sdpose-cspnext-t", recipe=CPU_TOKEN_RECIPE, task=task)


def table5t_cpu() -> list[CpuRow]:
    return [CpuRow("1 cycle, plain (reference)", _cpu_token()),
            CpuRow("none (last-cycle L_pose)", _cpu_token({"cycles": 2, "preset": "none"})),
            CpuRow("pose (L_pose on both cycles)", _cpu_token({"cycles": 2, "preset": "pose"})),
            CpuRow("pose+kt", _cpu_token({"cycles": 2, "preset": "pose+kt"})),
            CpuRow("pose+vt", _cpu_token({"cycles": 2, "preset": "pose+vt"})),
            CpuRow("kt+vt (last-cycle L_pose)", _cpu_token({"cycles": 2, "preset": "kt+vt"})),
            CpuRow("all (2 cycles, 2->1: L_pose + L_kt + L_vt)", _cpu_token({"cycles": 2}))]


def table6t_cpu() -> list[CpuRow]:
    def layers(depth: int, cycles: int) -> Run:
        kwargs = {} if depth == 2 else {"depth": depth}
        if cycles == 1:
            return Run(model="sdpose-cspnext-t", model_kwargs=kwargs, recipe=CPU_TOKEN_RECIPE)
        return Run(model="sdpose-cspnext-t", model_kwargs=kwargs, recipe=CPU_TOKEN_RECIPE,
                   task={"cycles": cycles, "preset": "none"})

    return [CpuRow("2 layers, 1 cycle", layers(2, 1), 1), CpuRow("2 layers, 2 cycles", layers(2, 2), 2),
            CpuRow("1 layer, 1 cycle", layers(1, 1), 1), CpuRow("1 layer, 2 cycles", layers(1, 2), 2)]


def table7t_cpu() -> list[CpuRow]:
    return [CpuRow("1 cycle (TokenPose-CSPNeXt-t)", _cpu_token()), CpuRow("2 cycles, 2->1", _cpu_token({"cycles": 2})),
            CpuRow("3 cycles, 3->2, 2->1", _cpu_token({"cycles": 3}))]


CPU_REG_RECIPE = "sdpose_cpu_reg_t.yaml"  # the RLE TokenReg head on the shipped CSPNeXt-t, 12 epochs


def table1t_cpu() -> list[CpuRow]:
    def reg(cycles: int) -> Run:
        return Run(model="sdpose-reg-cspnext-t", recipe=CPU_REG_RECIPE, task={"cycles": cycles})

    return [CpuRow("RLE TokenReg, 1 cycle", reg(1)), CpuRow("SDPose-Reg, 2 cycles (2->1)", reg(2))]


CPU_TABLES = {"5": table5_cpu, "6": table6_cpu, "7": table7_cpu, "5t": table5t_cpu, "7t": table7t_cpu,
              "1t": table1t_cpu, "6t": table6t_cpu}
_TOKEN_SETTING = ("CPU scale: TokenPose head on the shipped CSPNeXt-t (sdpose-cspnext-t), MCT cycles, synthetic "
                  "body, 64x96, 8 epochs")
CPU_SETTINGS = {"5t": _TOKEN_SETTING, "7t": _TOKEN_SETTING, "6t": _TOKEN_SETTING,
                "1t": "CPU scale: RLE TokenReg head on the shipped CSPNeXt-t (sdpose-reg-cspnext-t), MCT cycles, "
                      "synthetic body, 64x96, 12 epochs"}
CPU_NOTES = {
    "7": "Every row deploys the same one-cycle RTMPose-t (same params, GMACs, latency): this table is also Table 1's "
         "'SDPose vs TokenPose at identical inference cost', with RTMPose-t in TokenPose-S-V1's place. "
         "Paper (TokenPose-S-V1, 12 layers): 69.5 / 72.3 / 71.7 AP.",
    "6": "No self-distillation (preset `none`: L_pose on the last cycle only), deployed with ALL its cycles and "
         "predicting from the last, as the paper's Table 6; the trainer's logged validation runs one cycle, so these "
         "AP / PCK are re-evaluated with `head.set_cycles(N)`. Parameters are the same at every cycle count (one "
         "shared GAU); GMACs and latency include every GAU pass. The paper's 'fewer layers' rows (4 instead of 12 "
         "layers) have no analogue: RTMCC has one GAU layer. Paper (12 layers): 69.5 / 73.3 / 72.4 AP.",
    "5t": "2 MCT cycles of the 2-layer token encoder (keypoint AND visual tokens), deployed with one: every row is "
          "the same network (params, FLOPs) as the plain one-cycle row. Token weights 5e-6 as the paper (the task "
          "loss is TokenPose's heatmap MSE). Paper (SDPose-S-V1): 1 cycle 69.5; none 55.4 / pose 70.2 / pose+kt 69.6 "
          "/ pose+vt 71.7 / kt+vt 58.2 / all 72.3 AP.",
    "1t": "Table 1's regression rows: the same RLE TokenReg network trained with the RLE loss alone (1 cycle) or "
          "as SDPose-Reg (2 cycles, 2->1, token weights 5e-6), both deployed with one cycle (same params, FLOPs). "
          "Table 1's heatmap rows (TokenPose vs SDPose at identical cost) are Tables 7 and 7t. Paper (COCO val): "
          "SDPose-Reg 73.7 AP; its RLE TokenReg baseline is not in the paper's tables.",
    "6t": "The token model of Table 5t without distillation (preset `none`), deployed with ALL its cycles as the "
          "paper's Table 6, here with the layer axis too: 2 layers (the model's) vs 1 layer (the paper's 12 vs 4). "
          "The 2-layer rows are Table 5t's plain and `none` runs. Paper (12 layers): 1 / 2 / 3 cycles 69.5 / 73.3 / "
          "72.4 AP; 4 layers with 3 cycles 70.2.",
    "7t": "The token model of Table 5t, every row deployed with one cycle (the same network, params and FLOPs): "
          "Table 1's 'SDPose vs TokenPose at identical inference cost' at CPU scale with visual tokens. Paper "
          "(TokenPose-S-V1, 12 layers): 69.5 / 72.3 / 71.7 AP.",
    "5": "2 GAU cycles, deployed with one (all rows: the plain RTMPose-t's params and FLOPs). RTMCC has no visual "
         "tokens: the L_vt rows are not run (they would repeat `pose` and `pose+kt`); the paper's kt+vt row is "
         "run as last-cycle L_pose + L_kt. L_kt weight 5e-3. Paper (SDPose-S-V1): 55.4 / 70.2 / 69.6 / 71.7 / "
         "58.2 / 72.3 AP (none / pose / pose+kt / pose+vt / kt+vt / all).",
}


BASELINE = Run()                                   # one cycle, plain training = TokenPose-S-V1 (mini)
SDPOSE_2 = Run(task={"cycles": 2})                 # SDPose-S-V1: 2 cycles, 2->1, all losses


def table6() -> list[tuple[str, Run]]:
    rows = [("4 layers, 1 cycle", BASELINE)]
    for depth in (4, 2):
        for cycles in (2, 3):
            kwargs = {"cycles": cycles} if depth == 4 else {"depth": depth, "cycles": cycles}
            rows.append((f"{depth} layers, {cycles} cycles", Run(model_kwargs=kwargs,
                                                                  task={"cycles": cycles, "preset": "none"})))
    return rows


def table7() -> list[tuple[str, Run]]:
    return [("1 cycle (TokenPose)", BASELINE), ("2 cycles, 2->1", SDPOSE_2),
            ("3 cycles, 3->2, 2->1", Run(task={"cycles": 3}))]


def table5() -> list[tuple[str, Run]]:
    from kdpose.distill.sdpose import TABLE5_PRESETS

    return [(preset, SDPOSE_2 if preset == "all" else Run(task={"cycles": 2, "preset": preset}))
            for preset in TABLE5_PRESETS]


def table1() -> list[tuple[str, Run]]:
    reg = {"model": "sdpose-mini-reg", "recipe": "sdpose_mini_reg.yaml"}
    return [("TokenPose-S-V1 (mini)", BASELINE), ("SDPose-S-V1 (mini)", SDPOSE_2),
            ("RLE TokenReg, 1 cycle", Run(**reg, task={"cycles": 1})),
            ("SDPose-Reg (mini), 2 cycles", Run(**reg, task={"cycles": 2}))]


TABLES = {"1": table1, "5": table5, "6": table6, "7": table7}


_COSTS: dict[str, dict] = {}


def compute_cost(run: Run, input_size: tuple[int, int] = INPUT_SIZE) -> dict:
    """Params (M), GMACs and CPU latency (ms, batch 1, 1 thread) of the deployed model, measured once per
    distinct deployed network (rows that deploy the same network share one measurement)."""
    key = f"{run.model} {_flow(run.model_kwargs)}"
    if key not in _COSTS:
        _COSTS[key] = measure_cost(run.model, input_size, **run.model_kwargs)
    return _COSTS[key]


def format_table(table: str, rows: list[dict], seeds: list[int], quick: bool) -> str:
    note = ", QUICK smoke settings: numbers are meaningless" if quick else ""
    lines = [f"**Table {table}** (synthetic body, 96x128, seeds {seeds}{note})", "",
             "| row | model (deployed) | AP (mean +- std) | params (M) | GMACs | CPU ms |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['row']} | {r['model']} | {ap_cell(r['ap_mean'], r['ap_std'])} | {r['params_m']:.3f} "
                     f"| {r['gflops']:.3f} | {r['cpu_ms']:.1f} |")
    return "\n".join(lines)


def write_section(key: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- sdpose:KEY -->`` and ``<!-- /sdpose:KEY -->`` in BENCHMARKS.md, atomically."""
    write_marked_section("sdpose", key, text, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=None, choices=sorted(set(TABLES) | set(CPU_TABLES)),
                        help="default: 1 5 6 7 (gpu), 7 6 5 (cpu and standard; no Table 1 there: see their Table 7)")
    add_run_arguments(parser, "sdpose", "tiny data, 1 epoch of 2 iterations (standard: 3; pipeline smoke test)")
    parser.add_argument("--no-markdown", action="store_true", help="do not rewrite the sections of BENCHMARKS.md")
    parser.add_argument("--scale", choices=["gpu", "cpu", "standard"], default="gpu",
                        help="cpu: Tables 5, 6, 7 on RTMPose-t's GAU cycles in the demo's setting (minutes per run); "
                             "standard: the same rows at 96x128 on the `standard` preset, --iters per row")
    parser.add_argument("--iters", type=int, help="--scale standard: iterations of every row (default 6000, quick 3; "
                                                  "rounded down to a multiple of 5)")
    parser.add_argument("--threads", default="auto",
                        help="--scale standard: torch threads of each run (default auto: all cores; 1 when shared)")
    parser.add_argument("--check-budget", action="store_true",
                        help="--scale standard: train only the plain model's first seed and print its AP (exit 1 "
                             "when it is not above 0.3)")
    args = parser.parse_args(argv)

    if args.scale != "standard" and (args.iters is not None or args.check_budget):
        parser.error("--iters and --check-budget are --scale standard options")
    if args.scale == "standard":
        args.tables = args.tables or ["7", "6", "5"]
        if not set(args.tables) <= {"5", "6", "7"}:
            parser.error("--scale standard has Tables 5, 6 and 7 (RTMPose-t's GAU cycles)")
        if args.iters is not None and args.iters < 5:
            parser.error("--iters: at least 5 (one iteration per epoch)")
        return standard_module().run_standard(args, {t: CPU_TABLES[t]() for t in args.tables}, CPU_NOTES)

    if args.scale == "cpu":
        if args.tables and "1" in args.tables:
            parser.error("--scale cpu has no Table 1: its Tables 7 / 7t compare networks of identical inference cost "
                         "and 1t has the regression rows")
        args.tables = args.tables or ["7", "6", "5"]
        return run_cpu(args)
    if args.tables and not set(args.tables) <= set(TABLES):
        parser.error(f"--tables {' '.join(sorted(set(args.tables) - set(TABLES)))}: --scale cpu tables only")
    args.tables = args.tables or ["1", "5", "6", "7"]
    root, cache = work_folders(args.work_root, args.quick)
    base, quick = [f"train.device={args.device}", f"data.cache_dir={cache}"], QUICK if args.quick else []
    tables = {t: TABLES[t]() for t in args.tables}
    results: dict[str, dict] = {}
    for rows in tables.values():
        for _, run in rows:
            if run.key in results:
                continue
            row = train_seeds(run.recipe, root / run.key, args.seeds,
                              lambda seed: base + [f"train.seed={seed}"] + quick + run.overrides(),
                              args.report_only)
            results[run.key] = {**row, **compute_cost(run, INPUT_SIZE)}
    report, text = [], []
    for table, rows in tables.items():
        entries = [{"table": table, "row": label, "run": run.key,
                    "model": f"{run.model} {_flow(run.model_kwargs)}".replace(" {}", ""), **results[run.key]}
                   for label, run in rows]
        report += entries
        section = format_table(table, entries, args.seeds, args.quick)
        seeds = " ".join(map(str, args.seeds))
        section += f"\n\nCommand: `python benchmarks/sdpose/run.py --tables {table} --seeds {seeds}`"
        text.append(section)
        if not args.quick and not args.no_markdown:
            write_section(f"table{table}", section)
    write_results(args.out, args.quick, report, "\n\n".join(text) + "\n")
    print("\n\n".join(text))
    return 0


def run_cpu(args: argparse.Namespace) -> int:
    """``--scale cpu``: train the missing runs of the selected CPU tables (each distinct configuration once, in
    table order), then evaluate every row's deployed network (AP, PCK@0.2) and write the tables."""
    root, cache = work_folders(args.work_root / "cpu", args.quick)
    base, quick = [f"train.device={args.device}", f"data.cache_dir={cache}"], QUICK if args.quick else []
    tables = {t: CPU_TABLES[t]() for t in args.tables}
    trained: set[str] = set()
    for rows in tables.values():
        for run in (row.run for row in rows if row.run is not None and row.run.key not in trained):
            trained.add(run.key)
            train_seeds(run.recipe, root / run.key, args.seeds,
                        lambda seed: base + [f"train.seed={seed}"] + quick + run.overrides(), args.report_only)
    report, text = [], []
    seeds = " ".join(map(str, args.seeds))
    for table, rows in tables.items():
        setting = (CPU_SETTINGS.get(table, "CPU scale: RTMPose-t from the shipped backbone, GAU cycles, synthetic "
                                           "body, 64x96, 12 epochs") + f", seeds [{seeds}]"
                   + (", QUICK smoke settings: numbers are meaningless" if args.quick else ""))
        entries = cpu_scale.build_entries(rows, root, args.seeds, CPU_INPUT_SIZE)
        report += [{"table": table, **e} for e in entries]
        ref = next(row.label for row in rows if row.run is not None)
        note = (f"AP and PCK@0.2 in %, mean +- std over seeds {seeds}; paired: the seeds on which the row is above "
                f"`{ref}`. {CPU_NOTES[table]}\n\nCommand: `python benchmarks/sdpose/run.py --scale cpu --tables "
                f"{table} --seeds {seeds}`")
        section = cpu_scale.format_table(f"Table {table} ({setting})", entries, ref, note)
        text.append(section)
        if not args.quick and not args.no_markdown:
            write_section(f"cpu-table{table}", section)
    write_results(args.out / "cpu", args.quick, report, "\n\n".join(text) + "\n")
    print("\n\n".join(text))
    return 0


if __name__ == "__main__":
    from kdpose.utils.entry import guarded

    sys.exit(guarded(main))

"""DistilPose Tables 4, 5 and 6 against a strong teacher: ``python benchmarks/distilpose/run.py --scale standard``.

The CPU scale (cpu.py) with the `standard` preset and trained teachers (issue 23): the teacher is the CSPNeXt-m
UDP heatmap model of configs/cspnext-m_udp_synth-standard_from-rtmpose-m.yaml, used as it ships (pretrained tag
``cspnext-m-udp.synth-standard-teacher_128x96``; ``--teacher-weights FILE`` takes another file of a 96x128 heatmap
model), never trained here; the weaker teacher of Table 5 is the same network after its own 6 epochs from random
weights (configs/cspnext-m_udp_synth-standard.yaml, tag ``cspnext-m-udp.synth-standard_128x96``). Every student is
the DeepPose regression network on RTMPose-t's backbone (``deeppose-cspnext-t``) started from the shipped CSPNeXt-t
backbone, input 96x128 (the teachers', so that the simulated heatmaps line up with their 24x32 ones), trained for
``--iters`` iterations of batch 32 on the teachers' own data: 20000 `standard` scenes, 500 val images with
ground-truth boxes. Recipe: configs/distilpose_std_deeppose-t_synth-standard.yaml. Its data keys equal the teacher
recipes', so the renders under .kdpose_cache/synth/ are reused (rendering the 20000 scenes again costs about an
hour of the 2-core CPU).

Tables (seeds 0 1 2; AP and PCK@0.2, mean +- std; per-seed paired counts against the table's reference row; the
deployed network's params, GMACs and CPU latency at 96x128):
* 4: plain student, + L_CS, + L_SH, + L_CS + L_SH (the token rows need a token student: ``--scale cpu`` 4t);
* 5: no teacher vs the weaker teacher vs the strong one (cs+sh students); ``--weak-teacher TAG|FILE`` takes
  another 96x128 heatmap teacher (e.g. an earlier checkpoint of a teacher's run), ``--weak-teacher none`` leaves
  those rows n/a (the demo-scale CSPNeXt teachers are 64x96, whose 16x24 heatmaps do not line up); the weaker
  teacher adds 3 distilled runs;
* 6: the teacher, the plain student and + L_SH (Simulated Heatmaps alone on the CNN student).
The teacher's AP and PCK are measured once on the val split (its file, read by the recipe's evaluator).

Budget: the default ``--iters`` 600 per student row; measured 2026-12-06 on the 2-vCPU AMX Xeon in bf16
(``train.amp: auto``): 50 training minutes for 12 student runs (3 seeds x the plain student and 3 distilled ones),
so ~4 minutes a run; the weaker teacher's 3 runs reuse their folders when that teacher was the strong one before.

Outputs: ``<work-root>/standard/full/it<iters>/`` (``baseline/seed<S>``, ``<teacher>/<preset>/seed<S>``; a cut
budget never mixes with another), ``<work-root>/standard/full/teachers/<teacher>/`` (its val metrics),
``<out>/standard/results.json|md``, and the tables between ``<!-- distilpose:standard-table<N> -->`` markers of
BENCHMARKS.md (not in quick mode or with ``--no-markdown``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # run.py loads this file; run alone, it would fail on its imports: say what to run
    from kdpose.utils.entry import not_a_command

    not_a_command("benchmarks/distilpose/standard.py", "benchmarks/distilpose/run.py",
                  "python benchmarks/distilpose/run.py --scale standard --seeds 0 1 2")

from _miniature import CONFIGS, REPO, mean_std, measure_cost, quick_standard_sets, train, work_folders  # noqa: E402
# run.py loads cpu.py under this name before this file: the table format and read-back are shared
from distilpose_bench_cpu import (NO_CONFIDENCE, PAPER_TABLE4, CpuTable, format_table, publish, run_pck,  # noqa: E402
                                  summarise)

INPUT_SIZE = (96, 128)
RECIPE = "distilpose_std_deeppose-t_synth-standard.yaml"
STUDENT_MODEL = "deeppose-cspnext-t"
TEACHER_TAG = "cspnext-m-udp.synth-standard-teacher_128x96"
TEACHER_MODEL = "cspnext-m-udp"  # the tag's model (known before the tag is registered)
WEAK_TEACHER_TAG = "cspnext-m-udp.synth-standard_128x96"  # Table 5's weaker teacher (the strong one's network)
EPOCHS = 5  # the iterations are split into 5 epochs: cosine from the 3rd, weak augmentation (stage 2) in the last
DEFAULT_ITERS = 600  # the budget in the module doc
QUICK_ITERS = 5
QUICK = quick_standard_sets()
TOKEN_ROWS = "n/a: no tokens in a CNN student (token rows: --scale cpu --tables 4t)"
NO_WEAK = "n/a: --weak-teacher none"


@dataclass(frozen=True)
class Student:
    """A DeepPose student trained per seed: ``preset`` None is the plain student; ``teacher`` "teacher" or
    "teacher-weak"."""

    name: str
    preset: str | None
    teacher: str = "teacher"

    def overrides(self, teacher_weights: str, teacher_model: str) -> list[str]:
        if self.preset is None:
            return ["distill.method=", NO_CONFIDENCE]
        from kdpose.distill.distilpose import TABLE4_PRESETS

        over = [f"distill.teacher={teacher_model}", f"distill.teacher_weights={teacher_weights}",
                f"distill.params={{preset: '{self.preset}'}}"]
        return over + ([] if TABLE4_PRESETS[self.preset][0] else [NO_CONFIDENCE])  # no L_CS: score 1


STUDENTS = {s.name: s for s in [Student("baseline", None), Student("cs", "cs"), Student("sh", "sh"),
                                Student("cs+sh", "cs+sh"), Student("cs+sh-weak", "cs+sh", "teacher-weak")]}


@dataclass(frozen=True)
class Teacher:
    """A trained heatmap teacher: its weights (a pretrained tag or a file), zoo model and the folder key of its
    runs (the tag, or the file's stem and content hash)."""

    weights: str
    model: str
    key: str


def teacher_of(weights: str) -> Teacher:
    """The :class:`Teacher` of ``weights``; a file must be a kdpose weights file of a 96x128 model."""
    from kdpose.models import PRETRAINED
    from kdpose.models.weights import read_model_info

    if weights in PRETRAINED or weights == TEACHER_TAG:
        return Teacher(weights, PRETRAINED[weights].model if weights in PRETRAINED else TEACHER_MODEL, weights)
    path = Path(weights)
    if not path.is_file():
        raise SystemExit(f"teacher weights {weights}: no such file or pretrained tag")
    info = read_model_info(path)
    if info is None or tuple(info.input_size) != INPUT_SIZE:
        raise SystemExit(f"teacher weights {weights}: expected a kdpose .safetensors file of a "
                         f"{INPUT_SIZE[0]}x{INPUT_SIZE[1]} heatmap model (its header names the model and input size)")
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:8]
    return Teacher(str(path.resolve()), info.name, f"{path.stem}-{digest}")


def check_teacher_ready(teacher: Teacher) -> None:
    """Fail before any training when the default tag is not registered yet."""
    from kdpose.models import PRETRAINED

    if teacher.weights == TEACHER_TAG and TEACHER_TAG not in PRETRAINED:
        raise SystemExit(f"pretrained tag {TEACHER_TAG} is not registered yet (the strong teacher ships it when "
                         "configs/cspnext-m_udp_synth-standard_from-rtmpose-m.yaml has finished); give a file with "
                         "--teacher-weights")


def tables(weak: Teacher | None) -> dict[str, CpuTable]:
    """The three tables; Table 5's weaker-teacher rows are n/a without ``weak``."""
    weak_label = f" ({Path(weak.weights).name})" if weak else ""
    weak_rows = (("weaker teacher" + weak_label, "teacher-weak" if weak else None),
                 ("student from the weaker teacher", "cs+sh-weak" if weak else None))
    return {t.key: t for t in [
        CpuTable("4", "Table 4 (standard preset): knowledge-transfer ablation, teacher CSPNeXt-m UDP -> "
                 "DeepPose-CSPNeXt-t",
                 (("baseline (no KD)", "baseline"), ("+ L_CS", "cs"), ("+ L_SH", "sh"), ("+ L_CS + L_SH", "cs+sh"),
                  ("+ L_KT", None), ("+ L_VT", None), ("+ TDE (L_KT + L_VT)", None), ("all", None)),
                 "baseline", PAPER_TABLE4, TOKEN_ROWS),
        CpuTable("5", "Table 5 (standard preset): stronger teacher -> better student (cs+sh, DeepPose-CSPNeXt-t)",
                 (("no teacher", "baseline"), *weak_rows, ("teacher CSPNeXt-m UDP (strong)", "teacher"),
                  ("student from the strong teacher", "cs+sh")),
                 "baseline", "paper (stemnet student): no teacher 56.0, stemnet teacher 63.6, HRNet-W48 teacher 71.6",
                 NO_WEAK),
        CpuTable("6", "Table 6 (standard preset): CNN student, Simulated Heatmaps only",
                 (("CSPNeXt-m UDP heatmap (teacher)", "teacher"), ("DeepPose-CSPNeXt-t", "baseline"),
                  ("DeepPose-CSPNeXt-t + SH", "sh")),
                 "baseline", "paper (ResNet-50, COCO val AP): SimpleBaseline teacher 70.4, DeepPose 52.6, + SH 59.7"),
    ]}


def schedule_sets(iters: int) -> list[str]:
    """``iters`` iterations (rounded down to a multiple of ``EPOCHS``) as epochs of the trainer: the last one in
    stage 2, validation once at the end."""
    return [f"train.max_epochs={EPOCHS}", f"train.epoch_iters={iters // EPOCHS}", "train.stage2_epochs=1",
            f"eval.interval={EPOCHS}"]


def needed(table_map: dict[str, CpuTable], keys: list[str]) -> tuple[list[str], list[str]]:
    """(teachers, student runs) the tables ``keys`` need, each once: a teacher is needed by its row or a student."""
    names = list(dict.fromkeys(name for key in keys for _, name in table_map[key].rows if name))
    students = [n for n in names if n in STUDENTS]
    teachers = {n for n in names if n not in STUDENTS} | {STUDENTS[n].teacher for n in students if STUDENTS[n].preset}
    return sorted(teachers), students


def val_split(sets: list[str]) -> Path:
    """The val annotation file the recipe with ``sets`` renders (or reuses) in its synthetic cache."""
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.synthetic import synthetic_split_paths

    cfg = load_recipe(CONFIGS / RECIPE, sets)
    return synthetic_split_paths(cfg.data, cfg.data.val, "val")[0]


def teacher_summary(teacher: Teacher, work: Path, sets: list[str], ann: Path, report_only: bool) -> dict:
    """The teacher's AP (the recipe's evaluator on its val split) and PCK@0.2, measured once into ``work``."""
    val = work / "val.json"
    if not val.is_file() and not report_only:
        from kdpose.engine.config import load_recipe
        from kdpose.tasks.topdown import evaluate_weights

        cfg = load_recipe(CONFIGS / RECIPE, sets + [f"model.name={teacher.model}", "model.init_weights=",
                                                    "distill.method="])
        metrics = evaluate_weights(cfg, teacher.weights, work)
        val.write_text(json.dumps({"weights": teacher.weights, **metrics}, default=float))
    ap = json.loads(val.read_text())["AP"] if val.is_file() else None
    pck = run_pck(work, teacher.model, ann, INPUT_SIZE, teacher.weights) if ap is not None else None
    seeds = [{"seed": 0, "ap": ap, "pck": pck, "minutes": None}]
    return {"seeds": seeds, "ap": mean_std([ap] if ap is not None else []),
            "pck": mean_std([pck] if pck is not None else [])}


def run_standard(args) -> int:
    """Train the student rows (seed-major), measure the teachers, write the tables."""
    iters = args.iters or (QUICK_ITERS if args.quick else DEFAULT_ITERS)
    teachers = {"teacher": teacher_of(args.teacher_weights or TEACHER_TAG)}
    weak = WEAK_TEACHER_TAG if args.weak_teacher is None else args.weak_teacher
    if weak != "none":
        teachers["teacher-weak"] = teacher_of(weak)
    table_map = tables(teachers.get("teacher-weak"))
    teacher_names, students = needed(table_map, args.tables)
    root, quick_cache = work_folders(args.work_root / "standard", args.quick)
    cache = quick_cache if args.quick else REPO / ".kdpose_cache" / "synth"  # the recipe's (and teacher's) cache
    base = [f"train.device={args.device}", f"train.threads={args.threads}", f"data.cache_dir={cache}"]
    base += QUICK if args.quick else []
    runs = root / f"it{iters}"
    dirs = {}
    for name in students:
        run = STUDENTS[name]
        folder = runs / "baseline" if run.preset is None else runs / teachers[run.teacher].key / run.preset
        dirs[name] = {seed: folder / f"seed{seed}" for seed in args.seeds}
    if not args.report_only:
        check_teacher_ready(teachers["teacher"])
        for seed in args.seeds:  # seed-major: an interrupted session still has every row's first seed
            for name in students:
                run = STUDENTS[name]
                teacher = teachers[run.teacher]
                sets = base + schedule_sets(iters) + [f"train.seed={seed}"]
                train(RECIPE, dirs[name][seed], sets + run.overrides(teacher.weights, teacher.model))
    ann = val_split(base)
    costs: dict[str, dict] = {}
    results = {}
    for name in teacher_names + students:
        model = teachers[name].model if name in teachers else STUDENT_MODEL
        if model not in costs:
            costs[model] = measure_cost(model, INPUT_SIZE)
        if name in teachers:
            summary = teacher_summary(teachers[name], root / "teachers" / teachers[name].key, base, ann,
                                      args.report_only)
        else:
            summary = summarise(dirs[name], model, ann, INPUT_SIZE)
        results[name] = {"run": name, "model": model, **summary, **costs[model]}
    write_tables(args, table_map, results, iters)
    return 0


def write_tables(args, table_map: dict[str, CpuTable], results: dict[str, dict], iters: int) -> None:
    """results.json / .md under ``<out>/standard``, and each table into BENCHMARKS.md unless quick or --no-markdown."""
    command = (f"python benchmarks/distilpose/run.py --scale standard --tables {' '.join(args.tables)} --seeds "
               f"{' '.join(map(str, args.seeds))}" + (" --quick" if args.quick else "")
               + (f" --iters {args.iters}" if args.iters else ""))
    for flag, value in (("--teacher-weights", args.teacher_weights), ("--weak-teacher", args.weak_teacher)):
        command += f" {flag} {value}" if value else ""
    minutes = sum(s["minutes"] or 0.0 for r in results.values() for s in r["seeds"])
    budget = (f"(teacher: its weights measured once); students {EPOCHS * (iters // EPOCHS)} iterations of batch "
              f"{8 if args.quick else 32}")
    texts = {key: format_table(table_map[key], results, args.seeds, epochs=0, quick=args.quick, budget=budget,
                               teachers=("teacher", "teacher-weak"))  # epochs: unused, the budget says it
             + f"\n\nCommand: `{command}` ({minutes:.0f} training minutes for all tables)."
             for key in args.tables}
    publish("standard", texts, results, args)

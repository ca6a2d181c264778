"""DWPose Tables 4-7 against a strong teacher: ``python benchmarks/dwpose/run.py <table> --scale standard``.

The `cpu` scale's rows (run.py) with the `standard` preset and a trained teacher (issue 23): the teacher is the
RTMPose-m of configs/rtmpose-m_synth-standard.yaml (body 17, input 96x128), used as it ships (pretrained tag
``rtmpose-m.synth-standard_128x96``; ``--teacher-weights FILE`` takes another kdpose .safetensors file of an
RTMPose-m coco 96x128 model, e.g. the ``best.safetensors`` of the teacher's unfinished run), never trained here.
Every student is RTMPose-t, coco layout, 96x128, started from the shipped CSPNeXt-t backbone, batch 32, on the
teacher's own data: 20000 `standard` scenes, 500 val images with ground-truth boxes. Recipes:
configs/dwpose_std_s1_m-t_synth-standard.yaml (stage 1, and the plain student with ``distill.method=``) and
configs/dwpose_std_s2_t_synth-standard.yaml (stage 2). Their data keys equal the teacher recipe's, so the renders
the teacher made under .kdpose_cache/synth/ are reused (rendering the 20000 scenes again costs about an hour).

Budget per row: ``--iters`` stage-1 iterations (default 600, 5 epochs of 120, RTMPose's weak augmentation in the
last); stage 2 gets 20% more, as in the paper (120 at the default). Table 5's teacher + S2 row (stage 2 on the
RTMPose-m itself) gets ``--teacher-s2-iters`` (default: the students' stage-2 budget). That is a SMALL budget for a
re-initialised RTMPose-m head, far below the paper's 20% of the teacher's own training (30 epochs of ~1250
iterations: ~7500); ``--teacher-s2-iters 7500`` is that opt-in (~70 minutes per seed).

Budget, ESTIMATED (to be replaced by the measured minutes each table prints): 2-core AVX2 CPU, fp32, 2 torch
threads, batch 32 at 96x128. An RTMPose-t training step ~0.45 s; an RTMPose-m no-grad forward ~0.35 s, so a
stage-1 distilled step ~0.8 s; a stage-2 step on RTMPose-t at most a training step (~0.45 s: its backbone runs
without gradients), on RTMPose-m ~0.55 s (its no-grad forward and a new head's forward and backward); plus ~1 minute
per run for start-up, validation and PCK. Per seed, at the default 600 / 120 iterations:
* table4 (baseline, s1, baseline+s2, s1+s2): 270 + 480 + 54 + 54 s + 4 min ~ 18 min; 3 seeds ~ 55 min;
* table5 (baseline, baseline+s2, teacher+s2): 270 + 54 + 66 s + 3 min ~ 10 min; 3 seeds ~ 30 min;
* table6 (baseline and 5 distilled variants): 270 + 5 x 480 s + 6 min ~ 50 min; 3 seeds ~ 2.5 h;
* table7 (logit, logit+mask): 2 x 480 s + 2 min ~ 18 min; 3 seeds ~ 55 min;
* all four share the baseline and the distilled runs (10 runs per seed): ~ 65 min per seed, ~ 3.3 h for 3 seeds.
The teacher's AP and PCK are measured once per teacher (~3 minutes). The student folders are keyed by the teacher
(tag or file stem, + the file's content hash) and the budget, so another teacher or budget trains every row again (the plain
student's rows too: ~16 minutes).

Outputs: ``<work-root>/standard/full/<teacher key>/`` with ``teacher/seed0`` (its weights and val metrics),
``it<iters>/<run>/seed<S>`` and ``teacher+s2-it<N>/seed<S>``; ``benchmarks/dwpose/results_standard.json``; the
tables between ``<!-- dwpose:standard-<table> -->`` markers of BENCHMARKS.md (not with ``--quick`` or
``--no-markdown``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # run.py loads this file; run alone, it would fail on its imports: say what to run
    from kdpose.utils.entry import not_a_command

    not_a_command("benchmarks/dwpose/standard.py", "benchmarks/dwpose/run.py",
                  "python benchmarks/dwpose/run.py table4 table5 table6 table7 --scale standard")

from _miniature import quick_standard_sets  # noqa: E402

INPUT_SIZE = (96, 128)
TEACHER_TAG = "rtmpose-m.synth-standard_128x96"
TEACHER_MODEL = "rtmpose-m"
TEACHER_RECIPE = "rtmpose-m_synth-standard.yaml"  # how the teacher was trained (never run by the driver)
S1_RECIPE = "dwpose_std_s1_m-t_synth-standard.yaml"
S2_RECIPE = "dwpose_std_s2_t_synth-standard.yaml"
EPOCHS = 5  # stage 1's iterations are split into 5 epochs: the distillation weight decays per epoch
DEFAULT_ITERS = 600  # the estimate in the module doc
QUICK_ITERS = 5
QUICK = tuple(quick_standard_sets())
NOT_READY = (f"the strong teacher is still training: pretrained tag {TEACHER_TAG} is not registered yet (it ships "
             "when configs/rtmpose-m_synth-standard.yaml has finished); pass a file with --teacher-weights FILE "
             "(a kdpose .safetensors of an RTMPose-m coco 96x128 model, e.g. the teacher run's best.safetensors)")


@dataclass(frozen=True)
class Teacher:
    """The trained RTMPose-m teacher: its weights as given (a tag or a file), the file, and the folder key of the
    runs distilled from it (the tag or the file's stem, and the file's content hash)."""

    weights: str
    file: Path
    key: str


def teacher_of(weights: str | None) -> Teacher:
    """The :class:`Teacher` of ``weights`` (default: the tag); exits with one line when the tag is not registered
    yet or the file is not an RTMPose-m coco 96x128 model."""
    from kdpose.models import PRETRAINED
    from kdpose.models.weights import read_model_info

    weights = weights or TEACHER_TAG
    if weights == TEACHER_TAG and TEACHER_TAG not in PRETRAINED:
        raise SystemExit(NOT_READY)
    if weights in PRETRAINED:
        cfg = PRETRAINED[weights]
        if (cfg.model, cfg.layout, tuple(cfg.input_size)) != (TEACHER_MODEL, "coco", INPUT_SIZE) or not cfg.asset:
            raise SystemExit(f"teacher weights {weights}: expected a shipped {TEACHER_MODEL} coco "
                             f"{INPUT_SIZE[0]}x{INPUT_SIZE[1]} tag")
        # the tag's file is replaced when the run it comes from goes on (interim -> final weights): its hash in the
        # key keeps runs distilled from an earlier file from being reused as if from the new one
        return Teacher(weights, Path(cfg.location), f"{weights}-{_digest(Path(cfg.location))}")
    path = Path(weights)
    if not path.is_file():
        raise SystemExit(f"teacher weights {weights}: no such file or pretrained tag")
    info = read_model_info(path)
    if info is None or (info.name, info.layout, tuple(info.input_size)) != (TEACHER_MODEL, "coco", INPUT_SIZE):
        raise SystemExit(f"teacher weights {weights}: expected a kdpose .safetensors file of an {TEACHER_MODEL} coco "
                         f"{INPUT_SIZE[0]}x{INPUT_SIZE[1]} model (its header names the model, layout and input size)")
    return Teacher(str(path.resolve()), path.resolve(), f"{path.stem}-{_digest(path)}")


def _digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:8]


def stage1_sets(iters: int) -> tuple[str, ...]:
    """``iters`` iterations (rounded down to a multiple of ``EPOCHS``) as epochs of the trainer: the last one with
    the weak augmentation, validation once at the end."""
    return (f"train.max_epochs={EPOCHS}", f"train.epoch_iters={iters // EPOCHS}", "train.stage2_epochs=1",
            f"eval.interval={EPOCHS}")


def stage2_iters(iters: int) -> int:
    """Stage 2's budget: 20% of stage 1's, as in the paper (at least one iteration)."""
    return max(1, iters // EPOCHS)


def stage2_sets(iters: int) -> tuple[str, ...]:
    """Stage 2 as one epoch of ``iters`` iterations, validated at its end."""
    return ("train.max_epochs=1", f"train.epoch_iters={iters}", "train.stage2_epochs=0", "eval.interval=1")

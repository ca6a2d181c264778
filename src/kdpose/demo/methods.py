"""The distillation methods of ``kdpose demo`` as small plug-ins: what each one trains and shows.

A :class:`DemoMethod` says where it runs (its :class:`~kdpose.demo.setting.DemoSetting` per layout: a teacher's
crops only fit students of its own input size), which teacher it distils (a :class:`~kdpose.demo.setting.TeacherSpec`:
the network and its shipped tag, trained here when there is none or with ``--from-scratch``; None: self-distillation),
which network the students are, the plain student's recipe and the distilled student's training phase(s), and the
labels of the report's rows. :func:`kdpose.demo.pipeline.run_demo` runs any
of them with the same data, evaluation, export, pictures and report.

Fairness (every method): the plain and the distilled student are the same network, from the same pre-trained
backbone and seed, on the same images, with the same optimiser recipe and the same number of optimiser steps.

| method | setting (body 17) | teacher | students | distilled student |
|---|---|---|---|---|
| dwpose | standard, 96x128 | rtmpose-m (shipped, AP ~0.7; whole-body: ~0.27) | rtmpose-t | DWPose stage 1 (E1 epochs) + stage 2 (E2) |
| sdpose | standard, 96x128 | none (self-distillation) | rtmpose-t | SDPose: GAU 2 cycles in training, 1 deployed |
| distilpose | standard, 96x128 | cspnext-m-udp (shipped, AP ~0.5) | deeppose-cspnext-t | DistilPose ``cs+sh`` |
| stagewise | depth | mpm-2s Nw=64 (shipped) | mpm-2s Nw=32 | stagewise KD + hints (``demo.depth``, fixed steps) |

Whole-body (``--layout wholebody``): ``dwpose`` distils the shipped whole-body RTMPose-m of the `standard` setting
and ``sdpose`` needs no teacher, so both run there as for body 17; no whole-body heatmap teacher is shipped, so
``distilpose`` runs on the `hard` setting and trains its CSPNeXt-s teacher first.

A plug-in names the pipeline that runs it (``pipeline``): ``topdown`` (:func:`kdpose.demo.pipeline.run_topdown_demo`)
or ``depth`` (:func:`kdpose.demo.depth.run_depth_demo`: bottom-up pose machines on depth images).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from .config import (EPOCHS_PER_MINUTE, STUDENT_MODEL, BudgetPlan, DemoOptions, base_recipe,
                     stage1_recipe, stage2_recipe, student_recipe)
from .setting import HARD, STANDARD, DemoSetting, TeacherSpec

# SDPose L_kt weight on RTMCC tokens. The paper's 5e-6 is set against TokenPose's JointsMSE heatmap loss (~1e-3
# per step); the SimCC KL loss is ~1 (measured on the demo data: KL 0.8-1.2, MSE between the two GAU cycles'
# tokens 0.004 at the start, 0.5 for the trained teacher), so the same balance needs a weight ~1000x larger.
SDPOSE_CYCLES = 2
SDPOSE_W_KT = 5.0e-3
DWPOSE_TEACHER = "rtmpose-m"  # the shipped `standard` teacher (issue 22)
DWPOSE_TEACHER_TAG = "rtmpose-m.synth-standard_128x96"
DWPOSE_WHOLEBODY_TEACHER_TAG = "rtmpose-m.synth-standard-wholebody_128x96"  # the same network with 133 keypoints
DISTILPOSE_TEACHER = "cspnext-m-udp"  # heatmap teacher of the standard setting (stage 1 of the RTMPose-m teacher)
DISTILPOSE_TEACHER_TAG = "cspnext-m-udp.synth-standard_128x96"
DISTILPOSE_WHOLEBODY_TEACHER = "cspnext-s-udp"  # no shipped whole-body heatmap teacher: a small one is trained here
DISTILPOSE_STUDENT = "deeppose-cspnext-t"  # DeepPose regression student on RTMPose-t's backbone (Table 6's CNN)
DISTILPOSE_PRESET = "cs+sh"  # Simulated Heatmaps + confidence (Table 4/6); no tokens in a CNN student
TEACHER_LR = 2.0e-3  # heatmap head on a trained backbone (as the CSPNeXt pre-training recipe)


@dataclass(frozen=True)
class KDPhase:
    """One training phase of the distilled student; ``recipe(runs)`` is built when the phase starts, so it can read
    earlier phases' weights (``runs``: name -> TrainRun)."""

    key: str  # run name: OUT/runs/<key>/, ONNX OUT/onnx/<key>.onnx when it is a row
    title: str  # the phase line in the terminal and the report's time table
    desc: str  # progress-bar label
    recipe: Callable[[dict], dict[str, Any]]


class DemoMethod:
    """Base plug-in: a plain student and the distilled student's phases (subclasses fill them in).

    Attributes: ``name`` (the ``--method``), ``label`` (as the report names it), ``student_model`` (zoo name),
    ``kd_label`` (the distilled student's row), ``teacher_note`` (the teacher row's text when there is none),
    ``intermediate_rows`` ((KD phase key, row label) of earlier KD phases also shown as rows), ``epochs_per_minute``
    (student epochs per ``--minutes`` in its setting, from its measured step times)."""

    name = ""
    label = ""
    pipeline: ClassVar[str] = "topdown"
    student_model = STUDENT_MODEL
    kd_label = "student + KD"
    teacher_note = ""
    intermediate_rows: tuple[tuple[str, str], ...] = ()
    epochs_per_minute = EPOCHS_PER_MINUTE

    def setting(self, layout: str) -> DemoSetting:
        """Where the method runs for ``layout`` (``coco`` / ``coco_wholebody``)."""
        return HARD

    def teacher_spec(self, layout: str) -> TeacherSpec | None:
        """The teacher for ``layout``; None: self-distillation."""
        return None

    def teacher_recipe(self, opts: DemoOptions, plan: BudgetPlan, backbone: Path | None) -> dict[str, Any]:
        """The teacher's training (or evaluation) recipe."""
        return base_recipe(opts, self.teacher_spec(opts.skeleton_layout).model, plan.teacher_epochs, backbone)

    def student_recipe(self, opts: DemoOptions, plan: BudgetPlan, backbone: Path | None) -> dict[str, Any]:
        """The plain student: as many steps as every KD phase together."""
        return base_recipe(opts, self.student_model, plan.student_epochs, backbone)

    def kd_phases(self, opts: DemoOptions, plan: BudgetPlan, teacher_weights: Path | None,
                  backbone: Path | None) -> list[KDPhase]:
        """The distilled student's training phases in order; the last one's weights are the distilled student."""
        raise NotImplementedError

    def how(self, key: str, plan: BudgetPlan) -> str:
        """The "how it was made" cell of the row of run ``key`` (``student``, ``kd`` or an intermediate row)."""
        return f"plain training, {plan.student_epochs} ep"

    def budget_note(self, opts: DemoOptions, plan: BudgetPlan) -> str:
        """The report's budget line."""
        return f"Budget: --minutes {opts.minutes:g} -> both students {plan.student_epochs} epochs (equal iterations)."


class DWPoseMethod(DemoMethod):
    """DWPose: the shipped RTMPose-m (`standard` setting, val AP ~0.7) teaches RTMPose-t (stage 1), then head-aware
    self-KD (stage 2). Whole-body: the shipped whole-body RTMPose-m of the same setting (val whole-body AP ~0.27)."""

    name, label = "dwpose", "DWPose"
    intermediate_rows = (("kd_stage1", "student + KD (stage 1 only)"),)
    # 96x128 crops, 2 threads: plain RTMPose-t step 0.39-0.44 s, stage 1 0.73-0.79 s (+ the RTMPose-m teacher's
    # forward; median step_time of benchmarks/demo_seeds.py's 3 seeds): 10 minutes -> 8 + 2 epochs, ~8.3 min a run;
    # whole-body (133 keypoints, the whole-body RTMPose-m teacher) at the same rate: 7.9 +- 0.3 min a run (AMX, bf16)
    epochs_per_minute = 1.0

    def setting(self, layout):
        return STANDARD

    def teacher_spec(self, layout):
        tag = DWPOSE_TEACHER_TAG if layout == "coco" else DWPOSE_WHOLEBODY_TEACHER_TAG
        return TeacherSpec(DWPOSE_TEACHER, tag, pretrain=DWPOSE_TEACHER)

    def kd_phases(self, opts, plan, teacher_weights, backbone):
        teacher = self.teacher_spec(opts.skeleton_layout).model
        return [KDPhase("kd_stage1", f"student + DWPose stage 1 ({_epochs(plan.stage1_epochs)})", "DWPose stage 1",
                        lambda runs: stage1_recipe(opts, plan, teacher_weights, backbone, teacher)),
                KDPhase("kd", f"student + DWPose stage 2 ({_epochs(plan.stage2_epochs)})", "DWPose stage 2",
                        lambda runs: stage2_recipe(opts, plan, runs["kd_stage1"].weights))]

    def how(self, key, plan):
        if key == "kd_stage1":
            return f"DWPose stage 1, {plan.stage1_epochs} ep"
        if key == "kd":
            return f"DWPose stage 1 + 2, {plan.stage1_epochs}+{plan.stage2_epochs} ep"
        return super().how(key, plan)

    def budget_note(self, opts, plan):
        return (f"Budget: --minutes {opts.minutes:g} -> student {plan.student_epochs} epochs; DWPose stage 1 "
                f"{plan.stage1_epochs} + stage 2 {plan.stage2_epochs} epochs (equal iterations).")


class SDPoseMethod(DemoMethod):
    """SDPose self-distillation on RTMPose-t: the RTMCC head's GAU as a 2-cycle MCT in training, 1 cycle deployed.
    No teacher to match, so it runs on the `standard` setting (body 17 and whole-body), where a plain RTMPose-t learns
    real poses."""

    name, label = "sdpose", "SDPose"
    kd_label = f"student + SDPose ({SDPOSE_CYCLES} cycles -> 1)"
    teacher_note = "not applicable: self-distillation (the later GAU cycle teaches the earlier one)"
    # 96x128 crops, 2 threads: plain RTMPose-t step ~0.45 s, 2-cycle step ~0.5 s; ~40 iterations an epoch
    epochs_per_minute = 1.2

    def setting(self, layout):
        return STANDARD

    def kd_phases(self, opts, plan, teacher_weights, backbone):
        return [KDPhase("kd", f"student + SDPose, {SDPOSE_CYCLES} cycles ({_epochs(plan.student_epochs)})",
                        "SDPose", lambda runs: sdpose_recipe(opts, plan, backbone))]

    def how(self, key, plan):
        if key == "kd":
            return f"SDPose: GAU {SDPOSE_CYCLES} cycles in training, 1 deployed, {plan.student_epochs} ep"
        return super().how(key, plan)


class DistilPoseMethod(DemoMethod):
    """DistilPose, Table 6's CNN variant: a heatmap teacher -> a DeepPose regression student. Body 17: the shipped
    CSPNeXt-m UDP teacher of the `standard` setting; whole-body: a CSPNeXt-s UDP teacher trained here."""

    name, label = "distilpose", "DistilPose"
    student_model = DISTILPOSE_STUDENT
    kd_label = f"student + DistilPose ({DISTILPOSE_PRESET})"
    # 96x128 crops, 2 threads: plain DeepPose-t step ~0.4 s, distilled ~0.95 s (+ the CSPNeXt-m teacher's forward)
    epochs_per_minute = 0.9

    def setting(self, layout):
        return STANDARD if layout == "coco" else HARD

    def teacher_spec(self, layout):
        if layout == "coco":
            return TeacherSpec(DISTILPOSE_TEACHER, DISTILPOSE_TEACHER_TAG)
        return TeacherSpec(DISTILPOSE_WHOLEBODY_TEACHER, None, pretrain=DISTILPOSE_WHOLEBODY_TEACHER)

    def teacher_recipe(self, opts, plan, backbone):
        recipe = super().teacher_recipe(opts, plan, backbone)
        recipe["optim"] = {"lr": TEACHER_LR, "weight_decay": 0.0, "clip_grad_norm": 0.0}
        return recipe

    def student_recipe(self, opts, plan, backbone):
        """The plain DeepPose student: nothing trains its confidence output (only L_CS does), so it decodes score 1
        per keypoint (``use_confidence: false``, the zoo's rule for such students). Same network and steps."""
        recipe = super().student_recipe(opts, plan, backbone)
        recipe["model"]["kwargs"] = {"use_confidence": False}
        return recipe

    def kd_phases(self, opts, plan, teacher_weights, backbone):
        teacher = self.teacher_spec(opts.skeleton_layout).model
        return [KDPhase("kd", f"student + DistilPose {DISTILPOSE_PRESET} ({_epochs(plan.student_epochs)})",
                        "DistilPose", lambda runs: distilpose_recipe(opts, plan, teacher_weights, backbone, teacher))]

    def how(self, key, plan):
        if key == "kd":
            return f"DistilPose {DISTILPOSE_PRESET} from the heatmap teacher, {plan.student_epochs} ep"
        return super().how(key, plan)


class StagewiseMethod(DemoMethod):
    """Stagewise distillation of bottom-up depth pose machines (the shipped MPM-2S teacher -> an MPM-2S at half the
    width, with hints), run by the depth pipeline with its own fixed-step budget (``kdpose.demo.depth``)."""

    name, label = "stagewise", "stagewise KD"
    pipeline = "depth"
    teacher_model, student_model = "mpm-2s (Nw=64)", "mpm-2s (Nw=32)"
    kd_label = "student + stagewise KD"

    def kd_phases(self, opts, plan, teacher_weights, backbone):
        raise NotImplementedError("the depth pipeline trains the stagewise student itself (kdpose.demo.depth)")


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def sdpose_recipe(opts: DemoOptions, plan: BudgetPlan, backbone: Path | None = None) -> dict[str, Any]:
    """SDPose on RTMPose-t: L_pose (SimCC KL) on both GAU cycles + w_kt * MSE(cycle-1 tokens, cycle-2 tokens); no
    teacher model (the later cycle teaches), no L_vt (RTMCC has no visual tokens). Deployed: one cycle."""
    recipe = student_recipe(opts, plan, backbone)
    recipe["distill"] = {"method": "sdpose", "params": {"cycles": SDPOSE_CYCLES, "w_kt": SDPOSE_W_KT}}
    return recipe


def distilpose_recipe(opts: DemoOptions, plan: BudgetPlan, teacher_weights: Path, backbone: Path | None = None,
                      teacher_model: str = DISTILPOSE_TEACHER) -> dict[str, Any]:
    """DistilPose, Table 6's CNN variant: the DeepPose regression student learns from the heatmap teacher's raw
    heatmaps through Simulated Heatmaps (L_SH, weight 1) and confidence (L_CS, 0.01), plus its own L_reg."""
    recipe = base_recipe(opts, DISTILPOSE_STUDENT, plan.student_epochs, backbone)
    recipe["distill"] = {"method": "distilpose", "teacher": teacher_model, "teacher_weights": str(teacher_weights),
                         "params": {"preset": DISTILPOSE_PRESET}}
    return recipe


METHOD_PLUGINS: dict[str, DemoMethod] = {m.name: m for m in (DWPoseMethod(), SDPoseMethod(), DistilPoseMethod(),
                                                              StagewiseMethod())}


def get_method(name: str) -> DemoMethod:
    """The plug-in of ``--method name`` (run through :meth:`DemoOptions.validate` first)."""
    return METHOD_PLUGINS[name]


__all__ = ["DISTILPOSE_PRESET", "DISTILPOSE_STUDENT", "DISTILPOSE_TEACHER", "DISTILPOSE_TEACHER_TAG",
           "DISTILPOSE_WHOLEBODY_TEACHER", "DWPOSE_TEACHER", "DWPOSE_TEACHER_TAG", "DWPoseMethod", "DemoMethod",
           "DistilPoseMethod", "KDPhase", "SDPoseMethod", "METHOD_PLUGINS", "StagewiseMethod",
           "SDPOSE_CYCLES", "SDPOSE_W_KT", "distilpose_recipe", "get_method", "sdpose_recipe"]

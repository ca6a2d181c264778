"""The distillation methods of ``kdpose demo`` as small plug-ins: what each one trains and shows.

A :class:`DemoMethod` says where its teacher comes from (``teacher`` = ``"shipped"``: the shipped RTMPose-s, or
trained here when absent; ``"trained"``: always trained here, starting from the shipped teacher's backbone;
``"none"``: self-distillation), which network the students are, the plain student's recipe and the distilled
student's training phase(s), and the labels of the report's rows. :func:`kdpose.demo.pipeline.run_demo` runs any
of them with the same data, evaluation, export, pictures and report.

Fairness (every method): the plain and the distilled student are the same network, from the same pre-trained
backbone and seed, on the same images, with the same optimiser recipe and the same number of optimiser steps.

| method | teacher | students | distilled student |
|---|---|---|---|
| dwpose | rtmpose-s (shipped) | rtmpose-t | DWPose stage 1 (E1 epochs) + stage 2 (E2) |
| sdpose | none (self-distillation) | rtmpose-t | SDPose: GAU 2 cycles in training, 1 deployed (E1 + E2) |
| distilpose | cspnext-s-udp (trained here) | deeppose-cspnext-t | DistilPose ``cs+sh`` (E1 + E2 epochs) |
| stagewise | mpm-2s Nw=64 (shipped) | mpm-2s Nw=32 (depth) | stagewise KD + hints (``demo.depth``, fixed steps) |

A plug-in names the pipeline that runs it (``pipeline``): ``topdown`` (:func:`kdpose.demo.pipeline.run_topdown_demo`)
or ``depth`` (:func:`kdpose.demo.depth.run_depth_demo`: bottom-up pose machines on depth images).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from .config import (STUDENT_MODEL, TEACHER_MODEL, BudgetPlan, DemoOptions, base_recipe, stage1_recipe, stage2_recipe,
                     student_recipe)

# SDPose L_kt weight on RTMCC tokens. The paper's 5e-6 is set against TokenPose's JointsMSE heatmap loss (~1e-3
# per step); the SimCC KL loss is ~1 (measured on the demo data: KL 0.8-1.2, MSE between the two GAU cycles'
# tokens 0.004 at the start, 0.5 for the trained teacher), so the same balance needs a weight ~1000x larger.
SDPOSE_CYCLES = 2
SDPOSE_W_KT = 5.0e-3
DISTILPOSE_TEACHER = "cspnext-s-udp"  # heatmap teacher (RTMPose-s's backbone under a UDP heatmap head)
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

    Attributes: ``name`` (the ``--method``), ``label`` (as the report names it), ``teacher`` (``"shipped"`` /
    ``"trained"`` / ``"none"``), ``teacher_model`` / ``student_model`` (zoo names), ``kd_label`` (the distilled
    student's row), ``teacher_note`` (the teacher row's text when there is none), ``intermediate_rows`` ((KD phase
    key, row label) of earlier KD phases also shown as rows)."""

    name = ""
    label = ""
    pipeline: ClassVar[str] = "topdown"
    teacher = "shipped"
    teacher_model: str | None = TEACHER_MODEL
    student_model = STUDENT_MODEL
    kd_label = "student + KD"
    teacher_note = ""
    intermediate_rows: tuple[tuple[str, str], ...] = ()

    def teacher_recipe(self, opts: DemoOptions, plan: BudgetPlan, backbone: Path | None) -> dict[str, Any]:
        """The teacher's training (or evaluation) recipe."""
        return base_recipe(opts, self.teacher_model, plan.teacher_epochs, backbone)

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
    """DWPose: the shipped RTMPose-s teaches RTMPose-t (stage 1), then head-aware self-KD (stage 2)."""

    name, label = "dwpose", "DWPose"
    intermediate_rows = (("kd_stage1", "student + KD (stage 1 only)"),)

    def kd_phases(self, opts, plan, teacher_weights, backbone):
        return [KDPhase("kd_stage1", f"student + DWPose stage 1 ({_epochs(plan.stage1_epochs)})", "DWPose stage 1",
                        lambda runs: stage1_recipe(opts, plan, teacher_weights, backbone)),
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
    """SDPose self-distillation on RTMPose-t: the RTMCC head's GAU as a 2-cycle MCT in training, 1 cycle deployed."""

    name, label = "sdpose", "SDPose"
    teacher, teacher_model = "none", None
    kd_label = f"student + SDPose ({SDPOSE_CYCLES} cycles -> 1)"
    teacher_note = "not applicable: self-distillation (the later GAU cycle teaches the earlier one)"

    def kd_phases(self, opts, plan, teacher_weights, backbone):
        return [KDPhase("kd", f"student + SDPose, {SDPOSE_CYCLES} cycles ({_epochs(plan.student_epochs)})",
                        "SDPose", lambda runs: sdpose_recipe(opts, plan, backbone))]

    def how(self, key, plan):
        if key == "kd":
            return f"SDPose: GAU {SDPOSE_CYCLES} cycles in training, 1 deployed, {plan.student_epochs} ep"
        return super().how(key, plan)


class DistilPoseMethod(DemoMethod):
    """DistilPose, Table 6's CNN variant: a heatmap teacher (trained here) -> a DeepPose regression student."""

    name, label = "distilpose", "DistilPose"
    teacher, teacher_model, student_model = "trained", DISTILPOSE_TEACHER, DISTILPOSE_STUDENT
    kd_label = f"student + DistilPose ({DISTILPOSE_PRESET})"

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
        return [KDPhase("kd", f"student + DistilPose {DISTILPOSE_PRESET} ({_epochs(plan.student_epochs)})",
                        "DistilPose", lambda runs: distilpose_recipe(opts, plan, teacher_weights, backbone))]

    def how(self, key, plan):
        if key == "kd":
            return f"DistilPose {DISTILPOSE_PRESET} from the heatmap teacher, {plan.student_epochs} ep"
        return super().how(key, plan)

    def budget_note(self, opts, plan):
        return (f"Budget: --minutes {opts.minutes:g} -> the heatmap teacher {plan.teacher_epochs} epochs from the "
                f"shipped RTMPose-s backbone; both students {plan.student_epochs} epochs (equal iterations).")


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


def distilpose_recipe(opts: DemoOptions, plan: BudgetPlan, teacher_weights: Path,
                      backbone: Path | None = None) -> dict[str, Any]:
    """DistilPose, Table 6's CNN variant: the DeepPose regression student learns from the heatmap teacher's raw
    heatmaps through Simulated Heatmaps (L_SH, weight 1) and confidence (L_CS, 0.01), plus its own L_reg."""
    recipe = base_recipe(opts, DISTILPOSE_STUDENT, plan.student_epochs, backbone)
    recipe["distill"] = {"method": "distilpose", "teacher": DISTILPOSE_TEACHER, "teacher_weights": str(teacher_weights),
                         "params": {"preset": DISTILPOSE_PRESET}}
    return recipe


METHOD_PLUGINS: dict[str, DemoMethod] = {m.name: m for m in (DWPoseMethod(), SDPoseMethod(), DistilPoseMethod(),
                                                              StagewiseMethod())}


def get_method(name: str) -> DemoMethod:
    """The plug-in of ``--method name`` (run through :meth:`DemoOptions.validate` first)."""
    return METHOD_PLUGINS[name]


__all__ = ["DISTILPOSE_PRESET", "DISTILPOSE_STUDENT", "DISTILPOSE_TEACHER", "DWPoseMethod", "DemoMethod",
           "DistilPoseMethod", "KDPhase", "SDPoseMethod", "METHOD_PLUGINS", "StagewiseMethod",
           "SDPOSE_CYCLES", "SDPOSE_W_KT", "distilpose_recipe", "get_method", "sdpose_recipe"]

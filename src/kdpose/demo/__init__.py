"""``kdpose demo``: the whole system on built-in synthetic data in about ten minutes of CPU, with a report.

Phases (see :func:`run_demo`): synthetic train/val data; the teacher (shipped small weights, or trained with
``--from-scratch``); the student trained without and with distillation (DWPose stage 1 + 2 by default; SDPose or
DistilPose with ``--method``) for the same iterations; COCO AP (per part for whole-body); ONNX export and PyTorch-vs-onnxruntime timing; poses drawn on
held-out images and a short video; ``report.html`` (self-contained) and ``report.md``.

Modules: ``config`` (options, budget, recipes), ``methods`` (what each ``--method`` trains: one plug-in each, which
names its pipeline), ``training`` (one ``kdpose.tasks.train`` run per phase), ``media`` (pictures, video), ``plots``
(matplotlib charts), ``report`` (HTML / Markdown writer), ``reference`` (the multi-seed result shown next to
the verdict), ``assets`` (shipped weights), ``phases`` (clock, command line), ``pipeline`` (the top-down phases in
order), ``depth`` (the ``stagewise`` plug-in's bottom-up depth phases).
The demo only presents: data, training, evaluation, export and inference are the library's."""
from __future__ import annotations

from .config import DemoOptions, plan_budget
from .pipeline import run_demo
from .report import write_report

__all__ = ["DemoOptions", "plan_budget", "run_demo", "write_report"]

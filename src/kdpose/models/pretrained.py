"""The registry of published and shipped weights: :class:`PretrainedCfg` (where a file comes from, what it was
trained for, how it scores), the tag table ``PRETRAINED`` and its look-ups. Data only: loading is in ``loading``."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnknownNameError
from ._registry import check_glob


@dataclass(frozen=True)
class AccuracyCheck:
    """A small fixed val set and the numbers a shipped model scores on it (data only).

    ``tests/models/test_shipped_accuracy.py`` renders the set, runs the model on it and asserts every entry of
    ``metrics`` within ``tolerance`` (``python -m kdpose.tasks.accuracy TAG`` prints the measured numbers). The set
    is a split of kdpose's synthetic generator, declared as a recipe's split is (``data.val`` of a recipe):
    ``images`` images of ``size`` (w, h), at most ``max_people`` people, ``seed`` on the ``split`` seed stream,
    ``preset`` (``hard``: the generator's defaults, the demo's distribution; ``standard``: COCO-like) with
    ``settings`` ((name, value) pairs of other ``SynthConfig`` knobs). ``modality`` ``rgb``: a top-down model on every
    person's ground-truth box, metrics ``AP``, ``AP50``, ``AP75``, ``AR`` (COCO OKS, one pose per box, no NMS),
    ``PCK@0.2`` (error below 0.2 x the longer box side), ``median_px``; ``depth``: a bottom-up model on whole images
    letterboxed to ``input_size``, metrics ``F`` and ``F_upper`` (the depth paper's PCK precision / recall at the
    best detection threshold; also ``AP`` / ``AR`` in %); ``detection``: a person detector on whole images, COCO
    bbox ``AP``, ``AP50``, ``AP75``, ``AR`` (pycocotools, the detector's validation: score >= 0.01, 100 boxes an
    image), with ``ignore_unlabelled`` the ``standard`` preset's ignore rule (people without labelled keypoints are
    crowd regions). Fractions unless named otherwise.
    """

    metrics: tuple[tuple[str, float], ...]  # (name, expected value)
    tolerance: float = 0.005  # absolute, on every entry of metrics
    images: int = 16
    size: tuple[int, int] = (320, 240)  # (w, h) of the rendered images
    max_people: int = 2
    seed: int = 7
    split: str = "val"
    preset: str = "hard"
    modality: str = "rgb"  # rgb (top-down, ground-truth boxes) | depth (bottom-up, whole images) | detection (boxes)
    settings: tuple[tuple[str, Any], ...] = ()
    input_size: tuple[int, int] | None = None  # bottom-up: the letterboxed whole-image input (w, h)
    ignore_unlabelled: bool = False  # detection: people without labelled keypoints are crowd regions (iscrowd 1)

    @property
    def expected(self) -> dict[str, float]:
        return dict(self.metrics)

    def describe(self) -> str:
        """One line: the set and the expected numbers."""
        extra = "".join(f", {k}={v}" for k, v in self.settings)
        extra += ", unlabelled people ignored" if self.ignore_unlabelled else ""
        numbers = ", ".join(f"{k} {v:g}" for k, v in self.metrics)
        return (f"{self.images} {self.modality} images {self.size[0]}x{self.size[1]} ({self.preset} preset{extra}, "
                f"<= {self.max_people} people, {self.split} seed {self.seed}): {numbers} (+- {self.tolerance:g})")


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a published set of weights comes from and what it was trained for (data only, timm style).

    ``tag`` is ``<model>.<training data>_<h>x<w>`` (e.g. ``rtmpose-m.body7_256x192``; a person detector, whose
    ``layout`` is "" (no keypoints), ``<model>.<training data>_<side>``); ``url`` is the official
    download address (users fetch it themselves, or pass the tag / URL to ``load_model`` to download it into the
    cache once); ``sha256`` is the published digest prefix. Weights shipped inside the package (the demo's) have
    no URL: ``asset`` names their file in ``kdpose/assets/``, so a recipe can cite them by tag from any folder.
    ``loads`` says which part of the file a model takes (:data:`PRETRAINED_LOADS`, see :func:`load_weights`).
    Shipped weights also say how they were made and what they score: ``recipe`` (the ``configs/`` file, or the
    command, that trained them), ``check`` (an :class:`AccuracyCheck`: a small val set and its expected metrics) and
    their model card, ``docs/models/<tag>.md`` (:attr:`card`).
    """

    tag: str
    model: str
    layout: str
    input_size: tuple[int, int]  # (w, h)
    url: str
    sha256: str | None = None
    source: str = ""  # project that published it
    notes: str = ""
    loads: str = "model"  # model | backbone (its backbone.* only) | backbone-partial (matching names and shapes)
    asset: str = ""  # file name in kdpose/assets/ for weights shipped with the package (then url is "")
    recipe: str = ""  # configs/<recipe>.yaml (or the command) that trained the weights
    check: AccuracyCheck | None = None  # shipped weights: what they score on a small fixed val set
    # trained on kdpose's synthetic scenes only: they score far lower on photos (BENCHMARKS.md "Shipped synthetic
    # weights on real photos"), so `kdpose infer` says so when asked to run them
    synthetic: bool = False

    @property
    def file_name(self) -> str:
        return self.asset or self.url.rsplit("/", 1)[-1]

    @property
    def location(self) -> str:
        """The URL to download, or the path of the shipped file."""
        return str(Path(__file__).resolve().parent.parent / "assets" / self.asset) if self.asset else self.url

    @property
    def card(self) -> str:
        """The model card of shipped weights (path in the repository), else ""."""
        return f"docs/models/{self.tag}.md" if self.asset else ""

    def describe(self) -> str:
        """A few lines for a listing: what it is, where it comes from, how it was made and what it scores."""
        w, h = self.input_size
        lines = [f"{self.tag}: {self.model}, {self.layout or 'person boxes'}, {w}x{h} (w x h), loads {self.loads}",
                 f"  weights: {'kdpose/assets/' + self.asset if self.asset else self.url or '-'}"]
        lines += [f"  {k}: {v}" for k, v in (("recipe", self.recipe), ("card", self.card), ("notes", self.notes)) if v]
        if self.check is not None:
            lines.append(f"  check: {self.check.describe()}")
        return "\n".join(lines)


class PretrainedTable(dict):
    """Tag -> :class:`PretrainedCfg`. A tag may be given without its ``_<H>x<W>`` input-size suffix when exactly one
    registered tag has that stem (``rtmpose-m.synth-standard`` -> ``rtmpose-m.synth-standard_128x96``), as users
    write tags in prose; iteration and listings always use the full tags. An unknown tag raises
    :class:`~kdpose.errors.UnknownNameError` (a ``KeyError``) with the close matches."""

    def full_tag(self, tag: object) -> object:
        """The registered tag ``tag`` stands for (itself when registered or not a string; unchanged when its stem is
        unknown or names several sizes)."""
        if not isinstance(tag, str) or dict.__contains__(self, tag):
            return tag
        sized = self.sizes_of(tag)
        return sized[0] if len(sized) == 1 else tag

    def sizes_of(self, stem: str) -> list[str]:
        """Registered tags that are ``stem`` plus an input-size suffix (``_<H>x<W>``)."""
        return sorted(t for t in self if stem and t.rpartition("_")[0] == stem
                      and re.fullmatch(r"\d+x\d+", t.rpartition("_")[2]))

    def __contains__(self, tag: object) -> bool:
        return dict.__contains__(self, self.full_tag(tag))

    def __getitem__(self, tag: str) -> PretrainedCfg:
        if tag not in self:  # a bare KeyError: 'nosuch' said nothing of the tags there are
            return get_pretrained_cfg(tag)
        return dict.__getitem__(self, self.full_tag(tag))

    def get(self, tag, default=None):
        return dict.get(self, self.full_tag(tag), default)


PRETRAINED: PretrainedTable = PretrainedTable()
# which part of a registered file fits a model: all of it (strict); its ``backbone.*`` (strict: pose pre-training
# whose head does not fit, e.g. the 19-keypoint AIC+COCO heads of the UDP CSPNeXt files); or the tensors of a bare
# classification backbone that match by name and shape (ImageNet files; mmcv ``load_checkpoint(strict=False)``)
PRETRAINED_LOADS = ("model", "backbone", "backbone-partial", "partial")


def register_pretrained(*cfgs: PretrainedCfg) -> None:
    for cfg in cfgs:
        if dict.__contains__(PRETRAINED, cfg.tag) and dict.__getitem__(PRETRAINED, cfg.tag) != cfg:
            raise ValueError(f"pretrained tag '{cfg.tag}' is registered twice")
        PRETRAINED[cfg.tag] = cfg


def backbone_only_message(name: str, weights: Any = None) -> str | None:
    """Why tag ``name`` (or ``weights``, a tag) cannot predict poses when it holds a backbone only (``loads`` not
    "model": its file trains the backbone, the head would keep random weights), else None. Inference and export
    refuse such a tag; ``load_model`` warns (building a model to train from it is what the tag is for)."""
    tag = name if name in PRETRAINED else weights if isinstance(weights, str) and weights in PRETRAINED else None
    if tag is None or PRETRAINED[tag].loads == "model" or (tag == name and weights not in (None, tag)):
        return None
    return (f"'{tag}' holds a backbone only: the head would have random weights and its poses would be meaningless "
            f"(it is a starting point for training: model.init_weights: {tag}); for poses use a whole network "
            f"(kdpose.models.list_pretrained())")


def list_pretrained(pattern: str = "*") -> list[str]:
    """Tags of the registered weights (official and shipped) matching a glob ``pattern``;
    ``PRETRAINED[tag].describe()`` shows one's recipe, model card and accuracy check."""
    import fnmatch

    check_glob(pattern, "list_pretrained")
    return sorted(t for t in PRETRAINED if fnmatch.fnmatch(t, pattern))


def get_pretrained_cfg(tag: str) -> PretrainedCfg:
    if tag not in PRETRAINED:
        import difflib

        sizes = PRETRAINED.sizes_of(tag) if isinstance(tag, str) else []
        if sizes:
            raise UnknownNameError(f"pretrained weights '{tag}' exist for several input sizes: {', '.join(sizes)}; "
                                   "name one")
        close = difflib.get_close_matches(tag, list(PRETRAINED), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown pretrained weights '{tag}'{hint} (see kdpose.models.list_pretrained())")
    return PRETRAINED[tag]


"""RTMPose and DWPose model family (zoo entries): CSPNeXt backbone + RTMCC head + SimCC codec + KL loss.

RTMPose: Jiang et al. 2023, "RTMPose: Real-Time Multi-Person Pose Estimation based on MMPose",
https://arxiv.org/abs/2303.07399. DWPose: Yang et al. 2023, "Effective Whole-body Pose Estimation with
Two-stages Distillation", https://arxiv.org/abs/2307.15880 (the released DWPose models are RTMPose whole-body
networks; only their training differs).

Zoo names: ``rtmpose-{t,s,m,l,x}`` (default layout ``coco``) and ``dwpose-{t,s,m,l}`` (default layout
``coco_wholebody``). Layout and input size are arguments, not separate classes:

>>> from kdpose.models import create_model
>>> model = create_model("rtmpose-t", layout="coco", input_size=(192, 256))
>>> model.codec.num_bins
(384, 512)

Input: (B, 3, H, W) float32 RGB normalised with MMPose's mean (123.675, 116.28, 103.53) and std (58.395, 57.12,
57.375) (``kdpose.data.sample.normalize_image``). Output: ``SimCCOutput(x (B, K, 2W), y (B, K, 2H))`` logits.

Official weights (MMPose / DWPose ``.pth``, loaded key for key without executing pickled code): see
``list_pretrained()`` for the tags and file names. Download the file yourself from the URL in its
``PretrainedCfg`` (https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/<file>, listed in MMPose's
``projects/rtmpose/README.md``) and call ``kdpose.load_model("rtmpose-m", weights="<file>.pth")``; or pass the
tag / URL as ``weights`` to download it once into ``$KDPOSE_CACHE`` (nothing is downloaded by default).
"""
from __future__ import annotations

from typing import Sequence

from ..codecs.simcc import SimCCCodec
from ..losses.kl_discret import SimCCLoss
from ..model_info import ModelInfo
from .pretrained import PretrainedCfg, register_pretrained
from ._registry import register_model
from .backbones.cspnext import CSPNeXt
from .heads.rtmcc import RTMCCHead
from .pose_model import PoseModel

# size -> (deepen_factor, widen_factor), from the RTMPose configs
RTMPOSE_SIZES: dict[str, tuple[float, float]] = {
    "t": (0.167, 0.375), "s": (0.33, 0.5), "m": (0.67, 0.75), "l": (1.0, 1.0), "x": (1.33, 1.25),
}
# default input size (w, h) per layout; everything else uses 192x256
LAYOUT_INPUT_SIZE: dict[str, tuple[int, int]] = {"hand": (256, 256), "face": (256, 256)}
DEFAULT_INPUT_SIZE = (192, 256)


def build_rtmpose(size: str, skeleton, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
                  sigma: float | Sequence[float] | None = None, split_ratio: float = 2.0, use_dark: bool = False,
                  final_layer_kernel_size: int = 7, loss_beta: float = 10.0,
                  out_indices: tuple[int, ...] = (4,), name: str | None = None) -> PoseModel:
    """Build an RTMPose network for ``skeleton`` (a ``kdpose.skeletons.Skeleton``).

    The defaults are RTMPose's released configs; the other values of the three "micro design" arguments are the
    steps of the paper's roadmap (section 3.4, Tables 2-3; ``benchmarks/rtmpose/roadmap.py``).

    Args:
        size: one of t, s, m, l, x.
        input_size: (w, h) of the input crop.
        sigma: SimCC label sigma in bins; None = RTMPose's rule ``sqrt(bins / 16)`` per axis (separate x and y
            sigmas, paper eq. 6); one float = the same sigma on both axes (SimCC before RTMPose).
        split_ratio: SimCC bins per pixel.
        use_dark: DARK sub-bin refinement at decode.
        final_layer_kernel_size: kernel of the head's first conv (odd; 7 in RTMPose, 1 in SimCC).
        loss_beta: 1 / tau of the KL loss (paper eq. 5, tau = 0.1): MMPose ``KLDiscretLoss``'s ``beta`` and
            ``label_beta``, which scale the logits and the Gaussian labels before their softmaxes.
        out_indices: backbone outputs to return from ``forward_features`` (the last must be 4, which the head
            reads; e.g. ``(1, 2, 3, 4)`` to expose every stage to a distiller).
    """
    if size not in RTMPOSE_SIZES:
        raise ValueError(f"unknown RTMPose size {size!r}; choose from {', '.join(RTMPOSE_SIZES)}")
    if max(out_indices) != 4:
        raise ValueError(f"out_indices must end with the last stage (4), got {out_indices}")
    deepen, widen = RTMPOSE_SIZES[size]
    input_size = (int(input_size[0]), int(input_size[1]))
    backbone = CSPNeXt(deepen, widen, out_indices=tuple(sorted(out_indices)))
    head = RTMCCHead(backbone.out_channels, skeleton.num_keypoints, input_size, split_ratio=split_ratio,
                     final_layer_kernel_size=final_layer_kernel_size)
    codec = SimCCCodec(input_size, sigma=sigma, split_ratio=split_ratio, use_dark=use_dark)
    # what weights files and exports must carry so that load_model rebuilds the same layers and decoding
    rebuild: dict = {}
    if sigma is not None:
        rebuild["sigma"] = list(codec.sigma)
    if split_ratio != 2.0:
        rebuild["split_ratio"] = codec.split_ratio
    if use_dark:
        rebuild["use_dark"] = True
    if final_layer_kernel_size != 7:
        rebuild["final_layer_kernel_size"] = int(final_layer_kernel_size)
    info = ModelInfo(name or f"rtmpose-{size}", "topdown", skeleton.name, input_size, kwargs=rebuild)
    loss = SimCCLoss(beta=loss_beta, label_beta=loss_beta)
    return PoseModel(backbone, head, codec, skeleton, loss_fn=loss, info=info)


def _create(name: str, size: str, layout: str, input_size: tuple[int, int] | None, **kwargs) -> PoseModel:
    from ..skeletons import get_skeleton

    skeleton = get_skeleton(layout)
    input_size = tuple(input_size) if input_size is not None else LAYOUT_INPUT_SIZE.get(layout, DEFAULT_INPUT_SIZE)
    return build_rtmpose(size, skeleton, input_size, name=name, **kwargs)


@register_model
def rtmpose_t(layout: str = "coco", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """RTMPose-t (3.34 M params, 0.36 G MACs for body 256x192)."""
    return _create("rtmpose-t", "t", layout, input_size, **kwargs)


@register_model
def rtmpose_s(layout: str = "coco", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """RTMPose-s (5.47 M params, 0.68 G MACs for body 256x192)."""
    return _create("rtmpose-s", "s", layout, input_size, **kwargs)


@register_model
def rtmpose_m(layout: str = "coco", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """RTMPose-m (13.59 M params, 1.93 G MACs for body 256x192)."""
    return _create("rtmpose-m", "m", layout, input_size, **kwargs)


@register_model
def rtmpose_l(layout: str = "coco", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """RTMPose-l (27.66 M params, 4.16 G MACs for body 256x192)."""
    return _create("rtmpose-l", "l", layout, input_size, **kwargs)


@register_model
def rtmpose_x(layout: str = "coco", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """RTMPose-x (49.43 M params, 17.22 G MACs for body 384x288)."""
    return _create("rtmpose-x", "x", layout, input_size, **kwargs)


@register_model
def dwpose_t(layout: str = "coco_wholebody", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """DWPose-t: the RTMPose-t whole-body network (trained by DWPose distillation from RTMPose-l)."""
    return _create("dwpose-t", "t", layout, input_size, **kwargs)


@register_model
def dwpose_s(layout: str = "coco_wholebody", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """DWPose-s: the RTMPose-s whole-body network."""
    return _create("dwpose-s", "s", layout, input_size, **kwargs)


@register_model
def dwpose_m(layout: str = "coco_wholebody", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """DWPose-m: the RTMPose-m whole-body network."""
    return _create("dwpose-m", "m", layout, input_size, **kwargs)


@register_model
def dwpose_l(layout: str = "coco_wholebody", input_size: tuple[int, int] | None = None, **kwargs) -> PoseModel:
    """DWPose-l: the RTMPose-l whole-body network (256x192 or 384x288)."""
    return _create("dwpose-l", "l", layout, input_size, **kwargs)


# ------------------------------------------------------------------------------------ official weights (data)
_OPENMMLAB = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"


def _official(tag: str, model: str, layout: str, input_size: tuple[int, int], file_name: str, notes: str = ""):
    sha = file_name.rsplit("-", 1)[-1].split("_", 1)[0]  # the published sha256 prefix in the name
    source = "DWPose (MMPose release)" if model.startswith("dwpose") else "MMPose RTMPose"
    return PretrainedCfg(tag, model, layout, input_size, _OPENMMLAB + file_name, sha, source, notes)


register_pretrained(
    # body, AIC+COCO (COCO val AP 68.5 / 72.2 / 75.8 / 76.5; 384x288 m 77.0, l 77.3)
    _official("rtmpose-t.aic-coco_256x192", "rtmpose-t", "coco", (192, 256),
              "rtmpose-tiny_simcc-aic-coco_pt-aic-coco_420e-256x192-cfc8f33d_20230126.pth"),
    _official("rtmpose-s.aic-coco_256x192", "rtmpose-s", "coco", (192, 256),
              "rtmpose-s_simcc-aic-coco_pt-aic-coco_420e-256x192-fcb2599b_20230126.pth"),
    _official("rtmpose-m.aic-coco_256x192", "rtmpose-m", "coco", (192, 256),
              "rtmpose-m_simcc-aic-coco_pt-aic-coco_420e-256x192-63eb25f7_20230126.pth"),
    _official("rtmpose-l.aic-coco_256x192", "rtmpose-l", "coco", (192, 256),
              "rtmpose-l_simcc-aic-coco_pt-aic-coco_420e-256x192-f016ffe0_20230126.pth"),
    _official("rtmpose-m.aic-coco_384x288", "rtmpose-m", "coco", (288, 384),
              "rtmpose-m_simcc-aic-coco_pt-aic-coco_420e-384x288-a62a0b32_20230228.pth"),
    _official("rtmpose-l.aic-coco_384x288", "rtmpose-l", "coco", (288, 384),
              "rtmpose-l_simcc-aic-coco_pt-aic-coco_420e-384x288-97d6cb0f_20230228.pth"),
    # body, Body7 (7 public datasets)
    _official("rtmpose-t.body7_256x192", "rtmpose-t", "coco", (192, 256),
              "rtmpose-t_simcc-body7_pt-body7_420e-256x192-026a1439_20230504.pth"),
    _official("rtmpose-s.body7_256x192", "rtmpose-s", "coco", (192, 256),
              "rtmpose-s_simcc-body7_pt-body7_420e-256x192-acd4a1ef_20230504.pth"),
    _official("rtmpose-m.body7_256x192", "rtmpose-m", "coco", (192, 256),
              "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.pth"),
    _official("rtmpose-l.body7_256x192", "rtmpose-l", "coco", (192, 256),
              "rtmpose-l_simcc-body7_pt-body7_420e-256x192-4dba18fc_20230504.pth"),
    _official("rtmpose-m.body7_384x288", "rtmpose-m", "coco", (288, 384),
              "rtmpose-m_simcc-body7_pt-body7_420e-384x288-65e718c4_20230504.pth"),
    _official("rtmpose-l.body7_384x288", "rtmpose-l", "coco", (288, 384),
              "rtmpose-l_simcc-body7_pt-body7_420e-384x288-3f5a1437_20230504.pth"),
    _official("rtmpose-x.body7_384x288", "rtmpose-x", "coco", (288, 384),
              "rtmpose-x_simcc-body7_pt-body7_700e-384x288-71d7b7e9_20230629.pth"),
    # whole-body 133, COCO-WholeBody
    _official("rtmpose-m.coco-wholebody_256x192", "rtmpose-m", "coco_wholebody", (192, 256),
              "rtmpose-m_simcc-coco-wholebody_pt-aic-coco_270e-256x192-cd5e845c_20230123.pth"),
    _official("rtmpose-l.coco-wholebody_256x192", "rtmpose-l", "coco_wholebody", (192, 256),
              "rtmpose-l_simcc-coco-wholebody_pt-aic-coco_270e-256x192-6f206314_20230124.pth"),
    _official("rtmpose-l.coco-wholebody_384x288", "rtmpose-l", "coco_wholebody", (288, 384),
              "rtmpose-l_simcc-coco-wholebody_pt-aic-coco_270e-384x288-eaeb96c8_20230125.pth"),
    _official("rtmpose-x.coco-wholebody_384x288", "rtmpose-x", "coco_wholebody", (288, 384),
              "rtmpose-x_simcc-coco-wholebody_pt-body7_270e-384x288-401dfc90_20230629.pth"),
    # DWPose (COCO-WholeBody + UBody, two-stage distillation); plain RTMPose-133 checkpoints
    _official("dwpose-t.ucoco_256x192", "dwpose-t", "coco_wholebody", (192, 256),
              "rtmpose-t_simcc-ucoco_dw-ucoco_270e-256x192-dcf277bf_20230728.pth"),
    _official("dwpose-s.ucoco_256x192", "dwpose-s", "coco_wholebody", (192, 256),
              "rtmpose-s_simcc-ucoco_dw-ucoco_270e-256x192-3fd922c8_20230728.pth"),
    _official("dwpose-m.ucoco_256x192", "dwpose-m", "coco_wholebody", (192, 256),
              "rtmpose-m_simcc-ucoco_dw-ucoco_270e-256x192-c8b76419_20230728.pth"),
    _official("dwpose-l.ucoco_256x192", "dwpose-l", "coco_wholebody", (192, 256),
              "rtmpose-l_simcc-ucoco_dw-ucoco_270e-256x192-4d6dfc62_20230728.pth"),
    _official("dwpose-l.ucoco_384x288", "dwpose-l", "coco_wholebody", (288, 384),
              "rtmpose-l_simcc-ucoco_dw-ucoco_270e-384x288-2438fd99_20230728.pth"),
    # RTMPose COCO-WholeBody + UBody (MMPose configs wholebody_2d_keypoint/rtmpose/ubody): the DWPose UBody teachers
    _official("rtmpose-l.ucoco_256x192", "rtmpose-l", "coco_wholebody", (192, 256),
              "rtmpose-l_ucoco_256x192-95bb32f5_20230822.pth", "teacher of DWPose's ubody s1_dis l->m/s/t"),
    _official("rtmpose-x.ucoco_256x192", "rtmpose-x", "coco_wholebody", (192, 256),
              "rtmpose-x_ucoco_256x192-05f5bcb7_20230822.pth", "teacher of DWPose's ubody s1_dis x->l 256x192"),
    _official("rtmpose-x.ucoco_384x288", "rtmpose-x", "coco_wholebody", (288, 384),
              "rtmpose-x_ucoco_384x288-f5b50679_20230822.pth", "teacher of DWPose's ubody s1_dis x->l 384x288"),
    # hand 21 (Hand5); the published name carries a 7-digit hash prefix
    _official("rtmpose-m.hand5_256x256", "rtmpose-m", "hand", (256, 256),
              "rtmpose-m_simcc-hand5_pt-aic-coco_210e-256x256-74fb594_20230320.pth"),
)
# Not registered: MMPose's face6 models predict LaPa's 106 points (no 106-point layout in kdpose yet).

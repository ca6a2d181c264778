"""RTMCC head of RTMPose (Jiang et al. 2023, https://arxiv.org/abs/2303.07399): 7x7 conv to K keypoint maps,
flatten each map to a token, ScaleNorm + Linear to 256, one GAU block over the K tokens, then two linear SimCC
classifiers (x and y bins). Attribute names match MMPose's ``RTMCCHead`` (``final_layer``, ``mlp``, ``gau``,
``cls_x``, ``cls_y``).

SDPose cycles (``kdpose.distill.sdpose``): the GAU is RTMPose's transformer layer over the K keypoint tokens, so the
head also offers the Multi-Cycled Transformer interface of ``kdpose.models.heads.mct`` (``forward_cycles`` /
``forward_from_tokens``): cycle i runs the same GAU on cycle i-1's tokens and the shared ``cls_x`` / ``cls_y``
decode every cycle. There are no visual tokens (``Tokens.visual`` is None). ``forward`` runs ``cycles`` cycles,
1 by default, which is exactly the plain RTMCC head (no new parameters, same keys and FLOPs)."""
from __future__ import annotations

import torch
from torch import nn

from ...codecs.simcc import SimCCOutput
from ..layers import GAUBlock, ScaleNorm, SmallMapSafeConv2d
from .tokenpose import Tokens


def feature_map_size(input_size: tuple[int, int], stride: int = 32) -> tuple[int, int]:
    """(w, h) of the stride-``stride`` feature map of a stack of 3x3/stride-2/pad-1 convs: ceil at every halving
    (equals ``input // 32`` for multiples of 32, as in MMPose configs)."""
    w, h = input_size
    while stride > 1:
        w, h, stride = (w + 1) // 2, (h + 1) // 2, stride // 2
    return w, h


class RTMCCHead(nn.Module):
    """SimCC head with a gated attention unit over keypoint tokens.

    Args:
        in_channels: C of the last backbone feature map.
        num_keypoints: K.
        input_size: model input (w, h); the feature map is ``feature_map_size(input_size)``.
        split_ratio: SimCC bins per pixel (x bins = round(w * split), y bins = round(h * split)).
        final_layer_kernel_size: kernel of the first conv (7; odd, so that the map keeps its size).
        hidden_dims: token width after the MLP (256).
        attn_dim, expansion_factor: GAU ``s`` (128) and expansion (2).

    Forward: list of feature maps (the last, (B, C, H/32, W/32), is used) -> SimCCOutput(x (B, K, Wx),
    y (B, K, Wy)), raw logits, in train, eval and export alike.
    """

    def __init__(self, in_channels: int, num_keypoints: int, input_size: tuple[int, int], split_ratio: float = 2.0,
                 final_layer_kernel_size: int = 7, hidden_dims: int = 256, attn_dim: int = 128,
                 expansion_factor: int = 2):
        super().__init__()
        if final_layer_kernel_size < 1 or final_layer_kernel_size % 2 == 0:
            raise ValueError(f"final_layer_kernel_size must be odd and >= 1, got {final_layer_kernel_size}")
        fw, fh = feature_map_size(input_size)
        flat = fw * fh
        self.num_keypoints = num_keypoints
        # (a 7x7 conv on a map of 2x2 for a 64x64 input: see SmallMapSafeConv2d for why bf16 needs care there)
        self.final_layer = SmallMapSafeConv2d(in_channels, num_keypoints, final_layer_kernel_size, stride=1,
                                              padding=final_layer_kernel_size // 2)
        self.mlp = nn.Sequential(ScaleNorm(flat), nn.Linear(flat, hidden_dims, bias=False))
        self.gau = GAUBlock(hidden_dims, attn_dim, expansion_factor)
        self.cls_x = nn.Linear(hidden_dims, int(round(input_size[0] * split_ratio)), bias=False)
        self.cls_y = nn.Linear(hidden_dims, int(round(input_size[1] * split_ratio)), bias=False)
        self.cycles = 1  # GAU cycles of ``forward`` (an attribute, not saved: deployed models run one)
        self.init_weights()

    def init_weights(self) -> None:
        """MMPose's training-from-scratch init: conv N(0, 0.001), every Linear N(0, 0.01), biases 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.001 if isinstance(m, nn.Conv2d) else 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def set_cycles(self, cycles: int) -> None:
        if int(cycles) < 1:
            raise ValueError(f"GAU cycles must be >= 1, got {cycles}")
        self.cycles = int(cycles)

    def forward_cycles(self, feats: list[torch.Tensor], num_cycles: int) -> list[Tokens]:
        """Keypoint tokens after each of ``num_cycles`` GAU passes (cycle 1 first): feats[-1] (B, C, h, w) ->
        list of Tokens(keypoint (B, K, hidden), visual None)."""
        if int(num_cycles) < 1:
            raise ValueError(f"GAU cycles must be >= 1, got {num_cycles}")
        x = self.final_layer(feats[-1]).flatten(2)  # (B, K, fh * fw), row-major over h then w
        x = self.mlp(x)                              # (B, K, hidden): the keypoint tokens before the GAU
        per_cycle = []
        for _ in range(int(num_cycles)):
            x = self.gau(x)
            per_cycle.append(Tokens(keypoint=x, visual=None))
        return per_cycle

    def forward_from_tokens(self, tokens: Tokens) -> SimCCOutput:
        """The shared SimCC classifiers: keypoint tokens (B, K, hidden) -> SimCCOutput(x (B, K, Wx), y (B, K, Wy))."""
        return SimCCOutput(self.cls_x(tokens.keypoint), self.cls_y(tokens.keypoint))

    def forward(self, feats: list[torch.Tensor]) -> SimCCOutput:
        return self.forward_from_tokens(self.forward_cycles(feats, self.cycles)[-1])

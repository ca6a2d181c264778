"""RTMCC head of RTMPose (Jiang et al. 2023, https://arxiv.org/abs/2303.07399): 7x7 conv to K keypoint maps,
flatten each map to a token, ScaleNorm + Linear to 256, one GAU block over the K tokens, then two linear SimCC
classifiers (x and y bins). Attribute names match MMPose's ``RTMCCHead`` (``final_layer``, ``mlp``, ``gau``,
``cls_x``, ``cls_y``)."""
from __future__ import annotations

import torch
from torch import nn

from ...codecs.simcc import SimCCOutput
from ..layers import GAUBlock, ScaleNorm


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
        final_layer_kernel_size: kernel of the first conv (7).
        hidden_dims: token width after the MLP (256).
        attn_dim, expansion_factor: GAU ``s`` (128) and expansion (2).

    Forward: list of feature maps (the last, (B, C, H/32, W/32), is used) -> SimCCOutput(x (B, K, Wx),
    y (B, K, Wy)), raw logits, in train, eval and export alike.
    """

    def __init__(self, in_channels: int, num_keypoints: int, input_size: tuple[int, int], split_ratio: float = 2.0,
                 final_layer_kernel_size: int = 7, hidden_dims: int = 256, attn_dim: int = 128,
                 expansion_factor: int = 2):
        super().__init__()
        fw, fh = feature_map_size(input_size)
        flat = fw * fh
        self.num_keypoints = num_keypoints
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, final_layer_kernel_size, stride=1,
                                     padding=final_layer_kernel_size // 2)
        self.mlp = nn.Sequential(ScaleNorm(flat), nn.Linear(flat, hidden_dims, bias=False))
        self.gau = GAUBlock(hidden_dims, attn_dim, expansion_factor)
        self.cls_x = nn.Linear(hidden_dims, int(round(input_size[0] * split_ratio)), bias=False)
        self.cls_y = nn.Linear(hidden_dims, int(round(input_size[1] * split_ratio)), bias=False)
        self.init_weights()

    def init_weights(self) -> None:
        """MMPose's training-from-scratch init: conv N(0, 0.001), every Linear N(0, 0.01), biases 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.001 if isinstance(m, nn.Conv2d) else 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: list[torch.Tensor]) -> SimCCOutput:
        x = self.final_layer(feats[-1]).flatten(2)  # (B, K, fh * fw), row-major over h then w
        x = self.gau(self.mlp(x))                    # (B, K, hidden)
        return SimCCOutput(self.cls_x(x), self.cls_y(x))

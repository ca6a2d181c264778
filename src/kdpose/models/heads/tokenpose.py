"""TokenPose head (Li et al., https://arxiv.org/abs/2104.03516): patch tokens + K keypoint tokens, a pre-norm
transformer encoder, and a per-keypoint MLP that turns each keypoint token into a heatmap.

The token machinery is split so that other methods reuse it:

* :class:`TokenEmbedding` builds the sequence ``[K keypoint tokens ; P visual tokens + sine position]`` once;
* :class:`TokenTransformer` is one group of layers with TokenPose's position rule (the position embedding is
  re-added to the visual tokens before every layer but the group's first). It maps a sequence to a sequence, so the
  same layers can be applied for several cycles (SDPose) and their output split into keypoint / visual tokens;
* :class:`TokenHeadBase` = embedding + groups, ``forward_tokens(feats) -> Tokens``; subclasses add the predictor
  (:class:`TokenPoseHead` here, ``TokenRegHead`` in ``tokenreg.py``).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import nn

from ...codecs.heatmap import HeatmapOutput


class Tokens(NamedTuple):
    """Encoder output. ``keypoint``: (B, K, D_kpt) (D_kpt = d, or groups * d for TokenPose-L's concatenation);
    ``visual``: (B, P, d) final visual tokens."""

    keypoint: torch.Tensor
    visual: torch.Tensor


def sine_position_embedding(grid_h: int, grid_w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR-style fixed 2D sine embedding used by TokenPose ('sine-full').

    Row i (1..h) has angle ``i / h * 2 pi``, column j ``j / w * 2 pi``; per axis ``dim / 2`` channels alternate
    sin/cos with frequencies ``temperature ** (2 floor(k / 2) / (dim / 2))``; the vector is ``[pos_y ; pos_x]``.
    Returns (1, h * w, dim), tokens in row-major order.
    """
    if dim % 4:
        raise ValueError(f"token dim must be divisible by 4 for the sine embedding, got {dim}")
    half = dim // 2
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, grid_h + 1, dtype=torch.float32) / (grid_h + eps) * scale
    x = torch.arange(1, grid_w + 1, dtype=torch.float32) / (grid_w + eps) * scale
    k = torch.arange(half, dtype=torch.float32)
    freq = temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / half)

    def encode(angles: torch.Tensor) -> torch.Tensor:  # (n,) -> (n, half), sin on even, cos on odd channels
        a = angles[:, None] / freq
        return torch.stack([a[:, 0::2].sin(), a[:, 1::2].cos()], dim=-1).flatten(1)

    pos_y = encode(y)[:, None, :].expand(grid_h, grid_w, half)
    pos_x = encode(x)[None, :, :].expand(grid_h, grid_w, half)
    return torch.cat([pos_y, pos_x], dim=-1).reshape(1, grid_h * grid_w, dim)


class Attention(nn.Module):
    """Multi-head self-attention with TokenPose's parameterisation (``to_qkv`` without bias, ``to_out``).

    ``scale_with_head``: softmax scale (d / heads)^-0.5 (TokenPose-B/L, all MMPose ports); False gives d^-0.5
    (the original TokenPose-S code). Shapes: (B, N, d) -> (B, N, d).
    """

    def __init__(self, dim: int, heads: int, scale_with_head: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"token dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5 if scale_with_head else dim ** -0.5
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.to_qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                         # (B, heads, N, d/heads)
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.to_out(out)


class TransformerLayer(nn.Module):
    """Pre-norm ViT block: ``x + Attn(LN(x))`` then ``x + FFN(LN(x))``, FFN = Linear-GELU-Linear (ratio r)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 3.0, scale_with_head: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, scale_with_head)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TokenTransformer(nn.Module):
    """A group of ``depth`` layers applying TokenPose's 'sine-full' rule: before every layer with index > 0 the
    position embedding is added again to the visual tokens (keypoint tokens never get one).

    Shapes: x (B, K + P, d), pos (1, P, d) -> (B, K + P, d). Applying it several times to its own output is an
    SDPose cycle.
    """

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float = 3.0, scale_with_head: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(dim, heads, mlp_ratio, scale_with_head) for _ in range(depth))

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None, num_keypoints: int) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if i > 0 and pos is not None:
                x = torch.cat([x[:, :num_keypoints], x[:, num_keypoints:] + pos], dim=1)
            x = layer(x)
        return x


class TokenEmbedding(nn.Module):
    """Feature map -> token sequence ``[keypoint tokens ; patch embeddings + position]``.

    Args:
        in_channels: C of the feature map.
        feature_size: (w, h) of the feature map.
        patch_size: (ph, pw), patch height and width in feature pixels.
        num_keypoints: K.
        dim: token dimension d.
    Shapes: (B, C, h, w) -> (B, K + P, d), P = (h / ph) * (w / pw). The position embedding is a non-persistent
    buffer ``pos`` (1, P, d) (fixed, recomputed from the geometry, not saved).
    """

    def __init__(self, in_channels: int, feature_size: Sequence[int], patch_size: Sequence[int],
                 num_keypoints: int, dim: int):
        super().__init__()
        fw, fh = int(feature_size[0]), int(feature_size[1])
        ph, pw = int(patch_size[0]), int(patch_size[1])
        if fh % ph or fw % pw:
            raise ValueError(f"feature map {fw}x{fh} (w x h) is not divisible into {pw}x{ph} (w x h) patches")
        self.patch_size = (ph, pw)
        self.grid = (fh // ph, fw // pw)
        self.num_keypoints = num_keypoints
        self.patch_to_embedding = nn.Linear(in_channels * ph * pw, dim)
        self.keypoint_token = nn.Parameter(torch.zeros(1, num_keypoints, dim))
        nn.init.trunc_normal_(self.keypoint_token, std=0.02)
        self.register_buffer("pos", sine_position_embedding(self.grid[0], self.grid[1], dim), persistent=False)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feat.shape
        ph, pw = self.patch_size
        if (h // ph, w // pw) != self.grid or h % ph or w % pw:
            raise ValueError(f"feature map {w}x{h} does not match the token grid {self.grid} built for this model")
        # b c (gh ph) (gw pw) -> b (gh gw) (ph pw c): channels fastest inside a patch, patches row-major
        patches = feat.reshape(b, c, self.grid[0], ph, self.grid[1], pw).permute(0, 2, 4, 3, 5, 1)
        patches = patches.reshape(b, self.num_patches, ph * pw * c)
        visual = self.patch_to_embedding(patches) + self.pos
        return torch.cat([self.keypoint_token.expand(b, -1, -1), visual], dim=1)


class TokenHeadBase(nn.Module):
    """Embedding + ``len(group_depths)`` transformer groups; ``forward_tokens`` gives keypoint and visual tokens.

    With several groups (TokenPose-L) the keypoint tokens after each group are concatenated (B, K, groups * d).
    """

    def __init__(self, in_channels: int, feature_size: Sequence[int], patch_size: Sequence[int],
                 num_keypoints: int, dim: int = 192, group_depths: Sequence[int] = (12,), heads: int = 8,
                 mlp_ratio: float = 3.0, scale_with_head: bool = True):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.dim = dim
        self.embed = TokenEmbedding(in_channels, feature_size, patch_size, num_keypoints, dim)
        self.transformers = nn.ModuleList(TokenTransformer(dim, depth, heads, mlp_ratio, scale_with_head)
                                          for depth in group_depths)

    @property
    def keypoint_dim(self) -> int:
        return self.dim * len(self.transformers)

    def forward_tokens(self, feats: list[torch.Tensor]) -> Tokens:
        x = self.embed(feats[-1])
        k = self.num_keypoints
        collected = []
        for group in self.transformers:
            x = group(x, self.embed.pos, k)
            collected.append(x[:, :k])
        keypoint = collected[0] if len(collected) == 1 else torch.cat(collected, dim=-1)
        return Tokens(keypoint=keypoint, visual=x[:, k:])

    def init_weights(self) -> None:
        """TokenPose init: Linear trunc_normal(0.02) / bias 0, LayerNorm 1 / 0."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class TokenPoseHead(TokenHeadBase):
    """TokenPose: tokens -> per-keypoint MLP -> heatmaps at the feature resolution (or ``heatmap_size``).

    The MLP is ``LN(D) -> Linear(D, hidden) -> LN(hidden) -> Linear(hidden, H*W)`` when ``D <= hidden / 2``
    (hidden = H*W / 8 by default), else ``LN(D) -> Linear(D, H*W)`` (TokenPose-L's concatenated tokens).
    Shapes: feats[-1] (B, C, h, w) -> HeatmapOutput((B, K, h, w)).
    """

    def __init__(self, in_channels: int, feature_size: Sequence[int], patch_size: Sequence[int],
                 num_keypoints: int, dim: int = 192, group_depths: Sequence[int] = (12,), heads: int = 8,
                 mlp_ratio: float = 3.0, scale_with_head: bool = True, hidden_dim: int | None = None,
                 heatmap_size: Sequence[int] | None = None):
        super().__init__(in_channels, feature_size, patch_size, num_keypoints, dim, group_depths, heads, mlp_ratio,
                         scale_with_head)
        # TokenPose predicts at the feature resolution; a coarser (stride-32) backbone passes the codec's stride-4
        # size here, the MLP does not care where its tokens came from
        size = feature_size if heatmap_size is None else heatmap_size
        self.heatmap_size = (int(size[0]), int(size[1]))
        hw = self.heatmap_size[0] * self.heatmap_size[1]
        hidden = hw // 8 if hidden_dim is None else hidden_dim
        d = self.keypoint_dim
        if d <= hidden * 0.5:
            self.mlp_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden), nn.LayerNorm(hidden),
                                          nn.Linear(hidden, hw))
        else:
            self.mlp_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hw))
        self.init_weights()

    def forward_from_tokens(self, tokens: Tokens) -> HeatmapOutput:
        b, k, _ = tokens.keypoint.shape
        w, h = self.heatmap_size
        return HeatmapOutput(self.mlp_head(tokens.keypoint).reshape(b, k, h, w))

    def forward(self, feats: list[torch.Tensor]) -> HeatmapOutput:
        return self.forward_from_tokens(self.forward_tokens(feats))

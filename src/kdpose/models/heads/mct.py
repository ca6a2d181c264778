"""Multi-Cycled Transformer (MCT) of SDPose (Chen et al., CVPR 2024, "SDPose: Tokenized Pose Estimation via
Circulation-Guide Self-Distillation").

The token sequence ``[K keypoint tokens ; P visual tokens]`` is embedded once, then the *same* transformer layers are
applied ``N`` times: cycle i takes cycle i-1's full output sequence (keypoint tokens are carried over, not
re-initialised; TokenPose's position rule applies inside every cycle, and a new cycle's first layer gets no extra
position add). Every cycle's tokens can go through the shared prediction head.

:class:`MultiCycleMixin` adds this to any :class:`~kdpose.models.heads.tokenpose.TokenHeadBase` subclass without
adding parameters: ``forward_cycles(feats, n)`` returns every cycle's tokens (training), and ``forward`` runs
``self.cycles`` cycles (deployment; 1 for SDPose, so the deployed head is the plain TokenPose / TokenReg head with the
same parameter names, parameters and FLOPs).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .tokenpose import TokenPoseHead, Tokens
from .tokenreg import TokenRegHead
from .tokenreg_rle import RLETokenRegHead


class MultiCycleMixin:
    """Cycles for a token head (needs ``embed``, ``transformers``, ``num_keypoints`` and ``forward_from_tokens``).

    ``cycles`` (an int attribute, not a parameter) is how many cycles ``forward`` / ``forward_tokens`` run.
    """

    cycles: int = 1

    def set_cycles(self, cycles: int) -> None:
        if int(cycles) < 1:
            raise ValueError(f"MCT cycles must be >= 1, got {cycles}")
        self.cycles = int(cycles)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, Tokens]:
        """One pass through every transformer group: sequence (B, K + P, d) -> (sequence, Tokens)."""
        k = self.num_keypoints
        collected = []
        for group in self.transformers:
            x = group(x, self.embed.pos, k)
            collected.append(x[:, :k])
        keypoint = collected[0] if len(collected) == 1 else torch.cat(collected, dim=-1)
        return x, Tokens(keypoint=keypoint, visual=x[:, k:])

    def forward_cycles(self, feats: list[torch.Tensor], num_cycles: int) -> list[Tokens]:
        """Tokens after each of ``num_cycles`` cycles (cycle 1 first). feats[-1] (B, C, h, w) ->
        list of Tokens(keypoint (B, K, D_kpt), visual (B, P, d))."""
        if int(num_cycles) < 1:
            raise ValueError(f"MCT cycles must be >= 1, got {num_cycles}")
        x = self.embed(feats[-1])
        per_cycle = []
        for _ in range(int(num_cycles)):
            x, tokens = self._encode(x)
            per_cycle.append(tokens)
        return per_cycle

    def forward_tokens(self, feats: list[torch.Tensor]) -> Tokens:
        """Tokens of the deployed cycle count (``self.cycles``)."""
        return self.forward_cycles(feats, self.cycles)[-1]


class MCTTokenPoseHead(MultiCycleMixin, TokenPoseHead):
    """TokenPose heatmap head with MCT cycles (SDPose-T/S/B). Same parameters as :class:`TokenPoseHead`.

    Shapes: feats[-1] (B, C, h, w) -> HeatmapOutput((B, K, h, w)) of cycle ``cycles``.
    """

    def __init__(self, *args, cycles: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_cycles(cycles)


class MCTTokenRegHead(MultiCycleMixin, TokenRegHead):
    """DistilPose TokenReg head (5 outputs) with MCT cycles. Same parameters as :class:`TokenRegHead`."""

    def __init__(self, *args, cycles: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_cycles(cycles)


class MCTRLETokenRegHead(MultiCycleMixin, RLETokenRegHead):
    """RLE TokenReg head (4 outputs, SDPose-Reg) with MCT cycles. Same parameters as :class:`RLETokenRegHead`."""

    def __init__(self, *args, cycles: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_cycles(cycles)


def has_cycles(head: object) -> bool:
    """True when ``head`` can run MCT cycles (``forward_cycles`` + ``forward_from_tokens``)."""
    return hasattr(head, "forward_cycles") and hasattr(head, "forward_from_tokens")


__all__: Sequence[str] = ("MCTRLETokenRegHead", "MCTTokenPoseHead", "MCTTokenRegHead", "MultiCycleMixin",
                          "has_cycles")

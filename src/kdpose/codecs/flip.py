"""Flip test, implemented once for every codec (docs/design.md): run the model on the input and on its mirror
image, map the mirrored output back with ``codec.unflip`` and average the two outputs (raw logits / heatmaps,
before decoding, as MMPose does)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch


def flip_test(model_fn: Callable[[torch.Tensor], Any], inputs: torch.Tensor, codec: Any,
              flip_indices: Sequence[int], one_batch: bool = True) -> Any:
    """Flip-averaged head output.

    Args:
        model_fn: maps (B, C, H, W) inputs to the head output (a NamedTuple of tensors with batch first).
        inputs: (B, C, H, W) normalised model inputs.
        codec: any codec with ``unflip(output, flip_indices) -> output`` (SimCC, heatmap, ...).
        flip_indices: (K,) mirror index of every keypoint (``skeleton.flip_indices``).
        one_batch: run the original and mirrored crops as one (2B, ...) forward (faster on CPU and GPU);
            False runs two forwards of B (half the peak memory).
    Returns:
        the head output type, each field = 0.5 * (output + unflip(output of the mirrored input)).
    """
    mirrored = inputs.flip(-1)
    if one_batch:
        both = model_fn(torch.cat([inputs, mirrored], 0))
        b = inputs.shape[0]
        out = type(both)(*(t[:b] for t in both))
        out_flip = type(both)(*(t[b:] for t in both))
    else:
        out, out_flip = model_fn(inputs), model_fn(mirrored)
    back = codec.unflip(out_flip, flip_indices)
    return type(out)(*((a + c) * 0.5 for a, c in zip(out, back)))

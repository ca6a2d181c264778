"""The ``Skeleton`` dataclass: a keypoint layout as plain data (names, flip map, links, colours, OKS sigmas,
part ranges). Layouts are built from name tables with :func:`build_skeleton`, which derives the flip map
from ``left_``/``right_`` name pairs, so the tables stay short and cannot disagree with themselves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

Color = tuple[int, int, int]  # BGR, 0-255

# MMPose's palette, converted from its RGB tables to BGR (OpenCV order).
BLUE: Color = (255, 153, 51)  # RGB (51, 153, 255): centre line / head
GREEN: Color = (0, 255, 0)  # left side
ORANGE: Color = (0, 128, 255)  # RGB (255, 128, 0): right side
WHITE: Color = (255, 255, 255)
PINK: Color = (255, 153, 255)  # RGB (255, 153, 255)
SKY: Color = (255, 178, 102)  # RGB (102, 178, 255)
RED: Color = (51, 51, 255)  # RGB (255, 51, 51)


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout.

    Attributes:
        name: registry name (e.g. ``"coco"``).
        keypoint_names: K names, in index order.
        flip_indices: (K,) index of the mirrored keypoint (``flip_indices[flip_indices[i]] == i``).
        links: pairs of keypoint indices drawn as limbs.
        link_colors: one BGR colour per link.
        keypoint_colors: one BGR colour per keypoint.
        sigmas: K OKS sigmas (COCO convention; OKS uses ``(2*sigma)**2``).
        parts: named half-open index ranges, e.g. ``{"body": (0, 17), "foot": (17, 23)}``.
        upper_ids: indices used as the upper body by the half-body augmentation.
        lower_ids: indices used as the lower body by the half-body augmentation.
    """

    name: str
    keypoint_names: tuple[str, ...]
    flip_indices: tuple[int, ...]
    links: tuple[tuple[int, int], ...]
    link_colors: tuple[Color, ...]
    keypoint_colors: tuple[Color, ...]
    sigmas: tuple[float, ...]
    parts: Mapping[str, tuple[int, int]]
    upper_ids: tuple[int, ...] = ()
    lower_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        k = len(self.keypoint_names)
        for field_name in ("flip_indices", "keypoint_colors", "sigmas"):
            if len(getattr(self, field_name)) != k:
                n = len(getattr(self, field_name))
                raise ValueError(f"skeleton '{self.name}': {field_name} has {n} entries, expected {k}")
        if len(self.link_colors) != len(self.links):
            raise ValueError(
                f"skeleton '{self.name}': {len(self.link_colors)} link colours for {len(self.links)} links"
            )
        flip = np.asarray(self.flip_indices)
        if sorted(self.flip_indices) != list(range(k)) or not np.array_equal(flip[flip], np.arange(k)):
            raise ValueError(f"skeleton '{self.name}': flip_indices is not an involutive permutation")
        for a, b in self.links:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"skeleton '{self.name}': link ({a}, {b}) out of range for {k} keypoints")
        for part, (lo, hi) in self.parts.items():
            if not 0 <= lo < hi <= k:
                raise ValueError(f"skeleton '{self.name}': part '{part}' range ({lo}, {hi}) is invalid")

    def __hash__(self) -> int:  # parts is a dict; layouts are identified by name
        return hash((self.name, self.keypoint_names))

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """Unordered left/right pairs ``(i, j)`` with ``i < j``."""
        return tuple((i, j) for i, j in enumerate(self.flip_indices) if i < j)

    @property
    def sigmas_array(self) -> np.ndarray:
        """(K,) float32 OKS sigmas."""
        return np.asarray(self.sigmas, dtype=np.float32)

    def index(self, keypoint_name: str) -> int:
        """Index of a keypoint by name (ValueError when absent)."""
        try:
            return self.keypoint_names.index(keypoint_name)
        except ValueError:
            raise ValueError(f"skeleton '{self.name}' has no keypoint '{keypoint_name}'") from None

    def part_slice(self, part: str) -> slice:
        lo, hi = self.parts[part]
        return slice(lo, hi)


def mirror_name(name: str) -> str:
    """``left_x`` <-> ``right_x``; other names are unchanged."""
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(a):
            return b + name[len(a):]
    return name


def flip_indices_from_names(names: Sequence[str], extra_pairs: Sequence[tuple[int, int]] = ()) -> tuple[int, ...]:
    """Flip map from ``left_``/``right_`` name pairs plus explicit index pairs (e.g. face landmarks)."""
    lookup = {n: i for i, n in enumerate(names)}
    flip = [lookup.get(mirror_name(n), i) for i, n in enumerate(names)]
    for a, b in extra_pairs:
        flip[a], flip[b] = b, a
    return tuple(flip)


def side_color(name: str, center: Color = BLUE) -> Color:
    """MMPose's body colouring: left green, right orange, centre blue."""
    if name.startswith("left_"):
        return GREEN
    if name.startswith("right_"):
        return ORANGE
    return center


def build_skeleton(
    name: str,
    keypoint_names: Sequence[str],
    links_by_name: Sequence[tuple[str, str, Color]],
    sigmas: Sequence[float],
    parts: Mapping[str, tuple[int, int]] | None = None,
    keypoint_colors: Sequence[Color] | None = None,
    upper_names: Sequence[str] = (),
    lower_names: Sequence[str] = (),
    extra_flip_pairs: Sequence[tuple[int, int]] = (),
    links_by_index: Sequence[tuple[int, int, Color]] = (),
) -> Skeleton:
    """Build a :class:`Skeleton` from name tables (links given by keypoint names and/or indices)."""
    names = tuple(keypoint_names)
    idx = {n: i for i, n in enumerate(names)}
    links = [(idx[a], idx[b]) for a, b, _ in links_by_name] + [(a, b) for a, b, _ in links_by_index]
    link_colors = [c for _, _, c in links_by_name] + [c for _, _, c in links_by_index]
    return Skeleton(
        name=name,
        keypoint_names=names,
        flip_indices=flip_indices_from_names(names, extra_flip_pairs),
        links=tuple(links),
        link_colors=tuple(link_colors),
        keypoint_colors=tuple(keypoint_colors) if keypoint_colors is not None else tuple(side_color(n) for n in names),
        sigmas=tuple(float(s) for s in sigmas),
        parts=dict(parts) if parts is not None else {"body": (0, len(names))},
        upper_ids=tuple(idx[n] for n in upper_names),
        lower_ids=tuple(idx[n] for n in lower_names),
    )

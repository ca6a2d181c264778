"""Bottom-up codec of the pose machines: confidence maps + part affinity fields (PAFs) at the network stride,
and the OpenPose-style decoder (peak NMS, PAF line integral, greedy assembly).

Geometry convention (one place, used by encode, decode and unflip): map cell ``u`` of a stride-``s`` output
covers input pixel ``x = u * s + s / 2 - 0.5`` (its centre). Bilinear/bicubic up-sampling by ``s`` with
``align_corners=False`` maps cell ``u`` to exactly that pixel, so decoding at input resolution needs no offset, and
a horizontal mirror of the input is a plain mirror of the maps.

Limbs are (A, B) keypoint index pairs in *assembly order*: every limb's A must be the first limb's A or the B of an
earlier limb (a tree walked from the root), as the greedy assembly grows people along it. A limb whose A and B are
both reached already is *redundant* (OpenPose's extra COCO limbs): it only fills a missing end or merges two disjoint
partial people.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

# the limb trees are layout data (kdpose.skeletons.dih); re-exported here, where the codec's default comes from
from ..skeletons.dih import COCO_PAF_LIMBS, COCO_UPPER_BODY, DIH_LIMBS, DIH_UPPER_BODY  # noqa: F401

_SKIP_EXPONENT = float(np.log(100.0))  # Gaussian terms below 0.01 are not drawn (Osokin / tensorboy)


@dataclass
class PafTarget:
    """Training target of one image (numpy); ``stack_dataclasses`` batches it into tensors.

    heatmaps: (K+1, h, w) float32, K keypoint confidence maps then the background channel (1 - max_k).
    pafs: (2L, h, w) float32, limb l has its unit-vector x / y at channels 2l / 2l+1.
    weight: (1, h, w) float32, 1 where the loss applies (0 on padding / unlabelled regions).
    """

    heatmaps: np.ndarray
    pafs: np.ndarray
    weight: np.ndarray


class PafOutput(NamedTuple):
    """Pose-machine output: every stage's maps (intermediate supervision and stagewise distillation need them).

    heatmaps: (B, S, K+1, h, w) confidence maps incl. background, stage 1 first.
    pafs: (B, S, 2L, h, w) part affinity fields.
    """

    heatmaps: torch.Tensor
    pafs: torch.Tensor


class PafPeople(NamedTuple):
    """Decoded people of one image, in input pixels. keypoints (N, K, 2); scores (N, K), 0 = not found;
    person_scores (N,) = sum of keypoint scores (as the Idiap code)."""

    keypoints: np.ndarray
    scores: np.ndarray
    person_scores: np.ndarray


def check_limb_order(limbs: Sequence[tuple[int, int]], num_keypoints: int) -> list[bool]:
    """Raise ValueError unless ``limbs`` walks a tree from its root (each A seen before its limb); return for each
    limb whether it is redundant (both ends reached by earlier limbs)."""
    seen = {limbs[0][0]} if limbs else set()
    redundant = []
    for i, (a, b) in enumerate(limbs):
        if not (0 <= a < num_keypoints and 0 <= b < num_keypoints) or a == b:
            raise ValueError(f"limb {i} ({a}, {b}) is not a pair of distinct keypoints in [0, {num_keypoints})")
        if a not in seen:
            raise ValueError(f"limb {i} ({a}, {b}): keypoint {a} is not reached by an earlier limb")
        redundant.append(b in seen)
        seen.add(b)
    return redundant


class PafCodec:
    """Confidence maps (Eq. 1, sum over people clamped to 1) and PAFs (Eq. 2, averaged where people overlap).

    Args:
        num_keypoints: K (the background channel is added).
        limbs: (A, B) pairs in assembly order (see module doc).
        input_size: (w, h) network input in pixels (368x368 training crop, 444x368 at inference).
        stride: output stride of the network (8 for every pose machine).
        sigma: Gaussian sigma in input pixels (7, as Osokin / the OpenPose code).
        limb_width: PAF half-thickness in map cells (1).
        peak_threshold: confidence below which no peak is taken (the paper's detection threshold eta; 0.1).
        nms_radius: peaks within this many input pixels of a stronger one are dropped (6).
        paf_threshold: a PAF sample counts when its projection on the limb exceeds this (0.05).
        num_samples: samples on each candidate segment (10, endpoints included).
        min_sample_fraction: a candidate limb needs more than this share of samples above threshold (0.8).
        min_parts / min_mean_score: people with fewer parts or a lower mean score are dropped (3 / 0.2).
        max_peaks: at most this many (strongest) peaks per keypoint type, which bounds the decoding cost of noisy
            maps (untrained networks); far above the number of people in an image.
    """

    def __init__(self, num_keypoints: int, limbs: Sequence[tuple[int, int]] = COCO_PAF_LIMBS,
                 input_size: tuple[int, int] = (368, 368), stride: int = 8, sigma: float = 7.0,
                 limb_width: float = 1.0, peak_threshold: float = 0.1, nms_radius: float = 6.0,
                 paf_threshold: float = 0.05, num_samples: int = 10, min_sample_fraction: float = 0.8,
                 min_parts: int = 3, min_mean_score: float = 0.2, max_peaks: int = 64):
        self.limbs = tuple((int(a), int(b)) for a, b in limbs)
        self.redundant = check_limb_order(self.limbs, num_keypoints)
        self.num_keypoints = int(num_keypoints)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.stride = int(stride)
        self.sigma = float(sigma)
        self.limb_width = float(limb_width)
        self.peak_threshold = float(peak_threshold)
        self.nms_radius = float(nms_radius)
        self.paf_threshold = float(paf_threshold)
        self.num_samples = int(num_samples)
        self.min_sample_fraction = float(min_sample_fraction)
        self.min_parts = int(min_parts)
        self.min_mean_score = float(min_mean_score)
        self.max_peaks = int(max_peaks)

    def params(self) -> dict:
        """The codec's settings as plain JSON values (written into exported ONNX metadata)."""
        keys = ("num_keypoints", "input_size", "stride", "sigma", "limb_width", "peak_threshold", "nms_radius",
                "paf_threshold", "num_samples", "min_sample_fraction", "min_parts", "min_mean_score", "max_peaks")
        out = {k: getattr(self, k) for k in keys}
        out["input_size"] = list(self.input_size)
        out["limbs"] = [list(limb) for limb in self.limbs]
        return out

    @property
    def num_limbs(self) -> int:
        return len(self.limbs)

    @property
    def heatmap_channels(self) -> int:
        return self.num_keypoints + 1

    @property
    def paf_channels(self) -> int:
        return 2 * len(self.limbs)

    @property
    def map_size(self) -> tuple[int, int]:
        """(w, h) of the stride-s target grid for ``input_size``."""
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    # ------------------------------------------------------------------ encode
    def encode(self, keypoints: np.ndarray, visible: np.ndarray, mask: np.ndarray | None = None) -> PafTarget:
        """Targets of one image with all its people.

        Args:
            keypoints: (N, K, 2) input pixels (N may be 0).
            visible: (N, K); > 0 = labelled.
            mask: optional (H, W) input-resolution loss mask (1 = supervised); nearest-sampled at cell centres.
        """
        kpts = np.asarray(keypoints, np.float64).reshape(-1, self.num_keypoints, 2)
        vis = np.asarray(visible, np.float64).reshape(-1, self.num_keypoints)
        w, h = self.map_size
        s = self.stride
        in_w, in_h = self.input_size
        inside = (kpts[..., 0] >= 0) & (kpts[..., 0] <= in_w - 1) & (kpts[..., 1] >= 0) & (kpts[..., 1] <= in_h - 1)
        labelled = (vis > 0) & inside & np.isfinite(kpts).all(-1)  # (N, K)

        # confidence maps on cell centres in input pixels
        px = np.arange(w) * s + s / 2 - 0.5
        py = np.arange(h) * s + s / 2 - 0.5
        dx2 = (px[None, None, None, :] - kpts[..., 0, None, None]) ** 2  # (N, K, 1, w)
        dy2 = (py[None, None, :, None] - kpts[..., 1, None, None]) ** 2  # (N, K, h, 1)
        expo = (dx2 + dy2) / (2 * self.sigma ** 2)
        gauss = np.where((expo <= _SKIP_EXPONENT) & labelled[..., None, None], np.exp(-expo), 0.0)
        conf = np.minimum(gauss.sum(0), 1.0) if len(kpts) else np.zeros((self.num_keypoints, h, w))
        heatmaps = np.concatenate([conf, 1.0 - conf.max(0, keepdims=True)], 0).astype(np.float32)

        # PAFs in map coordinates (cell u at coordinate u)
        pafs = np.zeros((self.paf_channels, h, w), np.float32)
        if len(kpts) and self.limbs:
            ia = np.array([a for a, _ in self.limbs])
            ib = np.array([b for _, b in self.limbs])
            pa = (kpts[:, ia] + 0.5) / s - 0.5  # (N, L, 2)
            pb = (kpts[:, ib] + 0.5) / s - 0.5
            vec = pb - pa
            length = np.linalg.norm(vec, axis=-1)  # (N, L)
            ok = labelled[:, ia] & labelled[:, ib] & (length > 1e-6)
            unit = vec / np.maximum(length, 1e-6)[..., None]
            gx = np.arange(w)[None, None, None, :]
            gy = np.arange(h)[None, None, :, None]
            rx = gx - pa[..., 0, None, None]  # (N, L, 1, w)
            ry = gy - pa[..., 1, None, None]  # (N, L, h, 1)
            perp = np.abs(unit[..., 1, None, None] * rx - unit[..., 0, None, None] * ry)
            lw = self.limb_width
            box = ((gx >= np.minimum(pa[..., 0], pb[..., 0])[..., None, None] - lw)
                   & (gx <= np.maximum(pa[..., 0], pb[..., 0])[..., None, None] + lw)
                   & (gy >= np.minimum(pa[..., 1], pb[..., 1])[..., None, None] - lw)
                   & (gy <= np.maximum(pa[..., 1], pb[..., 1])[..., None, None] + lw))
            on = (perp <= lw) & box & ok[..., None, None]  # (N, L, h, w)
            count = on.sum(0)  # (L, h, w)
            sum_x = (on * unit[..., 0, None, None]).sum(0)
            sum_y = (on * unit[..., 1, None, None]).sum(0)
            denom = np.maximum(count, 1)
            pafs[0::2] = sum_x / denom  # overlapping people: average of their vectors
            pafs[1::2] = sum_y / denom

        if mask is None:
            weight = np.ones((1, h, w), np.float32)
        else:
            m = np.asarray(mask, np.float32)
            cy = np.clip(np.round(py).astype(int), 0, m.shape[0] - 1)
            cx = np.clip(np.round(px).astype(int), 0, m.shape[1] - 1)
            weight = m[cy][:, cx][None].astype(np.float32)
        return PafTarget(heatmaps=heatmaps, pafs=pafs, weight=weight)

    # ------------------------------------------------------------------ unflip
    def limb_flip(self, flip_indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """For mirrored inputs: index of each limb's mirror limb and the sign (+1 same direction, -1 reversed)."""
        lookup = {pair: i for i, pair in enumerate(self.limbs)}
        index, sign = [], []
        for a, b in self.limbs:
            fa, fb = int(flip_indices[a]), int(flip_indices[b])
            if (fa, fb) in lookup:
                index.append(lookup[(fa, fb)])
                sign.append(1.0)
            elif (fb, fa) in lookup:
                index.append(lookup[(fb, fa)])
                sign.append(-1.0)
            else:
                raise ValueError(f"limb ({a}, {b}) has no mirror limb ({fa}, {fb}) under these flip indices")
        return np.asarray(index), np.asarray(sign, np.float32)

    def unflip(self, output: PafOutput, flip_indices: Sequence[int]) -> PafOutput:
        """Map the output of a horizontally mirrored input back to the original image."""
        kp_order = list(int(i) for i in flip_indices) + [self.num_keypoints]  # background stays
        heat = output.heatmaps[:, :, kp_order].flip(-1)
        index, sign = self.limb_flip(flip_indices)
        ch = np.stack([2 * index, 2 * index + 1], 1).reshape(-1)
        # x of a mirrored vector changes sign; a reversed limb changes the sign of both components
        ch_sign = np.stack([-sign, sign], 1).reshape(-1)
        paf = output.pafs[:, :, ch].flip(-1) * torch.as_tensor(ch_sign, dtype=output.pafs.dtype,
                                                               device=output.pafs.device)[:, None, None]
        return PafOutput(heatmaps=heat, pafs=paf)

    # ------------------------------------------------------------------ decode
    def decode(self, output: PafOutput | tuple[torch.Tensor, torch.Tensor],
               peak_threshold: float | None = None,
               content_heights: Sequence[float] | None = None) -> list[PafPeople]:
        """Final-stage maps -> people per image (input pixels). ``peak_threshold`` overrides eta (PR curves);
        ``content_heights``: per image, the height in input pixels of the image inside a letterboxed input (the
        limb-length prior is relative to the image's height, as in the Idiap code; default: the input height)."""
        heat, paf = output[0], output[1]
        if heat.dim() == 5:  # (B, S, C, h, w): the last stage is the prediction
            heat, paf = heat[:, -1], paf[:, -1]
        thr = self.peak_threshold if peak_threshold is None else float(peak_threshold)
        with torch.no_grad():
            # peaks are found on confidence maps up-sampled to input resolution (as the Idiap code); PAFs are
            # sampled bilinearly at stride resolution, which is equivalent for a line integral and much cheaper
            heat = F.interpolate(heat[:, : self.num_keypoints].float(), scale_factor=self.stride,
                                 mode="bicubic", align_corners=False)
            heights = [None] * len(heat) if content_heights is None else list(content_heights)
            return [self.decode_maps(h_, p_.float(), thr, c_) for h_, p_, c_ in zip(heat, paf, heights)]

    def find_peaks(self, heat: torch.Tensor, threshold: float) -> torch.Tensor:
        """(K, H, W) maps -> (P, 4) float [x, y, score, keypoint] of local maxima above ``threshold``.

        A peak is strictly above its 4 neighbours; of peaks of one keypoint type closer than the NMS radius, only
        the strongest is kept (ties go to the first in raster order). The Euclidean radius is the Idiap code's, the
        rule is not: Idiap's ``find_peaks`` drops the later peak in raster order whatever the scores, which keeps a
        weak peak over a strong one close below it; 1-2 of 30 crowded scenes decode differently (audit 2026-12-07).
        """
        h = torch.where(heat >= threshold, heat, torch.zeros_like(heat))
        pad = F.pad(h, (1, 1, 1, 1))
        strict = ((h > pad[:, 1:-1, :-2]) & (h > pad[:, 1:-1, 2:]) & (h > pad[:, :-2, 1:-1])
                  & (h > pad[:, 2:, 1:-1]) & (h > 0))
        k, y, x = torch.nonzero(strict, as_tuple=True)  # sorted by keypoint type
        peaks = torch.stack([x.float(), y.float(), h[k, y, x], k.float()], 1)
        if len(peaks) > 1:
            keep = torch.ones(len(peaks), dtype=torch.bool)
            counts = torch.bincount(k, minlength=heat.shape[0]).tolist()
            start = 0
            for n in counts:  # pairwise within one keypoint type (memory n^2, not P^2)
                if n > 1 and self.nms_radius > 0:
                    p = peaks[start:start + n]
                    near = (p[:, None, :2] - p[None, :, :2]).norm(dim=-1) <= self.nms_radius
                    idx = torch.arange(n)
                    stronger = (p[None, :, 2] > p[:, None, 2]) | ((p[None, :, 2] == p[:, None, 2])
                                                                  & (idx[None, :] < idx[:, None]))
                    keep[start:start + n] = ~(near & stronger).any(1)
                if n > self.max_peaks:
                    block = torch.where(keep[start:start + n], peaks[start:start + n, 2], torch.tensor(-1.0))
                    weakest = torch.argsort(block, descending=True)[self.max_peaks:]
                    keep[start + weakest] = False
                start += n
            peaks = peaks[keep]
        return peaks

    def score_limb(self, cand_a: torch.Tensor, cand_b: torch.Tensor, paf_xy: torch.Tensor,
                   image_height: int) -> torch.Tensor:
        """PAF line integral of every (a, b) candidate pair: (nA, 4), (nB, 4) peaks (input pixels) and the limb's
        (2, h, w) stride-resolution field -> (nA, nB) scores, -inf where the pair is rejected (too few samples
        aligned with the limb, or score <= 0 after the distance prior)."""
        pa, pb = cand_a[:, None, :2], cand_b[None, :, :2]
        d = pb - pa  # (nA, nB, 2)
        norm = d.norm(dim=-1)
        unit = d / norm.clamp_min(1e-6)[..., None]
        t = torch.linspace(0, 1, self.num_samples, device=d.device)
        pts = pa[..., None, :] + t[:, None] * d[..., None, :]  # (nA, nB, n, 2) input pixels
        field = _bilinear(paf_xy, (pts[..., 0] + 0.5) / self.stride - 0.5, (pts[..., 1] + 0.5) / self.stride - 0.5)
        e = field[0] * unit[..., None, 0] + field[1] * unit[..., None, 1]  # (nA, nB, n)
        kept = e > self.paf_threshold
        n_kept = kept.sum(-1)
        mean_kept = (e * kept).sum(-1) / n_kept.clamp_min(1)
        prior = torch.clamp(0.5 * image_height / norm.clamp_min(1e-6) - 1.0, max=0.0)
        score = mean_kept + prior
        ok = (score > 0) & (n_kept.float() / self.num_samples > self.min_sample_fraction) & (norm > 1e-6)
        return torch.where(ok, score, torch.full_like(score, float("-inf")))

    def decode_maps(self, heat: torch.Tensor, paf: torch.Tensor, threshold: float,
                    content_height: float | None = None) -> PafPeople:
        """One image: heat (K, H, W) at input resolution, paf (2L, h, w) at stride resolution -> people.
        ``content_height``: the image's height inside the input (letterbox padding excluded; default H)."""
        K = self.num_keypoints
        peaks = self.find_peaks(heat, threshold)  # (P, 4)
        by_kp = [torch.nonzero(peaks[:, 3] == k).flatten() for k in range(K)]  # global candidate ids
        rows: list[np.ndarray] = []  # per person: K candidate ids (-1 = none), score sum, part count
        peak_scores = peaks[:, 2].cpu().numpy()

        def new_row() -> np.ndarray:
            r = np.full(K + 2, -1.0)
            r[K:] = 0.0
            return r

        for li, (a, b) in enumerate(self.limbs):
            ids_a, ids_b = by_kp[a], by_kp[b]
            if len(ids_a) == 0 or len(ids_b) == 0:
                # nothing to connect: lone candidates of the present side start their own person
                for kp, ids in ((a, ids_a), (b, ids_b)):
                    used = {int(r[kp]) for r in rows}
                    for cid in ids.tolist():
                        if cid not in used:
                            r = new_row()
                            r[kp], r[K], r[K + 1] = cid, peak_scores[cid], 1
                            rows.append(r)
                continue
            score = self.score_limb(peaks[ids_a], peaks[ids_b], paf[2 * li: 2 * li + 2],
                                    heat.shape[-2] if content_height is None else content_height)
            for ia, ib, conn in _greedy_unique_pairs(score):
                ca, cb = int(ids_a[ia]), int(ids_b[ib])
                owner_a = next((r for r in rows if r[a] == ca), None)
                owner_b = next((r for r in rows if r[b] == cb), None) if self.redundant[li] else None
                if owner_a is not None and owner_b is not None:
                    if owner_a is not owner_b and not np.any((owner_a[:K] >= 0) & (owner_b[:K] >= 0)):
                        owner_a[:K] = np.maximum(owner_a[:K], owner_b[:K])  # merge two disjoint halves
                        owner_a[K] += owner_b[K] + conn
                        owner_a[K + 1] += owner_b[K + 1]
                        rows = [r for r in rows if r is not owner_b]
                elif li > 0 and (owner_a is not None or owner_b is not None):
                    row, slot, cid = (owner_a, b, cb) if owner_a is not None else (owner_b, a, ca)
                    if row[slot] < 0:  # fill the missing end only
                        row[slot] = cid
                        row[K + 1] += 1
                        row[K] += peak_scores[cid] + conn
                else:
                    r = new_row()
                    r[a], r[b] = ca, cb
                    r[K + 1] = 2
                    r[K] = peak_scores[ca] + peak_scores[cb] + conn
                    rows.append(r)

        table = np.stack(rows) if rows else np.zeros((0, K + 2))
        mean_score = table[:, K] / np.maximum(table[:, K + 1], 1)
        keep = (table[:, K + 1] >= self.min_parts) & (mean_score >= self.min_mean_score)
        table = table[keep]
        ids = table[:, :K].astype(int)
        peaks_np = peaks.cpu().numpy()
        found = ids >= 0
        safe = np.where(found, ids, 0)
        keypoints = np.where(found[..., None], peaks_np[safe, :2], 0.0).astype(np.float32).reshape(-1, K, 2)
        scores = np.where(found, peaks_np[safe, 2], 0.0).astype(np.float32).reshape(-1, K)
        return PafPeople(keypoints=keypoints, scores=scores, person_scores=scores.sum(1))


def _bilinear(maps: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sample (C, h, w) maps at float map coordinates x, y (any equal shapes) -> (C, *x.shape); clamped at edges."""
    _, h, w = maps.shape
    x = x.clamp(0, w - 1)
    y = y.clamp(0, h - 1)
    x0, y0 = x.floor().long().clamp(max=w - 2 if w > 1 else 0), y.floor().long().clamp(max=h - 2 if h > 1 else 0)
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    fx, fy = x - x0, y - y0
    top = maps[:, y0, x0] * (1 - fx) + maps[:, y0, x1] * fx
    bottom = maps[:, y1, x0] * (1 - fx) + maps[:, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _greedy_unique_pairs(score: torch.Tensor) -> list[tuple[int, int, float]]:
    """Accepted (finite) pairs by decreasing score, each row / column used once, at most min(nA, nB) pairs."""
    n_a, n_b = score.shape
    flat = score.flatten()
    valid = torch.nonzero(torch.isfinite(flat)).flatten()
    order = valid[torch.argsort(flat[valid], descending=True)].tolist()
    used_a, used_b, out = set(), set(), []
    for idx in order:
        ia, ib = divmod(idx, n_b)
        if ia in used_a or ib in used_b:
            continue
        used_a.add(ia)
        used_b.add(ib)
        out.append((ia, ib, float(flat[idx])))
        if len(out) >= min(n_a, n_b):
            break
    return out

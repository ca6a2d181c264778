"""The depth-pose-machines metric: PCK-based precision / recall per landmark type, F-score, PR curve over eta.

Paper (Sec. VII-B): for each landmark type and each ground-truth point q, the closest prediction p within
d = kappa * h (h = height of q's person box) is a true positive; other predictions are false positives and unmatched
ground truth points false negatives. Counts are summed over the dataset per landmark type; AP / AR average the
per-landmark precision / recall over the landmark types and over kappa in [0.05, 0.15] (grid 0.05:0.01:0.15, our
choice); F is the harmonic mean of AP and AR. The PR curve varies the detection threshold eta.

Matching (our reading of "associate the closest prediction"): one-to-one, greedy by increasing distance / h. With
that order the matches made under a cutoff kappa are exactly the greedy matches whose normalised distance is at most
kappa, so one matching per (image, landmark) serves every kappa.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # the layout is passed in: evaluation sits below kdpose.layouts
    from ..layouts import Layout

DEFAULT_KAPPAS: tuple[float, ...] = tuple(np.round(np.linspace(0.05, 0.15, 11), 4))


@dataclass
class PckPrResult:
    """Counts and rates of one evaluation.

    tp: (T, K) true positives per kappa and landmark; n_pred / n_gt: (K,) predictions / ground-truth points.

    Rates where a count is zero, per landmark type: no prediction of a labelled landmark type is precision 0 and
    recall 0 (nothing found); a landmark type nobody labelled has recall 1 (nothing to miss) and precision 1 when
    it was not predicted either, 0 when it was (false positives only). So no predictions at all give AP 0 and AR 0
    as soon as the ground truth labels anything; ground truth that labels nothing is refused by ``pck_pr_eval``.
    """

    kappas: np.ndarray
    tp: np.ndarray
    n_pred: np.ndarray
    n_gt: np.ndarray

    @property
    def precision_tk(self) -> np.ndarray:
        """(T, K); no prediction of a landmark type is precision 0 where it is labelled, 1 where it is not."""
        return np.where(self.n_pred > 0, self.tp / np.maximum(self.n_pred, 1), np.where(self.n_gt > 0, 0.0, 1.0))

    @property
    def recall_tk(self) -> np.ndarray:
        """(T, K); no ground truth counts as recall 1 (nothing missed)."""
        return np.where(self.n_gt > 0, self.tp / np.maximum(self.n_gt, 1), 1.0)

    @property
    def per_landmark_precision(self) -> np.ndarray:
        return self.precision_tk.mean(0)

    @property
    def per_landmark_recall(self) -> np.ndarray:
        return self.recall_tk.mean(0)

    @property
    def per_landmark_f(self) -> np.ndarray:
        return _f(self.per_landmark_precision, self.per_landmark_recall)

    @property
    def precision(self) -> float:
        """AP: precision averaged over landmark types and kappas."""
        return float(self.precision_tk.mean())

    @property
    def recall(self) -> float:
        """AR: recall averaged over landmark types and kappas."""
        return float(self.recall_tk.mean())

    @property
    def f_score(self) -> float:
        return float(_f(np.float64(self.precision), np.float64(self.recall)))

    def subset(self, landmark_ids: Sequence[int]) -> "PckPrResult":
        """The same counts restricted to some landmark types (e.g. the upper body)."""
        ids = np.asarray(landmark_ids, int)
        return PckPrResult(self.kappas, self.tp[:, ids], self.n_pred[ids], self.n_gt[ids])

    def summary(self) -> dict[str, float]:
        return {"AP": 100 * self.precision, "AR": 100 * self.recall, "F": self.f_score}


def _f(p, r):
    return np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)


def match_landmark(pred: np.ndarray, gt: np.ndarray, heights: np.ndarray, max_kappa: float) -> np.ndarray:
    """Greedy one-to-one matching of predictions (P, 2) to ground truth (G, 2) by distance / height.

    Returns the normalised distances (<= max_kappa) of the matched pairs.
    """
    if len(pred) == 0 or len(gt) == 0:
        return np.zeros(0)
    dist = np.linalg.norm(pred[:, None] - gt[None], axis=-1) / np.maximum(heights[None], 1e-6)  # (P, G)
    order = np.argsort(dist, axis=None, kind="stable")
    order = order[dist.flat[order] <= max_kappa]
    used_p, used_g, out = set(), set(), []
    for idx in order.tolist():
        ip, ig = divmod(idx, dist.shape[1])
        if ip in used_p or ig in used_g:
            continue
        used_p.add(ip)
        used_g.add(ig)
        out.append(dist.flat[idx])
    return np.asarray(out)


def pck_precision_recall(pred_keypoints: Sequence[np.ndarray], pred_scores: Sequence[np.ndarray],
                         gt_keypoints: Sequence[np.ndarray], gt_visible: Sequence[np.ndarray],
                         gt_heights: Sequence[np.ndarray], kappas: Sequence[float] = DEFAULT_KAPPAS,
                         score_threshold: float = 0.0) -> PckPrResult:
    """Count TP / predictions / ground truth per landmark type over a set of images.

    Per image i: pred_keypoints (N_i, K, 2) and pred_scores (N_i, K) of the decoded people (a keypoint with score 0
    or below ``score_threshold`` is absent); gt_keypoints (M_i, K, 2), gt_visible (M_i, K) (> 0 = labelled) and
    gt_heights (M_i,) = height h of each ground-truth person box in pixels.
    """
    kap = np.asarray(kappas, np.float64)
    if len(pred_keypoints) == 0:
        raise ValueError("no images to evaluate")
    K = np.asarray(gt_keypoints[0]).shape[-2]  # arrays keep their (M, K, 2) shape even when M = 0
    tp = np.zeros((len(kap), K))
    n_pred = np.zeros(K)
    n_gt = np.zeros(K)
    for pk, ps, gk, gv, gh in zip(pred_keypoints, pred_scores, gt_keypoints, gt_visible, gt_heights):
        pk = np.asarray(pk, np.float64).reshape(-1, K, 2)
        ps = np.asarray(ps, np.float64).reshape(-1, K)
        gk = np.asarray(gk, np.float64).reshape(-1, K, 2)
        gv = np.asarray(gv, np.float64).reshape(-1, K)
        gh = np.asarray(gh, np.float64).reshape(-1)
        present = (ps > 0) & (ps >= score_threshold)
        labelled = gv > 0
        n_pred += present.sum(0)
        n_gt += labelled.sum(0)
        for j in range(K):
            d = match_landmark(pk[present[:, j], j], gk[labelled[:, j], j], gh[labelled[:, j]], float(kap.max()))
            tp[:, j] += (d[None, :] <= kap[:, None] + 1e-12).sum(1)
    return PckPrResult(kappas=kap, tp=tp, n_pred=n_pred, n_gt=n_gt)


@dataclass
class PrCurve:
    """AP / AR / F at each detection threshold eta (arrays of the same length)."""

    etas: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    @property
    def f_score(self) -> np.ndarray:
        return _f(self.precision, self.recall)

    def best(self) -> dict[str, float]:
        """The operating point with the highest F-score (how the paper summarises a curve in its tables)."""
        i = int(np.argmax(self.f_score))
        return {"eta": float(self.etas[i]), "AP": 100 * float(self.precision[i]),
                "AR": 100 * float(self.recall[i]), "F": float(self.f_score[i])}


def pr_curve(results: Sequence[PckPrResult], etas: Sequence[float],
             landmark_ids: Sequence[int] | None = None) -> PrCurve:
    """Collect results evaluated at each eta (optionally on a landmark subset) into a curve."""
    res = [r.subset(landmark_ids) if landmark_ids is not None else r for r in results]
    return PrCurve(np.asarray(etas, np.float64), np.array([r.precision for r in res]),
                   np.array([r.recall for r in res]))


def ground_truth_heights(keypoints: np.ndarray, visible: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
    """h of the metric's d = kappa x h for the people of one image: their box heights, or (no boxes) the vertical
    extent of their labelled keypoints. keypoints (M, K, 2), visible (M, K), boxes (M, 4) xyxy -> (M,)."""
    if boxes is not None:
        return boxes[:, 3] - boxes[:, 1]
    y = np.where(visible > 0, keypoints[..., 1], np.nan)
    return np.nan_to_num(np.nanmax(y, 1) - np.nanmin(y, 1), nan=1.0) if len(y) else np.zeros(0)


@dataclass
class PeopleEvaluation:
    """The paper's metric on a set of images: the best-F operating point over eta (all landmarks and the upper body)
    and the PR curve."""

    best: dict[str, float]
    upper: dict[str, float]
    curve: PrCurve


def evaluate_people(predictions: Mapping[float, Sequence[tuple[np.ndarray, np.ndarray]]],
                    gt_keypoints: Sequence[np.ndarray], gt_visible: Sequence[np.ndarray],
                    gt_heights: Sequence[np.ndarray], upper_body: Sequence[int] | None = None) -> PeopleEvaluation:
    """PCK precision / recall of decoded people at each detection threshold, summarised at the best F.

    ``predictions``: {eta: [(keypoints (N, K, 2), scores (N, K)) per image]} in image pixels (the order of the
    ground-truth lists); ``upper_body``: landmark ids of the upper-body summary (None: all landmarks)."""
    etas = list(predictions)
    results = [pck_precision_recall([p[0] for p in predictions[e]], [p[1] for p in predictions[e]], gt_keypoints,
                                    gt_visible, gt_heights) for e in etas]
    curve = pr_curve(results, etas)
    upper = pr_curve(results, etas, upper_body).best() if upper_body is not None else curve.best()
    return PeopleEvaluation(curve.best(), upper, curve)


# keypoint-score thresholds of a results file's PR curve (the etas of the depth paper's curves)
SCORE_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6)


def pck_pr_eval(gt: str | Path, results: str | Path | Sequence[dict], layout: "Layout",
                score_thresholds: Sequence[float] = SCORE_THRESHOLDS) -> dict[str, float]:
    """The depth paper's metric on a COCO-format ground-truth file and COCO results (``kdpose infer --json`` of a
    bottom-up model): AP / AR (in %) and F at the best keypoint-score threshold, that threshold (``score_thr``), and
    the upper-body F. A results file holds each keypoint's score, so the curve varies a score threshold; the paper's
    eta (the peak threshold at decoding, which can also change how people are assembled) needs the network:
    ``kdpose.tasks.bottomup.BottomUpEvaluator``. ``layout`` (a :class:`kdpose.layouts.Layout`) reads the ground
    truth and says which landmarks are the upper body. No predictions give AP 0, AR 0, F 0; ground truth without
    labelled keypoints, a result of an unknown image or with other than K x 3 finite numbers is a ``DataError``."""
    from ..data.coco import load_coco_file
    from ..errors import DataError
    from .coco import check_result_ids, finite_numbers, gt_keypoint_categories, load_results

    spec = layout
    k = spec.num_keypoints
    gt_data = load_coco_file(gt)
    spec.check_ground_truth_names(gt_data, str(gt))
    image_ids = [int(im["id"]) for im in gt_data["images"]]
    categories = gt_keypoint_categories(gt_data)
    people: dict[int, list] = {i: [] for i in image_ids}
    for sample in spec.read_annotations(gt, mode="eval"):
        people.setdefault(int(sample.image_id), []).append(sample)
    preds, name = load_results(results)
    found: dict[int, list] = {i: [] for i in people}
    for i, r in enumerate(preds):
        if "keypoints" not in r or "image_id" not in r:
            raise DataError(f"{name}: result {i} needs an image_id and {k} x 3 keypoint values (layout {spec.name})")
        kpts = finite_numbers(r["keypoints"], name, f"result {i}", "keypoints", 3 * k)
        check_result_ids(r, i, name, set(image_ids), categories)
        found.setdefault(int(r["image_id"]), []).append(kpts.reshape(k, 3))
    order = sorted(people)
    gt_kpts = [np.array([s.keypoints for s in people[i]], np.float64).reshape(-1, k, 2) for i in order]
    gt_vis = [np.array([s.visible for s in people[i]], np.float64).reshape(-1, k) for i in order]
    if not any((v > 0).any() for v in gt_vis):  # precision and recall of finding nothing: undefined
        raise DataError(f"{gt}: the ground truth has no people with labelled keypoints ({len(image_ids)} images), "
                        "so PCK precision / recall are undefined; evaluate on a file with labelled people")
    heights = [np.array([s.bbox[3] - s.bbox[1] for s in people[i]], np.float64) for i in order]
    pred = [np.array(found.get(i, []), np.float64).reshape(-1, k, 3) for i in order]
    per_thr = [pck_precision_recall([p[..., :2] for p in pred], [p[..., 2] for p in pred], gt_kpts, gt_vis, heights,
                                    score_threshold=t) for t in score_thresholds]
    curve = pr_curve(per_thr, score_thresholds)
    best = curve.best()
    upper = pr_curve(per_thr, score_thresholds, spec.upper_body or None).best()
    return {"AP": best["AP"], "AR": best["AR"], "F": best["F"], "score_thr": best["eta"], "F_upper": upper["F"]}


def plot_pr_curves(curves: Mapping[str, PrCurve], path: str | Path, title: str = "PCK precision-recall") -> Path:
    """Save precision-recall curves (one per model) as an image, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils.io import atomic_write

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    for name, c in curves.items():
        ax.plot(c.recall, c.precision, marker=".", label=f"{name} (F={c.best()['F']:.2f})")
    ax.set_xlabel("recall (AR)")
    ax.set_ylabel("precision (AP)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path

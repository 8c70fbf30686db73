"""Binary classification metrics: accuracy, balanced accuracy, AUC, F1, sensitivity, specificity,
confusion matrix.

Everything takes the true labels (class indices) and the predicted probability of the
*positive* class (the diagnosis class, e.g. ``stenosis``). A metric that is undefined for the
given labels (AUC or specificity when the test split has one class only, sensitivity without
positives, ...) is ``NaN`` and the reason is listed under ``"warnings"``; nothing raises for a
degenerate but valid input.

:data:`METRICS` is the registry of the scalar metrics: what ``classification_metrics`` computes,
what training histories, experiment tables and noise reports show, and their labels. Adding a
metric is one :class:`Metric` registered below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .registry import Registry


@dataclass(frozen=True)
class Scored:
    """What a metric is computed from: labels, positive-class probabilities, and the confusion
    counts at the threshold (``tp fp tn fn`` of the positive class)."""

    y: np.ndarray
    p: np.ndarray
    positive: int
    tp: int
    fp: int
    tn: int
    fn: int


@dataclass(frozen=True)
class Metric:
    """A scalar metric: ``name`` (key in metrics dicts), ``label`` (tables, plots), ``short``
    (one-line summaries) and how it is computed (``NaN`` when undefined)."""

    name: str
    label: str
    short: str
    compute: Callable[[Scored], float]


METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, label: str, short: str):
    """Decorator: register ``compute(scored) -> float`` as the metric ``name``."""

    def deco(fn: Callable[[Scored], float]) -> Callable[[Scored], float]:
        METRICS.register(name, Metric(name, label, short, fn))
        return fn

    return deco


def _as_arrays(y_true, prob_pos) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(prob_pos, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"labels and probabilities differ in length ({y.size} vs {p.size})")
    return y, p


def confusion_matrix(y_true, y_pred, positive: int = 1) -> np.ndarray:
    """2x2 matrix ``[[TN, FP], [FN, TP]]``: rows true (negative, positive), columns predicted."""
    y = np.asarray(y_true, dtype=np.int64).reshape(-1) == positive
    q = np.asarray(y_pred, dtype=np.int64).reshape(-1) == positive
    tn = int(np.sum(~y & ~q))
    fp = int(np.sum(~y & q))
    fn = int(np.sum(y & ~q))
    tp = int(np.sum(y & q))
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    _, first, counts = np.unique(xs, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # mean of 1-based positions first+1 .. first+count
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, counts)
    return ranks


def roc_auc(y_true, prob_pos, positive: int = 1) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half; equals sklearn's
    ``roc_auc_score``); ``NaN`` when only one class is present."""
    y, p = _as_arrays(y_true, prob_pos)
    pos = y == positive
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    r = _average_ranks(p)
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(y_true, prob_pos, positive: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate); empty arrays when only one class is present."""
    y, p = _as_arrays(y_true, prob_pos)
    pos = y == positive
    if pos.all() or (~pos).all():
        return np.zeros(0), np.zeros(0)
    from sklearn.metrics import roc_curve as _roc  # here: sklearn takes ~0.5 s to import

    fpr, tpr, _ = _roc(pos.astype(np.int64), p)
    return fpr, tpr


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    prob_pos: Sequence[float] | np.ndarray,
    *,
    positive: int = 1,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """All metrics for one set of predictions, as a JSON-ready dict.

    ``prob_pos`` is the probability of class ``positive``; a sample is predicted positive when
    ``prob_pos >= threshold``. Keys: every registered metric of :data:`METRICS` (floats, NaN
    when undefined), ``confusion_matrix`` (``[[TN, FP], [FN, TP]]``), ``n``, ``n_positive``,
    ``threshold`` and ``warnings`` (why a metric is NaN).
    """
    y, p = _as_arrays(y_true, prob_pos)
    if y.size == 0:
        raise ValueError("no samples to score")
    negative = 1 - positive if positive in (0, 1) else -1
    pred = np.where(p >= threshold, positive, negative)
    cm = confusion_matrix(y, pred, positive)
    (tn, fp), (fn, tp) = cm.tolist()
    n_pos = tp + fn
    n_neg = tn + fp
    warnings: list[str] = []
    if n_pos == 0 or n_neg == 0:
        which = "negative" if n_neg == 0 else "positive"
        warnings.append(f"only one class present (no {which} samples): AUC is undefined (NaN)")
    if n_pos == 0:
        warnings.append("no positive samples: sensitivity is undefined (NaN)")
    if n_neg == 0:
        warnings.append("no negative samples: specificity is undefined (NaN)")
    if tp == 0 and (fp + fn) == 0:
        warnings.append("no positive samples and no positive predictions: F1 is undefined (NaN)")
    scored = Scored(y, p, positive, tp, fp, tn, fn)
    return {
        **{name: m.compute(scored) for name, m in METRICS.items()},
        "confusion_matrix": cm.tolist(),
        "n": int(y.size),
        "n_positive": int(n_pos),
        "threshold": float(threshold),
        "warnings": warnings,
    }


@register_metric("accuracy", "Accuracy", "acc")
def _accuracy(s: Scored) -> float:
    return _ratio(s.tp + s.tn, s.y.size)


@register_metric("balanced_accuracy", "Balanced accuracy", "bacc")
def _balanced_accuracy(s: Scored) -> float:
    """The mean of sensitivity and specificity: 0.5 for a head that predicts one class, whatever
    the class shares (plain accuracy then equals the majority's share)."""
    sens, spec = _ratio(s.tp, s.tp + s.fn), _ratio(s.tn, s.tn + s.fp)
    return (sens + spec) / 2


@register_metric("auc", "AUC", "auc")
def _auc(s: Scored) -> float:
    return roc_auc(s.y, s.p, s.positive)


@register_metric("f1", "F1", "f1")
def _f1(s: Scored) -> float:
    if s.tp == 0 and (s.fp + s.fn) == 0:
        return math.nan
    return _ratio(2 * s.tp, 2 * s.tp + s.fp + s.fn)


@register_metric("sensitivity", "Sensitivity", "sens")
def _sensitivity(s: Scored) -> float:
    return _ratio(s.tp, s.tp + s.fn)


@register_metric("specificity", "Specificity", "spec")
def _specificity(s: Scored) -> float:
    return _ratio(s.tn, s.tn + s.fp)


METRIC_NAMES = METRICS.names()


OPERATING_POINTS = ("youden", "sens90")
"""Named thresholds a run saves from its validation split: ``youden`` (the largest sensitivity
+ specificity - 1) and ``sens90`` (the highest threshold that still finds 90 % of positives)."""


def operating_points(y_true, prob_pos, positive: int = 1) -> dict[str, float] | None:
    """The :data:`OPERATING_POINTS` thresholds for these predictions; ``None`` with one class."""
    y, p = _as_arrays(y_true, prob_pos)
    pos = y == positive
    if pos.all() or (~pos).all():
        return None
    from sklearn.metrics import roc_curve as _roc  # here: sklearn takes ~0.5 s to import

    fpr, tpr, thr = _roc(pos.astype(np.int64), p)
    thr = np.clip(thr, 0.0, 1.0)  # sklearn's first threshold is +inf: "predict nothing"
    youden = float(thr[int(np.argmax(tpr - fpr))])
    sens90 = float(thr[int(np.argmax(tpr >= 0.9))])
    return {"youden": youden, "sens90": sens90}


def format_metrics(m: dict[str, Any]) -> str:
    """One line, e.g. ``acc 0.950  bacc 0.950  auc 0.981  f1 0.947  sens 0.930  spec 0.970
    (n=60)``; an undefined metric reads ``n/a``, and samples of one class say so."""

    def f(x: float) -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    cells = "  ".join(f"{metric.short} {f(m[name])}" for name, metric in METRICS.items())
    one_class = m.get("n_positive") in (0, m["n"])
    return f"{cells}  (n={m['n']}{', one class' if one_class else ''})"

"""Plots of a run: ROC curve, confusion matrix, training curves (matplotlib, Agg, PNG, atomic).

matplotlib is imported on first use: importing it costs a second and most commands draw nothing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_write_bytes
from .metrics import roc_auc, roc_curve


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_roc(
    path: str | Path,
    y_true: Sequence[int] | np.ndarray,
    prob_pos: Sequence[float] | np.ndarray,
    *,
    positive: int = 1,
    title: str = "",
    extra: dict[str, tuple[Sequence[int], Sequence[float]]] | None = None,
) -> Path:
    """ROC curve(s) with AUC in the legend; ``extra`` adds named curves (e.g. the exact head)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    curves = {"model": (y_true, prob_pos), **(extra or {})}
    drawn = False
    for name, (y, p) in curves.items():
        fpr, tpr = roc_curve(y, p, positive)
        if fpr.size:
            ax.plot(fpr, tpr, lw=2, label=f"{name} (AUC {roc_auc(y, p, positive):.3f})")
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "ROC undefined:\nonly one class in the labels", ha="center", va="center")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title or "ROC", fontsize=9)
    if drawn:
        ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_confusion(
    path: str | Path,
    cm: Sequence[Sequence[int]],
    classes: Sequence[str],
    *,
    positive: int = 1,
    title: str = "",
) -> Path:
    """``cm`` as returned by ``qsdaqec.metrics``: ``[[TN, FP], [FN, TP]]`` (negative first)."""
    plt = _plt()
    cm = np.asarray(cm)
    neg = classes[1 - positive] if len(classes) == 2 else "negative"
    pos = classes[positive] if len(classes) == 2 else "positive"
    names = [neg, pos]
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(cm, cmap="Blues")
    vmax = cm.max() if cm.size else 0
    for i in range(2):
        for j in range(2):
            ax.text(
                j,
                i,
                str(int(cm[i, j])),
                ha="center",
                va="center",
                color="white" if vmax and cm[i, j] > vmax / 2 else "black",
                fontsize=12,
            )
    ax.set_xticks([0, 1], names)
    ax.set_yticks([0, 1], names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix", fontsize=9)
    return _save(fig, path)


def plot_curves(path: str | Path, history: Sequence[dict[str, Any]]) -> Path:
    """Loss and validation AUC / accuracy per epoch; stage 2 epochs follow stage 1's."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    xs = list(range(1, len(history) + 1))

    def col(k: str) -> list[float]:
        out = []
        for r in history:
            v = r.get(k)
            out.append(float(v) if v is not None and not (isinstance(v, str)) else math.nan)
        return out

    a1.plot(xs, col("train_loss"), marker="o", ms=3, label="train loss")
    a1.plot(xs, col("val_loss"), marker="o", ms=3, label="val loss")
    a2.plot(xs, col("val_auc"), marker="o", ms=3, label="val AUC")
    a2.plot(xs, col("val_accuracy"), marker="o", ms=3, label="val accuracy")
    stage2 = [i for i, r in zip(xs, history, strict=False) if r.get("stage") == 2]
    for ax in (a1, a2):
        if stage2:
            ax.axvspan(
                stage2[0] - 0.5,
                stage2[-1] + 0.5,
                color="orange",
                alpha=0.12,
                label="stage 2 (backend)",
            )
        ax.set_xlabel("epoch (stage 1, then stage 2: shaded)" if stage2 else "epoch (stage 1)")
        ax.legend(fontsize=8)
    a1.set_title("loss", fontsize=9)
    a2.set_title("validation", fontsize=9)
    a2.set_ylim(0, 1.02)
    return _save(fig, path)

"""What a scored split leaves on disk: a predictions CSV, the ROC curve and the confusion
matrix (``fit``'s test split and ``evaluate``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text
from ..plots import plot_confusion, plot_roc


def predictions_csv(
    ids: Sequence[str],
    labels: torch.Tensor,
    prob: torch.Tensor,
    classes: list[str],
    pos: int,
    threshold: float = 0.5,
) -> str:
    """``id,label,p_<class>...,predicted`` per sample (``threshold`` on the positive class)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "label", *[f"p_{c}" for c in classes], "predicted"])
    for i, sid in enumerate(ids):
        pred = pos if float(prob[i, pos]) >= threshold else 1 - pos
        w.writerow(
            [sid, classes[int(labels[i])], *[f"{float(p):.6f}" for p in prob[i]], classes[pred]]
        )
    return buf.getvalue()


def write_scored(
    dest: Path,
    csv_name: str,
    *,
    ids: Sequence[str],
    labels: torch.Tensor,
    prob: torch.Tensor,
    metrics: dict[str, Any],
    classes: list[str],
    positive: int,
    title: str,
    threshold: float = 0.5,
) -> None:
    """``dest/<csv_name>``, ``dest/roc.png`` and ``dest/confusion.png`` of one scored split."""
    text = predictions_csv(ids, labels, prob, classes, positive, threshold)
    atomic_write_text(dest / csv_name, text)
    plot_roc(
        dest / "roc.png", labels.numpy(), prob[:, positive].numpy(), positive=positive, title=title
    )
    plot_confusion(
        dest / "confusion.png", metrics["confusion_matrix"], classes, positive=positive, title=title
    )

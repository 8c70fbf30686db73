"""Scoring: a trained model's features (averaged over its test views), metrics + loss of a set
of logits, the validation criterion, the history row of an epoch, and a trained head's logits on
a backend."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..metrics import METRICS, classification_metrics
from ..models import view_averaged
from ..quantum import head_problem
from ..runner import BackendSpec, make_estimator, parse_backend
from ..runner.problems import estimate
from .accel import Accel
from .batching import predict_logits
from .config import FitConfig
from .model import runner_config


@torch.no_grad()
def features_of(
    model, x: torch.Tensor, bar=None, accel: Accel | None = None, views: int = 1
) -> torch.Tensor:
    """``model.features`` of images ``x`` in eval mode, averaged over ``views`` test-time
    views (``qsdaqec.models.views``; batches of 64, on ``accel``'s device); on the CPU. The one
    place a trained model's features are computed for scoring."""
    model.eval()
    return predict_logits(view_averaged(model.features, views), x, 64, bar, accel)


def scores(logits: torch.Tensor, labels: torch.Tensor, positive: int, criterion) -> dict[str, Any]:
    """Every metric of ``qsdaqec.metrics`` plus the loss, for ``(N, 2)`` logits."""
    loss = float(criterion(logits, labels)) if logits.numel() else math.nan
    prob = torch.softmax(logits, dim=1)[:, positive]
    m = classification_metrics(labels.numpy(), prob.numpy(), positive=positive)
    m["loss"] = loss
    return m


def score_value(m: dict[str, Any], monitor: str) -> float:
    """Higher is better. AUC falls back to -loss when undefined (one-class validation split)."""
    if monitor == "auc" and not math.isnan(m["auc"]):
        return m["auc"] - 1e-6 * m["loss"]  # ties broken by the lower loss
    return -m["loss"]


def history_row(
    stage: int, epoch: int, train_loss: float, val: dict[str, Any], seconds: float, **extra: Any
) -> dict[str, Any]:
    """One epoch in ``history.json``: the losses, ``val_<metric>`` for every registered metric,
    ``extra`` (learning rate, best), and the seconds."""
    row = {"stage": stage, "epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"]}
    for name in METRICS:
        row[f"val_{name}"] = val[name]
    row.update(extra)
    row["seconds"] = round(seconds, 3)
    return row


EXACT = BackendSpec("statevector")
"""The exact backend, parsed: the default of :func:`head_logits`."""


def head_logits(
    cfg: FitConfig,
    head: nn.Module,
    features: torch.Tensor,
    backend: str | BackendSpec = EXACT,
    *,
    shots: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits on backend, exact logits)`` of a trained head (the exact one, as ``fit`` and
    ``load_run`` hold it) on ``features``.

    A quantum head goes through its problem (:func:`qsdaqec.quantum.head_problem`): on the exact
    backend its exact expectation values, elsewhere the runner's estimator with ``cfg``'s seed
    and ``shots`` (default: the run's), as the noise report and hardware jobs compute them. A
    classical head ignores ``backend`` and has no exact logits (``None``).
    """
    if not cfg.is_quantum:
        return predict_logits(head, features, 32), None
    spec = parse_backend(backend)
    problem = head_problem(head, features)
    exact = torch.from_numpy(problem.logits(problem.exact_evs)).float()
    if spec.is_exact:
        return exact, exact
    rcfg = runner_config(cfg, shots)
    evs, _ = estimate(
        problem, make_estimator(spec, rcfg), exact=rcfg.shots is None, on_chunk=on_chunk
    )
    return torch.from_numpy(problem.logits(evs)).float(), exact

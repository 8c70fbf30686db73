"""``evaluate``: re-score a run's test split on a backend (a run directory or a loaded run); the
threshold and backend checks ``predict`` (:mod:`.prediction`) shares. What it does goes to the
``qsdaqec.train.evaluation`` logger (:mod:`qsdaqec.logs`)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..errors import BackendError, ConfigError, DataError
from ..io import atomic_write_json
from ..logs import get_logger, log_argument
from ..metrics import OPERATING_POINTS, classification_metrics
from ..runner import BackendSpec, parse_backend
from ..runs import RunDir
from .outputs import write_scored
from .run import LoadedRun, as_run
from .scoring import head_logits

_log = get_logger(__name__)


def balanced_subset(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Indices keeping every minority sample and an equal, seeded random share of the majority."""
    counts = torch.bincount(labels, minlength=2)
    k = int(counts.min())
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(2):
        idx = torch.nonzero(labels == c).flatten()
        keep.append(idx if idx.numel() == k else idx[torch.randperm(idx.numel(), generator=g)[:k]])
    return torch.sort(torch.cat(keep)).values


_THRESHOLD = {"threshold=": "--threshold "}  # the CLI's name of the argument


def resolve_threshold(run_dir: str | Path, threshold: float | str) -> float:
    """A probability of the positive class, or an operating point the run saved from its
    validation split (``youden``, ``sens90``; see ``qsdaqec.metrics.operating_points``).
    ``run_dir``: a run directory or a loaded run."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        points = (RunDir(run_dir).read_metrics() or {}).get("operating_points") or {}
        if threshold not in OPERATING_POINTS:
            raise ConfigError(
                f"threshold={threshold!r}: a probability in (0, 1) or one of "
                f"{', '.join(OPERATING_POINTS)}",
                cli=_THRESHOLD,
            ) from None
        if threshold not in points:
            raise ConfigError(
                f"threshold={threshold}: {run_dir} saved no operating points (a run "
                "made before they were saved, or a one-class validation split); pass a number",
                cli=_THRESHOLD,
            ) from None
        return float(points[threshold])
    if not 0 < value < 1:
        raise ConfigError(
            f"threshold={threshold}: a probability must lie in (0, 1)", cli=_THRESHOLD
        )
    return value


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


def _check_backend(run: LoadedRun, backend: str, log: Callable[[str], None]) -> BackendSpec:
    """The backend string parsed (once: the scoring below gets the spec); hardware is reached
    through jobs only; a classical head ignores the backend (and says so)."""
    spec = parse_backend(backend)
    if run.is_quantum:
        if spec.is_hardware:
            raise BackendError(
                f"{backend}: hardware inference runs as jobs; use `qsdaqec jobs submit --run DIR "
                f"--backend {backend}` and `qsdaqec jobs fetch`"
            )
    elif not spec.is_exact:
        log(f"{backend}: not used by a classical model; evaluating the classical head")
    return spec


def _balance(run: LoadedRun, feats, labels, ids):
    if int(torch.bincount(labels, minlength=2).min()) == 0:
        raise DataError(
            "balanced_test=True: the test split has one class only; nothing to balance",
            cli={"balanced_test=True": "--balanced-test"},
        )
    keep = balanced_subset(labels, run.cfg.seed)
    note = (
        f"balanced: majority subsampled to {int(keep.numel()) // 2} per class (seed {run.cfg.seed})"
    )
    return feats[keep], labels[keep], [ids[int(i)] for i in keep], note


@log_argument
def evaluate(
    run_dir: str | Path | LoadedRun,
    backend: str = "statevector",
    *,
    balanced_test: bool = False,
    data: str | None = None,
    shots: int | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    threshold: float | str = 0.5,
    progress: bool = False,
) -> dict[str, Any]:
    """Score the run's test split with the head on ``backend`` (``progress``: a bar on stderr).

    Writes ``metrics.json``, ``predictions.csv``, ``roc.png`` and ``confusion.png`` to ``out``
    (default ``<run>/eval/<backend>[-balanced]``) and returns the metrics dict. ``device``:
    where the backbone computes the test features when the run did not cache them.
    ``threshold``: a probability, or a saved operating point (:func:`resolve_threshold`).
    ``run_dir``: a run directory, or a loaded run (which keeps its device). ``log=``: this
    call's lines to that function (:func:`qsdaqec.logs.log_argument`).
    """
    run = as_run(run_dir, device)
    spec = _check_backend(run, backend, _log.info)
    cut = resolve_threshold(run.run_dir, threshold)
    t0 = time.perf_counter()
    feats, labels, ids = run.test_features(data)
    note = None
    if balanced_test:
        feats, labels, ids, note = _balance(run, feats, labels, ids)
    where = backend if run.is_quantum else "classical"
    _log.info(f"scoring {len(ids)} test image(s) with the head on {where}")
    with tqdm(
        total=len(ids), desc=where, leave=False, disable=not progress, file=sys.stderr
    ) as bar:
        logits, _ = head_logits(
            run.cfg, run.model.head, feats, spec, shots=shots, on_chunk=bar.update
        )
    prob = torch.softmax(logits, 1)
    pos = run.positive
    m = classification_metrics(labels.numpy(), prob[:, pos].numpy(), positive=pos, threshold=cut)
    result = {
        "test": m,
        "backend": where,
        "shots": shots,
        "balanced_test": balanced_test,
        "balancing": note,
        "data": data or run.info["data"]["source"],
        "seconds": round(time.perf_counter() - t0, 2),
        "run": str(run.run_dir),
    }
    suffix = "-balanced" if balanced_test else ""
    dest = Path(out) if out else run.run_dir / "eval" / (_slug(where) + suffix)
    atomic_write_json(dest / RunDir.METRICS, result)
    title = f"{run.run_dir.name} on {where}" + (" (balanced test)" if balanced_test else "")
    write_scored(
        dest,
        "predictions.csv",
        threshold=cut,
        ids=ids,
        labels=labels,
        prob=prob,
        metrics=m,
        classes=run.classes,
        positive=pos,
        title=title,
    )
    result["out"] = str(dest)
    return result

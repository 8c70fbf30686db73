"""The runs a noise report is about (one per encoding, same data and test split) and its
classical reference."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ...errors import ConfigError, RunError
from ...metrics import classification_metrics
from ...quantum import HeadProblem, head_problem
from ...train import LoadedRun, load_run
from ...train.scoring import head_logits
from .config import NoiseReportConfig


@dataclass
class PointData:
    """What computing a point needs of a run: the head's problem on the test split and the
    labels; small and picklable, so a point can run on a Ray or Slurm worker."""

    problem: HeadProblem
    labels: np.ndarray
    positive: int

    @property
    def exact_evs(self) -> np.ndarray:
        return self.problem.exact_evs

    def probabilities(self, evs: np.ndarray) -> np.ndarray:
        """The positive class's probability for expectation values ``evs`` ``(N, k)``."""
        return self.problem.probabilities(evs)[:, self.positive]

    def metrics(self, evs: np.ndarray) -> dict[str, Any]:
        return classification_metrics(self.labels, self.probabilities(evs), positive=self.positive)


@dataclass
class HeadSource:
    """One run's test split pushed up to the head: its problem and what the samples are."""

    run: LoadedRun
    problem: HeadProblem
    features: torch.Tensor  # (N, 256) test features
    labels: np.ndarray
    ids: list[str]
    fingerprint: str
    """Hash of the run's weights and test ids: a point's key changes when either does."""

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def encoding(self) -> str:
        return self.run.cfg.encoding

    @property
    def classes(self) -> list[str]:
        return self.run.classes

    @property
    def positive(self) -> int:
        return self.run.positive

    @property
    def data_source(self) -> str | None:
        """The data the run was trained on (run.json)."""
        return (self.run.info.get("data") or {}).get("source")

    @property
    def exact_evs(self) -> np.ndarray:
        return self.problem.exact_evs

    def point_data(self) -> PointData:
        return PointData(self.problem, self.labels, self.positive)

    def probabilities(self, evs: np.ndarray) -> np.ndarray:
        """The positive class's probability for expectation values ``evs`` ``(N, k)``."""
        return self.point_data().probabilities(evs)

    def metrics(self, evs: np.ndarray) -> dict[str, Any]:
        return self.point_data().metrics(evs)


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_source(run_dir: str | Path, device: str = "cpu") -> HeadSource:
    """Load a quantum run and compute its test features, circuit inputs and exact values once
    (the backbone on ``device`` when the run did not cache its test features)."""
    run = load_run(run_dir, device)
    if not run.is_quantum:
        raise RunError(
            f"{run_dir}: trained with a {run.cfg.head} head ({run.cfg.model}); the noise report "
            "needs a run trained with --head quantum (a classical run goes in --classical-run)"
        )
    feats, labels, ids = run.test_features()
    feats = feats.detach().float()
    fingerprint = hashlib.sha256(
        (_file_sha(run.dir.model) + "|" + "|".join(map(str, ids))).encode()
    ).hexdigest()[:16]
    return HeadSource(
        run=run,
        problem=head_problem(run.model.head, feats),
        features=feats,
        labels=labels.cpu().numpy().astype(np.int64),
        ids=[str(i) for i in ids],
        fingerprint=fingerprint,
    )


def check_sources(sources: list[HeadSource], cfg: NoiseReportConfig) -> dict[str, HeadSource]:
    by_enc: dict[str, HeadSource] = {}
    primary = sources[0]
    for s in sources:
        if s.encoding in by_enc:
            raise ConfigError(
                f"{s.run_dir} and {by_enc[s.encoding].run_dir}: both use the {s.encoding} "
                "encoding; pass one run per encoding"
            )
        if s is not primary and s.data_source != primary.data_source:
            raise RunError(
                f"{s.run_dir}: trained on {s.data_source}, {primary.run_dir} on "
                f"{primary.data_source}; the encoding comparison needs runs on the same data "
                "(pass the same --data to both fits)"
            )
        if s is not primary and sorted(s.ids) != sorted(primary.ids):
            raise RunError(
                f"{s.run_dir}: its test split differs from {primary.run_dir}'s; the encoding "
                "comparison needs runs trained on the same data with the same --seed, "
                "--val-frac and --test-frac"
            )
        by_enc[s.encoding] = s
    wanted = cfg.encodings or tuple(by_enc)
    missing = [e for e in wanted if e not in by_enc]
    if missing:
        have = ", ".join(f"{e} ({s.run_dir})" for e, s in by_enc.items())
        raise ConfigError(
            f"--encodings {', '.join(missing)}: no run with that encoding (given: {have}); train "
            f"one with `qsdaqec fit --encoding {missing[0]} --seed <same seed> --out DIR` and add "
            "it with another --run DIR"
        )
    return {e: by_enc[e] for e in wanted}


# ------------------------------------------------------------------ the classical reference


def classical_reference(cfg: NoiseReportConfig, src: HeadSource) -> dict[str, Any]:
    """The classical head's test metrics: ``cfg.classical_run`` (a run with --head classical on
    the same test split) or a logistic regression on the quantum run's frozen features."""
    if cfg.classical_run:
        run = load_run(cfg.classical_run, cfg.device)
        if run.is_quantum:
            raise RunError(
                f"{cfg.classical_run}: --classical-run must be a run with --head classical"
            )
        feats, labels, ids = run.test_features()
        if sorted(map(str, ids)) != sorted(src.ids):
            raise RunError(
                f"{cfg.classical_run}: its test split differs from {src.run_dir}'s; train both on "
                "the same data with the same --seed, --val-frac and --test-frac"
            )
        logits, _ = head_logits(run.cfg, run.model.head, feats)
        prob = torch.softmax(logits, 1)[:, run.positive].numpy()
        m = classification_metrics(labels.numpy(), prob, positive=run.positive)
        return {
            "source": f"run {cfg.classical_run} ({run.cfg.model}, classical head)",
            "metrics": m,
        }
    return _linear_probe(src)


def _linear_probe(src: HeadSource) -> dict[str, Any]:
    run = src.run
    cached = run.cached_features()
    if cached is not None and "train" in cached and "features" in cached["train"]:
        x, y = cached["train"]["features"], cached["train"]["labels"]
    else:
        prep = run.data()
        images, y, _ = prep.part("train")
        x = run.features(images)
    x = x.detach().float().numpy().astype(np.float64)
    y = y.numpy().astype(np.int64)
    if len(np.unique(y)) < 2:
        raise RunError(f"{src.run_dir}: the training split has one class; no classical reference")
    clf = make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    )
    clf.fit(x, y)
    xt = src.features.detach().double().numpy()
    col = list(clf.classes_).index(src.positive)
    prob = clf.predict_proba(xt)[:, col]
    m = classification_metrics(src.labels, prob, positive=src.positive)
    return {
        "source": "logistic regression on the quantum run's frozen 256-d training features "
        "(no --classical-run given)",
        "metrics": m,
    }

"""What a job submission of a trained run sends: its head's problem on the chosen samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import expand_image_paths, load_dataset, load_image
from ..data.dicom import DEFAULT_FRAME, parse_frame
from ..errors import ConfigError, DataError, RunError
from ..quantum import HeadProblem, head_problem
from ..runner.jobs import Samples
from ..train import load_run


@dataclass
class InferenceInputs:
    """The head's problem on ``N`` samples, and what the samples are."""

    problem: HeadProblem
    samples: Samples

    @property
    def labels(self) -> list[int] | None:
        return None if self.samples.labels is None else list(self.samples.labels)

    @property
    def output_layer(self) -> dict[str, Any]:
        return {"weight": self.problem.readout_weight, "bias": self.problem.readout_bias}


def images_from(data: str | Path, image_size: int, classes: list[str], frame=DEFAULT_FRAME):
    """(images, labels or None, ids) from an ImageFolder/.npz, or from a folder of images.

    Labels are kept when the data's class names are the run's (remapped to the run's order)."""
    try:
        ds = load_dataset(data, image_size, frame=frame)
    except DataError:
        files = expand_image_paths([data])
        root = Path(data)
        ids = [str(f.relative_to(root)) if root.is_dir() else f.name for f in files]
        return torch.stack([load_image(f, image_size, frame) for f in files]), None, ids
    labels = None
    if set(ds.classes) == set(classes):
        remap = [classes.index(c) for c in ds.classes]
        labels = [remap[int(v)] for v in ds.labels.tolist()]
    return ds.images, labels, list(ds.ids)


def representative(labels: list[int] | None, n: int, k: int, seed: int) -> list[int]:
    """``k`` of ``n`` samples, seeded: each class in its share (at least one of each present
    class when ``k`` allows), or uniformly without labels; in their original order. A cheap
    first hardware run then still has positives to score."""
    rng = np.random.default_rng(seed)
    if labels is None:
        return sorted(rng.choice(n, size=k, replace=False).tolist())
    y = np.asarray(labels)
    classes = np.unique(y)
    quota = {c: max(1, round(k * (y == c).sum() / n)) for c in classes} if k >= len(classes) else {}
    while quota and sum(quota.values()) > k:  # rounding up a small class: take from the largest
        quota[max(quota, key=quota.get)] -= 1
    picks = [rng.choice(np.flatnonzero(y == c), size=q, replace=False) for c, q in quota.items()]
    chosen = set(np.concatenate(picks).tolist()) if picks else set()
    rest = [i for i in rng.permutation(n).tolist() if i not in chosen]
    chosen.update(rest[: k - len(chosen)])
    return sorted(chosen)


def inference_inputs(
    run_dir: str | Path,
    data: str | Path | None = None,
    limit: int | None = None,
    device: str = "auto",
) -> InferenceInputs:
    """Backbone features computed locally, turned into the head's problem.

    Default samples: the run's test split. ``data``: every image of an ImageFolder/.npz (labels
    kept when its class names match the run's) or of a plain folder of images (no labels).
    ``limit``: a representative subset of that many samples (:func:`representative`, seeded by
    the run's seed; the record's source names it), e.g. a cheap first hardware run. ``device``:
    where the backbone computes the features.
    """
    run = load_run(run_dir, device)
    if not run.is_quantum:
        raise RunError(
            f"{run_dir}: the run has a classical head; only a quantum head runs on a QPU"
        )
    if data is None:
        feats, labels_t, ids = run.test_features()
        labels = [int(v) for v in labels_t.tolist()]
        source = {"run": str(run_dir), "data": None, "split": "test"}
    else:
        frame = parse_frame(run.cfg.frames)
        images, labels, ids = images_from(data, run.cfg.image_size, run.classes, frame)
        feats = run.features(images)
        source = {"run": str(run_dir), "data": str(data), "split": "all"}
    if limit is not None and limit < len(ids):
        keep = representative(labels, len(ids), limit, run.cfg.seed)
        feats, ids = feats[torch.as_tensor(keep)], [ids[i] for i in keep]
        labels = [labels[i] for i in keep] if labels is not None else None
        source.update(
            limit=int(limit),
            limit_seed=int(run.cfg.seed),
            limit_sampling=("stratified by class" if labels is not None else "uniform"),
        )
    if len(ids) == 0:
        raise ConfigError("no samples to run")
    return InferenceInputs(
        problem=head_problem(run.model.head, feats),
        samples=Samples([str(s) for s in ids], labels, list(run.classes), run.positive, source),
    )

"""``load_run``: a finished run's model, config, split and cached features, for reuse.

Used by ``evaluate``/``predict`` here and by the jobs and report layers::

    run = load_run("runs/default")
    model, cfg = run.model, run.cfg          # or: model, cfg, *_ = run
    feats, labels, ids = run.test_features()  # cached 256-d features when the run has them
    head = run.head_on("aer_noisy")           # the trained head on another backend
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ..data import Split
from ..errors import ConfigError, RunError
from ..io import read_json
from .accel import Accel, accelerator
from .checkpoints import load_checkpoint
from .config import FitConfig
from .context import FEATURES, MODEL
from .data import PreparedData, prepare_data
from .model import backend_head, build_network, input_normalization
from .scoring import features_of


class LoadedRun(NamedTuple):
    """A finished run. ``model`` is in eval mode; its quantum head uses the exact fast path.
    The backbone computes features on ``accel``'s device; the head is always on the CPU."""

    model: nn.Module
    cfg: FitConfig
    run_dir: Path
    info: dict[str, Any]
    accel: Accel = Accel(torch.device("cpu"))

    @property
    def classes(self) -> list[str]:
        return list(self.info["data"]["classes"])

    @property
    def positive(self) -> int:
        return int(self.info["data"]["positive"])

    @property
    def is_quantum(self) -> bool:
        return self.cfg.is_quantum

    def metrics(self) -> dict[str, Any] | None:
        p = self.run_dir / "metrics.json"
        return read_json(p) if p.is_file() else None

    def data(self, data: str | None = None) -> PreparedData:
        """The dataset and the run's split. With the run's own data the saved split is used as is;
        with other data (``data``) the saved sample ids are looked up, and if they are not all
        there the split is redone from the run's seed."""
        prep = prepare_data(self.cfg, data=data)
        saved_path = self.run_dir / "split.json"
        if not saved_path.is_file():
            return prep
        saved = read_json(saved_path)
        pos = {sid: i for i, sid in enumerate(prep.data.ids)}
        parts = {}
        for name in ("train", "val", "test"):
            ids = saved[name]["ids"]
            if not all(sid in pos for sid in ids):
                return prep  # different data: the seeded split of that data
            parts[name] = np.array([pos[sid] for sid in ids], dtype=np.int64)
        split = Split(parts["train"], parts["val"], parts["test"])
        return PreparedData(prep.data, split, prep.source, prep.lesions, "saved (split.json)")

    def cached_features(self) -> dict[str, Any] | None:
        p = self.run_dir / FEATURES
        return load_checkpoint(p) if p.is_file() else None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``model.features`` of ``images`` ``(N, 1, H, W)`` (already at the run's image size),
        averaged over the run's test views."""
        return features_of(self.model, images, accel=self.accel, views=self.cfg.test_views)

    def test_features(
        self, data: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """(features, labels, ids) of the test split: from ``features.pt`` when the run cached
        them and ``data`` is the run's own, else computed with the backbone."""
        if data is None:
            cached = self.cached_features()
            if cached is not None and "ids" in cached.get("test", {}):
                t = cached["test"]
                return t["features"], t["labels"], list(t["ids"])
        prep = self.data(data)
        x, y, ids = prep.part("test")
        return self.features(x), y, ids

    def head_on(
        self, backend: str = "statevector", *, shots: int | None = None, gradient: bool = False
    ) -> nn.Module:
        """The trained head with its estimator on ``backend`` (a classical head is returned as is)."""
        if not self.cfg.is_quantum:
            return self.model.head
        head, _ = backend_head(self.cfg, backend, shots=shots, gradient=gradient)
        head.load_state_dict(self.model.head.state_dict())
        return head.eval()


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """Load a finished run (``model.pt`` present); raises RunError with what to do otherwise.
    ``device`` (``auto|cpu|cuda[:N]|mps``): where the backbone computes features."""
    accel = accelerator(device)  # a device this machine lacks fails before any file is read
    run = Path(run_dir)
    if not run.is_dir():
        raise RunError(f"{run}: run directory not found; pass the --out of a `qsdaqec fit`")
    if not (run / "config.json").is_file():
        raise RunError(f"{run}: not a run directory (no config.json)")
    cfg = FitConfig.from_dict(read_json(run / "config.json"))
    if not (run / MODEL).is_file():
        raise RunError(
            f"{run}: the run is not finished (no model.pt); continue it with "
            f"`qsdaqec fit --out {run} --resume`"
        )
    info = read_json(run / "run.json")
    try:
        model, _, _ = build_network(cfg, "none")
    except ConfigError as e:
        raise RunError(f"{run}: cannot rebuild the model ({e})") from None
    model.prep.normalize = input_normalization(cfg, info)
    state = load_checkpoint(run / MODEL)["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise RunError(
            f"{run}/model.pt: does not match the run's config ({str(e).splitlines()[0]})"
        ) from None
    model.eval()
    accel.model(model)
    model.head.cpu()  # heads score on the CPU (a quantum head must: its circuits run there)
    return LoadedRun(model, cfg, run, info, accel)

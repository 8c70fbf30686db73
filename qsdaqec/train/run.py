"""A finished run in memory: its model, config, record, split and cached features.

``open_run`` loads one for ``evaluate``/``predict`` here and for the jobs and report layers
(``qsdaqec.train.load_run``, in :mod:`.api`, returns the same with ``predict`` and ``evaluate``
methods)::

    run = open_run("runs/tour")
    model, cfg = run.model, run.cfg
    feats, labels, ids = run.test_features()  # cached 256-d features when the run has them
    head = run.head_on("aer_noisy")           # the trained head on another backend
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import Split
from ..errors import ConfigError, RunError
from ..io import read_json
from ..runs import RunDir, RunInfo
from .accel import Accel, accelerator
from .checkpoints import load_checkpoint
from .config import FitConfig
from .data import PreparedData, prepare_data
from .model import backend_head, build_network, input_normalization
from .scoring import features_of


class LoadedRun:
    """A finished run. ``model`` is in eval mode; its quantum head uses the exact fast path.
    The backbone computes features on ``accel``'s device; the head is always on the CPU.

    ``os.PathLike`` (its folder): ``Path(run)``, ``run / "metrics.json"`` and functions that take
    a run directory take it, as they took the path ``fit`` used to return."""

    def __init__(
        self,
        model: nn.Module,
        cfg: FitConfig,
        run_dir: Path,
        info: dict[str, Any],
        accel: Accel | None = None,
    ) -> None:
        self.model = model
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.info = info
        """``run.json`` as saved (:attr:`record`: its typed fields)."""
        self.accel = accel or Accel(torch.device("cpu"))
        self.record = RunInfo.from_dict(info, self.dir.info)

    def __fspath__(self) -> str:
        return os.fspath(self.run_dir)

    def __truediv__(self, name: str | os.PathLike) -> Path:
        return self.run_dir / name

    def __str__(self) -> str:
        return str(self.run_dir)

    def __repr__(self) -> str:
        head = self.cfg.head if self.cfg.model == "sdaqec" else "linear"
        return (
            f"{type(self).__name__}({str(self.run_dir)!r}: {self.cfg.model}/{head}, classes "
            f"{self.classes}, on {self.accel.device})"
        )

    @property
    def dir(self) -> RunDir:
        """The run's folder: its files by name (:class:`qsdaqec.runs.RunDir`)."""
        return RunDir(self.run_dir)

    @property
    def config(self) -> FitConfig:
        """The run's ``FitConfig`` (``config.json``), as ``cfg``."""
        return self.cfg

    @property
    def classes(self) -> list[str]:
        return list(self.record.classes)

    @property
    def positive(self) -> int:
        return self.record.positive

    @property
    def is_quantum(self) -> bool:
        return self.cfg.is_quantum

    @property
    def metrics(self) -> dict[str, Any] | None:
        """``metrics.json``: the test scores of the fit (``metrics["test"]["auc"]``), read now."""
        return self.dir.read_metrics()

    @property
    def thresholds(self) -> dict[str, float]:
        """The operating points the run saved from its validation split (``youden``,
        ``sens90``: probabilities of the positive class), by name; ``threshold=`` of
        :meth:`~qsdaqec.train.api.Run.predict` takes a name or a number."""
        points = (self.metrics or {}).get("operating_points") or {}
        return {name: float(v) for name, v in points.items()}

    def data(self, data: str | None = None) -> PreparedData:
        """The dataset and the run's split. With the run's own data the saved split is used as is;
        with other data (``data``) the saved sample ids are looked up, and if they are not all
        there the split is redone from the run's seed."""
        prep = prepare_data(self.cfg, data=data)
        saved_path = self.dir.split
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
        p = self.dir.features
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

    @classmethod
    def open(cls, run_dir: str | os.PathLike, device: str = "cpu") -> LoadedRun:
        """Load a finished run (:attr:`qsdaqec.runs.RunDir.finished`); raises ``RunError``
        with what to do otherwise. ``device`` (``auto|cpu|cuda[:N]|mps``): where the backbone
        computes features."""
        accel = accelerator(device)  # a device this machine lacks fails before any file is read
        run = RunDir(run_dir)
        if not run.path.is_dir():
            raise RunError(
                f"{run}: run directory not found; pass the out folder of a fit",
                cli={"the out folder of a fit": "the --out of a `qsdaqec fit`"},
            )
        if not run.is_run():
            raise RunError(f"{run}: not a run directory (no config.json)")
        cfg = FitConfig.from_dict(run.read_config())
        if not run.finished:
            why = "no model.pt" if not run.model.is_file() else "run.json does not say finished"
            raise RunError(
                f"{run}: the run is not finished ({why}); continue it with "
                f"`qsdaqec fit --out {run} --resume`"
            )
        info = run.read_info().raw
        try:
            model, _, _ = build_network(cfg, "none")
        except ConfigError as e:
            raise RunError(f"{run}: cannot rebuild the model ({e})") from None
        model.prep.normalize = input_normalization(cfg, info)
        state = load_checkpoint(run.model)["model"]
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise RunError(
                f"{run.model}: does not match the run's config ({str(e).splitlines()[0]})"
            ) from None
        model.eval()
        accel.model(model)
        model.head.cpu()  # heads score on the CPU (a quantum head must: its circuits run there)
        return cls(model, cfg, run.path, info, accel)


def open_run(run_dir: str | os.PathLike, device: str = "cpu") -> LoadedRun:
    """:meth:`LoadedRun.open`."""
    return LoadedRun.open(run_dir, device)


def as_run(run: str | os.PathLike | LoadedRun, device: str = "cpu") -> LoadedRun:
    """``run`` itself when it is loaded already (it keeps its device), else :func:`open_run`."""
    return run if isinstance(run, LoadedRun) else open_run(run, device)

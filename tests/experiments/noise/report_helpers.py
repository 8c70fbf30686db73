"""Helpers of the report tests: a tiny trained run directory without images, and a cheap
stand-in estimator whose "noise" is a known damping of the exact values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def _features(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-negative 256-d "backbone features": class 1 has its mass on even indices, class 0 on
    odd ones (qubit 0 of the amplitude encoding tells them apart)."""
    y = torch.tensor([i % 2 for i in range(n)], dtype=torch.int64)
    x = torch.rand(n, 256, generator=g) * 0.5
    x[y == 1, 0::2] += torch.rand(int((y == 1).sum()), 128, generator=g)
    x[y == 0, 1::2] += torch.rand(int((y == 0).sum()), 128, generator=g)
    return x, y


def make_run(
    root: Path,
    encoding: str = "amplitude",
    head: str = "quantum",
    *,
    n_test: int = 10,
    seed: int = 0,
    steps: int = 30,
    data_source: str = "tiny-features",
) -> Path:
    """A finished run as ``load_run`` reads it: config.json, run.json, model.pt and features.pt
    (with test ids, so no images are needed). The head is trained a few steps on the features
    so that its predictions depend on them."""
    from qsdaqec.io import atomic_torch_save, atomic_write_json
    from qsdaqec.train import FitConfig
    from qsdaqec.train.model import build_network

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(1000 + seed)  # same data for every run of a test session
    cfg = FitConfig(
        data=str(root / "no-images"),
        head=head,
        encoding=encoding,
        weights="none",
        image_size=32,
        seed=seed,
        out=str(root),
    )
    model, _, _ = build_network(cfg, "none")
    x_tr, y_tr = _features(24, g)
    x_va, y_va = _features(6, g)
    x_te, y_te = _features(n_test, g)
    opt = torch.optim.Adam(model.head.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.head(x_tr), y_tr)
        loss.backward()
        opt.step()
    model.eval()
    atomic_write_json(root / "config.json", cfg.to_dict())
    atomic_write_json(
        root / "run.json",
        {
            "status": "finished",
            "data": {"source": data_source, "classes": ["normal", "stenosis"], "positive": 1},
        },
    )
    atomic_torch_save(root / "model.pt", {"model": model.state_dict()})
    atomic_torch_save(
        root / "features.pt",
        {
            "train": {"features": x_tr, "labels": y_tr},
            "val": {
                "features": x_va,
                "labels": y_va,
                "ids": [f"val/{i:03d}.png" for i in range(len(y_va))],
            },
            "test": {
                "features": x_te,
                "labels": y_te,
                "ids": [f"test/{i:03d}.png" for i in range(n_test)],
            },
        },
    )
    return root


class _Data:
    def __init__(self, evs, stds):
        self.evs, self.stds = evs, stds


class _PubResult:
    def __init__(self, evs, stds):
        self.data = _Data(evs, stds)


class _Job:
    def __init__(self, results):
        self._r = results

    def result(self):
        return self._r


class DampedEstimator:
    """Exact values (the fast path) times ``1 - 0.15 * noise_scale`` (floored at 0), plus
    Gaussian shot noise ``1/sqrt(shots)`` when shots are set; readout mitigation undoes half
    the damping. Enough to exercise the report without Aer."""

    def __init__(self, spec, rcfg):
        from qsdaqec.quantum import FastEstimator

        self.spec, self.rcfg = spec, rcfg
        self.fast = FastEstimator()
        self._real = None

    def _runner(self):
        from qsdaqec.runner import make_estimator

        if self._real is None:
            self._real = make_estimator(self.spec, self.rcfg)
        return self._real

    @property
    def backend(self):
        return self._runner().backend

    def prepare(self, circuit):
        """The runner's real (cached) transpilation: widths and depths in the report are real."""
        return self._runner().prepare(circuit)

    def run(self, pubs, precision=None):
        out = []
        for circuit, obs, values in pubs:
            res = self.fast.run([(circuit, obs, values)]).result()[0]
            evs = np.asarray(res.data.evs, dtype=float)
            scale = (
                self.rcfg.noise_scale
                if self.spec.kind == "aer_noisy"
                else (1.0 if self.spec.kind == "fake" else 0.0)
            )
            damp = max(0.0, 1 - 0.15 * scale)
            if "readout" in self.rcfg.mitigation:
                damp = 1 - (1 - damp) / 2
            evs = evs * damp
            stds = np.zeros_like(evs)
            if self.rcfg.shots:
                rng = np.random.default_rng(self.rcfg.seed)
                stds = np.full_like(evs, 1 / np.sqrt(self.rcfg.shots))
                evs = np.clip(evs + rng.normal(0, 1, evs.shape) * stds, -1, 1)
            out.append(_PubResult(evs, stds))
        return _Job(out)


class CountingFactory:
    """An estimator factory that counts how many points were computed."""

    def __init__(self, cls=DampedEstimator):
        self.cls = cls
        self.calls: list[tuple[str, object]] = []

    def __call__(self, spec, rcfg):
        self.calls.append((str(spec), rcfg))
        return self.cls(spec, rcfg)


def read_json(path):
    return json.loads(Path(path).read_text())

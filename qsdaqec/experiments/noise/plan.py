"""The grid of a noise report: one :class:`PointSpec` per (encoding, backend, noise scale,
shots, mitigation), planned as one-at-a-time sweeps around a centre or as the full cross
product."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...runner.backends import BackendSpec, parse_backend
from .config import NoiseReportConfig

SWEEPS = ("noise", "shots", "mitigation")


def fmt_num(v: float) -> str:
    return f"{v:g}"


def shots_label(shots: int | None) -> str:
    return "exact" if shots is None else str(int(shots))


@dataclass(frozen=True)
class PointSpec:
    """One simulated point of the grid."""

    encoding: str
    backend: str
    noise_scale: float
    shots: int | None
    mitigation: str
    sweeps: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "backend": self.backend,
            "noise_scale": float(self.noise_scale),
            "shots": self.shots,
            "mitigation": self.mitigation,
        }

    @property
    def label(self) -> str:
        return (
            f"{self.encoding} | {self.backend} | noise {fmt_num(self.noise_scale)} | "
            f"shots {shots_label(self.shots)} | {self.mitigation}"
        )

    def key(self, context: dict[str, Any]) -> str:
        """File-name-safe, readable, and unique for everything that determines the result."""
        digest = hashlib.sha256(
            json.dumps({"point": self.settings(), "context": context}, sort_keys=True).encode()
        ).hexdigest()[:10]
        slug = (
            f"{self.encoding}_{self.backend}_n{fmt_num(self.noise_scale)}_s{shots_label(self.shots)}"
            f"_m{self.mitigation}"
        )
        return re.sub(r"[^A-Za-z0-9_.+-]+", "-", slug) + "_" + digest


@dataclass(frozen=True)
class _Axes:
    """The values one backend is swept over, and its centre."""

    scales: list[float]
    shots: list[int | None]
    mitigations: list[str]
    center_noise: float
    center_shots: int | None
    scalable: bool


def _axes(cfg: NoiseReportConfig, spec: BackendSpec) -> _Axes:
    knob = spec.noise_knob
    scalable = knob == "scalable"
    scales = list(cfg.noise_scales) if scalable else [1.0 if knob == "device" else 0.0]
    given = [s for s in cfg.shots if s is not None]
    shot_list = [s for s in cfg.shots if s is not None or spec.exact_capable]
    if not shot_list:
        shot_list = [max(given)] if given else [1024]
    if cfg.center_shots is not None:
        center_shots = cfg.center_shots
    elif spec.exact_capable:
        center_shots = None
    else:
        center_shots = max(given, default=1024)
    return _Axes(
        scales=scales,
        shots=shot_list,
        mitigations=list(cfg.mitigation) if knob != "none" else ["none"],
        center_noise=cfg.center_noise if scalable else scales[0],
        center_shots=center_shots,
        scalable=scalable,
    )


class _Grid:
    """Points in first-seen order, each with the sweeps it belongs to (shared points once)."""

    def __init__(self) -> None:
        self.sweeps: dict[tuple, set[str]] = {}

    def add(self, enc, backend, noise, shots, mitigation, sweep: str | None = None) -> None:
        k = (enc, backend, float(noise), shots, mitigation)
        self.sweeps.setdefault(k, set())
        if sweep:
            self.sweeps[k].add(sweep)

    def points(self) -> list[PointSpec]:
        return [
            PointSpec(*k, tuple(s for s in SWEEPS if s in sweeps))
            for k, sweeps in self.sweeps.items()
        ]


def _sweep(grid: _Grid, enc: str, b: str, ax: _Axes) -> None:
    """One-at-a-time sweeps; the centre belongs to every sweep (the reference the others move
    away from)."""
    c_noise, c_shots = ax.center_noise, ax.center_shots
    for sweep in ("noise", "shots", "mitigation") if ax.scalable else ("shots", "mitigation"):
        grid.add(enc, b, c_noise, c_shots, "none", sweep)
    if ax.scalable:
        for n in ax.scales:
            grid.add(enc, b, n, c_shots, "none", "noise")
    for s in ax.shots:
        grid.add(enc, b, c_noise, s, "none", "shots")
    for m in ax.mitigations:
        grid.add(enc, b, c_noise, c_shots, m, "mitigation")


def _full(grid: _Grid, enc: str, b: str, ax: _Axes) -> None:
    """The cross product; a point belongs to the sweeps whose other two axes sit at the centre."""
    for n in ax.scales:
        for s in ax.shots:
            for m in ax.mitigations:
                grid.add(enc, b, n, s, m)
    for k, sweeps in grid.sweeps.items():
        if k[0] == enc and k[1] == b:
            _, _, n, s, m = k
            if s == ax.center_shots and m == "none":
                sweeps.add("noise")
            if n == ax.center_noise and m == "none":
                sweeps.add("shots")
            if n == ax.center_noise and s == ax.center_shots:
                sweeps.add("mitigation")


def plan_points(cfg: NoiseReportConfig, encodings: Sequence[str]) -> list[PointSpec]:
    """The grid of ``cfg`` for ``encodings`` (see :mod:`qsdaqec.experiments.noise`); duplicates
    merged."""
    grid = _Grid()
    axes = {b: _axes(cfg, parse_backend(b)) for b in cfg.backends}  # each backend parsed once
    for enc in encodings:
        for b in cfg.backends:
            (_full if cfg.design == "full" else _sweep)(grid, enc, b, axes[b])
    return grid.points()

"""Runner options: one dataclass whose field defaults are the one place a default is written."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..errors import ConfigError

#: Mitigation techniques understood by :func:`parse_mitigation`. ``readout`` and ``trex`` are
#: both measurement-error mitigation: on ``fake:``/``ibm:`` they turn on the runtime's TREX
#: (``resilience.measure_mitigation``); on Aer they select the local tensored readout
#: mitigation. ``zne``, ``twirling`` and ``dd`` are runtime resilience options.
MITIGATIONS = ("readout", "trex", "zne", "twirling", "dd")


def parse_mitigation(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``"none"``, ``"readout"``, ``"trex+zne"``, ``"zne,dd"`` or a sequence -> sorted tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = [p for chunk in value.replace("+", ",").split(",") if (p := chunk.strip().lower())]
    else:
        parts = [str(p).strip().lower() for p in value]
    parts = [p for p in parts if p != "none"]
    bad = [p for p in parts if p not in MITIGATIONS]
    if bad:
        raise ConfigError(
            f"mitigation {', '.join(bad)!s}: unknown; valid: none, {', '.join(MITIGATIONS)} "
            "(combine with '+', e.g. trex+zne)"
        )
    return tuple(sorted(set(parts)))


@dataclass(frozen=True)
class ServiceLimits:
    """Per-job limits the runner splits batches under (defaults follow qiskit-ibm-runtime).

    A *parameter set* is one row of a PUB's parameter array times one observable broadcast
    element, i.e. one expectation value the service has to produce.
    """

    max_pubs_per_job: int = 100
    max_params_per_pub: int = 10_000
    max_params_per_job: int = 10_000_000
    max_shots: int = 10_000_000  # shots per parameter set, as the service caps them
    max_shots_per_job: int = 10_000_000_000  # sum over PUBs of parameter sets x shots

    def __post_init__(self) -> None:
        for f in fields(self):
            if int(getattr(self, f.name)) < 1:
                raise ConfigError(f"limits.{f.name}={getattr(self, f.name)}: must be >= 1")


@dataclass(frozen=True)
class RunnerConfig:
    """How the runner executes circuits.

    ``shots=None`` means exact expectation values where the backend allows it (``statevector``,
    ``aer``, ``aer_noisy``: statevector / density matrix); on ``fake:``/``ibm:`` it means the
    precision requested by the caller (``EstimatorQNN`` passes ``1/64`` -> 4096 shots) unless
    ``precision`` is set here. ``precision`` (standard error target) is turned into
    ``ceil(1/precision**2)`` shots; ``shots`` wins over ``precision``.
    """

    shots: int | None = None
    precision: float | None = None
    optimization_level: int = 2
    initial_layout: tuple[int, ...] | None = None
    layout_method: str | None = None  # "sabre" | "dense" | "trivial" | None (preset default)
    seed: int | None = 1234
    noise_scale: float = 1.0
    mitigation: tuple[str, ...] = ()
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    cache_dir: Path | None = None  # None -> default_cache_dir(); "" disables the disk cache
    zne_noise_factors: tuple[float, ...] = (1.0, 3.0, 5.0)
    twirling_randomizations: int = 32
    readout_error: bool = True  # aer_noisy: include the device's readout assignment errors

    def __post_init__(self) -> None:
        object.__setattr__(self, "mitigation", parse_mitigation(self.mitigation))
        if self.shots is not None and (int(self.shots) != self.shots or self.shots < 1):
            raise ConfigError(f"shots={self.shots}: must be a positive integer or None (exact)")
        if self.shots is not None and self.shots > self.limits.max_shots:
            raise ConfigError(f"shots={self.shots}: above limits.max_shots={self.limits.max_shots}")
        if self.precision is not None and not (0 < self.precision < 1):
            raise ConfigError(f"precision={self.precision}: must be in (0, 1) or None")
        if self.optimization_level not in (0, 1, 2, 3):
            raise ConfigError(f"optimization_level={self.optimization_level}: must be 0-3")
        if not (self.noise_scale >= 0 and math.isfinite(self.noise_scale)):
            raise ConfigError(f"noise_scale={self.noise_scale}: must be a finite number >= 0")
        if self.initial_layout is not None:
            object.__setattr__(self, "initial_layout", tuple(int(q) for q in self.initial_layout))
        if self.layout_method not in (None, "sabre", "dense", "trivial", "default"):
            raise ConfigError(
                f"layout_method={self.layout_method}: use sabre, dense, trivial or leave unset"
            )
        if self.cache_dir is not None and self.cache_dir != "":
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    def shots_for(self, precision: float | None) -> int | None:
        """Shots per parameter set: cfg.shots, else cfg.precision, else ``precision`` (may be None)."""
        if self.shots is not None:
            return int(self.shots)
        p = self.precision if self.precision is not None else precision
        if p is None or p <= 0:
            return None
        return min(int(math.ceil(1.0 / p**2)), self.limits.max_shots)

    def replace(self, **changes) -> RunnerConfig:
        return replace(self, **changes)


def default_cache_dir() -> Path:
    """``$QSDAQEC_CACHE`` or ``~/.cache/qsdaqec``; the runner stores transpiled circuits below it."""
    root = os.environ.get("QSDAQEC_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "qsdaqec"

"""Computing a noise report's points: the test split through the head on each point's backend,
and the transpiled circuit per backend. A point is also a picklable :class:`PointTask`, so an
executor can run it on a Ray or Slurm worker; it stores its own result either way."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BackendError, ConfigError
from ...io import atomic_write_json
from ...runner import BackendSpec, RunnerConfig, make_estimator, parse_backend, problems
from ..executors import Log
from .config import NoiseReportConfig
from .plan import PointSpec
from .sources import HeadSource, PointData

EstimatorFactory = Callable[[Any, Any], Any]
"""``(BackendSpec, RunnerConfig) -> BaseEstimatorV2``; the default is ``runner.make_estimator``."""


def runner_config(point: PointSpec, cfg: NoiseReportConfig, spec: BackendSpec) -> RunnerConfig:
    """The ``RunnerConfig`` of a point on ``spec`` (its backend, parsed)."""
    scalable = spec.noise_knob == "scalable"
    return RunnerConfig(
        shots=point.shots,
        noise_scale=float(point.noise_scale) if scalable else 1.0,
        mitigation=() if point.mitigation == "none" else tuple(point.mitigation.split("+")),
        optimization_level=cfg.optimization_level,
        seed=cfg.seed,
    )


def estimate(
    src: PointData,
    point: PointSpec,
    cfg: NoiseReportConfig,
    factory: EstimatorFactory,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(evs, stds), each ``(N, 4)``: the test split through the head on the point's backend.
    One estimator per point (:func:`qsdaqec.runner.problems.estimate`: one PUB per chunk of
    samples). ``on_chunk(n)`` after every call."""
    spec = parse_backend(point.backend)
    if spec.uses_runtime and point.mitigation != "none":
        raise ConfigError(
            f"{point.backend}: qiskit-ibm-runtime's local testing mode ignores resilience "
            "options, so mitigation is not applied on fake: backends; compare mitigation on "
            "aer_noisy or on hardware (ibm:, through qsdaqec jobs)"
        )
    est = factory(spec, runner_config(point, cfg, spec))
    return problems.estimate(src.problem, est, exact=point.shots is None, on_chunk=on_chunk)


def ev_errors(evs: np.ndarray, exact: np.ndarray, src: PointData) -> dict[str, Any]:
    """Mean / max |EV - exact EV| and the fraction of samples predicted as the exact head does."""
    diff = np.abs(np.asarray(evs) - np.asarray(exact))
    agree = float(np.mean((src.probabilities(evs) >= 0.5) == (src.probabilities(exact) >= 0.5)))
    return {"ev_mae": float(diff.mean()), "ev_max": float(diff.max()), "agree_exact": agree}


def compute_point(
    src: PointData,
    point: PointSpec,
    cfg: NoiseReportConfig,
    factory: EstimatorFactory,
    key: str,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    base = {
        "key": key,
        "label": point.label,
        "kind": "simulation",
        **point.settings(),
        "sweeps": list(point.sweeps),
        "n": int(len(src.labels)),
    }
    try:
        evs, stds = estimate(src, point, cfg, factory, on_chunk)
    except (ConfigError, BackendError) as e:
        return {
            **base,
            "status": "unsupported",
            "note": str(e),
            "metrics": None,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    m = src.metrics(evs)
    return {
        **base,
        "status": "ok",
        "metrics": m,
        **ev_errors(evs, src.exact_evs, src),
        "ev_std_mean": float(np.mean(stds)),
        "evs": np.round(evs, 6).tolist(),
        "seconds": round(time.perf_counter() - t0, 2),
    }


@dataclass
class PointTask:
    """One point to compute and store at ``path`` (``OUT/points/<key>.json``)."""

    data: PointData
    point: PointSpec
    cfg: NoiseReportConfig
    factory: EstimatorFactory
    key: str
    path: Path


def compute_and_store(
    task: PointTask, on_chunk: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Compute a point and write it (atomically) before returning it."""
    row = clean(compute_point(task.data, task.point, task.cfg, task.factory, task.key, on_chunk))
    atomic_write_json(task.path, row)
    return row


def run_point_task(task: PointTask, echo: Log, log: Log) -> dict[str, Any]:
    """A point as an executor's task (``qsdaqec.experiments.executors``)."""
    row = compute_and_store(task)
    echo(f"{task.point.label}: {row['status']} in {row['seconds']:.1f}s")
    return row


def clean(v: Any) -> Any:
    """NaN -> None for JSON, recursively."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    return v


def transpile_info(
    backend: str | BackendSpec,
    src: HeadSource,
    cfg: NoiseReportConfig,
    factory: EstimatorFactory | None = None,
) -> dict[str, Any]:
    """Width (qubits the ISA circuit acts on), depth and two-qubit gates of the head on
    ``backend``: the runner's own (cached) transpilation, the one the points run."""
    spec = parse_backend(backend)
    backend = str(spec)
    rcfg = RunnerConfig(optimization_level=cfg.optimization_level, seed=cfg.seed)
    est = (factory or make_estimator)(spec, rcfg)
    prepare = getattr(est, "prepare", None)
    if prepare is None:  # an estimator without the runner's prepare(): nothing to report
        return {
            "backend": backend,
            "encoding": src.encoding,
            "width": None,
            "depth": None,
            "two_qubit_gates": None,
            "note": "estimator does not expose its transpiled circuit",
        }
    prog = prepare(src.problem.circuit)
    isa = prog.circuit
    active = set()
    two_q = 0
    for inst in isa.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        qs = [isa.find_bit(q).index for q in inst.qubits]
        active.update(qs)
        if len(qs) == 2:
            two_q += 1
    phys = list(prog.logical_to_physical)
    if prog.active is not None:  # compacted for local simulation: back to device qubits
        phys = [prog.active[i] for i in phys]
    device_qubits = getattr(getattr(est, "backend", None), "num_qubits", None) or isa.num_qubits
    return {
        "backend": backend,
        "encoding": src.encoding,
        "width": len(active),
        "device_qubits": int(device_qubits),
        "depth": int(isa.depth()),
        "two_qubit_gates": two_q,
        "ops": {str(k): int(v) for k, v in isa.count_ops().items()},
        "layout": [int(q) for q in phys],
        "optimization_level": cfg.optimization_level,
    }

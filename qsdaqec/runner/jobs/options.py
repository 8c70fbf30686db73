"""What hardware jobs run with: ``JobOptions`` (shots, mitigation, transpiler), ``JobLimits``
(how samples are split into PUBs and jobs), and the ``EstimatorV2`` options they map to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import ConfigError
from ..backends import BackendSpec
from ..config import RunnerConfig, ServiceLimits, parse_mitigation
from ..estimator import apply_runtime_options


@dataclass(frozen=True)
class JobOptions:
    """What the jobs run with. ``mitigation``: ``none`` or ``+``-joined names of the runner's
    :data:`~qsdaqec.runner.config.MITIGATIONS` (``readout``/``trex``: TREX measurement
    mitigation; ``zne``; ``twirling``: gate twirling; ``dd``: dynamical decoupling), mapped to
    ``EstimatorV2`` options exactly as ``qsdaqec evaluate --backend ibm:...`` maps them
    (:func:`qsdaqec.runner.estimator.apply_runtime_options`). Transpiler optimization level and
    seed default to the runner's."""

    shots: int = 4096  # = the runner's default precision 1/64 on fake:/ibm:
    mitigation: str = "none"
    optimization_level: int = RunnerConfig.optimization_level
    seed: int | None = RunnerConfig.seed  # transpiler seed (and simulator seed on fake:)
    max_execution_time: int | None = None  # seconds of QPU time per job (None: service default)

    def __post_init__(self) -> None:
        if self.shots < 1:
            raise ConfigError(f"shots={self.shots}: must be at least 1")
        if self.optimization_level not in (0, 1, 2, 3):
            raise ConfigError(f"optimization level {self.optimization_level}: use 0, 1, 2 or 3")
        object.__setattr__(self, "mitigation", "+".join(mitigation_names(self.mitigation)))

    def runner_config(self) -> RunnerConfig:
        return RunnerConfig(
            shots=self.shots,
            mitigation=() if self.mitigation == "none" else self.mitigation,
            optimization_level=self.optimization_level,
            seed=self.seed,
        )

    @classmethod
    def from_record(cls, options: dict[str, Any]) -> JobOptions:
        return cls(
            shots=options["shots"],
            mitigation=options["mitigation"],
            optimization_level=options["optimization_level"],
            seed=options.get("seed", options.get("seed_transpiler")),
            max_execution_time=options.get("max_execution_time"),
        )


@dataclass(frozen=True)
class JobLimits:
    """How samples are split into PUBs and jobs: the runner's :class:`ServiceLimits` (PUBs per
    job, parameter sets per PUB and job, shots per job; a parameter set = one sample x one
    observable), plus an optional cap on samples per job (e.g. to keep jobs short)."""

    service: ServiceLimits = field(default_factory=ServiceLimits)
    max_samples_per_job: int | None = None

    def __post_init__(self) -> None:
        if self.max_samples_per_job is not None and self.max_samples_per_job < 1:
            raise ConfigError(f"max_samples_per_job={self.max_samples_per_job}: must be >= 1")


def mitigation_names(spec: str) -> list[str]:
    """``"none"`` -> ``["none"]``; ``"readout+dd"`` -> ``["dd", "readout"]`` (runner's parser)."""
    names = list(parse_mitigation(spec))
    return names or ["none"]


def estimator_options(
    options: JobOptions, tags: Sequence[str] = (), backend: BackendSpec | None = None
) -> dict[str, Any]:
    """The ``EstimatorV2`` options (a plain dict, as sent and recorded) for ``options`` on
    ``backend`` (``None``: IBM hardware)."""
    # imported here: qiskit-ibm-runtime takes about a second, and `qsdaqec --help` imports us
    from qiskit_ibm_runtime.options import EstimatorOptions
    from qiskit_ibm_runtime.options.utils import remove_dict_unset_values

    est = EstimatorOptions()
    spec = backend if backend is not None else BackendSpec("ibm", "device")
    apply_runtime_options(est, options.runner_config(), spec)
    if options.max_execution_time is not None:
        est.max_execution_time = int(options.max_execution_time)
    if tags:
        est.environment.job_tags = list(tags)
    out = asdict(est)
    remove_dict_unset_values(out)
    out.pop("_VERSION", None)
    return _prune_empty(out)


def _prune_empty(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _prune_empty(v)
            if not v:
                continue
        out[k] = v
    return out

"""What a submission costs before anything is sent: jobs, PUBs, parameter sets, shots, the ISA
circuit's size, and an estimate of QPU seconds (:func:`estimate_cost`).

IBM bills QPU time ("quantum seconds": the time the QPU is locked for a job; a Batch is the sum
of its jobs). qiskit-ibm-runtime has no estimate before a job exists (``job.usage_estimation``
asks the service about a submitted job), so this module models it, as docs/hardware.md
describes:

    seconds = jobs x JOB_OVERHEAD_S
            + executions x shots x (rep_delay + circuit duration + measurement)

- ``rep_delay``: the backend's ``default_rep_delay`` (250 us on Heron devices), else
  :data:`FALLBACK_REP_DELAY_S`. It dominates: the head's circuits last 5-60 us.
- circuit duration: ``QuantumCircuit.estimate_duration`` on the backend's target (gate
  durations from its calibration), plus one measurement.
- executions: one per sample (the head's observables are all Z, measured in one basis); ZNE runs
  each sample once per noise factor, with the gates stretched by that factor; TREX
  (``readout``) adds one calibration block of ``shots`` per job.
- ``JOB_OVERHEAD_S``: our assumption for loading a job (seconds, not measured by us).

The model is for budgeting ("about how much of my 10 Open-plan minutes?"), not billing; the
record keeps it, and IBM's own figures are on the dashboard once the jobs exist.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ...errors import ConfigError
from ..config import RunnerConfig
from ..records import Part
from .isa import IsaHead
from .options import JobOptions, mitigation_names

JOB_OVERHEAD_S = 2.0
FALLBACK_REP_DELAY_S = 250e-6
DEFAULT_IBM_BUDGET_S = 120.0
"""``jobs submit`` refuses an ``ibm:`` submission estimated above this many QPU seconds unless
``--yes`` or a larger ``--max-qpu-seconds`` is given (a fifth of the Open plan's 10 minutes a
month)."""


@dataclass(frozen=True)
class SubmitCost:
    """The size and estimated QPU time of one submission."""

    backend: str
    samples: int
    jobs: int
    pubs: int
    parameter_sets: int  # samples x observables: the expectation values asked for
    executions: int  # circuit executions of `shots` each, mitigation included
    shots: int
    isa_depth: int
    two_qubit_gates: int
    circuit_us: float  # one ISA circuit incl. its measurement, microseconds
    rep_delay_us: float
    qpu_seconds: float
    local: bool  # fake: backends run locally and cost nothing

    def lines(self) -> list[str]:
        where = "local testing mode: no QPU time is used" if self.local else "estimated QPU time"
        return [
            f"{self.samples} samples on {self.backend}: {self.jobs} job(s), {self.pubs} PUB(s), "
            f"{self.parameter_sets} parameter sets, {self.executions} circuit executions x "
            f"{self.shots} shots",
            f"ISA circuit: depth {self.isa_depth}, {self.two_qubit_gates} two-qubit gates, "
            f"{self.circuit_us:.1f} us per shot + {self.rep_delay_us:.0f} us repetition delay",
            f"{where}: about {self.qpu_seconds:.0f} s"
            + (" (if it ran on the device)" if self.local else "")
            + " (model: docs/hardware.md, 'What a job costs')",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "model": "qsdaqec.jobs.cost/1"}


def _rep_delay_s(backend_obj: Any) -> float:
    for source in (backend_obj, _configuration(backend_obj)):
        value = getattr(source, "default_rep_delay", None)
        if isinstance(value, int | float) and value > 0:
            return float(value) if value < 1e-2 else float(value) * 1e-6  # seconds or us
    return FALLBACK_REP_DELAY_S


def _configuration(backend_obj: Any) -> Any:
    try:
        return backend_obj.configuration()
    except Exception:  # BackendV2 without a V1 configuration: no rep delay there
        return None


def _circuit_s(isa: IsaHead, backend_obj: Any) -> float:
    """Duration of one shot's gates plus a measurement, from the backend's target (0 when
    the target has no durations)."""
    target = getattr(backend_obj, "target", None)
    if target is None:
        return 0.0
    try:
        gates = float(isa.circuit.estimate_duration(target, unit="s"))
    except Exception:  # a target without durations for some instruction
        gates = 0.0
    measure = 0.0
    if "measure" in target.operation_names and isa.layout:
        props = target["measure"].get((isa.layout[0],))
        measure = float(getattr(props, "duration", None) or 0.0)
    return gates + measure


def estimate_cost(
    isa: IsaHead,
    parts: list[Part],
    options: JobOptions,
    backend_obj: Any,
    backend: str,
    *,
    local: bool,
) -> SubmitCost:
    """The cost of sending ``parts`` (from :func:`~.isa.plan_parts`) with ``options``."""
    samples = sum(p.stop - p.start for p in parts)
    mit = set(mitigation_names(options.mitigation))
    rep = _rep_delay_s(backend_obj)
    circuit = _circuit_s(isa, backend_obj)
    factors = RunnerConfig.zne_noise_factors if "zne" in mit else (1.0,)
    per_sample = sum(rep + f * circuit for f in factors) * options.shots
    calibration = (rep + circuit) * options.shots if mit & {"readout", "trex"} else 0.0
    seconds = len(parts) * (JOB_OVERHEAD_S + calibration) + samples * per_sample
    return SubmitCost(
        backend=backend,
        samples=samples,
        jobs=len(parts),
        pubs=sum(len(p.pubs) for p in parts),
        parameter_sets=samples * len(isa.observables),
        executions=samples * len(factors) + (len(parts) if calibration else 0),
        shots=options.shots,
        isa_depth=int(isa.info.get("depth", isa.circuit.depth())),
        two_qubit_gates=int(isa.info.get("two_qubit_gates", 0)),
        circuit_us=round(circuit * 1e6, 3),
        rep_delay_us=round(rep * 1e6, 3),
        qpu_seconds=round(seconds, 1),
        local=local,
    )


def check_budget(
    cost: SubmitCost, max_qpu_seconds: float | None, *, yes: bool = False
) -> float | None:
    """``ConfigError`` when ``cost`` is above the budget and ``yes`` is not given. The budget is
    ``max_qpu_seconds``, or :data:`DEFAULT_IBM_BUDGET_S` on IBM hardware (none locally);
    returns the budget that applied."""
    if max_qpu_seconds is not None and not (max_qpu_seconds > 0 and math.isfinite(max_qpu_seconds)):
        raise ConfigError(f"--max-qpu-seconds {max_qpu_seconds}: must be a positive number")
    budget = max_qpu_seconds
    if budget is None and not cost.local:
        budget = DEFAULT_IBM_BUDGET_S
    if budget is not None and cost.qpu_seconds > budget and not yes:
        raise ConfigError(
            f"estimated {cost.qpu_seconds:.0f} QPU seconds for {cost.samples} samples is over the "
            f"budget of {budget:g} s; nothing was submitted. Lower --limit or --shots, raise "
            "--max-qpu-seconds, or add --yes to submit anyway"
        )
    return budget


def check_gate_budget(cost: SubmitCost, max_two_qubit_gates: int | None, encoding: str) -> None:
    """``ConfigError`` when the transpiled head has more two-qubit gates than the budget (a hard
    limit: ``--yes`` does not lift it)."""
    if max_two_qubit_gates is None or cost.two_qubit_gates <= max_two_qubit_gates:
        return
    raise ConfigError(
        f"the {encoding} head has {cost.two_qubit_gates} two-qubit gates on {cost.backend} "
        f"after transpilation, over --max-two-qubit-gates {max_two_qubit_gates}; nothing was "
        "submitted. Train a head that fits (`qsdaqec circuits show --backend ... --encoding E` "
        "lists each encoding's count)"
    )

"""How circuits meet backends: backend specs, ISA transpilation cache, PUB batching and job
splitting, active-qubit noise models, mitigation. See docs/runner.md."""

from .backends import (
    DEFAULT_FAKE,
    BackendSpec,
    fake_backend,
    fake_backend_names,
    has_credentials,
    make_service,
    parse_backend,
    resolve_backend,
)
from .config import MITIGATIONS, RunnerConfig, ServiceLimits, parse_mitigation
from .estimator import Plan, RunnerEstimator, Task, make_estimator
from .gradient import make_gradient

__all__ = [
    "DEFAULT_FAKE",
    "MITIGATIONS",
    "BackendSpec",
    "Plan",
    "RunnerConfig",
    "RunnerEstimator",
    "ServiceLimits",
    "Task",
    "fake_backend",
    "fake_backend_names",
    "has_credentials",
    "make_estimator",
    "make_gradient",
    "make_service",
    "parse_backend",
    "parse_mitigation",
    "resolve_backend",
]

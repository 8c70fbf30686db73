"""How circuits meet backends: backend specs, ISA transpilation cache, PUB batching and job
splitting, active-qubit noise models, mitigation, hardware jobs. See docs/runner.md.

Names are imported lazily: ``parse_backend`` (the CLI's option checks) needs neither torch nor
the simulators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_FAKE": "backends",
    "BackendSpec": "backends",
    "fake_backend": "backends",
    "fake_backend_names": "backends",
    "has_credentials": "backends",
    "make_service": "backends",
    "parse_backend": "backends",
    "resolve_backend": "backends",
    "MITIGATIONS": "config",
    "RunnerConfig": "config",
    "ServiceLimits": "config",
    "parse_mitigation": "config",
    "Plan": "estimator",
    "RunnerEstimator": "estimator",
    "Task": "estimator",
    "make_estimator": "estimator",
    "make_gradient": "gradient",
}

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

if TYPE_CHECKING:  # pragma: no cover
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


__getattr__ = lazy_exports(__name__, _EXPORTS)

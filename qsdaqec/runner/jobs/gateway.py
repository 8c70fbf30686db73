"""The service boundary of hardware jobs: the five calls made to IBM Runtime.

:class:`RuntimeGateway` is what the jobs layer talks to; :class:`QiskitRuntimeGateway` serves it
with ``QiskitRuntimeService`` (``ibm:<device>``) or ``QiskitRuntimeLocalService``
(``fake:<fake backend>``: qiskit-ibm-runtime's local testing mode). Tests inject a fake one
(:mod:`qsdaqec.runner.fake_runtime`) that can time out, drop connections, fail or cancel jobs
and raise on submit. :class:`Context` carries the gateway and how to retry and wait.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...errors import BackendError, JobError
from ...redaction import install_log_redaction, register_secret
from ..backends import BackendSpec, fake_backend, make_service, parse_backend
from ..faults import RetriesExhausted, RetryPolicy, call_with_retries, describe, http_status


class JobHandle(Protocol):
    def job_id(self) -> str: ...
    def status(self) -> Any: ...
    def result(self) -> Any: ...
    def cancel(self) -> Any: ...


class RuntimeGateway(Protocol):
    """The five calls the jobs layer makes to IBM Runtime."""

    is_local: bool

    def backend(self, name: str) -> Any: ...
    def open_batch(self, backend: Any) -> contextlib.AbstractContextManager[Any]: ...
    def submit(self, batch: Any, pubs: list, options: dict[str, Any]) -> JobHandle: ...
    def job(self, job_id: str) -> JobHandle: ...
    def jobs_by_tag(self, tag: str) -> list[JobHandle]: ...


class JobNotFoundError(JobError):
    """The service (or this process, in local testing mode) does not know the job id."""


class QiskitRuntimeGateway:
    """:class:`RuntimeGateway` over ``QiskitRuntimeService`` or ``QiskitRuntimeLocalService``.

    Submits with ``EstimatorV2(mode=Batch(backend))`` in both cases; ``Batch`` itself picks
    local testing mode when given a fake backend.
    """

    # Local-mode jobs can only be found from the process that submitted them.
    _local_jobs: dict[str, Any] = {}

    def __init__(self, service: Any):
        self.service = service
        self.is_local = bool(getattr(service, "is_local", False)) or not hasattr(service, "job")

    def backend(self, name: str) -> Any:
        if self.is_local:
            try:  # fast: without building every fake backend first
                return fake_backend(name)
            except BackendError:
                pass
        return self.service.backend(name)

    # qiskit-ibm-runtime is imported where it is used: it takes about a second to import, and
    # `qsdaqec --help` imports this module.

    def open_batch(self, backend: Any):
        from qiskit_ibm_runtime import Batch

        return Batch(backend=backend)

    def submit(self, batch: Any, pubs: list, options: dict[str, Any]) -> JobHandle:
        from qiskit_ibm_runtime import EstimatorV2

        with warnings.catch_warnings():
            # EstimatorV2 is deprecated in favour of the executor-based Estimator (0.50+); it is
            # still the primitive that runs on hardware and in local testing mode.
            warnings.filterwarnings(
                "ignore", category=DeprecationWarning, message=".*EstimatorV2.*"
            )
            estimator = EstimatorV2(mode=batch, options=options)
        try:
            job = estimator.run(pubs)
        except Exception as exc:
            _restore_http_status(exc)
            raise
        if self.is_local:
            self._local_jobs[job.job_id()] = job
        return job

    def job(self, job_id: str) -> JobHandle:
        if self.is_local:
            try:
                return self._local_jobs[job_id]
            except KeyError:
                raise JobNotFoundError(
                    f"job {job_id}: local testing mode keeps jobs only in the process that "
                    "submitted them"
                ) from None
        try:
            return self.service.job(job_id)
        except Exception as exc:
            if type(exc).__name__ == "RuntimeJobNotFound":
                raise JobNotFoundError(f"job {job_id}: not found on the service") from None
            raise

    def jobs_by_tag(self, tag: str) -> list[JobHandle]:
        if self.is_local:
            return []
        return list(self.service.jobs(job_tags=[tag], limit=10))


def _restore_http_status(exc: BaseException) -> None:
    """Put the HTTP status of a failed submit back on the exception the caller sees.

    ``QiskitRuntimeService._run`` re-raises the API's error answer to ``POST /jobs`` as
    ``IBMRuntimeError("Failed to run program: ...")`` (``RuntimeProgramNotFound`` for a 404)
    ``from None``, and a 401 arrives as ``IBMNotAuthorizedError``: none carries the status code,
    so :func:`~qsdaqec.runner.faults.submit_outcome` could not tell a refused submit (4xx: no job
    was created, safe to retry) from one whose outcome is unknown. The answer is still the
    exception's context (or cause); its status becomes ``exc.status_code``.
    """
    if http_status(exc) is not None:
        return
    answer = exc.__cause__ or exc.__context__
    status = http_status(answer) if answer is not None else None
    if status is not None:
        with contextlib.suppress(Exception):  # an exception type that refuses attributes
            exc.status_code = status  # type: ignore[attr-defined]


def job_backend(spec: str | BackendSpec) -> BackendSpec:
    """The parsed backend of a job: ``ibm:<device>`` or ``fake:<fake>`` (unknown fake names fail
    here, with the list of valid ones)."""
    parsed = parse_backend(spec)
    if not parsed.uses_runtime:
        raise BackendError(
            f"backend {spec!r}: jobs run on ibm:<device> (IBM hardware, e.g. ibm:ibm_fez) or "
            "fake:<fake backend> (local testing mode, e.g. fake:fake_fez); "
            f"{parsed} is for `qsdaqec fit`/`evaluate`"
        )
    return parsed


def ibm_service() -> Any:
    """``QiskitRuntimeService`` from the saved account or ``QISKIT_IBM_TOKEN`` (runner's
    ``make_service``): missing credentials are one :class:`CredentialsError` line, no token is
    ever echoed. The active token is registered for redaction of every later message."""
    service = make_service()
    with contextlib.suppress(Exception):
        register_secret((service.active_account() or {}).get("token"))
    return service


def connect(spec: str | BackendSpec) -> QiskitRuntimeGateway:
    """The gateway for ``ibm:<device>`` (IBM Quantum) or ``fake:<name>`` (local testing mode)."""
    parsed = job_backend(spec)
    install_log_redaction()
    if not parsed.is_hardware:
        from qiskit_ibm_runtime.fake_provider.local_service import QiskitRuntimeLocalService

        return QiskitRuntimeGateway(QiskitRuntimeLocalService())
    return QiskitRuntimeGateway(ibm_service())


def as_gateway(service: Any, spec: str | None = None) -> Any:
    """Accept a gateway, a qiskit(-like) runtime service, or ``None`` (connect to ``spec``)."""
    if service is None:
        if spec is None:
            raise JobError("no service and no backend to connect to")
        return connect(spec)
    if hasattr(service, "submit") and hasattr(service, "open_batch"):
        return service
    return QiskitRuntimeGateway(service)


def get_backend(ctx: Context, spec: str | BackendSpec) -> Any:
    """The gateway's backend object for ``spec`` (retried; one clear error when unavailable)."""
    parsed = job_backend(spec)
    name = str(parsed.name)
    try:
        return call_with_retries(
            lambda: ctx.gateway.backend(name), f"backend {name}", ctx.policy, sleep=ctx.sleep
        )
    except RetriesExhausted as exc:
        raise BackendError(f"{spec}: the service did not answer ({exc})") from None
    except Exception as exc:
        hint = (
            "see qiskit_ibm_runtime.fake_provider for the fake backends, e.g. fake_manila, fake_fez"
            if not parsed.is_hardware
            else "list your devices with QiskitRuntimeService().backends()"
        )
        raise BackendError(f"{spec}: backend not available ({describe(exc)}); {hint}") from None


@dataclass
class Context:
    """What every operation needs: the gateway and how to retry and wait."""

    gateway: Any
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    echo: Callable[[str], None] = lambda msg: None

    def retry(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retries(fn, what, self.policy, sleep=self.sleep, on_retry=self.echo)


def make_context(
    service: Any, spec: str | BackendSpec, policy: RetryPolicy | None, sleep, clock, echo
) -> Context:
    return Context(
        gateway=as_gateway(service, spec),
        policy=policy if policy is not None else RetryPolicy(),
        sleep=sleep if sleep is not None else time.sleep,
        clock=clock if clock is not None else time.monotonic,
        echo=echo if echo is not None else (lambda msg: None),
    )

"""Fault handling for IBM Runtime jobs: retries with backoff, error classes, redacted messages.

Three rules, used by :mod:`qsdaqec.runner.jobs`:

* **Retry only what is safe to repeat.** Status queries, result downloads, job look-ups and
  cancels are idempotent: a transient failure (dropped connection, timeout, HTTP 5xx/429) is
  retried with exponential backoff (:func:`call_with_retries`). A *submit* is never retried
  automatically: repeating it could run (and bill) the same work twice.
* **A submit whose outcome is unknown is recorded as unknown.** :func:`submit_outcome` tells a
  failure the service certainly refused (bad input, HTTP 4xx: nothing was created) from one
  where a job may exist (connection dropped after the request was sent, HTTP 5xx, anything
  unexpected). The jobs layer records the second kind as ``unknown`` and tells the user how to
  check and, if needed, resubmit explicitly.
* **No secret ever leaves the process.** Every message that is stored, logged or raised passes
  through :func:`qsdaqec.redaction.redact` (:func:`describe` uses it for exceptions).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..redaction import redact

T = TypeVar("T")


def describe(exc: BaseException) -> str:
    """One redacted line naming an exception: ``"ConnectionError: connection reset"``."""
    message = " ".join(str(exc).split()) or "(no message)"
    if len(message) > 300:
        message = message[:297] + "..."
    return redact(f"{type(exc).__name__}: {message}")


# --- classification -----------------------------------------------------------------------------

TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


def http_status(exc: BaseException) -> int | None:
    """The HTTP status code an exception carries (``RequestsApiError.status_code``), if any."""
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) and value > 0 else None


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:  # requests' errors derive from OSError, not from ConnectionError
        import requests

        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return True
    except ImportError:  # pragma: no cover - requests comes with qiskit-ibm-runtime
        pass
    return type(exc).__name__ in {"ReadTimeout", "ConnectTimeout", "RemoteDisconnected"}


def is_transient(exc: BaseException) -> bool:
    """True when repeating the same *idempotent* call may succeed (network, timeout, 5xx, 429)."""
    if type(exc).__name__ == "RuntimeJobNotFound":
        return False
    if _is_network_error(exc):
        return True
    status = http_status(exc)
    if status is not None:
        return status in TRANSIENT_HTTP
    # qiskit-ibm-runtime wraps failed API calls in IBMRuntimeError("Failed to ...: <cause>")
    # without the status code; a dropped connection underneath is worth another try, a refused
    # login is not.
    if _AUTH_FAILURE.search(str(exc)):
        return False
    return type(exc).__name__ in {"IBMRuntimeError", "RequestsApiError", "ApiIBMProtocolError"}


_AUTH_FAILURE = re.compile(r"\b(401|403)\b|unauthori[sz]ed|forbidden", re.IGNORECASE)


# Raised before anything is sent: the job certainly does not exist.
_REFUSED_BEFORE_SENDING = (ValueError, TypeError, KeyError)


def submit_outcome(exc: BaseException) -> str:
    """Classify a failed submit: ``"rejected"`` (no job was created) or ``"unknown"``.

    ``rejected``: input validation failed locally, or the service answered with a client error
    (HTTP 4xx other than 408/425: the request was read and refused, or for 429 not processed;
    no job either way). ``unknown``: everything
    else, including a dropped connection or a timeout after the request may have arrived, HTTP
    5xx, and unexpected exceptions. An unknown submit may have created a job.
    """
    status = http_status(exc)
    if status is not None:
        return "rejected" if 400 <= status < 500 and status not in (408, 425) else "unknown"
    if _is_network_error(exc):
        return "unknown"
    if isinstance(exc, _REFUSED_BEFORE_SENDING):
        return "rejected"
    return "unknown"


# --- retries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: waits ``base, base*factor, ...`` capped at ``max_delay`` seconds."""

    attempts: int = 5
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0

    def delays(self) -> list[float]:
        return [
            min(self.max_delay, self.base_delay * self.factor**i)
            for i in range(max(0, self.attempts - 1))
        ]


class RetriesExhausted(Exception):
    """The last transient error after every attempt failed; ``.last`` holds it."""

    def __init__(self, what: str, attempts: int, last: BaseException):
        super().__init__(f"{what}: failed {attempts} times; last error {describe(last)}")
        self.last = last
        self.attempts = attempts


def call_with_retries(
    fn: Callable[[], T],
    what: str,
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """Call an idempotent ``fn``; retry transient errors with backoff, re-raise permanent ones.

    After the last attempt a :class:`RetriesExhausted` is raised (its message is redacted).
    Never use this for a submit.
    """
    policy = policy or RetryPolicy()
    delays = policy.delays()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt >= len(delays):
                raise RetriesExhausted(what, attempt + 1, exc) from None
            delay = delays[attempt]
            attempt += 1
            if on_retry is not None:
                on_retry(f"{what}: {describe(exc)}; retry {attempt} in {delay:g} s")
            sleep(delay)

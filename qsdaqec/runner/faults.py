"""Fault handling for IBM Runtime jobs: retries with backoff, error classes, secret redaction.

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
  through :func:`redact`, which removes the IBM Quantum token (from ``QISKIT_IBM_TOKEN`` and
  any token registered with :func:`register_secret`, e.g. the one of the active saved account)
  and anything that looks like an ``Authorization``/``apikey`` value.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

TOKEN_ENV_VARS = ("QISKIT_IBM_TOKEN", "QISKIT_IBM_API_KEY", "IBM_CLOUD_API_KEY")
REDACTED = "<redacted>"

_SECRETS: set[str] = set()

# "Bearer abc", "apikey=abc", "token: abc", '"token": "abc"' ... (header and query forms)
_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"),
    re.compile(
        r"(?i)((?:api[_-]?key|apitoken|access[_-]?token|token|authorization|password)"
        r"['\"]?\s*[:=]\s*['\"]?)[^'\"\s,;&}]+"
    ),
)


def register_secret(secret: str | None) -> None:
    """Remember a secret (e.g. the active account's token) so :func:`redact` removes it."""
    if secret and len(secret) >= 6:
        _SECRETS.add(secret)


def _secrets() -> list[str]:
    found = set(_SECRETS)
    for name in TOKEN_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 6:
            found.add(value)
    return sorted(found, key=len, reverse=True)


def redact(text: Any) -> str:
    """``str(text)`` with every known token and every token-looking field value replaced."""
    text = str(text)
    for secret in _secrets():
        text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


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
    (HTTP 4xx other than 408/425/429 — the request was read and refused). ``unknown``: everything
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


# --- logs ---------------------------------------------------------------------------------------


class RedactingFilter:
    """A ``logging`` filter that redacts every record's message (see :func:`redact`)."""

    def filter(self, record) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = RedactingFilter()


def install_log_redaction(names: tuple[str, ...] = ("qiskit_ibm_runtime", "qsdaqec")) -> None:
    """Redact tokens in these loggers' records and in their handlers (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)

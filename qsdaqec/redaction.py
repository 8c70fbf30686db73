"""Redaction: the one function every message passes through before it is printed, logged or
written, so that no IBM Quantum token (or anything that looks like a credential) leaves the
process.

:func:`redact` removes every known secret (the token variables of the environment, and any
registered with :func:`register_secret`, e.g. the active saved account's) and anything that
looks like an ``Authorization``/``apikey``/``token`` value. The CLI's error handler and its
stderr lines, job records and their events, and the ``qiskit_ibm_runtime``/``qsdaqec`` loggers
(:func:`install_log_redaction`) all use it.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

TOKEN_ENV_VARS = ("QISKIT_IBM_TOKEN", "QISKIT_IBM_API_KEY", "IBM_CLOUD_API_KEY")
REDACTED = "<redacted>"

_SECRETS: set[str] = set()

# "Bearer abc", "apikey=abc", "token: abc", '"token": "abc"' ... (header and query forms); a
# placeholder such as token='<API key>' (the product's own hint) is no secret and stays readable
_PLACEHOLDER = r"(?!<[A-Za-z][\w .-]*>)"
_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"),
    re.compile(
        r"(?i)((?:api[_-]?key|apitoken|access[_-]?token|token|authorization|password)"
        r"['\"]?\s*[:=]\s*['\"]?)" + _PLACEHOLDER + r"[^'\"\s,;&}]+"
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

"""Typed errors. Library code raises these; the CLI turns each into one line and exit 2.

Every message names the input, says what is wrong and how to fix it, e.g.
``DataError("data/train/x.png: not a readable image (truncated PNG); remove it or pass --skip-bad")``.
"""

from __future__ import annotations


class QsdaqecError(Exception):
    """Base class: an expected failure caused by input, configuration or environment."""


class DataError(QsdaqecError):
    """A dataset, image file or split is unusable."""


class ConfigError(QsdaqecError):
    """A configuration value, option combination or job spec is invalid."""


class BackendError(QsdaqecError):
    """A backend spec is unknown or a backend cannot be built or reached."""


class CredentialsError(BackendError):
    """No IBM Quantum account is available. Messages never contain a token."""


class JobError(QsdaqecError):
    """A hardware job could not be submitted, tracked or fetched."""


class RunError(QsdaqecError):
    """A run directory is missing, incomplete or incompatible."""


class WriteError(QsdaqecError):
    """A file could not be written: the disk is full, the folder read-only or not ours.
    The message names the path; nothing half-written is left there."""

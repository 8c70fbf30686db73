"""Typed errors. Library code raises these; the CLI turns each into one line and exit 2.

Every message names the input, says what is wrong and how to fix it, e.g.
``DataError("data/train/x.png: not a readable image (truncated PNG); remove it or pass --skip-bad")``.

A message names a function's arguments as a Python caller writes them (``threshold=1.5``,
``resume=True``); ``cli`` maps those words to the command line's (``--threshold 1.5``,
``--resume``), and the CLI prints :meth:`QsdaqecError.for_cli`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class QsdaqecError(Exception):
    """Base class: an expected failure caused by input, configuration or environment.

    ``cli``: words of the message as the command line says them, e.g.
    ``{"threshold=": "--threshold ", "resume=True": "--resume"}``."""

    def __init__(self, *args: object, cli: Mapping[str, str] | None = None) -> None:
        super().__init__(*args)
        self.cli = dict(cli or {})

    def for_cli(self) -> str:
        """The message with each argument named as its command-line option."""
        text = str(self)
        for api, flag in self.cli.items():  # not inside a longer name: noisy_lr= is not lr=
            text = re.sub(rf"(?<![\w.-]){re.escape(api)}", lambda _m, f=flag: f, text)
        return text


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

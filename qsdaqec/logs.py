"""What the library says goes through :mod:`logging`: the ``qsdaqec`` logger and its children
(``qsdaqec.train.fitting``, ...), one message per line, progress at ``INFO`` and things a reader
should not miss at ``WARNING``.

Where the lines go:

- a program that configured no logging (a script, a notebook) sees them on stderr as
  ``qsdaqec fit`` always printed them: :class:`_Lines` prints each record while no other handler
  listens (like :data:`logging.lastResort`, but from ``INFO``, and between tqdm's bars);
- once a handler is configured (on ``qsdaqec`` or the root logger), the lines are its to route;
- ``logging.getLogger("qsdaqec").setLevel(logging.WARNING)`` keeps only warnings;
- the CLI prints them with :func:`console` (its writer, for exactly today's text on stderr);
- a caller that hands a function ``log=`` (older code, the experiment runner's per-fit log
  file) gets that call's lines with :func:`lines_to`, and they go nowhere else but to the
  handlers a program configured.

Importing this module sets the ``qsdaqec`` logger's level to ``INFO`` unless the program chose
one; it imports only the standard library, tqdm and the redaction module.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from tqdm import tqdm

from .redaction import install_log_redaction, redact

ROOT = "qsdaqec"

Writer = Callable[[str], None]
F = TypeVar("F", bound=Callable[..., Any])

_call: ContextVar[Writer | None] = ContextVar("qsdaqec_log_call", default=None)
_console: list[Writer] = []


def get_logger(name: str) -> logging.Logger:
    """The logger of module ``name`` (its ``__name__``: ``qsdaqec.train.fitting``), which
    redacts credentials from its records whatever handler they reach (a logger's filter sees
    only its own records, not its children's)."""
    install_log_redaction((name,))
    return logging.getLogger(name)


@contextmanager
def lines_to(write: Writer | None) -> Iterator[None]:
    """Within the block, the lines this thread's qsdaqec code logs go to ``write`` instead of
    the console (``None``: unchanged). Handlers a program configured still get the records."""
    if write is None:
        yield
        return
    token = _call.set(write)
    try:
        yield
    finally:
        _call.reset(token)


def log_argument(fn: F) -> F:
    """``fn`` also takes ``log=`` (a function of one line, or ``None``), as ``fit``,
    ``evaluate`` and ``predict`` did before they logged: the call's lines go to it
    (:func:`lines_to`)."""

    @functools.wraps(fn)
    def call(*args: Any, log: Writer | None = None, **kwargs: Any) -> Any:
        with lines_to(log):
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


@contextmanager
def console(write: Writer) -> Iterator[None]:
    """Within the block, lines no :func:`lines_to` takes go to ``write`` (the CLI: stderr)."""
    logger = logging.getLogger(ROOT)
    level = logger.level
    logger.setLevel(logging.INFO)  # the command prints what it always printed
    _console.append(write)
    try:
        yield
    finally:
        _console.remove(write)
        logger.setLevel(level)


class _Lines(logging.Handler):
    """The ``qsdaqec`` logger's own handler: each record's message, as one line, to the call's
    writer (:func:`lines_to`), else the console's (:func:`console`), else stderr while nothing
    else listens."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            write = _call.get() or (_console[-1] if _console else None)
            if write is not None:
                write(message)
            elif not _others_listen(record.name):
                tqdm.write(redact(message), file=sys.stderr)
        except Exception:  # logging must never break a fit
            self.handleError(record)


def _others_listen(name: str) -> bool:
    """Whether a handler besides ours would see a record of logger ``name``."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(not isinstance(h, (_Lines, logging.NullHandler)) for h in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


def _install() -> None:
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, _Lines) for h in logger.handlers):
        logger.addHandler(_Lines())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


_install()

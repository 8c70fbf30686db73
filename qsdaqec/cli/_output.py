"""What the CLI prints on stderr: progress lines and warnings, every one redacted."""

from __future__ import annotations

import click

from ..redaction import redact


def err(msg: object) -> None:
    """One line (or a few) on stderr, with any credential removed."""
    click.echo(redact(msg), err=True)

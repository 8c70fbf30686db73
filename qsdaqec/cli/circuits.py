"""CLI commands for circuits (placeholder: filled by its issue)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []

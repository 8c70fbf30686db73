"""Checks of the CLI's bad-input contract, shared by every test folder."""

from __future__ import annotations


def handled_error(result, *fragments: str) -> str:
    """The one line of a *handled* error: exit 2, a single line ``Error: ...`` holding every
    fragment, and not the catch-all's ``internal error`` (a crash also ends in one line and
    exit 2, so that has to be told apart). Returns the line."""
    out = result.output
    assert result.exit_code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    line = lines[0]
    assert line.startswith("Error: ") and "internal error" not in line, out
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line

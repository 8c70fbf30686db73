"""Which noise reports were made of a run: ``RUN/noise_reports.json``, so that the run's own
page (``qsdaqec report``) can link them wherever their ``--out`` put them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import QsdaqecError
from ...io import atomic_write_json, read_json

INDEX = "noise_reports.json"


def register(run_dir: Path, html: Path, created: str) -> None:
    """Add (or refresh) the report at ``html`` in the run's index."""
    target = str(Path(html).resolve())
    kept = [e for e in noise_reports(run_dir, existing=False) if e["html"] != target]
    atomic_write_json(
        Path(run_dir) / INDEX, {"reports": [*kept, {"html": target, "created": created}]}
    )


def noise_reports(run_dir: Path, *, existing: bool = True) -> list[dict[str, Any]]:
    """The run's noise reports (``html``: absolute path, ``created``, ``link``: the path from
    the run folder); with ``existing``, only those still on disk."""
    path = Path(run_dir) / INDEX
    try:
        entries = read_json(path).get("reports", []) if path.is_file() else []
    except (QsdaqecError, AttributeError):
        return []  # a damaged index: the reports themselves are intact
    out = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("html"), str):
            continue
        if existing and not Path(e["html"]).is_file():
            continue
        out.append({**e, "link": os.path.relpath(e["html"], Path(run_dir).resolve())})
    return out

"""Which image files a run trained on, so that ``predict`` can leave them out (or mark them):
scores on training images say how well the run remembers, not how well it diagnoses.

The run's ``split.json`` names its training images by their path in the run's data folder
(``run.json``'s ``data.source``). A folder written by ``qsdaqec augment`` holds copies of its
source's images, so its ``manifest.json`` leads back to the originals of the training copies too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..augment.export import MANIFEST_FORMAT
from ..errors import QsdaqecError
from ..io import read_json
from ..runs import RunDir


def trained_files(run_dir: Path, info: dict[str, Any]) -> set[Path]:
    """The resolved paths of the run's training images (empty when the run has no split.json or
    its data folder is not found from here: nothing can then be matched)."""
    saved = RunDir(run_dir).split
    source = Path(str(info.get("data", {}).get("source", "")))
    if not saved.is_file() or not source.is_dir():
        return set()
    try:
        ids = list(read_json(saved)["train"]["ids"])
    except (QsdaqecError, KeyError, TypeError):
        return set()
    return {(source / i).resolve() for i in ids} | _originals(source, ids)


def _originals(folder: Path, train_ids: Iterable[str]) -> set[Path]:
    """The source images of an augmented folder's training copies (its manifest), if found."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return set()
    try:
        doc = read_json(manifest)
    except QsdaqecError:
        return set()
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        return set()  # e.g. the built-in data's own manifest
    origin = Path(str(doc.get("source_data", "")))
    if not origin.is_dir():
        return set()
    wanted = set(train_ids)
    return {
        (origin / f["id"]).resolve()
        for f in doc.get("files") or []
        if isinstance(f, dict) and f.get("path") in wanted and f.get("id")
    }

"""What every importer shares: the plan it returns, box and image checks, file reading.

An importer reads a data set's annotations and checks them completely (every box against the
image it belongs to) before anything is written; it returns a :class:`Plan`, which
``writer.write_import`` turns into the output folder. So a malformed input stops the import
with one ``DataError`` naming the file and the entry, and no output is left behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ...errors import DataError
from ..lesions import Lesion

NORMAL, STENOSIS = "normal", "stenosis"

# Boxes may reach this far past the image edge (pixels) and are then clipped: Pascal VOC
# coordinates are 1-based, so a box touching the right or bottom edge ends one pixel outside.
EDGE_SLACK = 1.0


@dataclass(frozen=True)
class ImportOptions:
    """Options of ``qsdaqec data import``; the field defaults are the command's defaults."""

    min_severity: str = "p50_70"  # cadica: the mildest lesion class that makes a frame stenosis


@dataclass(frozen=True)
class Item:
    """One image to import: where it is, where it goes (relative to OUT), its class, lesions
    (centre + size, in pixels of the image as stored) and group (patient or video)."""

    source: Path
    rel: str
    label: str
    size: tuple[int, int]
    lesions: tuple[Lesion, ...] = ()
    group: str | None = None


@dataclass
class Plan:
    """An importer's result: the images to write, what it left out and why, and its class
    rule (in words, for ``import.json``)."""

    format: str
    source: Path
    items: list[Item]
    rule: str
    split: bool = False  # items go to OUT/<train|val|test>/<class>/, a predefined split
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    details: dict[str, Any] = field(default_factory=dict)


def relative(path: Path, root: Path) -> str:
    """``path`` relative to the source folder, for ``import.json`` (never an absolute path)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def require_dir(path: Path, hint: str) -> Path:
    """``path`` if it is a folder, else a ``DataError`` ending in ``hint`` (what was expected)."""
    if not path.is_dir():
        problem = "not a folder" if path.exists() else "no such folder"
        raise DataError(f"{path}: {problem}; {hint}")
    return path


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file missing") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (not valid UTF-8)") from None


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def image_size(path: Path, where: str) -> tuple[int, int]:
    """``(width, height)`` of an image file, read from its header; a missing or unreadable file
    is a ``DataError`` naming it and the annotation entry ``where`` that lists it."""
    if not path.is_file():
        raise DataError(f"{path}: image file missing (listed by {where})")
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: not a readable image ({e}); listed by {where}") from None


def box(
    where: str,
    shown: str,
    xywh: tuple[float, float, float, float],
    size: tuple[int, int],
    severity: float | str | None = None,
) -> Lesion:
    """A box given by its top-left corner and size ``xywh``, checked against the image ``size``
    (width, height), as a lesion: centre + size, in the same pixels (nothing is scaled).
    ``shown`` is the box as the annotation file writes it, for error messages."""
    x, y, w, h = xywh
    if w <= 0 or h <= 0:
        raise DataError(f"{where}: {shown} has a negative or zero size")
    width, height = size
    slack = EDGE_SLACK
    if x < -slack or y < -slack or x + w > width + slack or y + h > height + slack:
        raise DataError(f"{where}: {shown} lies outside the {width}x{height} image")
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    return Lesion((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, STENOSIS, severity)


def number(where: str, value: Any, what: str) -> float:
    """A finite number (an int, a float or their text), else a ``DataError``."""
    if isinstance(value, bool):
        raise DataError(f"{where}: {what} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {what} must be a number, got {value!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise DataError(f"{where}: {what} must be a finite number, got {value!r}")
    return v

"""Lesion positions of a data set: ``lesions.json`` beside the class folders.

The built-in generator writes it, and ``qsdaqec data import`` writes it from the boxes that the
public stenosis data sets ship. ``fit`` uses it, when present, to supervise where the model
looks (``qsdaqec.train.lesion_targets``); evaluation uses it to check the predicted lesion
locations. The format, version 1::

    {
      "format": "qsdaqec-lesions", "version": 1,
      "coordinates": "pixels of the stored image; x = column, y = row, origin top-left",
      "images": {
        "stenosis/img_0003.png": {
          "width": 128, "height": 128,          # of the stored image
          "group": "patient-12",                # optional: patient or video; splits keep
                                                # a group's images together
          "lesions": [{"x": 40.5, "y": 61.0,    # centre
                       "w": 12.0, "h": 12.0,    # box size (the lesion's extent)
                       "label": "stenosis", "severity": 0.8}]   # severity: optional
        },
        "normal/img_0001.png": {"width": 128, "height": 128, "lesions": []}
      }
    }

Keys are image paths relative to the data folder, as the loader names images
(``LabeledImages.ids``). Images without an entry are "not annotated": a ``normal`` image has no
lesions by definition, a ``stenosis`` image without an entry gives no location supervision.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import atomic_write_text

LESIONS_FILE = "lesions.json"
FORMAT = "qsdaqec-lesions"
VERSION = 1
COORDINATES = "pixels of the stored image; x = column, y = row, origin top-left"
SPLIT_PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Lesion:
    """One lesion: centre ``(x, y)`` and box size ``(w, h)`` in pixels of the stored image."""

    x: float
    y: float
    w: float
    h: float
    label: str = "stenosis"
    severity: float | str | None = None

    @property
    def reach(self) -> float:
        """Half the box's larger side: a predicted point within ``reach`` (+ a tolerance) of the
        centre lies on the lesion."""
        return 0.5 * max(self.w, self.h)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "x": round(self.x, 2),
            "y": round(self.y, 2),
            "w": round(self.w, 2),
            "h": round(self.h, 2),
            "label": self.label,
        }
        if self.severity is not None:
            d["severity"] = self.severity
        return d


@dataclass(frozen=True)
class ImageLesions:
    """The lesions of one stored image (its size, its group when known)."""

    width: int
    height: int
    lesions: tuple[Lesion, ...] = ()
    group: str | None = None

    def scaled(self, size: int) -> list[Lesion]:
        """The lesions in pixels of the image resized to ``size`` x ``size`` (as loaded)."""
        sx, sy = size / self.width, size / self.height
        return [
            Lesion(le.x * sx, le.y * sy, le.w * sx, le.h * sy, le.label, le.severity)
            for le in self.lesions
        ]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"width": self.width, "height": self.height}
        if self.group is not None:
            d["group"] = self.group
        d["lesions"] = [le.to_dict() for le in self.lesions]
        return d


@dataclass
class LesionTable:
    """``lesions.json`` read: per image id, its lesions."""

    images: dict[str, ImageLesions] = field(default_factory=dict)
    source: str = ""

    def get(self, image_id: str) -> ImageLesions | None:
        return self.images.get(image_id)

    def groups(self, ids: Sequence[str]) -> list[str | None]:
        """Each id's group (``None`` where the file names none)."""
        return [e.group if (e := self.images.get(i)) is not None else None for i in ids]

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "coordinates": COORDINATES,
            "images": {k: v.to_dict() for k, v in sorted(self.images.items())},
        }
        return json.dumps(doc, indent=1) + "\n"


def write_lesions(path: str | os.PathLike, table: LesionTable) -> Path:
    """Write ``table`` to ``path`` atomically."""
    return atomic_write_text(path, table.to_json())


def _bad(source: str, where: str, msg: str) -> DataError:
    return DataError(f"{source}: {where}: {msg}; fix the entry or remove it")


def _number(source: str, where: str, d: Mapping, key: str, *, positive: bool = False) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _bad(source, where, f"{key!r} must be a number, got {v!r}")
    if positive and v <= 0:
        raise _bad(source, where, f"{key!r} must be > 0, got {v!r}")
    return float(v)


def _lesion(source: str, where: str, d: Any, width: int, height: int) -> Lesion:
    if not isinstance(d, Mapping):
        raise _bad(source, where, "a lesion must be an object with x, y, w, h")
    x, y = _number(source, where, d, "x"), _number(source, where, d, "y")
    w = _number(source, where, d, "w", positive=True)
    h = _number(source, where, d, "h", positive=True)
    if not (0 <= x <= width and 0 <= y <= height):
        raise _bad(source, where, f"centre ({x:g}, {y:g}) lies outside the {width}x{height} image")
    label = d.get("label", "stenosis")
    severity = d.get("severity")
    if not isinstance(label, str) or not (
        severity is None or isinstance(severity, (int, float, str))
    ):
        raise _bad(source, where, "label must be text, severity a number or text")
    return Lesion(x, y, w, h, label, severity)


def _entry(source: str, key: str, d: Any) -> ImageLesions:
    where = f"image {key!r}"
    if not isinstance(d, Mapping):
        raise _bad(source, where, "an entry must be an object with width, height, lesions")
    width = _number(source, where, d, "width", positive=True)
    height = _number(source, where, d, "height", positive=True)
    if width != int(width) or height != int(height):
        raise _bad(source, where, "width and height must be whole numbers of pixels")
    group = d.get("group")
    if group is not None and not isinstance(group, str):
        raise _bad(source, where, f"group must be text, got {group!r}")
    raw = d.get("lesions", [])
    if not isinstance(raw, list):
        raise _bad(source, where, "lesions must be a list")
    lesions = tuple(
        _lesion(source, f"{where}, lesion {i}", le, int(width), int(height))
        for i, le in enumerate(raw)
    )
    return ImageLesions(int(width), int(height), lesions, group)


def read_lesions(path: str | os.PathLike) -> LesionTable:
    """Read and check a ``lesions.json``; any problem is one ``DataError`` naming the file and
    the entry."""
    p = Path(path)
    source = str(p)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"{source}: cannot read ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{source}: not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f'{source}: not a lesions file (expected "format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise DataError(
            f"{source}: lesions format version {doc.get('version')!r}; this qsdaqec reads "
            f"version {VERSION}"
        )
    images = doc.get("images")
    if not isinstance(images, dict):
        raise DataError(f'{source}: "images" must be an object of image path -> entry')
    table = {str(k): _entry(source, str(k), v) for k, v in images.items()}
    return LesionTable(table, source)


def find_lesions(root: str | os.PathLike) -> LesionTable | None:
    """The ``lesions.json`` of a data folder (read and checked), or ``None`` when it has none.

    A folder already split into ``train/ val/ test/`` (``qsdaqec augment``) may carry one at its
    top (keys with the part, ``train/stenosis/a.png``)."""
    p = Path(root)
    f = p / LESIONS_FILE if p.is_dir() else None
    if f is None or not f.is_file():
        return None
    return read_lesions(f)


def check_ids(table: LesionTable, ids: Iterable[str]) -> None:
    """``DataError`` when ``table`` names an image the data set does not hold (a typo, a file
    moved, or the file of another data set)."""
    known = set(ids)
    unknown = sorted(k for k in table.images if k not in known)
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise DataError(
            f"{table.source}: image {unknown[0]!r}{more} not in the data set; lesions.json keys "
            "are image paths relative to the data folder (e.g. stenosis/img_0003.png)"
        )


def rekey(table: LesionTable, mapping: Mapping[str, str]) -> LesionTable:
    """The entries of ``table`` under new ids (``old -> new``; unmapped entries are dropped):
    e.g. ``qsdaqec augment`` moving images into ``train/``, ``val/``, ``test/``."""
    return LesionTable(
        {new: table.images[old] for old, new in mapping.items() if old in table.images},
        table.source,
    )

"""Write a checked import plan as an ImageFolder: 8-bit grayscale PNGs, ``lesions.json`` and
``import.json``, built in a hidden sibling folder and renamed into place at the end."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...errors import DataError
from ...io import atomic_write_json, make_dir
from ..lesions import LESIONS_FILE, ImageLesions, LesionTable, write_lesions
from .common import Item, Plan, relative

IMPORT_FILE = "import.json"
_SIXTEEN_BIT = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: the folder, images per class (and per part of a split), groups."""

    out: Path
    counts: dict[str, int]
    parts: dict[str, dict[str, int]] | None
    groups: int
    skipped: int


def check_out(out: Path) -> None:
    """Refuse an output that exists and is not an empty folder: an import never replaces
    anything."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        raise DataError(f"{out}: folder exists and is not empty; choose another --out")


def gray8(im: Image.Image) -> Image.Image:
    """An 8-bit grayscale copy: 16-bit values scaled by their range (65535 -> 255, as the loader
    reads them), float images in [0, 1] by 255 (others min-max), colour to luminance."""
    if im.mode == "L":
        return im
    if im.mode in _SIXTEEN_BIT or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if im.mode != "F":
            a = a / 257.0
        elif a.size and (a.min() < 0 or a.max() > 1):
            a = (a - a.min()) / max(float(a.max() - a.min()), 1e-12) * 255.0
        else:
            a = a * 255.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L")
    return im.convert("L")


def _png(item: Item) -> bytes:
    try:
        with Image.open(item.source) as im:
            im.load()
            gray = gray8(im)
    except OSError as e:  # the header read when planning, the pixels do not decode
        raise DataError(f"{item.source}: not a readable image ({e})") from None
    buf = io.BytesIO()
    gray.save(buf, format="PNG")
    return buf.getvalue()


def _check_unique(items: list[Item]) -> None:
    seen: dict[str, Path] = {}
    for it in items:
        if it.rel in seen:
            raise DataError(
                f"{it.source}: would be written as {it.rel}, like {seen[it.rel]}; two source "
                "files map to one output name"
            )
        seen[it.rel] = it.source


def _table(items: list[Item]) -> LesionTable:
    return LesionTable(
        {it.rel: ImageLesions(it.size[0], it.size[1], it.lesions, it.group) for it in items}
    )


def _summary(plan: Plan, out: Path) -> ImportResult:
    counts = Counter(it.label for it in plan.items)
    parts = None
    if plan.split:  # OUT/<part>/<class>/<image>
        parts = {}
        for it in plan.items:
            part = parts.setdefault(it.rel.split("/")[0], {})
            part[it.label] = part.get(it.label, 0) + 1
    groups = len({it.group for it in plan.items if it.group is not None})
    return ImportResult(out, dict(sorted(counts.items())), parts, groups, len(plan.skipped))


def _record(plan: Plan, result: ImportResult, source_as_given: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": plan.format,
        "source": source_as_given,
        "class_rule": plan.rule,
        "images": len(plan.items),
        "counts": result.counts,
        "groups": result.groups,
        "skipped": [{"path": relative(Path(p), plan.source), "reason": r} for p, r in plan.skipped],
        **plan.details,
    }
    if result.parts is not None:
        doc["parts"] = result.parts
    return doc


def write_import(plan: Plan, out: Path, source_as_given: str) -> ImportResult:
    """Write ``plan`` to the new folder ``out`` atomically; return what was written."""
    if not plan.items:
        raise DataError(f"{plan.source}: no images to import ({len(plan.skipped)} skipped)")
    _check_unique(plan.items)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_dir(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for it in plan.items:
            dst = tmp / it.rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(_png(it))
        write_lesions(tmp / LESIONS_FILE, _table(plan.items))
        result = _summary(plan, out)
        atomic_write_json(tmp / IMPORT_FILE, _record(plan, result, source_as_given))
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _move_into_place(tmp: Path, out: Path) -> None:
    if out.is_dir():
        try:
            out.rmdir()  # an empty folder may be replaced; a non-empty one has appeared meanwhile
        except OSError:
            raise DataError(
                f"{out}: folder appeared while importing; choose another --out"
            ) from None
    os.replace(tmp, out)

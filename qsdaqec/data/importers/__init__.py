"""``qsdaqec data import``: the public coronary stenosis data sets as ImageFolder trees.

Each importer reads one data set as it lies on disk after download and unzip, checks every
annotation, and the shared writer makes ``OUT/{normal,stenosis}/*.png`` (8-bit grayscale, the
original resolution; ARCADE keeps its split: ``OUT/{train,val,test}/{normal,stenosis}/``),
``OUT/lesions.json`` (boxes as centre + size, groups = patients) and ``OUT/import.json`` (what
was imported and skipped, and the class rule). numpy and PIL only: no torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...registry import Registry
from .arcade import plan_arcade
from .cadica import SEVERITIES, plan_cadica
from .common import ImportOptions, Plan
from .danilov import plan_danilov
from .writer import IMPORT_FILE, ImportResult, check_out, write_import


@dataclass(frozen=True)
class Importer:
    """A data-set format: reads and checks a download into a :class:`Plan`."""

    summary: str
    plan: Callable[[Path, ImportOptions], Plan]


IMPORTERS: Registry[Importer] = Registry("import format")
IMPORTERS.register(
    "arcade", Importer("ARCADE stenosis task (Popov et al. 2024; COCO boxes)", plan_arcade)
)
IMPORTERS.register(
    "danilov", Importer("Danilov et al. 2021 (BMP frames, Pascal VOC boxes)", plan_danilov)
)
IMPORTERS.register(
    "cadica", Importer("CADICA (Jiménez-Partinen et al. 2024; videos, severities)", plan_cadica)
)


def import_dataset(
    fmt: str,
    source: str | os.PathLike,
    out: str | os.PathLike,
    options: ImportOptions | None = None,
) -> ImportResult:
    """Import the data set ``source`` (format ``fmt``) into the new folder ``out``.

    An existing non-empty ``out`` is refused; nothing is written until every annotation has
    been checked, and the folder appears at once (built beside it, then renamed)."""
    importer = IMPORTERS[fmt]
    out = Path(out)
    check_out(out)  # before reading thousands of files
    plan = importer.plan(Path(source), options or ImportOptions())
    return write_import(plan, out, os.fspath(source))


__all__ = [
    "IMPORTERS",
    "IMPORT_FILE",
    "SEVERITIES",
    "ImportOptions",
    "ImportResult",
    "Importer",
    "import_dataset",
]

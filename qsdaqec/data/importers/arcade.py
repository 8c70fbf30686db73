"""ARCADE (Popov et al. 2024, Scientific Data 11:20; Zenodo record 10390295): the stenosis task.

On disk after unzipping (the ``syntax/`` task beside it is not read)::

    arcade/stenosis/{train,val,test}/images/<n>.png               512 x 512
    arcade/stenosis/{train,val,test}/annotations/<part>.json      COCO (a CVAT export)

Each COCO file has ``images`` (``id``, ``width``, ``height``, ``file_name``), ``categories``
(``id``, ``name``; the stenosis category is named ``stenosis``, id 26 after the 25 SYNTAX
segment categories in the published files) and ``annotations`` (``id``, ``image_id``,
``category_id``, ``segmentation`` polygons, ``area``, ``bbox`` = [x, y, w, h] from the top-left
corner, ``iscrowd``, ``attributes``). File names restart at ``1.png`` in every part, so the
output keeps the parts apart: ``OUT/{train,val,test}/{normal,stenosis}/<n>.png``, ARCADE's
own split, kept as published. ARCADE names no patients, so images carry no group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import DataError
from ..lesions import Lesion
from .common import (
    NORMAL,
    STENOSIS,
    ImportOptions,
    Item,
    Plan,
    box,
    image_size,
    number,
    read_json,
    require_dir,
)

PARTS = ("train", "val", "test")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
RULE = (
    "stenosis: an image with at least one annotation of the COCO category named 'stenosis'; "
    "normal: an image listed in its part's COCO file with none (in COCO an annotated image "
    "without boxes has no finding); image files the COCO file does not list are skipped; "
    "ARCADE's train/val/test split is kept"
)
_LAYOUT = "ARCADE's stenosis task holds {train,val,test}/images/ and {train,val,test}/annotations/"


def _is_id(value: Any) -> bool:
    """COCO ids are numbers (text is tolerated); anything else cannot name an entry."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _root(source: Path) -> Path:
    require_dir(source, "pass the folder the ARCADE zip unpacked to")
    for cand in (source / "stenosis", source / "arcade" / "stenosis", source):
        if any((cand / p / "images").is_dir() for p in PARTS):
            return cand
    raise DataError(
        f"{source}: no stenosis/{{train,val,test}}/images/ below it; pass the folder the ARCADE "
        "zip unpacked to (it holds stenosis/ and syntax/)"
    )


def _annotation_file(part_dir: Path, part: str) -> Path:
    folder = require_dir(part_dir / "annotations", _LAYOUT)
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".json")
    named = [f for f in files if f.name.lower() == f"{part}.json"]
    if named or len(files) == 1:
        return (named or files)[0]
    raise DataError(f"{folder}: no {part}.json (found {len(files)} .json file(s))")


def _coco(path: Path) -> tuple[dict[str, list], dict[Any, str], set[Any]]:
    """The COCO file's lists, its category names by id and the stenosis category's id(s)."""
    doc = read_json(path)
    keys = ("images", "annotations", "categories")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in keys):
        raise DataError(
            f'{path}: not a COCO annotation file (expected lists "images", "annotations" and '
            '"categories")'
        )
    names: dict[Any, str] = {}
    for i, c in enumerate(doc["categories"]):
        if not isinstance(c, dict) or not _is_id(c.get("id")) or not isinstance(c.get("name"), str):
            raise DataError(f"{path}: category #{i}: needs an id and a name, got {c!r}")
        names[c["id"]] = c["name"]
    stenosis = {cid for cid, name in names.items() if name.strip().lower() == STENOSIS}
    if not stenosis:
        raise DataError(
            f"{path}: no category named 'stenosis' (categories: {', '.join(names.values())}); "
            "is this a file of ARCADE's syntax task?"
        )
    return doc, names, stenosis


def _images(path: Path, doc: dict, images_dir: Path) -> dict[Any, dict[str, Any]]:
    """Per image id: its file, size and (so far no) lesions; the declared size must be the
    file's."""
    out: dict[Any, dict[str, Any]] = {}
    files: set[str] = set()
    for i, im in enumerate(doc["images"]):
        iid = im.get("id") if isinstance(im, dict) else None
        where = f"{path}: image {iid if iid is not None else f'#{i}'}"
        if not _is_id(iid) or not isinstance(im.get("file_name"), str) or not im["file_name"]:
            raise DataError(f"{where}: needs an id and a file_name")
        name = Path(im["file_name"]).name
        if iid in out or name in files:
            raise DataError(f"{where}: id or file_name {name!r} listed twice")
        files.add(name)
        size = image_size(images_dir / name, where)
        declared = (
            number(where, im.get("width"), "width"),
            number(where, im.get("height"), "height"),
        )
        if declared != size:
            raise DataError(
                f"{where}: declared {declared[0]:g}x{declared[1]:g}, but {images_dir / name} is "
                f"{size[0]}x{size[1]}"
            )
        out[iid] = {"file": images_dir / name, "size": size, "lesions": []}
    return out


def _annotate(path: Path, doc: dict, names: dict, stenosis: set, images: dict) -> int:
    """Add each stenosis box to its image; returns the number of other annotations."""
    others = 0
    for i, a in enumerate(doc["annotations"]):
        aid = a.get("id") if isinstance(a, dict) else None
        where = f"{path}: annotation {aid if aid is not None else f'#{i}'}"
        if not isinstance(a, dict):
            raise DataError(f"{where}: must be an object, got {a!r}")
        if not _is_id(a.get("image_id")) or a["image_id"] not in images:
            raise DataError(f'{where}: image_id {a.get("image_id")!r} is not in "images"')
        if not _is_id(a.get("category_id")) or a["category_id"] not in names:
            raise DataError(
                f'{where}: category_id {a.get("category_id")!r} is not in "categories" '
                "(unknown label)"
            )
        if a["category_id"] not in stenosis:
            others += 1
            continue
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise DataError(f"{where}: bbox must be [x, y, w, h], got {bbox!r}")
        xywh = tuple(number(where, v, "bbox") for v in bbox)
        image = images[a["image_id"]]
        image["lesions"].append(box(where, f"bbox {bbox}", xywh, image["size"]))
    return others


def _part(root: Path, part: str, plan: Plan) -> None:
    part_dir = root / part
    images_dir = require_dir(part_dir / "images", _LAYOUT)
    path = _annotation_file(part_dir, part)
    doc, names, stenosis = _coco(path)
    images = _images(path, doc, images_dir)
    plan.details["other_annotations"] += _annotate(path, doc, names, stenosis, images)
    for im in images.values():
        lesions: tuple[Lesion, ...] = tuple(im["lesions"])
        label = STENOSIS if lesions else NORMAL
        rel = f"{part}/{label}/{im['file'].stem}.png"
        plan.items.append(Item(im["file"], rel, label, im["size"], lesions))
    listed = {im["file"].name for im in images.values()}
    for f in sorted(images_dir.iterdir()):
        if f.suffix.lower() in IMAGE_SUFFIXES and f.name not in listed:
            plan.skipped.append((str(f), f"not listed in {path.name}"))


def plan_arcade(source: Path, options: ImportOptions) -> Plan:
    """Read and check ARCADE's stenosis task below ``source``."""
    root = _root(source)
    plan = Plan("arcade", source, [], RULE, split=True, details={"other_annotations": 0})
    for part in PARTS:
        _part(root, part, plan)
    return plan

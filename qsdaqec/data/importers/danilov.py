"""Danilov et al. 2021 (Scientific Reports 11:7582; Mendeley Data ydrm75xywg, "Angiographic
dataset for stenosis detection"): frames of 100 patients with single-vessel disease.

On disk after unzipping: one flat folder of BMP frames, each with a Pascal VOC file::

    Stenosis detection/dataset/14_002_5_0016.bmp
    Stenosis detection/dataset/14_002_5_0016.xml   <object><name>Stenosis</name>
                                                     <bndbox><xmin>..<ymin>..<xmax>..<ymax>..

A name is ``<a>_<patient>_<video>_<frame>`` (14_002_5_0016: patient 002, video 5, frame 16),
so the patient becomes the group. Boxes are checked against the image itself (the VOC
``<size>`` is not trusted) and taken as written (corner coordinates, nothing shifted).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

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
    require_dir,
)

IMAGE_SUFFIXES = frozenset({".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
NAME = re.compile(r"^(?P<a>\d+)_(?P<patient>\d+)_(?P<video>\d+)_(?P<frame>\d+)$")
RULE = (
    "stenosis: a frame whose Pascal VOC file has at least one <object> named 'Stenosis'; "
    "normal: a frame whose VOC file has no <object>; frames without a VOC file are skipped; "
    "group: the patient field of the file name (<a>_<patient>_<video>_<frame>)"
)


def _folder(source: Path) -> Path:
    require_dir(source, "pass the folder the Mendeley zip unpacked to")
    for cand in (source / "dataset", source / "Stenosis detection" / "dataset", source):
        if cand.is_dir() and any(f.suffix.lower() == ".xml" for f in cand.iterdir()):
            return cand
    raise DataError(
        f"{source}: no Pascal VOC .xml files in it or in its dataset/ folder; pass the folder "
        "the Danilov zip unpacked to"
    )


def _coordinate(xml: Path, where: str, bndbox: ET.Element, tag: str) -> float:
    el = bndbox.find(tag)
    if el is None or el.text is None:
        raise DataError(f"{xml}: {where}: <bndbox> has no <{tag}>")
    return number(f"{xml}: {where}", el.text.strip(), f"<{tag}>")


def _lesions(xml: Path, size: tuple[int, int]) -> tuple[Lesion, ...]:
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:
        raise DataError(f"{xml}: not valid XML ({e})") from None
    if root.tag != "annotation":
        raise DataError(f"{xml}: not a Pascal VOC file (root <{root.tag}>, expected <annotation>)")
    lesions = []
    for i, obj in enumerate(root.findall("object"), start=1):
        where = f"object {i}"
        name = (obj.findtext("name") or "").strip()
        if name.lower() != STENOSIS:
            raise DataError(
                f"{xml}: {where}: unknown label {name!r}; this data set's one label is 'Stenosis'"
            )
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise DataError(f"{xml}: {where}: no <bndbox>")
        x0, y0, x1, y1 = (
            _coordinate(xml, where, bndbox, t) for t in ("xmin", "ymin", "xmax", "ymax")
        )
        shown = f"<bndbox> xmin {x0:g}, ymin {y0:g}, xmax {x1:g}, ymax {y1:g}"
        lesions.append(box(f"{xml}: {where}", shown, (x0, y0, x1 - x0, y1 - y0), size))
    return tuple(lesions)


def plan_danilov(source: Path, options: ImportOptions) -> Plan:
    """Read and check the Danilov frames below ``source``."""
    folder = _folder(source)
    files = sorted(f for f in folder.iterdir() if f.is_file())
    images = {f.stem: f for f in files if f.suffix.lower() in IMAGE_SUFFIXES}
    plan = Plan("danilov", source, [], RULE, details={"ungrouped": 0})
    annotated = set()
    for xml in (f for f in files if f.suffix.lower() == ".xml"):
        image = images.get(xml.stem)
        if image is None:
            raise DataError(f"{folder / (xml.stem + '.bmp')}: image file missing (for {xml})")
        annotated.add(xml.stem)
        size = image_size(image, str(xml))
        lesions = _lesions(xml, size)
        label = STENOSIS if lesions else NORMAL
        match = NAME.match(xml.stem)
        if match is None:
            plan.details["ungrouped"] += 1
        group = match["patient"] if match else None
        plan.items.append(Item(image, f"{label}/{xml.stem}.png", label, size, lesions, group))
    for stem, image in images.items():
        if stem not in annotated:
            plan.skipped.append((str(image), f"no annotation file ({stem}.xml)"))
    return plan

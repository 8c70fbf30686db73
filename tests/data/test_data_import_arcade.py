"""``qsdaqec data import arcade``: ARCADE's stenosis task as published on Zenodo (record
10390295): stenosis/{train,val,test}/images/<n>.png and .../annotations/<part>.json, COCO files
exported by CVAT (25 SYNTAX segment categories, then "stenosis" with id 26)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import handled_error
from import_helpers import files, refused_cleanly, run_import, write_image
from PIL import Image

from qsdaqec.data import load_dataset
from qsdaqec.data.lesions import check_ids, read_lesions

SEGMENTS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "9a", "10", "10a", "11", "12", "12a",
            "13", "14", "14a", "15", "16", "16a", "16b", "16c", "12b", "14b"]  # fmt: skip
CATEGORIES = [{"id": i, "name": n, "supercategory": ""} for i, n in enumerate(SEGMENTS, 1)]
CATEGORIES.append({"id": 26, "name": "stenosis", "supercategory": ""})

# part -> {file: [bbox, ...]}; an image without boxes is annotated and has no stenosis
PARTS = {
    "train": {"1.png": [[10, 20, 8, 6], [40, 30, 12, 10]], "2.png": [[5, 5, 10, 9]], "3.png": []},
    "val": {"1.png": [[30, 30, 6, 6]], "2.png": []},
    "test": {"1.png": [[0, 50, 9, 14]], "2.png": []},
}


def _annotation(aid: int, image_id: int, bbox: list) -> dict:
    x, y, w, h = bbox
    return {
        "id": aid, "image_id": image_id, "category_id": 26,
        "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
        "area": float(w * h), "bbox": bbox, "iscrowd": 0, "attributes": {"occluded": False},
    }  # fmt: skip


def _coco(part: str) -> dict:
    images, annotations = [], []
    for iid, (name, boxes) in enumerate(PARTS[part].items(), start=1):
        images.append({"id": iid, "width": 64, "height": 64, "file_name": name, "license": 0,
                       "flickr_url": "", "coco_url": "", "date_captured": 0})  # fmt: skip
        for b in boxes:
            annotations.append(_annotation(len(annotations) + 1, iid, b))
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "",
                 "version": "", "year": ""},
        "categories": CATEGORIES, "images": images, "annotations": annotations,
    }  # fmt: skip


def make_arcade(root: Path, edit: Callable[[dict[str, dict]], None] | None = None) -> Path:
    """The unzipped download: root/stenosis/<part>/{images,annotations} (and syntax/ beside)."""
    docs = {part: _coco(part) for part in PARTS}
    if edit is not None:
        edit(docs)
    for part, doc in docs.items():
        for name in PARTS[part]:
            write_image(
                root / "stenosis" / part / "images" / name, mode="RGB" if part == "train" else "L"
            )
        ann = root / "stenosis" / part / "annotations" / f"{part}.json"
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(json.dumps(doc))
    write_image(root / "stenosis" / "train" / "images" / "4.png")  # not in train.json
    (root / "syntax" / "train" / "images").mkdir(parents=True)
    return root


def test_import_arcade_keeps_the_split_classes_and_boxes(tmp_path):
    src, out = make_arcade(tmp_path / "arcade"), tmp_path / "data" / "arcade"
    r = run_import("arcade", str(src), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert r.output.strip() == (
        f"imported 7 arcade images (normal 3, stenosis 4; train 3, val 2, test 2), no groups, "
        f"skipped 1; wrote {out} (lesions.json, import.json)"
    )
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs == ["test/normal/2.png", "test/stenosis/1.png", "train/normal/3.png",
                    "train/stenosis/1.png", "train/stenosis/2.png", "val/normal/2.png",
                    "val/stenosis/1.png"]  # fmt: skip
    for p in out.rglob("*.png"):
        with Image.open(p) as im:
            assert (im.mode, im.size) == ("L", (64, 64))
    table = read_lesions(out / "lesions.json")
    first = table.get("train/stenosis/1.png")
    assert (first.width, first.height, first.group) == (64, 64, None)
    assert [(le.x, le.y, le.w, le.h) for le in first.lesions] == [(14, 23, 8, 6), (46, 35, 12, 10)]
    assert table.get("test/stenosis/1.png").lesions[0].y == 57  # nothing scaled
    assert table.get("val/normal/2.png").lesions == ()
    record = json.loads((out / "import.json").read_text())
    assert record["source"] == str(src) and record["format"] == "arcade"
    assert record["counts"] == {"normal": 3, "stenosis": 4} and record["groups"] == 0
    assert record["parts"]["train"] == {"stenosis": 2, "normal": 1}
    assert record["skipped"] == [
        {"path": "stenosis/train/images/4.png", "reason": "not listed in train.json"}
    ]
    data = load_dataset(out)
    assert data.split is not None and data.split.sizes() == {"train": 3, "val": 2, "test": 2}
    assert data.classes == ["normal", "stenosis"]
    check_ids(table, data.ids)  # every lesions.json key is an image the loader reads


def test_import_never_overwrites(tmp_path):
    src, out = make_arcade(tmp_path / "arcade"), tmp_path / "out"
    assert run_import("arcade", str(src), "--out", str(out)).exit_code == 0
    before = files(out)
    r = run_import("arcade", str(src), "--out", str(out))
    handled_error(r, f"{out}: folder exists and is not empty; choose another --out")
    assert files(out) == before
    (tmp_path / "empty").mkdir()  # an empty folder may be filled
    assert run_import("arcade", str(src), "--out", str(tmp_path / "empty")).exit_code == 0
    (tmp_path / "file").write_text("x")
    handled_error(run_import("arcade", str(src), "--out", str(tmp_path / "file")), "is a file")


def _bbox(value):
    return lambda docs: docs["train"]["annotations"][1].__setitem__("bbox", value)


def _set(part, key, index, field, value):
    return lambda docs: docs[part][key][index].__setitem__(field, value)


@pytest.mark.parametrize(
    "edit,fragments",
    [
        (_bbox([3, 4, -2, 5]), ["train.json: annotation 2: bbox [3, 4, -2, 5] has a negative"]),
        (_bbox([60, 10, 10, 10]), ["annotation 2: bbox [60, 10, 10, 10] lies outside the 64x64"]),
        (_bbox([1, 2, 3]), ["annotation 2: bbox must be [x, y, w, h]"]),
        (_set("val", "annotations", 0, "image_id", 99), ['val.json: annotation 1: image_id 99 is not in "images"']),
        (_set("test", "annotations", 0, "category_id", 42), ["annotation 1: category_id 42", "unknown label"]),
        (_set("val", "annotations", 0, "image_id", [1]), ['annotation 1: image_id [1] is not in "images"']),
        (_set("train", "images", 0, "width", 512), ["train.json: image 1: declared 512x64"]),
        (lambda d: d["val"].__setitem__("categories", CATEGORIES[:25]), ["no category named 'stenosis'"]),
        (lambda d: d["test"].pop("images"), ['test.json: not a COCO annotation file']),
    ],
)  # fmt: skip
def test_malformed_arcade_is_one_line_and_leaves_nothing(tmp_path, edit, fragments):
    src, out = make_arcade(tmp_path / "arcade", edit), tmp_path / "out"
    refused_cleanly(run_import("arcade", str(src), "--out", str(out)), out, *fragments)


def test_broken_json_and_missing_image_are_one_line(tmp_path):
    src, out = make_arcade(tmp_path / "arcade"), tmp_path / "out"
    ann = src / "stenosis" / "val" / "annotations" / "val.json"
    ann.write_text(ann.read_text()[:-20])
    refused_cleanly(
        run_import("arcade", str(src), "--out", str(out)), out, f"{ann}: not valid JSON"
    )
    src = make_arcade(tmp_path / "arcade2")
    (src / "stenosis" / "test" / "images" / "2.png").unlink()
    refused_cleanly(
        run_import("arcade", str(src), "--out", str(out)),
        out,
        "test/images/2.png: image file missing (listed by",
        "test.json: image 2",
    )
    refused_cleanly(
        run_import("arcade", str(tmp_path / "nowhere"), "--out", str(out)), out, "no such folder"
    )
    refused_cleanly(
        run_import("arcade", str(src), "--out", str(out), "--min-severity", "p70_90"),
        out,
        "--min-severity applies to cadica only",
    )

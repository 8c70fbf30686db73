"""lesions.json: read, checked, rescaled; every bad entry is one line naming file and entry."""

import json

import pytest

from qsdaqec.data.lesions import (
    ImageLesions,
    Lesion,
    LesionTable,
    check_ids,
    find_lesions,
    read_lesions,
    rekey,
    write_lesions,
)
from qsdaqec.errors import DataError


def _doc(images):
    return {"format": "qsdaqec-lesions", "version": 1, "images": images}


def _write(tmp_path, doc) -> str:
    p = tmp_path / "lesions.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def test_round_trip_and_scaling(tmp_path):
    table = LesionTable(
        {
            "stenosis/a.png": ImageLesions(
                200, 100, (Lesion(50, 20, 10, 8, "stenosis", "70-90%"),), group="p1"
            ),
            "normal/b.png": ImageLesions(200, 100),
        }
    )
    path = write_lesions(tmp_path / "lesions.json", table)
    back = read_lesions(path)
    assert back.images == table.images
    assert back.groups(["stenosis/a.png", "normal/b.png", "x.png"]) == ["p1", None, None]
    (le,) = back.images["stenosis/a.png"].scaled(100)
    assert (le.x, le.y, le.w, le.h) == (25, 20, 5, 8) and le.reach == 4
    assert find_lesions(tmp_path).images == table.images
    assert find_lesions(tmp_path / "nowhere") is None
    moved = rekey(back, {"stenosis/a.png": "train/stenosis/a.png"})
    assert list(moved.images) == ["train/stenosis/a.png"]


@pytest.mark.parametrize(
    "doc, match",
    [
        ("{oops", r"lesions.json: not valid JSON"),
        ({"format": "coco"}, r"not a lesions file"),
        ({"format": "qsdaqec-lesions", "version": 9, "images": {}}, r"version 9"),
        (_doc([]), r'"images" must be an object'),
        (_doc({"s/a.png": {"width": 64, "lesions": []}}), r"image 's/a.png': 'height'"),
        (
            _doc({"s/a.png": {"width": 64, "height": 64, "lesions": [{"x": 70, "y": 3, "w": 4, "h": 4}]}}),
            r"image 's/a.png', lesion 0: centre \(70, 3\) lies outside the 64x64 image",
        ),
        (
            _doc({"s/a.png": {"width": 64, "height": 64, "lesions": [{"x": 7, "y": 3, "w": 0, "h": 4}]}}),
            r"lesion 0: 'w' must be > 0",
        ),
        (
            _doc({"s/a.png": {"width": 64, "height": 64, "lesions": [{"x": "7", "y": 3, "w": 1, "h": 4}]}}),
            r"lesion 0: 'x' must be a number",
        ),
        (_doc({"s/a.png": {"width": 64, "height": 64, "group": 3}}), r"group must be text"),
    ],
)  # fmt: skip
def test_bad_files_are_one_error_naming_file_and_entry(tmp_path, doc, match):
    with pytest.raises(DataError, match=match) as e:
        read_lesions(_write(tmp_path, doc))
    assert "\n" not in str(e.value) and str(tmp_path) in str(e.value)


def test_unknown_images_are_refused(tmp_path):
    table = read_lesions(
        _write(
            tmp_path,
            _doc(
                {
                    "stenosis/typo.png": {"width": 8, "height": 8},
                    "normal/a.png": {"width": 8, "height": 8},
                }
            ),
        )
    )
    with pytest.raises(DataError, match=r"image 'stenosis/typo.png' not in the data set"):
        check_ids(table, ["normal/a.png", "stenosis/b.png"])
    check_ids(table, ["normal/a.png", "stenosis/typo.png", "stenosis/b.png"])

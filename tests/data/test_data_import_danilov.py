"""``qsdaqec data import danilov``: Danilov et al. 2021 as published on Mendeley Data
(ydrm75xywg): "Stenosis detection/dataset/" holds <a>_<patient>_<video>_<frame>.bmp frames,
each with a Pascal VOC .xml of "Stenosis" boxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import handled_error
from import_helpers import files, refused_cleanly, run_import, write_image

from qsdaqec.data import load_dataset
from qsdaqec.data.lesions import read_lesions

# frame -> (image size, mode, boxes as (xmin, ymin, xmax, ymax)); None: no .xml beside it
FRAMES = {
    "14_002_5_0016": ((64, 64), "L", [(10, 12, 30, 28)]),
    "14_002_5_0017": ((64, 64), "RGB", [(11, 12, 31, 29), (40, 2, 50, 9)]),
    "14_007_3_0040": ((80, 80), "L", [(60, 60, 80, 80)]),  # touches the corner
    "14_007_3_0041": ((80, 80), "L", []),
    "14_009_1_0002": ((64, 64), "L", []),
    "14_009_1_0003": ((64, 64), "L", None),
}


def voc(name: str, size: tuple[int, int], boxes, label: str = "Stenosis") -> str:
    objects = "".join(
        f"""
	<object>
		<name>{label}</name>
		<pose>Unspecified</pose>
		<truncated>0</truncated>
		<difficult>0</difficult>
		<bndbox>
			<xmin>{x0}</xmin>
			<ymin>{y0}</ymin>
			<xmax>{x1}</xmax>
			<ymax>{y1}</ymax>
		</bndbox>
	</object>"""
        for x0, y0, x1, y1 in boxes
    )
    return f"""<annotation>
	<folder>dataset</folder>
	<filename>{name}.bmp</filename>
	<source>
		<database>Unknown</database>
	</source>
	<size>
		<width>{size[0]}</width>
		<height>{size[1]}</height>
		<depth>1</depth>
	</size>
	<segmented>0</segmented>{objects}
</annotation>
"""


def make_danilov(root: Path, frames: dict | None = None, label: str = "Stenosis") -> Path:
    folder = root / "Stenosis detection" / "dataset"
    for name, (size, mode, boxes) in (frames or FRAMES).items():
        write_image(folder / f"{name}.bmp", size, mode)
        if boxes is not None:
            (folder / f"{name}.xml").write_text(voc(name, size, boxes, label))
    return root


def test_import_danilov_groups_frames_by_patient(tmp_path):
    src, out = make_danilov(tmp_path / "download"), tmp_path / "danilov"
    r = run_import("danilov", str(src), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "imported 5 danilov images (normal 2, stenosis 3), 3 groups, skipped 1" in r.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "normal/14_007_3_0041.png", "normal/14_009_1_0002.png", "stenosis/14_002_5_0016.png",
        "stenosis/14_002_5_0017.png", "stenosis/14_007_3_0040.png",
    ]  # fmt: skip
    table = read_lesions(out / "lesions.json")
    first = table.get("stenosis/14_002_5_0016.png")
    assert (first.width, first.group) == (64, "002")
    assert [(le.x, le.y, le.w, le.h) for le in first.lesions] == [(20, 20, 20, 16)]
    assert len(table.get("stenosis/14_002_5_0017.png").lesions) == 2
    corner = table.get("stenosis/14_007_3_0040.png")
    assert (corner.width, corner.lesions[0].x, corner.lesions[0].w) == (80, 70, 20)
    record = json.loads((out / "import.json").read_text())
    assert record["groups"] == 3 and record["ungrouped"] == 0
    assert record["skipped"] == [
        {"path": "Stenosis detection/dataset/14_009_1_0003.bmp",
         "reason": "no annotation file (14_009_1_0003.xml)"}
    ]  # fmt: skip
    data = load_dataset(out, 32)  # frames of two sizes: resized, as fit does
    assert data.counts().tolist() == [2, 3]
    assert table.groups(data.ids) == ["007", "009", "002", "002", "007"]
    before = files(out)
    handled_error(run_import("danilov", str(src), "--out", str(out)), "is not empty")
    assert files(out) == before


def test_a_single_class_is_imported_with_a_note(tmp_path):
    frames = {"14_003_1_0001": ((64, 64), "L", [(3, 4, 9, 9)])}
    src, out = make_danilov(tmp_path / "download", frames), tmp_path / "out"
    r = run_import("danilov", str(src), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "(stenosis 1), 1 group;" in r.output and "only one class" in r.output


@pytest.mark.parametrize(
    "frames,label,fragments",
    [
        ({"14_001_1_0001": ((64, 64), "L", [(30, 10, 10, 20)])}, "Stenosis",
         ["14_001_1_0001.xml: object 1: <bndbox> xmin 30, ymin 10, xmax 10, ymax 20 has a negative"]),
        ({"14_001_1_0001": ((64, 64), "L", [(30, 10, 90, 20)])}, "Stenosis",
         ["object 1: <bndbox> xmin 30, ymin 10, xmax 90, ymax 20 lies outside the 64x64 image"]),
        ({"14_001_1_0001": ((64, 64), "L", [(3, 4, 9, 9)])}, "Plaque",
         ["14_001_1_0001.xml: object 1: unknown label 'Plaque'"]),
        ({"14_001_1_0001": ((64, 64), "L", [("ten", 4, 9, 9)])}, "Stenosis",
         ["object 1: <xmin> must be a number, got 'ten'"]),
    ],
)  # fmt: skip
def test_malformed_danilov_is_one_line_and_leaves_nothing(tmp_path, frames, label, fragments):
    src, out = make_danilov(tmp_path / "download", frames, label), tmp_path / "out"
    refused_cleanly(run_import("danilov", str(src), "--out", str(out)), out, *fragments)


def test_broken_xml_and_missing_image_are_one_line(tmp_path):
    src, out = make_danilov(tmp_path / "download"), tmp_path / "out"
    xml = src / "Stenosis detection" / "dataset" / "14_002_5_0017.xml"
    xml.write_text(xml.read_text()[:-30])
    refused_cleanly(
        run_import("danilov", str(src), "--out", str(out)), out, f"{xml}: not valid XML"
    )
    src = make_danilov(tmp_path / "again")
    bmp = src / "Stenosis detection" / "dataset" / "14_007_3_0041.bmp"
    bmp.unlink()
    refused_cleanly(
        run_import("danilov", str(src), "--out", str(out)), out, f"{bmp}: image file missing"
    )
    refused_cleanly(
        run_import("danilov", str(tmp_path), "--out", str(out)), out, "no Pascal VOC .xml files"
    )

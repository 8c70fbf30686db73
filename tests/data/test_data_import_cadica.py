"""``qsdaqec data import cadica``: CADICA as published on Mendeley Data (p9bpx9ctcv):
CADICA/selectedVideos/p<N>/{lesionVideos.txt, nonlesionVideos.txt, v<M>/}, each video with
p<N>_v<M>_selectedFrames.txt, input/<frame>.png and, for lesion videos, groundtruth/<frame>.txt
("X Y W H label" lines, labels p0_20 ... p100)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import handled_error
from import_helpers import files, refused_cleanly, run_import, write_image

from qsdaqec.data import grouped_split, load_dataset
from qsdaqec.data.lesions import read_lesions

# patient -> video -> (lesion video?, {frame number: ground-truth text, or None: no file})
VIDEOS = {
    "p1": {
        "v1": (True, {"00010": "22 30 12 9 p70_90\n", "00011": "5 5 10 10 p20_50\n",
                      "00012": "5 5 10 10 p20_50\n40 40 8 8 p90_98\n"}),
        "v2": (False, {"00005": None, "00006": None}),
    },
    "p2": {
        "v1": (True, {"00003": "0 0 16 12 p50_70", "00004": None}),
        "v3": (False, {"00001": None}),
        "v4": (None, {"00001": None}),  # in neither list
    },
    "p10": {"v2": (True, {"00007": "30 2 6 30 p100\n"})},
}  # fmt: skip


def make_cadica(root: Path, videos: dict | None = None) -> Path:
    top = root / "CADICA"
    (top / "nonselectedVideos").mkdir(parents=True)
    (top / "readme.txt").write_text("CADICA: a new dataset for coronary artery disease\n")
    for patient, vids in (videos or VIDEOS).items():
        pdir = top / "selectedVideos" / patient
        pdir.mkdir(parents=True)
        for listing, kind in (("lesionVideos.txt", True), ("nonlesionVideos.txt", False)):
            (pdir / listing).write_text(
                "".join(f"{v}\n" for v, (k, _) in vids.items() if k is kind)
            )
        for video, (_, frames) in vids.items():
            vdir = pdir / video
            names = [f"{patient}_{video}_{n}" for n in frames]
            (vdir / f"{patient}_{video}_selectedFrames.txt").parent.mkdir(parents=True)
            (vdir / f"{patient}_{video}_selectedFrames.txt").write_text("\n".join(names) + "\n")
            write_image(vdir / "input" / f"{patient}_{video}_99999.png")  # not a selected frame
            for name, truth in zip(names, frames.values(), strict=True):
                write_image(vdir / "input" / f"{name}.png")
                if truth is not None:
                    (vdir / "groundtruth").mkdir(exist_ok=True)
                    (vdir / "groundtruth" / f"{name}.txt").write_text(truth)
    return root


def test_import_cadica_classes_by_severity_and_groups_by_patient(tmp_path):
    src, out = make_cadica(tmp_path / "download"), tmp_path / "cadica"
    r = run_import("cadica", str(src), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "imported 7 cadica images (normal 3, stenosis 4), 3 groups, skipped 3" in r.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "normal/p1_v2_00005.png", "normal/p1_v2_00006.png", "normal/p2_v3_00001.png",
        "stenosis/p10_v2_00007.png", "stenosis/p1_v1_00010.png", "stenosis/p1_v1_00012.png",
        "stenosis/p2_v1_00003.png",
    ]  # fmt: skip
    table = read_lesions(out / "lesions.json")
    first = table.get("stenosis/p1_v1_00010.png")
    assert (first.width, first.height, first.group) == (64, 64, "p1")
    assert [(le.x, le.y, le.w, le.h, le.severity) for le in first.lesions] == [
        (28, 34.5, 12, 9, "p70_90")
    ]
    mixed = table.get("stenosis/p1_v1_00012.png").lesions  # the p20_50 box is left out
    assert [(le.x, le.y, le.severity) for le in mixed] == [(44, 44, "p90_98")]
    assert table.get("normal/p2_v3_00001.png").group == "p2"
    record = json.loads((out / "import.json").read_text())
    assert record["min_severity"] == "p50_70" and record["groups"] == 3
    assert {s["path"]: s["reason"] for s in record["skipped"]} == {
        "CADICA/selectedVideos/p1/v1/input/p1_v1_00011.png":
            "lesions milder than the threshold (worst p20_50)",
        "CADICA/selectedVideos/p2/v1/input/p2_v1_00004.png":
            "lesion video frame with no ground truth file (groundtruth/p2_v1_00004.txt)",
        "CADICA/selectedVideos/p2/v4": "video in neither lesionVideos.txt nor nonlesionVideos.txt",
    }  # fmt: skip
    data = load_dataset(out)
    groups = table.groups(data.ids)
    assert sorted(set(groups)) == ["p1", "p10", "p2"]
    split = grouped_split(data.labels, groups, 0.3, 0.0, seed=0)
    val = {groups[i] for i in split.val}
    assert val and not val & {groups[i] for i in split.train}
    before = files(out)
    handled_error(run_import("cadica", str(src), "--out", str(out)), "is not empty")
    assert files(out) == before


def test_min_severity_moves_the_threshold(tmp_path):
    src, out = make_cadica(tmp_path / "download"), tmp_path / "cadica"
    r = run_import("cadica", str(src / "CADICA"), "--out", str(out), "--min-severity", "p70_90")
    assert r.exit_code == 0, r.output
    assert "(normal 3, stenosis 3), 3 groups, skipped 4" in r.output
    assert not (out / "stenosis" / "p2_v1_00003.png").exists()
    assert json.loads((out / "import.json").read_text())["min_severity"] == "p70_90"


def _truth(text: str) -> dict:
    return {"p1": {"v1": (True, {"00001": text}), "v2": (False, {"00001": None})}}


@pytest.mark.parametrize(
    "videos,fragments",
    [
        (_truth("22 30 12 p70_90\n"), ['p1_v1_00001.txt: line 1: expected "X Y W H label"']),
        (_truth("1 2 3 4 p70_90\n22 30 12 9 p50_60\n"), ["line 2: unknown label 'p50_60'"]),
        (_truth("60 60 10 10 p70_90"), ["line 1: box 60 60 10 10 lies outside the 64x64 image"]),
        (_truth("6 6 0 10 p70_90"), ["line 1: box 6 6 0 10 has a negative or zero size"]),
        (_truth("6 6 x 10 p70_90"), ["line 1: a box coordinate must be a number, got 'x'"]),
    ],
)
def test_malformed_cadica_is_one_line_and_leaves_nothing(tmp_path, videos, fragments):
    src, out = make_cadica(tmp_path / "download", videos), tmp_path / "out"
    refused_cleanly(run_import("cadica", str(src), "--out", str(out)), out, *fragments)


def test_missing_files_and_contradicting_lists_are_one_line(tmp_path):
    out = tmp_path / "out"
    src = make_cadica(tmp_path / "a")
    frame = src / "CADICA" / "selectedVideos" / "p1" / "v2" / "input" / "p1_v2_00006.png"
    frame.unlink()
    refused_cleanly(
        run_import("cadica", str(src), "--out", str(out)), out, f"{frame}: image file missing"
    )
    src = make_cadica(tmp_path / "b")
    pdir = src / "CADICA" / "selectedVideos" / "p2"
    (pdir / "lesionVideos.txt").write_text("v1\nv9\n")
    refused_cleanly(
        run_import("cadica", str(src), "--out", str(out)), out, f"{pdir / 'v9'}: no such folder"
    )
    (pdir / "lesionVideos.txt").write_text("v1\nv3\n")
    refused_cleanly(
        run_import("cadica", str(src), "--out", str(out)), out, "video v3 is listed as lesion and"
    )
    refused_cleanly(
        run_import("cadica", str(tmp_path), "--out", str(out)), out, "no selectedVideos/"
    )

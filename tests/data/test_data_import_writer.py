"""The importers' shared writer: pixel conversion to 8-bit grayscale, and a failure while
writing (a frame whose header reads but whose pixels do not) leaving nothing behind."""

from __future__ import annotations

import numpy as np
from import_helpers import refused_cleanly, run_import
from PIL import Image
from test_data_import_danilov import make_danilov

from qsdaqec.data.importers.writer import gray8


def test_gray8_keeps_the_range_of_every_mode():
    sixteen = Image.fromarray(np.array([[0, 257, 65535]], dtype=np.uint16))
    assert np.asarray(gray8(sixteen)).tolist() == [[0, 1, 255]]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    assert np.asarray(gray8(unit)).tolist() == [[0, 128, 255]]
    wide = Image.fromarray(np.array([[-1.0, 0.0, 1.0]], dtype=np.float32), mode="F")
    assert np.asarray(gray8(wide)).tolist() == [[0, 128, 255]]
    rgb = Image.new("RGB", (2, 1), (255, 0, 0))
    assert gray8(rgb).mode == "L" and np.asarray(gray8(rgb)).tolist() == [[76, 76]]


def test_a_frame_that_fails_to_decode_leaves_nothing(tmp_path):
    src, out = make_danilov(tmp_path / "download"), tmp_path / "out"
    bmp = src / "Stenosis detection" / "dataset" / "14_007_3_0041.bmp"
    bmp.write_bytes(bmp.read_bytes()[:200])  # the header is intact, the pixels are not
    line = refused_cleanly(
        run_import("danilov", str(src), "--out", str(out)), out, f"{bmp}: not a readable image"
    )
    assert "listed by" not in line  # failed while writing, after every check had passed

"""DICOM angiograms: LUTs, MONOCHROME1, frames, extensionless files, and every bad file as one
clear error; patient identifiers never in what comes back."""

from __future__ import annotations

import numpy as np
import pytest
from dicom_helpers import PATIENT, angiogram_frames, dicom_folder, write_dicom

from qsdaqec.data import expand_image_paths, load_dataset, load_image
from qsdaqec.data.dicom import DicomError, dicom_info, is_dicom, read_dicom
from qsdaqec.errors import DataError


def test_window_from_the_header_is_applied(tmp_path):
    stored = np.arange(0, 4096, 16, dtype=np.uint16).reshape(16, 16)
    path = write_dicom(tmp_path / "a.dcm", stored, window=(2048, 1024))
    img = read_dicom(path)
    expected = np.clip((stored.astype(float) - (2048 - 512)) / 1024, 0, 1)
    np.testing.assert_allclose(img, expected, atol=1e-6)
    info = dicom_info(path)
    assert (info.modality, info.frames, info.bits_stored, info.photometric) == (
        "XA",
        1,
        16,
        "MONOCHROME2",
    )
    assert not any(v in repr(info) for v in PATIENT.values())


def test_monochrome1_is_inverted(tmp_path):
    stored = np.linspace(0, 255, 64, dtype=np.uint8).reshape(8, 8)
    m2 = read_dicom(write_dicom(tmp_path / "m2.dcm", stored))
    m1 = read_dicom(write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    np.testing.assert_allclose(m1, 1 - m2, atol=1e-6)
    assert m2.min() == 0 and m2.max() == 1 and m2.dtype == np.float32


def test_frames_of_a_cine_loop(tmp_path):
    frames = angiogram_frames(n=5, peak=3)
    path = write_dicom(tmp_path / "cine.dcm", frames)
    assert dicom_info(path).frames == 5
    peak = read_dicom(path, 3)
    np.testing.assert_array_equal(read_dicom(path, "max-contrast"), peak)  # the darkest vessel
    np.testing.assert_array_equal(read_dicom(path), peak)  # the default
    assert not np.array_equal(read_dicom(path, "middle"), peak)
    np.testing.assert_array_equal(read_dicom(path, "middle"), read_dicom(path, 2))
    with pytest.raises(
        DicomError, match=r"frame 9 out of range: the file has 5 frame\(s\) \(0..4\)"
    ):
        read_dicom(path, 9)


def test_extensionless_files_are_found_by_their_preamble(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    write_dicom(folder / "IM000001", angiogram_frames(n=1, peak=0)[0])
    (folder / "README").write_text("not an image")
    assert is_dicom(folder / "IM000001") and not is_dicom(folder / "README")
    assert expand_image_paths([folder]) == [folder / "IM000001"]
    x = load_image(folder / "IM000001", 16)
    assert x.shape == (1, 16, 16) and 0 <= float(x.min()) <= float(x.max()) <= 1


def test_an_image_folder_of_dicom_files(tmp_path):
    root = dicom_folder(tmp_path / "data")
    ds = load_dataset(root, 16)
    assert ds.classes == ["normal", "stenosis"] and len(ds) == 6
    assert ds.ids[0] == "normal/normal0.dcm"  # keyed by path, nothing from the header
    assert not any(v in "".join(ds.ids) for v in PATIENT.values())


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no pixels", "DICOM file without pixel data"),
        ("compressed", "no decoder for it is installed; install qsdaqec[dicom]"),
        ("not dicom", "not a readable DICOM file"),
    ],
)
def test_bad_dicom_files_are_one_clear_error(tmp_path, kind, message):
    path = tmp_path / "bad.dcm"
    if kind == "not dicom":
        path.write_bytes(b"\x00" * 64)
    else:
        write_dicom(
            path,
            angiogram_frames(n=1)[0],
            pixels=kind != "no pixels",
            compressed=kind == "compressed",
        )
    with pytest.raises(DataError) as e:
        load_image(path, 16)
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    assert not any(v in text for v in PATIENT.values())


def test_data_info_shows_dicom_and_frame_choices_are_checked(tmp_path):
    from cli_helpers import handled_error
    from click.testing import CliRunner

    from qsdaqec.cli import cli

    root = dicom_folder(tmp_path / "data")
    r = CliRunner().invoke(cli, ["data", "info", str(root), "--image-size", "16", "--frames", "1"])
    assert r.exit_code == 0, r.output
    assert "DICOM: 6 file(s); modality XA; frames 3-3 per file" in r.output
    r = CliRunner().invoke(cli, ["data", "info", str(root), "--image-size", "16", "--frames", "7"])
    handled_error(r, "normal0.dcm: frame 7 out of range: the file has 3 frame(s)")
    r = CliRunner().invoke(cli, ["data", "info", str(root), "--frames", "first"])
    handled_error(r, "frames 'first': use middle, max-contrast or a frame index")
    r = CliRunner().invoke(cli, ["fit", "--frames", "last", "--out", str(tmp_path / "r")])
    handled_error(r, "frames 'last'")

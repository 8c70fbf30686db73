"""Training and prediction on DICOM angiograms: no patient identifier in any output."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from dicom_helpers import PATIENT, angiogram_frames, dicom_folder, write_dicom
from train_helpers import tiny_cfg

from qsdaqec.cli import cli
from qsdaqec.train import fit


def test_fit_and_predict_on_dicom_write_no_identifiers(tmp_path):
    data = dicom_folder(tmp_path / "pacs_export", per_class=6)
    (data / "stenosis" / "IM000099").write_bytes((data / "stenosis" / "stenosis0.dcm").read_bytes())
    run = fit(tiny_cfg(data, tmp_path / "run", head="classical", epochs=1), log=lambda m: None)
    out = tmp_path / "pred.csv"
    r = CliRunner().invoke(cli, ["predict", "--run", str(run), str(data), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "stenosis/IM000099" in out.read_text()  # extensionless, keyed by path
    texts = [r.output] + [
        p.read_bytes().decode("latin-1")
        for p in [out, *sorted(run.run_dir.rglob("*"))]
        if p.is_file()
    ]
    for value in PATIENT.values():
        assert not any(value in t for t in texts), value


def test_predict_every_frame_of_a_loop_and_fit_refuses_all(tmp_path, tiny_data):
    import json

    from cli_helpers import handled_error

    run = fit(tiny_cfg(tiny_data, tmp_path / "run", head="classical", epochs=1), log=lambda m: None)
    loops = tmp_path / "loops" / "stenosis"
    loops.mkdir(parents=True)
    write_dicom(loops / "a.dcm", angiogram_frames(n=3, peak=1))
    explain = tmp_path / "explain"
    args = ["predict", "--run", str(run), str(loops), "--frames", "all", "--explain", str(explain)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["image"] for row in rows] == [f"{loops / 'a.dcm'}#{k}" for k in range(3)]
    assert all(row["label"] == "stenosis" for row in rows)
    assert [row["frame"] for row in rows] == [0, 1, 2]  # each row names its frame
    names = sorted(p.name for p in explain.glob("*.png"))
    assert names == [f"000{k}_a_frame{k}.png" for k in range(3)]
    assert "frame 2" in (explain / "index.html").read_text()
    default = CliRunner().invoke(cli, ["predict", "--run", str(run), str(loops)])
    assert json.loads(default.stdout)[0]["frame"] == 1  # max-contrast: the loop's peak
    one = json.loads(
        CliRunner()
        .invoke(cli, ["predict", "--run", str(run), str(loops / "a.dcm"), "--frames", "1"])
        .stdout
    )
    # frame 1 alone = the second row. Alone it is scored in a batch of one, in the loop in a
    # batch of three: the float sums differ in their last bits, which the 6-decimal rounding
    # of the output can turn into one unit (1e-6); frames differ by more (here 3e-6 and more)
    assert one[0]["p_stenosis"] == pytest.approx(rows[1]["p_stenosis"], rel=0, abs=2e-6)
    assert one[0]["frame"] == 1
    r = CliRunner().invoke(cli, ["fit", "--frames", "all", "--out", str(tmp_path / "r2")])
    handled_error(r, "frames 'all' is for predict only")

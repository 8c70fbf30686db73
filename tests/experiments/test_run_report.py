"""``qsdaqec report --run R``: one self-contained page whose every image decodes."""

from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

from cli_helpers import handled_error
from click.testing import CliRunner
from PIL import Image

from qsdaqec.cli import cli
from qsdaqec.experiments.noise.runlinks import register
from qsdaqec.train import fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_helpers import make_folder, tiny_cfg  # noqa: E402


def test_report_of_a_run_is_one_self_contained_page(tmp_path):
    data = make_folder(tmp_path / "data")
    run = fit(tiny_cfg(data, tmp_path / "run", backend="statevector"), log=lambda m: None)
    r = CliRunner().invoke(cli, ["report", "--run", str(run), "--threshold", "youden"])
    assert r.exit_code == 0, r.output
    page = (run / "report.html").read_text(encoding="utf-8")
    for section in ("Test scores", "Confusion matrix at threshold youden", "calibration",
                    "Grad-CAM of the predicted class", "Stages and backend", "Configuration"):  # fmt: skip
        assert section in page, section
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 5  # curves, ROC, confusion, calibration, examples
    for data64 in images:
        with Image.open(io.BytesIO(base64.b64decode(data64))) as im:
            im.load()
            assert im.size[0] > 10 and im.size[1] > 10
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing loaded from elsewhere
    (run / "jobs").mkdir()
    (run / "jobs" / "20260101T000000Z-ibm_fez-000000abcdef.json").write_text('{"sche')
    r = CliRunner().invoke(cli, ["report", "--run", str(run)])
    assert r.exit_code == 0, r.output
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "job record 20260101T000000Z-ibm_fez-000000abcdef</a> (?, DAMAGED (not valid" in page
    # noise reports of the run are linked, wherever their --out put them
    html = tmp_path / "reports" / "noise" / "report.html"
    html.parent.mkdir(parents=True)
    html.write_text("<!DOCTYPE html>")
    register(run, html, "2026-12-05T10:00:00+00:00")
    register(run, tmp_path / "gone" / "report.html", "2026-12-05T11:00:00+00:00")
    register(run, html, "2026-12-05T12:00:00+00:00")  # the same report again: one entry
    r = CliRunner().invoke(cli, ["report", "--run", str(run)])
    page = (run / "report.html").read_text(encoding="utf-8")
    assert page.count("noise report ") == 1  # the deleted one is not linked
    assert (
        "<a href='../reports/noise/report.html'>noise report ../reports/noise/report.html</a> "
        "(made 2026-12-05T12:00:00+00:00)"
    ) in page


def test_report_of_an_unfinished_run_is_one_line(tmp_path):
    (tmp_path / "r").mkdir()
    handled_error(
        CliRunner().invoke(cli, ["report", "--run", str(tmp_path / "r")]), "not a finished run"
    )

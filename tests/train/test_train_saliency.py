"""predict --explain: Grad-CAM through the whole model, quantum head included."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from cli_helpers import handled_error
from click.testing import CliRunner
from torch import nn
from train_helpers import tiny_cfg

from qsdaqec.cli import cli
from qsdaqec.train import fit
from qsdaqec.train.saliency import cam_layer, grad_cam, peak_of


class _TwoChannels(nn.Module):
    """Input channel 0 has a spot at (x 9, y 5), channel 1 a brighter one at (x 2, y 12); the
    class-1 logit sums conv channel 0 only: Grad-CAM must point at (9, 5), not the brighter spot."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2)[:, :, None, None])

    def forward(self, x):
        a = self.conv(x)[:, 0].sum((1, 2))
        return torch.stack([-a, a], 1)


def test_grad_cam_follows_what_the_logit_depends_on():
    x = torch.zeros(2, 2, 16, 16)
    x[:, 0, 5, 9] = 1.0
    x[:, 1, 12, 2] = 3.0
    cam, logits = grad_cam(_TwoChannels(), x, torch.tensor([1, 1]))
    assert cam.shape == (2, 16, 16) and float(cam.max()) == pytest.approx(1.0)
    assert peak_of(cam[0]) == (9, 5) and peak_of(cam[1]) == (9, 5)
    assert float(cam[0, 12, 2]) < 0.05


def test_predict_explain_writes_overlays_and_an_index(tmp_path, tiny_data):
    run = fit(tiny_cfg(tiny_data, tmp_path / "run", backend="statevector"), log=lambda m: None)
    out = tmp_path / "explain"
    images = tiny_data / "stenosis"
    args = ["predict", "--run", str(run), str(images), "--explain", str(out), "--format", "csv"]
    r = CliRunner().invoke(cli, [*args, "--include-train"])  # the tiny set: mostly training
    assert r.exit_code == 0, r.output
    pngs = sorted(out.glob("*.png"))
    n = len(list(images.glob("*.png")))
    assert len(pngs) == n and all(p.stat().st_size > 100 for p in pngs)
    index = (out / "index.html").read_text()
    assert index.count("<img ") == n and "Grad-CAM" in index
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    for row in rows:  # each caption: the predicted class with its probability, the label
        p = float(row[f"p_{row['predicted']}"])
        assert f"{row['predicted']} (p {p:.2f})" in index
    wrong = [row for row in rows if row["label"] != row["predicted"]]
    assert index.count('<figure class="wrong">') == len(wrong)
    assert index.count("wrong: label stenosis") == len(wrong)
    assert ("Red frame: one of" in index) == bool(wrong)


def test_explain_needs_a_convolutional_layer():
    from qsdaqec.errors import ConfigError

    with pytest.raises(ConfigError, match="no convolutional layer"):
        cam_layer(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_explain_on_a_missing_run_is_one_line(tmp_path):
    r = CliRunner().invoke(
        cli, ["predict", "--run", str(tmp_path / "none"), str(tmp_path), "--explain", str(tmp_path)]
    )
    handled_error(r, "run directory not found")

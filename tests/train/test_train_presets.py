"""Presets: named starting points of fit; options given explicitly win."""

import json

from cli_helpers import handled_error
from click.testing import CliRunner
from test_train_cli import TINY

from qsdaqec.cli import cli
from qsdaqec.train import PRESETS, FitConfig, preset_config


def test_default_preset_is_fitconfigs_defaults():
    cfg = preset_config()
    assert cfg.extra == {"preset": "default"}
    cfg.extra = {}
    assert cfg == FitConfig()


def test_paper_preset_and_explicit_options_win():
    cfg = preset_config("paper", image_size=96, extra={"note": "x"})
    assert cfg.image_size == 96  # given explicitly
    assert (cfg.input, cfg.optimizer, cfg.schedule) == ("gray", "adam", "cosine")
    assert not cfg.noise_match and not cfg.rot90 and cfg.ema == 0
    assert cfg.extra == {"note": "x", "preset": "paper"}
    assert preset_config("paper").image_size == 224
    for name, p in PRESETS.items():  # every preset is a valid config
        assert set(p.values) <= set(FitConfig().to_dict()), name
        preset_config(name).validate()


def test_cli_preset(tiny_data, tmp_path):
    out = tmp_path / "paper"
    args = ["fit", "--data", str(tiny_data), "--head", "classical", "--out", str(out)]
    r = CliRunner().invoke(cli, [*args, "--preset", "paper", "--rho-target", "0.9", *TINY])
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["extra"]["preset"] == "paper" and cfg["image_size"] == 32
    assert cfg["input"] == "gray" and cfg["noise_match"] is False
    assert cfg["rho_target"] == 0.9  # given explicitly
    r = CliRunner().invoke(cli, [*args, "--preset", "fastest", *TINY])
    handled_error(r, "unknown preset 'fastest'; choose one of default, paper")
    help_text = " ".join(CliRunner().invoke(cli, ["fit", "--help"]).output.split())
    assert "paper: the paper's stated settings" in help_text

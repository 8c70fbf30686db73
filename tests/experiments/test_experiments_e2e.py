"""One tiny real spec end to end: real fits (quantum and dense head), both test sets, tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from exp_helpers import TINY, make_folder, write_spec

from qsdaqec.cli import cli
from qsdaqec.experiments.store import BALANCED_EVAL


def test_tiny_spec_end_to_end(tmp_path):
    """`qsdaqec run` driving the real fit (4 tiny fits + 4 balanced evaluations, ~20 s)."""
    data = make_folder(tmp_path / "data")
    spec = write_spec(tmp_path, TINY.format(data=data), "tiny.toml")
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["run", str(spec), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "fits: 4 ran" in r.output
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert len(rows) == 8  # 2 variants x 2 seeds x 2 test sets
    for row in rows:  # the table reports what each fit measured
        fit_dir = Path(row["run_dir"])
        if row["test_set"] == "original":
            test = json.loads((fit_dir / "metrics.json").read_text())["test"]
        else:
            test = json.loads((fit_dir / BALANCED_EVAL / "metrics.json").read_text())["test"]
        assert float(row["accuracy"]) == pytest.approx(test["accuracy"], abs=1e-5)
        info = json.loads((fit_dir / "run.json").read_text())
        assert json.loads((fit_dir / "config.json").read_text())["seed"] == int(row["seed"])
        assert info["status"] == "finished" and float(row["fit_seconds"]) > 0
    bal = [row for row in rows if row["test_set"] == "balanced"]
    assert all(row["n_test"] == "4" for row in bal)  # 5 test images (3 normal, 2 stenosis) -> 2 + 2
    summary = list(csv.DictReader((out / "results.csv").open()))
    assert [(s["variant"], s["test_set"], s["n_seeds"]) for s in summary] == [
        ("quantum", "original", "2"),
        ("quantum", "balanced", "2"),
        ("dense", "original", "2"),
        ("dense", "balanced", "2"),
    ]
    assert (out / "results.png").is_file() and "| quantum | balanced | 2 |" in (
        out / "results.md"
    ).read_text()
    # a second run redoes nothing: the fits' files are untouched
    stamps = {p: p.stat().st_mtime_ns for p in out.parent.glob("fits/*/model.pt")}
    r = CliRunner().invoke(cli, ["run", str(spec), "--out", str(out), "--quiet"])
    assert r.exit_code == 0 and "0 ran, 0 resumed, 4 already finished" in r.output
    assert stamps and stamps == {p: p.stat().st_mtime_ns for p in stamps}

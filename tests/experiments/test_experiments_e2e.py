"""One tiny real spec end to end: real fits (quantum and dense head), both test sets, tables."""

from __future__ import annotations

import csv
import time

import pytest
from click.testing import CliRunner
from exp_helpers import make_folder, write_spec

from qsdaqec.cli import cli

TINY = """
[experiment]
description = "tiny end-to-end"
seeds = [0, 1]
test_sets = ["original", "balanced"]
metrics = ["accuracy", "auc", "sensitivity", "fit_seconds"]

[base]
data = "{data}"
image_size = 32
epochs = 1
batch_size = 8
val_frac = 0.25
test_frac = 0.25
weights = "none"
num_threads = 1

[[variants]]
name = "quantum"
head = "quantum"

[[variants]]
name = "dense"
head = "classical"
"""


# 17-36 s on 2 busy CPU cores (4 real fits + 4 balanced evaluations): beyond the 15 s budget of
# the default test run.
@pytest.mark.integration
def test_tiny_spec_end_to_end(tmp_path):
    data = make_folder(tmp_path / "data")
    spec = write_spec(tmp_path, TINY.format(data=data), "tiny.toml")
    out = tmp_path / "res"
    t0 = time.perf_counter()
    r = CliRunner().invoke(cli, ["run", str(spec), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "fits: 4 ran" in r.output
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert len(rows) == 8  # 2 variants x 2 seeds x 2 test sets
    for row in rows:
        assert 0.0 <= float(row["accuracy"]) <= 1.0
        assert float(row["fit_seconds"]) > 0
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
    first = time.perf_counter() - t0
    # a second run redoes nothing
    t0 = time.perf_counter()
    r = CliRunner().invoke(cli, ["run", str(spec), "--out", str(out), "--quiet"])
    assert r.exit_code == 0 and "0 ran, 0 resumed, 4 already finished" in r.output
    assert time.perf_counter() - t0 < first

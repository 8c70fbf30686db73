"""Noise-report points as executor tasks: each pickled, run by a worker's wrapper and stored by
itself; the report equals the one computed in this process; a failed point is named with its
log, the others are kept, and the next call computes only it."""

from __future__ import annotations

import pytest
from executor_helpers import InlineRemote, use_inline
from report_helpers import CountingFactory, read_json

from qsdaqec.errors import RunError
from qsdaqec.experiments.executors import ExecutorConfig
from qsdaqec.experiments.noise import NoiseReportConfig, build_noise_report
from qsdaqec.experiments.noise import report as report_mod


def _cfg(run, out):
    return NoiseReportConfig(
        runs=(str(run),),
        out=str(out),
        backends=("aer_noisy:fake_guadalupe",),
        noise_scales=(0.0, 1.0),
        shots=(256,),
        mitigation=("none",),
        progress=False,
    )


def _points(path):
    return {
        p["key"]: (p.get("metrics"), p.get("ev_mae"))
        for p in read_json(path)["points"]
        if p["kind"] == "simulation"
    }


def test_points_as_tasks_match_and_a_failed_one_is_computed_next_time(
    amp_run, tmp_path, monkeypatch
):
    local = build_noise_report(_cfg(amp_run, tmp_path / "a"), estimator_factory=CountingFactory())
    ex = InlineRemote()
    use_inline(monkeypatch, report_mod, ex)
    remote_cfg = ExecutorConfig(kind="ray")
    keys = sorted(_points(local.json))
    ex.crash = {keys[0]}
    lines: list[str] = []
    with pytest.raises(RunError) as e:
        build_noise_report(
            _cfg(amp_run, tmp_path / "b"),
            estimator_factory=CountingFactory(),
            executor=remote_cfg,
            log=lines.append,
        )
    assert f"1 of {len(keys)} point(s) failed (first: {keys[0]}" in str(e.value)
    assert any(f"FAILED (point {keys[0]})" in ln and ".log" in ln for ln in lines)
    points = tmp_path / "b" / "points"
    assert not (points / f"{keys[0]}.json").exists()
    assert all((points / f"{k}.json").is_file() for k in keys[1:])  # the others are kept
    assert "task on" in (points / "logs" / f"{keys[1]}.log").read_text()
    ex.crash.clear()
    ex.submitted.clear()
    res = build_noise_report(
        _cfg(amp_run, tmp_path / "b"), estimator_factory=CountingFactory(), executor=remote_cfg
    )
    assert ex.submitted == [keys[0]] and res.computed == 1
    assert _points(res.json) == _points(local.json)

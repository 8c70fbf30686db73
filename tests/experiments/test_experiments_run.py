"""Running specs with a fake fit: resumability, tables (mean ± std), CLI (--dry-run and errors)."""

from __future__ import annotations

import csv
import json
import math
import threading
import time

import pytest
from cli_helpers import handled_error
from click.testing import CliRunner
from exp_helpers import SPEC, FakeFit, LockHolder, write_spec

import qsdaqec.train
from qsdaqec.cli import cli
from qsdaqec.errors import ConfigError
from qsdaqec.experiments import execute_experiment, fit_state, load_spec, mean_std, plan_fits


@pytest.fixture
def fake_fit(monkeypatch):
    f = FakeFit()
    monkeypatch.setattr(qsdaqec.train, "fit", f)
    return f


def test_mean_std_sample_std_and_nan():
    m, s, n = mean_std([0.5, 0.6, 0.7])
    assert m == pytest.approx(0.6) and s == pytest.approx(0.1) and n == 3  # ddof = 1
    m, s, n = mean_std([0.5, math.nan, 0.7])
    assert m == pytest.approx(0.6) and s == pytest.approx(math.sqrt(0.02)) and n == 2
    m, s, n = mean_std([0.8])
    assert m == 0.8 and math.isnan(s) and n == 1
    assert mean_std([])[2] == 0


def test_runs_every_fit_and_tabulates_mean_std(tmp_path, fake_fit):
    spec = load_spec(write_spec(tmp_path))
    res = execute_experiment(spec, out=tmp_path / "res")
    assert len(fake_fit.calls) == 4
    assert {(c.head, c.seed) for c in fake_fit.calls} == {
        (h, s) for h in ("quantum", "classical") for s in (0, 1)
    }
    assert all(
        c.out.startswith(str(tmp_path / "fits")) for c in fake_fit.calls
    )  # default: <out>/../fits
    assert (
        fake_fit.calls[0].extra["experiment"] == "exp"
        and fake_fit.calls[0].extra["variant"] == "quantum"
    )
    assert res.counts == {"ran": 4}
    rows = list(csv.DictReader((tmp_path / "res" / "results.csv").open()))
    assert [r["variant"] for r in rows] == ["quantum", "dense"]
    # quantum: acc 0.5, 0.6 -> mean 0.55, std 0.0707; dense: 0.55, 0.65; auc 0.9, 0.8
    assert float(rows[0]["accuracy_mean"]) == pytest.approx(0.55)
    assert float(rows[0]["accuracy_std"]) == pytest.approx(math.sqrt(0.005), rel=1e-5)
    assert float(rows[1]["accuracy_mean"]) == pytest.approx(0.60)
    assert float(rows[1]["auc_mean"]) == pytest.approx(0.85)
    md = (tmp_path / "res" / "results.md").read_text()
    assert "| quantum | 2 | 55.0 ± 7.1 | 85.0 ± 7.1 |" in md
    assert "| dense | 2 | 60.0 ± 7.1 | 85.0 ± 7.1 |" in md
    per_fit = list(csv.DictReader((tmp_path / "res" / "runs.csv").open()))
    assert (
        len(per_fit) == 4
        and per_fit[0]["seed"] == "0"
        and float(per_fit[1]["accuracy"]) == pytest.approx(0.6)
    )
    assert (tmp_path / "res" / "results.png").stat().st_size > 1000
    assert (tmp_path / "res" / "spec.toml").read_text() == SPEC
    data = json.loads((tmp_path / "res" / "results.json").read_text())
    assert len(data["fits"]) == 4 and data["seeds"] == [0, 1]


def test_finished_fits_are_not_redone(tmp_path, fake_fit):
    spec = load_spec(write_spec(tmp_path))
    execute_experiment(spec, out=tmp_path / "res")
    assert len(fake_fit.calls) == 4
    res = execute_experiment(spec, out=tmp_path / "res")
    assert len(fake_fit.calls) == 4  # nothing ran again
    assert res.counts == {"skipped": 4}
    # one more seed: only the two new fits run
    res = execute_experiment(spec.with_seeds([0, 1, 2]), out=tmp_path / "res")
    assert len(fake_fit.calls) == 6 and res.counts == {"skipped": 4, "ran": 2}
    assert "| quantum | 3 |" in (tmp_path / "res" / "results.md").read_text()


def test_identical_fits_are_shared_across_specs(tmp_path, fake_fit):
    a = load_spec(write_spec(tmp_path, SPEC, "a.toml"))
    b = load_spec(
        write_spec(tmp_path, SPEC.replace('name = "dense"', 'name = "dense head"'), "b.toml")
    )
    execute_experiment(a, out=tmp_path / "a")
    res = execute_experiment(b, out=tmp_path / "b")
    assert len(fake_fit.calls) == 4 and res.counts == {"skipped": 4}
    # the cost of a shared fit is still reported (recorded in the fit folder when it ran)
    assert all(o.wall_seconds is not None for o in res.outcomes)
    assert "measured wall time of the fits" in (tmp_path / "b" / "results.md").read_text()


def test_interrupted_fit_is_resumed(tmp_path, monkeypatch):
    fake = FakeFit(interrupt_on={("classical", 1)})
    monkeypatch.setattr(qsdaqec.train, "fit", fake)
    spec = load_spec(write_spec(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        execute_experiment(spec, out=tmp_path / "res")
    assert len(fake.calls) == 4
    states = [o.status for o in plan_fits(spec, tmp_path / "fits")]
    assert states == ["finished", "finished", "finished", "interrupted"]
    # partial results were written before the interruption
    assert "| dense | 1 |" in (tmp_path / "res" / "results.md").read_text()
    res = execute_experiment(spec, out=tmp_path / "res")
    assert len(fake.calls) == 5
    assert fake.calls[-1].resume is True and (fake.calls[-1].head, fake.calls[-1].seed) == (
        "classical",
        1,
    )
    assert res.counts == {"skipped": 3, "resumed": 1}


def test_fit_locked_by_a_live_process_is_left_out_stale_lock_taken_over(tmp_path, fake_fit):
    spec = load_spec(write_spec(tmp_path)).only(["quantum"])
    dirs = [o.run_dir for o in plan_fits(spec, tmp_path / "fits")]
    live = dirs[0].parent / f".{dirs[0].name}.lock"
    stale = dirs[1].parent / f".{dirs[1].name}.lock"
    with LockHolder(stale) as gone:
        gone.kill()  # its holder crashed: the file is there, the lock is not
    assert stale.exists()
    with LockHolder(live):  # a live process holds seed 0
        res = execute_experiment(spec, out=tmp_path / "res")
        assert res.counts == {"busy": 1, "ran": 1}
        assert [c.seed for c in fake_fit.calls] == [1]
        assert (
            "Not in the table (fit not finished): quantum seed 0"
            in (tmp_path / "res" / "results.md").read_text()
        )
    assert execute_experiment(spec, out=tmp_path / "res").counts == {"ran": 1, "skipped": 1}


def test_report_only_runs_nothing(tmp_path, fake_fit):
    spec = load_spec(write_spec(tmp_path))
    execute_experiment(spec.only(["quantum"]), out=tmp_path / "res")
    res = execute_experiment(spec, out=tmp_path / "res", report_only=True)
    assert len(fake_fit.calls) == 2 and res.counts == {"skipped": 2, "missing": 2}
    md = (tmp_path / "res" / "results.md").read_text()
    assert (
        "| dense | 0 | – | – |" in md
        and "Not in the table (fit not finished): dense seed 0, dense seed 1" in md
    )


def test_chart_marks_a_variant_without_fits_instead_of_drawing_zero(
    tmp_path, fake_fit, monkeypatch
):
    import matplotlib.axes

    texts = []
    original = matplotlib.axes.Axes.text
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "text",
        lambda ax, x, y, s, *a, **k: texts.append((x, s)) or original(ax, x, y, s, *a, **k),
    )
    spec = load_spec(write_spec(tmp_path))
    execute_experiment(spec.only(["quantum"]), out=tmp_path / "res")
    texts.clear()
    execute_experiment(spec, out=tmp_path / "res", report_only=True)
    assert texts and set(texts) == {(1, "no finished fit")}  # dense, the second group


def test_stale_fit_is_moved_aside_and_redone(tmp_path, fake_fit):
    spec = load_spec(write_spec(tmp_path)).only(["quantum"]).with_seeds([0])
    execute_experiment(spec, out=tmp_path / "res")
    run_dir = plan_fits(spec, tmp_path / "fits")[0].run_dir
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["lr"] = 0.5  # as if FitConfig's default lr had changed since this fit ran
    (run_dir / "config.json").write_text(json.dumps(cfg))
    assert plan_fits(spec, tmp_path / "fits")[0].status == "stale"
    r = CliRunner().invoke(
        cli,
        [
            "run",
            str(spec.path),
            "--out",
            str(tmp_path / "res"),
            "--dry-run",
            "--only",
            "quantum",
            "--seeds",
            "0",
        ],
    )
    assert "redo" in r.output and "redo 1 (stale" in r.output
    res = execute_experiment(spec, out=tmp_path / "res")
    assert res.counts == {"ran": 1} and len(fake_fit.calls) == 2
    assert (run_dir.parent / f"{run_dir.name}.stale-1" / "config.json").is_file()
    assert plan_fits(spec, tmp_path / "fits")[0].status == "finished"


def test_fit_saved_before_a_field_existed_is_stale_when_it_did_otherwise(tmp_path, fake_fit):
    spec = load_spec(write_spec(tmp_path)).only(["quantum"]).with_seeds([0])
    execute_experiment(spec, out=tmp_path / "res")
    run_dir = plan_fits(spec, tmp_path / "fits")[0].run_dir
    cfg = json.loads((run_dir / "config.json").read_text())
    del cfg["test_views"]  # saved before test-time views: it scored one view, today's uses 8
    (run_dir / "config.json").write_text(json.dumps(cfg))
    assert plan_fits(spec, tmp_path / "fits")[0].status == "stale"
    lines: list[str] = []
    execute_experiment(spec, out=tmp_path / "res", echo=lines.append)
    assert any("(test_views)" in ln and "fitting again" in ln for ln in lines)
    cfg["test_views"] = 8  # the same fit saved with the field: finished, nothing to redo
    (run_dir / "config.json").write_text(json.dumps(cfg))
    assert plan_fits(spec, tmp_path / "fits")[0].status == "finished"


def test_fit_state(tmp_path):
    d = tmp_path / "f"
    assert fit_state(d) == "absent"
    d.mkdir()
    assert fit_state(d) == "absent"
    (d / "config.json").write_text("{}")
    assert fit_state(d) == "interrupted"
    (d / "run.json").write_text('{"status": "finished"}')
    assert fit_state(d) == "interrupted"  # no model.pt yet
    (d / "model.pt").write_bytes(b"")
    assert fit_state(d) == "finished"
    (d / "run.json").write_text('{"status": "running"}')
    assert fit_state(d) == "interrupted"  # model.pt written, the status not yet


def test_balanced_test_set_uses_evaluate(tmp_path, fake_fit, monkeypatch):
    calls = []

    def fake_evaluate(run_dir, backend, *, balanced_test=False, out=None, log=None, **kw):
        calls.append((str(run_dir), backend, balanced_test))
        out.mkdir(parents=True, exist_ok=True)
        r = {"test": {"accuracy": 0.75, "auc": 0.5, "n": 4}}
        (out / "metrics.json").write_text(json.dumps(r))
        return r

    monkeypatch.setattr(qsdaqec.train, "evaluate", fake_evaluate)
    text = SPEC.replace('test_sets = ["original"]', 'test_sets = ["original", "balanced"]')
    spec = load_spec(write_spec(tmp_path, text)).only(["quantum"])
    execute_experiment(spec, out=tmp_path / "res")
    assert len(calls) == 2 and all(c[1] == "statevector" and c[2] for c in calls)
    md = (tmp_path / "res" / "results.md").read_text()
    assert "| quantum | original | 2 | 55.0 ± 7.1 |" in md
    assert "| quantum | balanced | 2 | 75.0 ± 0.0 | 50.0 ± 0.0 |" in md
    execute_experiment(spec, out=tmp_path / "res")
    assert len(calls) == 2  # the balanced evaluation is stored in the fit and reused


# ------------------------------------------------------------------------------------ CLI


def test_cli_dry_run_runs_nothing(tmp_path, fake_fit):
    p = write_spec(tmp_path)
    r = CliRunner().invoke(cli, ["run", str(p), "--out", str(tmp_path / "res"), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "exp: 2 variant(s) x 2 seed(s) = 4 fit(s)" in r.output
    assert "would run 4, resume 0, skip 0" in r.output
    assert fake_fit.calls == [] and not (tmp_path / "res").exists()
    CliRunner().invoke(
        cli, ["run", str(p), "--out", str(tmp_path / "res"), "--only", "dense", "--quiet"]
    )
    r = CliRunner().invoke(
        cli, ["run", str(p), "--out", str(tmp_path / "res"), "--dry-run", "--seeds", "0-2"]
    )
    assert "= 6 fit(s)" in r.output and "would run 4, resume 0, skip 2" in r.output


def test_cli_run_prints_table(tmp_path, fake_fit):
    p = write_spec(tmp_path)
    r = CliRunner().invoke(
        cli, ["run", str(p), "--out", str(tmp_path / "res"), "--seeds", "3", "--quiet"]
    )
    assert r.exit_code == 0, r.output
    assert "| quantum | 1 | 80.0 | 60.0 |" in r.output  # seed 3: acc 0.8, auc 0.6, n = 1 -> no std
    assert "fits: 2 ran, 0 resumed, 0 already finished, 0 missing" in r.output
    assert [c.seed for c in fake_fit.calls] == [3, 3]


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--seeds", "a,b"], "--seeds 'a,b': use integers"),
        (["--seeds", "0,0"], "--seeds: seed(s) [0] listed twice"),
        (["--only", "nope"], "unknown variant(s) 'nope'"),
        (["--profile", "full"], "profile 'full' not found"),
        (["--dry-run", "--report-only"], "choose one"),
        (["--num-threads", "0"], "--num-threads 0: must be >= 1"),
    ],
)
def test_cli_bad_options_one_line_exit_2(tmp_path, fake_fit, args, fragment):
    p = write_spec(tmp_path)
    r = CliRunner().invoke(cli, ["run", str(p), "--out", str(tmp_path / "res"), *args])
    handled_error(r, fragment)
    assert fake_fit.calls == []


def test_cli_bad_spec_one_line_exit_2(tmp_path, fake_fit):
    p = write_spec(tmp_path, '[base]\nepochs = "3"\n')
    r = CliRunner().invoke(cli, ["run", str(p)])
    assert r.exit_code == 2
    assert r.output.strip() == (
        f"Error: {p}: base.epochs: must be an integer, got str '3'; e.g. epochs = 3"
    )
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "missing.toml")])
    handled_error(r, "missing.toml: no such spec file")


def test_cli_paper_specs_run_from_any_folder(tmp_path, fake_fit, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["run", "--list"])
    assert r.exit_code == 0, r.output
    assert "paper:head_ablation" in r.output and "(6 fits)" in r.output
    r = CliRunner().invoke(cli, ["run", "paper:head_ablation", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "head_ablation: 2 variant(s) x 3 seed(s) = 6 fit(s)" in r.output
    assert fake_fit.calls == []
    handled_error(CliRunner().invoke(cli, ["run"]), "give a SPEC (paper:<name> or a .toml file)")
    r = CliRunner().invoke(cli, ["run", "paper:nope"])
    handled_error(r, "paper:nope: no such paper spec; choose one of paper:ablation_diffusion")


def test_config_error_type():
    with pytest.raises(ConfigError):
        from qsdaqec.experiments import parse_spec

        parse_spec({"base": {"epochs": "x"}})


# ---- issue 29, item 1: two commands on one store ---------------------------------------


class TwoCommands:
    """Two ``qsdaqec run`` of one spec on one store, as threads of this process (a fit lock
    held by this pid counts as held): A fits seed 0 while B starts; B finds seed 0 busy and
    fits seed 1, which it holds until ``b_holds`` says so; A finds seed 1 busy."""

    def __init__(self, spec, out, wait_a=False):
        self.spec, self.out, self.wait_a = spec, out, wait_a
        self.a_fitting, self.b_fitting, self.a_done = (threading.Event() for _ in range(3))
        self.fake = FakeFit()
        self.results = {}

    def fit(self, cfg, log=None, **kw):
        me = threading.current_thread().name
        if me == "A" and cfg.seed == 0:
            self.a_fitting.set()
            assert self.b_fitting.wait(30)
        if me == "B" and cfg.seed == 1:
            self.b_fitting.set()
            self.b_holds()
        return self.fake(cfg, log)

    def b_holds(self):
        if self.wait_a:
            time.sleep(0.3)  # A waits for B
        else:
            assert self.a_done.wait(30)  # B ends last

    def command(self, name, **kw):
        self.results[name] = execute_experiment(self.spec, out=self.out, **kw)
        if name == "A":
            self.a_done.set()

    def run(self):
        waits = {"wait": True, "poll_seconds": 0.05} if self.wait_a else {}
        a = threading.Thread(target=self.command, args=("A",), kwargs=waits, name="A")
        b = threading.Thread(target=self.command, args=("B",), name="B")
        a.start()
        assert self.a_fitting.wait(30)
        b.start()
        a.join(60)
        b.join(60)
        return self.results["A"], self.results["B"]


def test_two_commands_on_one_store_the_last_writes_the_whole_table(tmp_path, monkeypatch):
    spec = load_spec(write_spec(tmp_path)).only(["quantum"])  # seeds 0 and 1
    two = TwoCommands(spec, tmp_path / "res")
    monkeypatch.setattr(qsdaqec.train, "fit", two.fit)
    a, b = two.run()
    assert [c.seed for c in two.fake.calls] == [0, 1]  # each fit ran once
    rows = list(csv.DictReader((tmp_path / "res" / "results.csv").open()))
    assert rows[0]["n_seeds"] == "2"
    assert float(rows[0]["accuracy_mean"]) == pytest.approx(0.55)  # seeds 0 and 1: 0.5, 0.6
    assert len(list(csv.DictReader((tmp_path / "res" / "runs.csv").open()))) == 2
    assert b.counts == {"skipped": 1, "ran": 1}  # B counts seed 0, which A finished
    assert [o.plan.seed for o in a.outcomes if o.status == "busy"] == [1]  # left to B


def test_with_wait_the_first_command_waits_for_the_fits_the_other_holds(tmp_path, monkeypatch):
    spec = load_spec(write_spec(tmp_path)).only(["quantum"])
    two = TwoCommands(spec, tmp_path / "res", wait_a=True)
    monkeypatch.setattr(qsdaqec.train, "fit", two.fit)
    a, _ = two.run()
    assert [c.seed for c in two.fake.calls] == [0, 1]
    assert a.counts == {"ran": 1, "skipped": 1} and not a.busy
    assert all(o.scores for o in a.outcomes)


def test_cli_leaving_fits_to_another_command_exits_2_and_wait_takes_them(
    tmp_path, fake_fit, monkeypatch
):
    from qsdaqec.experiments import execute

    p = write_spec(tmp_path)
    spec = load_spec(p).only(["quantum"])
    run_dir = plan_fits(spec, tmp_path / "fits")[0].run_dir
    lock = run_dir.parent / f".{run_dir.name}.lock"
    other = LockHolder(lock)  # another command is fitting seed 0
    args = ["run", str(p), "--out", str(tmp_path / "res"), "--only", "quantum", "--quiet"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert "| quantum | 1 |" in r.output  # the table of what is finished is still printed
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("Error: 1 fit(s) are being fitted by another command")
    assert run_dir.name in last and last.endswith("run this command again with --wait")
    threading.Timer(0.3, other.kill).start()  # the other command dies without finishing
    monkeypatch.setattr(execute, "WAIT_POLL_SECONDS", 0.05)
    r = CliRunner().invoke(cli, [*args, "--wait"])
    assert r.exit_code == 0, r.output
    assert "| quantum | 2 |" in r.output and [c.seed for c in fake_fit.calls] == [1, 0]

"""Executors of `qsdaqec run`: settings (options, a spec's [executor] table), the task boundary
(a fit task pickled, run by a worker's wrapper, its result in the same tables), failures that
leave the other fits going, the remote loop, cross-host fit locks, and bad input."""

from __future__ import annotations

import csv
import json
import os
import socket
import sys
import time
import types

import pytest
from cli_helpers import handled_error
from click.testing import CliRunner
from executor_helpers import InlineRemote, use_inline
from exp_helpers import SPEC, FakeFit, LockHolder, write_spec

import qsdaqec.train
from qsdaqec.cli import cli
from qsdaqec.errors import ConfigError, RunError
from qsdaqec.experiments import execute, execute_experiment, load_spec, locks
from qsdaqec.experiments.executors import ExecutorConfig, RemoteExecutor, Task
from qsdaqec.experiments.spec import executor_table


class FailingFit(FakeFit):
    """A fake fit that raises for the (head, seed) pairs in ``fail_on``."""

    def __init__(self, fail_on=()):
        super().__init__()
        self.fail_on = set(fail_on)

    def __call__(self, cfg, log=None, **kw):
        if (cfg.head, cfg.seed) in self.fail_on:
            self.calls.append(cfg)
            log("epoch 1/3 ...")
            raise RuntimeError("CUDA out of memory\nTried to allocate 2 GiB")
        return super().__call__(cfg, log=log, **kw)


def _rows(out):
    return [
        {k: r[k] for k in ("variant", "seed", "test_set", "accuracy", "auc")}
        for r in csv.DictReader((out / "runs.csv").open())
    ]


# ----------------------------------------------------------------------------- settings


def test_executor_table_parsed_and_command_line_wins(tmp_path):
    text = SPEC + '\n[executor]\nkind = "slurm"\npartition = "gpu"\nmem_gb = 8\ntime_min = 30\n'
    spec = load_spec(write_spec(tmp_path, text))
    assert spec.executor.kind == "slurm" and spec.executor.partition == "gpu"
    merged = ExecutorConfig(kind="ray", time_min=90).over(spec.executor).validate()
    assert (merged.kind, merged.partition, merged.mem_gb, merged.time_min) == ("ray", "gpu", 8, 90)
    assert merged.cpus_per_task == 1 and merged.slurm_local is False  # the defaults
    assert ExecutorConfig().validate().kind == "local"
    # the table is not part of a fit's identity: the same fit folders with or without it
    plain = load_spec(write_spec(tmp_path, SPEC, "plain.toml"))
    assert [p.dirname for p in spec.fits()] == [p.dirname for p in plain.fits()]


def test_gpus_follow_the_fits_device_unless_given():
    cfg = ExecutorConfig().validate()
    assert (cfg.gpus_for("cuda:1"), cfg.gpus_for("auto"), cfg.gpus_for(None)) == (1, 0, 0)
    assert ExecutorConfig(gpus_per_task=2).validate().gpus_for("cpu") == 2


@pytest.mark.parametrize(
    "table, fragments",
    [
        ({"partiton": "gpu"}, ["executor.partiton: unknown key", "did you mean 'partition'"]),
        ({"kind": "dask"}, ["executor", "'dask'", "local, ray, slurm"]),
        ({"cpus_per_task": "4"}, ["executor.cpus_per_task: must be an integer"]),
        ({"slurm_local": 1}, ["executor.slurm_local: must be true or false"]),
        ({"max_parallel": 0}, ["max_parallel 0: must be >= 1"]),
        ({"mem_gb": -1}, ["mem_gb -1: must be > 0"]),
    ],
)
def test_bad_executor_table(table, fragments):
    with pytest.raises(ConfigError) as e:
        executor_table(table, "spec.toml: executor")
    for f in fragments:
        assert f in str(e.value)


def test_bad_executor_table_is_one_line_at_the_cli(tmp_path):
    spec = write_spec(tmp_path, SPEC + '\n[executor]\nkind = "ray"\nadress = "x:1"\n')
    r = CliRunner().invoke(cli, ["run", str(spec), "--out", str(tmp_path / "res")])
    handled_error(r, "executor.adress: unknown key", "ray_address")
    assert not (tmp_path / "res").exists()


# ----------------------------------------------------------------------------- bad input


def test_missing_optional_packages_name_the_extra(tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    for module, extra in (("ray", "ray"), ("submitit", "slurm")):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
        r = CliRunner().invoke(cli, ["run", str(spec), "--executor", extra])
        handled_error(r, f"install qsdaqec[{extra}]", f"pip install 'qsdaqec[{extra}]'")


def test_slurm_needs_sbatch_unless_local(tmp_path, monkeypatch, fake_fit):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    spec = write_spec(tmp_path)
    r = CliRunner().invoke(cli, ["run", str(spec), "--executor", "slurm"])
    handled_error(r, "sbatch is not on PATH", "--slurm-local")
    assert fake_fit.calls == []


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_ray_address_is_one_line_before_any_fit(tmp_path, monkeypatch, fake_fit):
    fake_ray = types.ModuleType("ray")
    fake_ray.is_initialized = lambda: False
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    spec = write_spec(tmp_path)
    addr = f"127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    r = CliRunner().invoke(cli, ["run", str(spec), "--executor", "ray", "--ray-address", addr])
    handled_error(r, f"--ray-address {addr}: no Ray cluster answers there", "ray start --head")
    assert time.perf_counter() - t0 < 10 and fake_fit.calls == []
    r = CliRunner().invoke(cli, ["run", str(spec), "--executor", "ray", "--ray-address", "nohost"])
    handled_error(r, "give host:port")


@pytest.mark.parametrize(
    "option", ["--cpus-per-task=0", "--max-parallel=0", "--mem-gb=0", "--time-limit=0"]
)
def test_bad_resource_options(tmp_path, option):
    r = CliRunner().invoke(cli, ["run", str(write_spec(tmp_path)), "--executor", "ray", option])
    handled_error(r, option.split("=")[0])


# ----------------------------------------------------------------------------- the boundary


@pytest.fixture
def fake_fit(monkeypatch):
    f = FakeFit()
    monkeypatch.setattr(qsdaqec.train, "fit", f)
    return f


def test_remote_fits_land_in_the_same_store_and_tables(tmp_path, monkeypatch, fake_fit):
    spec = load_spec(write_spec(tmp_path))
    local = execute_experiment(spec, out=tmp_path / "a", fits_dir=tmp_path / "fa")
    remote_ex = InlineRemote()
    use_inline(monkeypatch, execute, remote_ex)
    res = execute_experiment(
        spec, out=tmp_path / "b", fits_dir=tmp_path / "fb", executor=ExecutorConfig(kind="ray")
    )
    assert res.counts == local.counts == {"ran": 4}
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")
    assert len(remote_ex.submitted) == 4
    # a worker's fit: torch threads follow the task's CPUs (locally: torch's own choice), its
    # lines in its own log file
    assert [c.num_threads for c in fake_fit.calls] == [None] * 4 + [1] * 4
    log = (tmp_path / "fb" / "logs" / f"{res.outcomes[0].run_dir.name}.log").read_text()
    assert "task on" in log and "quantum seed 0: fitting ->" in log and "done in" in log
    assert json.loads((tmp_path / "b" / "results.json").read_text())["executor"] == "ray"
    # run again on any executor: nothing refitted
    again = execute_experiment(spec, out=tmp_path / "b", fits_dir=tmp_path / "fb")
    assert again.counts == {"skipped": 4} and len(fake_fit.calls) == 8


def test_failed_task_is_reported_with_key_and_log_and_the_others_go_on(tmp_path, monkeypatch):
    fit = FailingFit(fail_on={("quantum", 1)})
    monkeypatch.setattr(qsdaqec.train, "fit", fit)
    ex = InlineRemote(crash={"placeholder"})
    use_inline(monkeypatch, execute, ex)
    spec = write_spec(tmp_path)
    dense1 = next(p.dirname for p in load_spec(spec).fits() if p.variant == "dense" and p.seed == 1)
    ex.crash = {dense1}  # this one's worker dies; quantum seed 1 raises inside the fit
    out, fits = tmp_path / "res", tmp_path / "fits"
    r = CliRunner().invoke(
        cli, ["run", str(spec), "--out", str(out), "--fits", str(fits), "--executor", "ray"]
    )
    assert r.exit_code == 1, r.output
    assert "2 finished" not in r.output and "2 failed" in r.output
    failed_line = next(ln for ln in r.output.splitlines() if "quantum seed 1: FAILED" in ln)
    assert "RuntimeError: Tried to allocate 2 GiB" in failed_line and ".log" in failed_line
    assert f"FAILED (fit {dense1}): WorkerCrashedError" in r.output
    assert "Traceback" not in r.output
    md = (out / "results.md").read_text()
    assert "Failed in this run" in md and "quantum seed 1: RuntimeError" in md
    q1 = next(f for f in json.loads((out / "results.json").read_text())["fits"] if f["seed"] == 1)
    log = q1["logs"][0]
    assert q1["status"] == "failed" and "Traceback" in open(log).read()
    assert "epoch 1/3" in open(log).read()  # the fit's own lines before it failed
    # the others finished and are tabulated; the next run fits only what failed
    assert sum(1 for x in _rows(out) if x["seed"] == "0") == 2
    fit.fail_on.clear()
    ex.crash.clear()
    res = execute_experiment(load_spec(spec), out=out, fits_dir=fits)
    assert res.counts == {"skipped": 2, "ran": 2}  # neither wrote config.json: fitted anew


class _Handles(RemoteExecutor):
    """A scripted remote executor: each task is done after ``ticks[key]`` polls."""

    poll_seconds = 0.0

    def __init__(self, ticks, max_parallel):
        super().__init__(max_parallel, lambda m: None)
        self.ticks = dict(ticks)
        self.live: set[str] = set()
        self.peak = 0
        self.cancelled: list[str] = []

    def submit(self, task):
        self.live.add(task.key)
        self.peak = max(self.peak, len(self.live))
        return task.key

    def done(self, key):
        self.ticks[key] -= 1
        return self.ticks[key] <= 0

    def collect(self, key):
        self.live.discard(key)
        return (False, "boom") if key == "bad" else (True, key.upper())

    def cancel(self, key):
        self.cancelled.append(key)


def _tasks(keys, tmp_path):
    return [Task(k, k, print, None, tmp_path / f"{k}.log") for k in keys]


def test_remote_loop_keeps_max_parallel_and_yields_in_finishing_order(tmp_path):
    ex = _Handles({"a": 5, "bad": 1, "c": 1, "d": 1}, max_parallel=2)
    outs = list(ex.run(_tasks(["a", "bad", "c", "d"], tmp_path)))
    assert ex.peak == 2
    assert [o.task.key for o in outs] == ["bad", "c", "d", "a"]
    assert [o.ok for o in outs] == [False, True, True, True]
    assert outs[0].error == "boom" and outs[3].value == "A"


def test_interrupting_the_wait_cancels_what_runs(tmp_path):
    ex = _Handles({"a": 1, "b": 10**6, "c": 10**6}, max_parallel=None)
    gen = ex.run(_tasks(["a", "b", "c"], tmp_path))
    assert next(gen).task.key == "a"
    gen.close()  # the consumer stops (Ctrl-C in `qsdaqec run`)
    assert sorted(ex.cancelled) == ["b", "c"]


# ----------------------------------------------------------------------------- locks


def test_lock_of_another_process_counts_until_it_dies(tmp_path):
    run_dir = tmp_path / "fits" / "f"
    lock = locks.lock_path(run_dir)
    with LockHolder(lock) as other:
        assert locks.held(lock)
        with locks.fit_lock(run_dir) as mine:
            assert not mine  # alive: left to it
        other.kill()  # a crash: no clean-up, the file stays
        assert lock.exists() and not locks.held(lock)
        with locks.fit_lock(run_dir) as mine:
            assert mine and locks.held(lock)  # held by us: a probe finds it taken
    assert not locks.held(lock)


def test_local_ray_cluster_without_the_gpus_asked_for_is_one_line(tmp_path, monkeypatch, fake_fit):
    state = {"up": False}
    fake_ray = types.ModuleType("ray")
    fake_ray.is_initialized = lambda: state["up"]
    fake_ray.init = lambda **kw: state.update(up=True)
    fake_ray.shutdown = lambda: state.update(up=False)
    fake_ray.cluster_resources = lambda: {"CPU": 2.0}
    fake_ray.remote = lambda fn: fn
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    spec = write_spec(tmp_path)
    r = CliRunner().invoke(cli, ["run", str(spec), "--executor", "ray", "--gpus-per-task", "1"])
    assert r.exit_code == 2 and "internal error" not in r.output, r.output
    last = r.output.strip().splitlines()[-1]  # after the cluster's one-line description
    assert last.startswith("Error: --executor ray: a task asks for 1 GPU(s), the local Ray")
    assert fake_fit.calls == [] and state["up"] is False  # the cluster started here is stopped


def test_slurm_jobs_ask_for_what_the_options_say(tmp_path, monkeypatch):
    """The cluster path up to sbatch: a stand-in sbatch on PATH takes the job script."""
    pytest.importorskip("submitit")
    from qsdaqec.experiments.executors import SlurmExecutor

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\necho "Submitted batch job 4242"\n')
    sbatch.chmod(0o755)
    (bin_dir / "srun").write_text("#!/bin/sh\n")  # submitit looks for it; never run here
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cfg = ExecutorConfig(kind="slurm", partition="gpu", time_min=90, mem_gb=16).validate()
    ex = SlurmExecutor(cfg, tmp_path / "slurm", echo=lambda m: None)
    job = ex.submit(Task("a fit", "sdaqec-quantum-s0-abc", print, None, tmp_path / "l.log", 4, 1))
    assert job.job_id == "4242"
    script = open((tmp_path / "args").read_text().split()[-1]).read()
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --mem=16GB",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --job-name=qsdaqec-sdaqec-quantum-s0-abc",
    ):
        assert line in script, script
    logs = ex.logs(Task("a", "k", print, None, tmp_path / "l.log"), job)
    assert logs[0] == str(tmp_path / "l.log") and "4242" in logs[1] and "4242" in logs[2]
    sbatch.write_text(
        "#!/bin/sh\necho 'sbatch: error: invalid partition specified: gpu' >&2\nexit 1\n"
    )
    with pytest.raises(RunError) as e:
        ex.submit(Task("a fit", "fit-2", print, None, tmp_path / "l.log"))
    assert "the job of fit-2 was refused" in str(e.value) and "\n" not in str(e.value)


def test_left_over_lock_files_are_free_and_the_store_is_made(tmp_path):
    lock = tmp_path / ".f.lock"
    for text in ("4242", "12345 another-node", "not a pid"):  # left by an older qsdaqec
        lock.write_text(text)
        assert not locks.held(lock)
        with locks.fit_lock(tmp_path / "f") as mine:
            assert mine
    with locks.fit_lock(tmp_path / "new" / "store" / "f") as mine:  # the store is made
        assert mine and (tmp_path / "new" / "store" / ".f.lock").is_file()


def test_a_second_results_writer_waits_for_the_first(tmp_path):
    import threading

    order = []

    def second():
        with locks.results_lock(tmp_path / "res"):
            order.append("second")

    with locks.results_lock(tmp_path / "res"):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join(10)
    assert order == ["first done", "second"]

"""``fit --resume`` (qsdaqec.train.rundir): the saved settings apply unless given again, the log
says which, and a run without a checkpoint starts over and says so (issue 29, items 5-6)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from train_helpers import tiny_cfg

from qsdaqec.cli import cli
from qsdaqec.train import fit

KW = dict(head="classical", epochs=2, patience=0)


class Killed(Exception):
    pass


def _kill_after_epoch_1(stage, epoch, row):
    if (stage, epoch) == (1, 1):
        raise Killed


def _cut(tiny_data, out, **kw):
    """A fit stopped right after stage 1's first epoch (its checkpoint written)."""
    with pytest.raises(Killed):
        fit(
            tiny_cfg(tiny_data, out, **KW, **kw),
            log=lambda m: None,
            on_epoch_end=_kill_after_epoch_1,
        )
    return out


def _read(run, name):
    return json.loads((run / name).read_text())


@pytest.fixture(scope="module")
def full(tiny_data, tmp_path_factory):
    """The same fit, uninterrupted."""
    return fit(
        tiny_cfg(tiny_data, tmp_path_factory.mktemp("full") / "run", **KW), log=lambda m: None
    )


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_resume_without_num_threads_takes_the_saved_one(tiny_data, tmp_path, full, torch_threads):
    cut = _cut(tiny_data, tmp_path / "cut")  # saved with num_threads=1
    torch.set_num_threads(2)  # a new process starts with torch's own count
    r = CliRunner().invoke(cli, ["fit", "--out", str(cut), "--resume", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == 1  # the run's, not this process's
    assert "from the saved run: num_threads=1, device=auto" in r.output
    assert "given again" not in r.output and "not applied" not in r.output
    assert _read(cut, "metrics.json")["test"] == _read(full, "metrics.json")["test"]
    assert _read(cut, "history.json") and [r_["val_loss"] for r_ in _read(cut, "history.json")] == [
        r_["val_loss"] for r_ in _read(full, "history.json")
    ]


def test_settings_given_again_apply_and_training_ones_are_named_not_applied(
    tiny_data, tmp_path, torch_threads
):
    cut = _cut(tiny_data, tmp_path / "cut")
    lines: list[str] = []
    cfg = tiny_cfg(tiny_data, cut, resume=True, num_threads=2, epochs=3, lr=0.5)
    fit(
        cfg,
        log=lines.append,
        on_epoch_end=lambda s, e, row: lines.append(f"threads {torch.get_num_threads()}"),
    )
    said = "\n".join(lines)
    assert (
        "from the saved run: device=auto, data_loading=auto, workers=2; given again: num_threads=2"
        in said
    )
    assert "threads 2" in said
    assert (
        "not applied to a resumed run (it keeps its saved settings): epochs=3 (the run's: 2), lr=0.5"
        in said
    )
    assert _read(cut, "config.json")["epochs"] == 2 and len(_read(cut, "history.json")) == 2


def test_resume_without_a_checkpoint_starts_over_and_says_so(tiny_data, tmp_path, full):
    cut = _cut(tiny_data, tmp_path / "cut")
    (cut / "checkpoint.pt").unlink()
    lines: list[str] = []
    fit(tiny_cfg(tiny_data, cut, resume=True), log=lines.append)
    said = "\n".join(lines)
    assert "no checkpoint.pt to continue from" in said and "(1 finished epoch(s) are lost)" in said
    assert "starting the run over with its saved config" in said
    assert "resuming (config from" not in said  # it does not pretend to continue
    assert _read(cut, "metrics.json")["test"] == _read(full, "metrics.json")["test"]
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(_read(cut, "history.json")) == strip(_read(full, "history.json"))


def test_ctrl_c_names_the_resume_and_a_rerun_reads_an_interrupted(tiny_data, tmp_path):
    from qsdaqec.train import fitting

    out = tmp_path / "cut"

    def ctrl_c(stage, epoch, row):
        raise KeyboardInterrupt

    def fit_then_ctrl_c(cfg, **kw):
        return fitting.fit(cfg, **kw, on_epoch_end=ctrl_c)

    args = ["fit", "--data", str(tiny_data), "--out", str(out), "--head", "classical"]
    args += ["--epochs", "1", "--image-size", "32", "--no-progress"]
    with pytest.MonkeyPatch.context() as mp:  # Ctrl-C after the first epoch
        mp.setattr("qsdaqec.train.fit", fit_then_ctrl_c)
        r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"Error: interrupted; continue with `qsdaqec fit --out {out} --resume` (the epochs "
        "finished so far are checkpointed; files already written are complete)"
    )
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2
    assert f"{out}: an interrupted run is already there; pass --resume" in r.output

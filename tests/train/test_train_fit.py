import json

import pytest
import torch
from train_helpers import tiny_cfg

from qsdaqec.errors import RunError
from qsdaqec.train import evaluate, fit, format_predictions, load_run, predict


def _quiet(_msg):
    pass


def _read(run, name):
    return json.loads((run / name).read_text())


@pytest.fixture(scope="module")
def quantum_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "q"
    return fit(tiny_cfg(tiny_data, out, head="quantum", backend="statevector"), log=_quiet)


def test_quantum_statevector_run_layout(quantum_run):
    run = quantum_run
    for name in (
        "config.json",
        "environment.json",
        "run.json",
        "split.json",
        "history.json",
        "history.csv",
        "metrics.json",
        "model.pt",
        "predictions_test.csv",
        "roc.png",
        "confusion.png",
        "curves.png",
    ):
        assert (run / name).is_file(), name
    assert not (run / "checkpoint.pt").exists()
    # the final model is the best epoch's (weight-averaged) model, not the last live weights
    best = torch.load(run / "stage1_best.pt", weights_only=True)["model"]
    final = torch.load(run / "model.pt", weights_only=True)["model"]
    assert best.keys() == final.keys() and all(torch.equal(final[k], best[k]) for k in best)
    info = _read(run, "run.json")
    assert info["status"] == "finished"
    assert [s["stage"] for s in info["stages"]] == [1]  # exact backend: stage 1 only
    assert info["plan"] == ["stage 1: end-to-end on the exact fast path"]
    assert info["stages"][0]["backend"].startswith("exact")
    assert info["weights"]["used"] == "none"
    assert "class-weighted" in info["loss"]
    aug = info["augmentation"]  # noise matching on by default: the synthetic share of class 1
    assert aug["generated"] > 0
    assert aug["noise_match"] == {
        "majority": 0,
        "probability": round(aug["generated"] / aug["counts_after"]["1"], 6),
    }
    m = _read(run, "metrics.json")
    assert set(m["test"]) >= {
        "accuracy",
        "auc",
        "f1",
        "sensitivity",
        "specificity",
        "confusion_matrix",
    }
    assert m["test"]["n"] == info["data"]["split_sizes"]["test"]
    hist = _read(run, "history.json")
    assert [r["epoch"] for r in hist] == [1, 2] and all("val_auc" in r for r in hist)


def test_load_run_evaluate_predict(quantum_run, tiny_data, tmp_path):
    lr = load_run(quantum_run)
    model, cfg = lr.model, lr.cfg
    assert (
        not model.training
        and cfg.head == "quantum"
        and lr.classes == ["normal", "stenosis"]
        and lr.positive == 1
    )
    f, y, ids = lr.test_features()
    assert f.shape == (len(ids), 256) and y.numel() == len(ids)
    r = evaluate(quantum_run, "statevector")
    fitted = _read(quantum_run, "metrics.json")["test"]
    fitted.pop("loss")
    assert r["test"] == fitted  # same split, same numbers
    b = evaluate(quantum_run, "statevector", balanced_test=True)
    cm = b["test"]["confusion_matrix"]
    assert sum(cm[0]) == sum(cm[1])  # as many negatives as positives
    assert (quantum_run / "eval" / "statevector-balanced" / "metrics.json").is_file()
    rows = predict(quantum_run, [tiny_data / "stenosis" / "000.png", tiny_data / "normal"])
    assert len(rows) == 1 + 12
    assert abs(rows[0]["p_normal"] + rows[0]["p_stenosis"] - 1) < 1e-5
    assert rows[0]["predicted"] in ("normal", "stenosis")
    assert rows[0]["label"] == "stenosis" and {r["label"] for r in rows[1:]} == {"normal"}
    header = format_predictions(rows, "csv").splitlines()[0]
    lesion = "lesion_x,lesion_y,lesion_score,lesions"  # the lesion map's likeliest lesions
    assert header == f"image,label,p_normal,p_stenosis,predicted,{lesion},trained_on"


def test_refuses_to_overwrite_finished_run(quantum_run, tiny_data):
    with pytest.raises(RunError, match="resume=True"):
        fit(tiny_cfg(tiny_data, quantum_run), log=_quiet)
    # --resume on a finished run: nothing to do, the same run back
    again = fit(tiny_cfg(tiny_data, quantum_run, resume=True), log=_quiet)
    assert again.run_dir == quantum_run.run_dir


def test_classical_head_reproducible(tiny_data, tmp_path):
    a = fit(tiny_cfg(tiny_data, tmp_path / "a", head="classical"), log=_quiet)
    b = fit(tiny_cfg(tiny_data, tmp_path / "b", head="classical"), log=_quiet)
    assert _read(a, "metrics.json")["test"] == _read(b, "metrics.json")["test"]
    ha, hb = _read(a, "history.json"), _read(b, "history.json")
    assert [r["val_loss"] for r in ha] == [r["val_loss"] for r in hb]
    assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]
    sa = torch.load(a / "model.pt", weights_only=True)["model"]
    sb = torch.load(b / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


class Killed(Exception):
    pass


def test_resume_after_kill_matches_uninterrupted(tiny_data, tmp_path):
    kw = dict(head="quantum", epochs=3, patience=0)
    full = fit(tiny_cfg(tiny_data, tmp_path / "full", **kw), log=_quiet)

    def kill_after_epoch_1(stage, epoch, row):
        if stage == 1 and epoch == 1:
            raise Killed

    cut = tmp_path / "cut"
    with pytest.raises(Killed):
        fit(tiny_cfg(tiny_data, cut, **kw), log=_quiet, on_epoch_end=kill_after_epoch_1)
    assert (cut / "checkpoint.pt").is_file() and not (cut / "metrics.json").exists()
    with pytest.raises(RunError, match="interrupted"):
        fit(tiny_cfg(tiny_data, cut, **kw), log=_quiet)
    fit(tiny_cfg(tiny_data, cut, resume=True, **kw), log=_quiet)
    hf, hc = _read(full, "history.json"), _read(cut, "history.json")
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(hf) == strip(hc)
    assert _read(full, "metrics.json")["test"] == _read(cut, "metrics.json")["test"]


def test_baseline_resnet18(tiny_data, tmp_path):
    run = fit(tiny_cfg(tiny_data, tmp_path / "r18", model="resnet18", epochs=1), log=_quiet)
    info = _read(run, "run.json")
    assert info["head"]["type"] == "resnet18 linear"
    lr = load_run(run)
    assert lr.test_features()[0].shape[1] == 512


def _two_stage(tiny_data, out, backend, **kw):
    lines, setup = [], []

    def log(msg):
        lines.append(msg)
        if "; setup " in msg:  # run.json holds the data and plan before training starts
            setup.append(_read(out, "run.json")["plan"])

    run = fit(
        tiny_cfg(tiny_data, out, head="quantum", backend=backend, epochs=1, **kw),
        log=log,
    )
    assert len(setup) == 1 and len(setup[0]) == 2
    # what the log names: where it ran (tiny_cfg: 1 thread), and both test scores
    (line,) = [x for x in lines if "; setup " in x]
    assert "cpu, 1 torch thread(s)" in line
    assert 0 <= float(line.rsplit("setup ", 1)[1].rstrip("s")) < 120  # seconds, not a clock
    assert any(x.startswith(f"test ({backend}): acc ") for x in lines)
    assert any(x.startswith("test (exact, same weights): acc ") for x in lines)
    assert not any("not used by a classical model" in x for x in lines)
    assert lines[-1] == f"{run}: finished" and not (run / "checkpoint.pt").exists()
    info = _read(run, "run.json")
    stages = {s["stage"]: s for s in info["stages"]}
    assert info["plan"][1] == f"stage 2: noisy fine-tune of the head on {backend}"
    assert stages[1]["backend"].startswith("exact")
    assert stages[2]["backend"] == backend and stages[2]["status"] == "done"
    assert stages[2]["epochs"] == 1 and stages[2]["seconds"] > 0
    assert "parameter-shift" in stages[2]["gradient"]
    m = _read(run, "metrics.json")
    assert m["test_backend"] == backend and "test_exact" in m
    assert (run / "features.pt").is_file()
    hist = _read(run, "history.json")
    assert [(r["stage"], r["epoch"]) for r in hist] == [(1, 1), (2, 0), (2, 1)]
    # the final model carries stage 2's best head, whichever epoch that was
    best = torch.load(run / "stage2_best.pt", weights_only=True)["head"]
    final = torch.load(run / "model.pt", weights_only=True)["model"]
    for k, v in best.items():
        assert torch.equal(final[f"head.{k}"], v), k
    return run


def test_two_stages_on_aer(tiny_data, tmp_path):
    # noiseless Aer: the same stage-2 code path as aer_noisy (runner estimator, parameter shift)
    run = _two_stage(tiny_data, tmp_path / "aer", "aer")
    lr = load_run(run)
    assert lr.test_features()[0].shape[1] == 256  # from features.pt


@pytest.mark.slow
def test_two_stages_on_aer_noisy(tiny_data, tmp_path):
    # a handful of samples: 3 for training (17 circuits each), 5 val, 5 test
    run = _two_stage(tiny_data, tmp_path / "noisy", "aer_noisy", noisy_subset=3)
    r = evaluate(run, "aer_noisy", balanced_test=True)
    assert r["backend"] == "aer_noisy"


def test_evaluate_on_hardware_is_refused_with_the_jobs_command(quantum_run):
    from cli_helpers import handled_error
    from click.testing import CliRunner

    from qsdaqec.cli import cli

    r = CliRunner().invoke(cli, ["evaluate", "--run", str(quantum_run), "--backend", "ibm:ibm_fez"])
    handled_error(r, "hardware inference runs as jobs; use `qsdaqec jobs submit --run DIR")


def test_classical_head_on_a_noisy_backend_trains_stage_1_only_and_says_so(tiny_data, tmp_path):
    lines = []
    cfg = tiny_cfg(tiny_data, tmp_path / "c", head="classical", backend="aer", epochs=1)
    run = fit(cfg, log=lines.append)
    assert "backend aer is not used by a classical model; training stage 1 only" in lines
    info = _read(run, "run.json")
    assert [s["stage"] for s in info["stages"]] == [1]
    assert info["plan"] == ["stage 1: end-to-end"]

"""Devices: the --device forms, errors on a machine without the device, what run.json records,
the bf16 autocast path (exercised on the CPU), and GPU memory errors (mocked)."""

import json

import pytest
import torch
from click.testing import CliRunner
from train_helpers import tiny_cfg

from qsdaqec.cli import cli
from qsdaqec.errors import ConfigError, RunError
from qsdaqec.train import fit, fitting
from qsdaqec.train.accel import Accel, accelerator, resolve_device
from qsdaqec.train.config import check_device


def test_device_forms():
    for ok in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        check_device(ok)
    for bad in ("gpu", "cuda:x", "tpu", ""):
        with pytest.raises(ConfigError, match="auto \\| cpu \\| cuda\\[:N\\] \\| mps"):
            check_device(bad)
    assert resolve_device("cpu") == torch.device("cpu")
    assert accelerator("cpu").info() == {"device": "cpu", "gpu": None, "amp": "off"}


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_cuda_without_cuda_is_one_clear_error(tmp_path):
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA is not available.*device=cpu"):
        resolve_device("cuda:0")
    for args, expected in (
        (["fit", "--device", "cuda", "--out", str(tmp_path / "r")], "--device cuda: CUDA is not"),
        (["evaluate", "--run", str(tmp_path), "--device", "cuda:1"], "use --device cpu or auto"),
        (["predict", "--run", str(tmp_path), "x.png", "--device", "cuda"], "CUDA is not available"),
        (["run", str(tmp_path / "x.toml"), "--device", "gpu"], "device 'gpu': unknown; use auto"),
    ):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and "internal error" not in r.output, r.output
        assert expected in lines[0], r.output


def test_run_json_records_the_device(tiny_data, tmp_path):
    run = fit(tiny_cfg(tiny_data, tmp_path / "r", head="classical", device="cpu"), log=print)
    info = json.loads((run / "run.json").read_text())
    assert (info["device"], info["gpu"], info["amp"]) == ("cpu", None, "off")


def test_autocast_path_trains_with_the_quantum_head_in_float32(tiny_data, tmp_path, monkeypatch):
    """The CUDA code path (autocast around the backbone) exercised with CPU bf16 autocast: the
    head runs outside autocast, in float32, and the fit finishes with finite metrics."""
    monkeypatch.setattr(
        fitting, "accelerator", lambda spec: Accel(torch.device("cpu"), torch.bfloat16)
    )
    seen = []
    from qsdaqec.quantum.qnn import QuantumHead

    real = QuantumHead.forward

    def spy(self, features):
        seen.append((features.dtype, torch.is_autocast_enabled("cpu")))
        return real(self, features)

    monkeypatch.setattr(QuantumHead, "forward", spy)
    run = fit(tiny_cfg(tiny_data, tmp_path / "r", head="quantum", epochs=1), log=print)
    m = json.loads((run / "metrics.json").read_text())
    assert m["test"]["loss"] == m["test"]["loss"]  # not NaN
    assert seen and all(dtype == torch.float32 and not on for dtype, on in seen)
    assert json.loads((run / "run.json").read_text())["amp"] == "bf16"


def test_gpu_out_of_memory_names_the_batch_size(tmp_path, monkeypatch):
    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(fitting, "stage1", oom)

    class Ctx:
        cfg = tiny_cfg(tmp_path, tmp_path / "r", batch_size=64)
        run = tmp_path / "r"

    with pytest.raises(RunError, match="out of GPU memory at batch_size=64.*--resume"):
        fitting._stage1(Ctx(), None, None, None, 1, None, Accel(torch.device("cuda")))
    with pytest.raises(torch.OutOfMemoryError):  # on the CPU it is not ours to explain
        fitting._stage1(Ctx(), None, None, None, 1, None, Accel(torch.device("cpu")))

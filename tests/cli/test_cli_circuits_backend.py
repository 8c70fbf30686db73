import re

from click.testing import CliRunner

from qsdaqec.cli import cli


def _counts(text: str) -> list[tuple[int, int, int]]:
    return [
        tuple(int(x) for x in m.groups())
        for m in re.finditer(r"width (\d+) qubits, depth (\d+), 2-qubit gates (\d+)", text)
    ]


def test_show_with_backend_prints_isa_counts_on_active_qubits(tmp_path, monkeypatch):
    monkeypatch.setenv("QSDAQEC_CACHE", str(tmp_path))
    args = ["circuits", "show", "--encoding", "angle", "--no-draw", "--backend", "fake_fez"]
    result = CliRunner().invoke(cli, [*args, "--optimization-level", "1"])
    assert result.exit_code == 0, result.output
    assert "after transpilation for fake:fake_fez (optimization level 1)" in result.output
    logical, isa = _counts(result.output)
    assert logical[0] == 4 and isa[0] == 4  # idle device qubits are not counted
    assert isa[2] >= logical[2]  # CNOT ring on heavy-hex: at least as many 2-qubit gates


def test_show_with_unknown_backend_fails_before_printing(tmp_path, monkeypatch):
    monkeypatch.setenv("QSDAQEC_CACHE", str(tmp_path))
    result = CliRunner().invoke(cli, ["circuits", "show", "--backend", "nope", "--no-draw"])
    assert result.exit_code == 2
    assert "unknown" in result.output and "fake_fez" in result.output
    assert "width" not in result.output


def test_a_device_too_small_for_the_encoding_says_what_fits():
    args = ["circuits", "show", "--encoding", "amplitude", "--backend", "fake_manila", "--no-draw"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "internal error" not in r.output and r.output.count("Error") == 1
    assert r.output.splitlines()[-1] == (
        "Error: fake:fake_manila: the device has 5 qubits, the circuit needs 8 (the 8-qubit "
        "amplitude head needs a device of at least 8; the 4-qubit angle head fits 5-qubit "
        "devices); pick a larger device, e.g. fake:fake_fez or aer_noisy:fake_torino, or train "
        "with --encoding angle"
    )


def test_a_bare_fake_name_shows_the_head_fit_trains_for_that_device(tmp_path, monkeypatch):
    monkeypatch.setenv("QSDAQEC_CACHE", str(tmp_path))
    r = CliRunner().invoke(cli, ["circuits", "show", "--backend", "fake_torino", "--no-draw"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == (
        "encoding: schmidt, what fit trains for fake:fake_torino (--encoding to change)"
    )
    assert "after transpilation for fake:fake_torino" in r.output
    logical, isa = _counts(r.output)
    assert logical[0] == 4 and isa[0] == 4
    plain = CliRunner().invoke(cli, ["circuits", "show", "--no-draw"])
    assert "(amplitude encoding)" in plain.output and "encoding:" not in plain.output

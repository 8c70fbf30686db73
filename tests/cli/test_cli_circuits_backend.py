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

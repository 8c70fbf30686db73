from pathlib import Path

from click.testing import CliRunner
from qiskit import qasm3

from qsdaqec.cli import cli
from qsdaqec.quantum.circuits import HeadConfig, build_head_circuit
from qsdaqec.quantum.qasm import expected_exports, stale_exports

REPO_CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


def test_committed_exports_match_the_code():
    stale = stale_exports(REPO_CIRCUITS)
    assert not stale, (
        f"circuits/ is out of date for {stale}: run `qsdaqec circuits export` and commit the result"
    )


def test_exports_parse_back_to_the_same_circuit():
    for cfg in (HeadConfig(encoding="amplitude"), HeadConfig(encoding="angle")):
        text = (REPO_CIRCUITS / f"{cfg.name}.qasm").read_text()
        loaded = qasm3.loads(text)
        built = build_head_circuit(cfg).circuit
        assert loaded.num_qubits == built.num_qubits
        assert loaded.num_parameters == built.num_parameters
        assert loaded.count_ops() == built.count_ops()


def test_cli_export_writes_every_circuit(tmp_path):
    result = CliRunner().invoke(cli, ["circuits", "export", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    for name, text in expected_exports().items():
        assert (tmp_path / "c" / name).read_text() == text
    assert stale_exports(tmp_path / "c") == []
    (tmp_path / "c" / name).write_text(text + "// edited\n")
    assert stale_exports(tmp_path / "c") == [name]


def test_cli_show_prints_counts_and_writes_png(tmp_path):
    png = tmp_path / "angle.png"
    result = CliRunner().invoke(cli, ["circuits", "show", "--encoding", "angle", "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "width 4 qubits, depth 11, 2-qubit gates 8" in result.output
    assert "Ry(w[7])" in result.output.replace("RY", "Ry")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_show_amplitude_counts():
    result = CliRunner().invoke(cli, ["circuits", "show", "--no-draw"])
    assert result.exit_code == 0, result.output
    assert "width 8 qubits" in result.output and "2-qubit gates 262" in result.output
    assert "trainable head parameters: 18" in result.output and "514" in result.output

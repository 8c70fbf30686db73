"""``qsdaqec export``: the ONNX graph gives what the head consumes, the QASM and head.json give the
head's outputs, metadata.json describes both; an export is never replaced silently, and a failed
check or a missing package writes nothing."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from cli_helpers import handled_error
from click.testing import CliRunner
from qiskit import qasm3

import qsdaqec
from qsdaqec.cli import cli
from qsdaqec.errors import RunError
from qsdaqec.export import bundle as export_bundle
from qsdaqec.export import export_run, load_exported_head
from qsdaqec.export import network as export_network
from qsdaqec.export.network import OnnxGraph
from qsdaqec.quantum import head_problem
from qsdaqec.train import fit, load_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_helpers import make_folder, tiny_cfg  # noqa: E402


def _quiet(_msg):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("export") / "data")


@pytest.fixture(scope="module")
def quantum_run(data):
    # the default network (vessel input, lesion map and pooling, output stride 16) with the
    # device head and 8 test views: every part of the graph
    out = data.parent / "quantum"
    cfg = tiny_cfg(data, out, encoding="schmidt", epochs=1, test_views=8)
    return fit(cfg, log=_quiet)


@pytest.fixture(scope="module")
def quantum_export(quantum_run):
    r = CliRunner().invoke(cli, ["export", "--run", str(quantum_run), "--format", "onnx"])
    assert r.exit_code == 0, r.output
    return quantum_run / "export"


@pytest.fixture
def reuse_graph(quantum_export, monkeypatch):
    """The fixture's graph instead of a new export (15-20 s each): for what happens around it."""
    graph = OnnxGraph((quantum_export / "model.onnx").read_bytes(), ["features", "lesion_map"], 18)
    monkeypatch.setattr(export_bundle, "export_onnx", lambda run: graph)


def _images(n, size=32, seed=1):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def _onnx(folder, images):
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"image": images.numpy()}), strict=True))


def test_the_graph_gives_the_features_the_head_consumes(quantum_run, quantum_export):
    run = load_run(quantum_run)
    x = _images(3)  # another batch size than the export's example: the batch axis is dynamic
    out = _onnx(quantum_export, x)
    assert list(out) == ["features", "lesion_map"]
    np.testing.assert_allclose(out["features"], run.features(x).numpy(), atol=1e-4, rtol=0)
    assert out["lesion_map"].shape == (3, 4, 4)
    meta = json.loads((quantum_export / "metadata.json").read_text())
    onnx_check = meta["checks"]["onnx"]
    assert onnx_check["passed"] and set(onnx_check["max_abs_diff"]) == {"features", "lesion_map"}
    assert max(onnx_check["max_abs_diff"].values()) <= 1e-4
    assert "test split" in onnx_check["inputs"]
    model = onnx.load(str(quantum_export / "model.onnx"))
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets[""] == meta["onnx_opset"]


def test_exported_features_through_the_exported_head_give_the_runs_probabilities(
    quantum_run, quantum_export
):
    """ONNX features -> head_problem of the head rebuilt from head.json -> head.qasm re-read and
    simulated -> readout from head.json: the run's own probabilities."""
    run = load_run(quantum_run)
    x = _images(2, seed=2)
    # as the run scores an image: its head on the features averaged over the test views
    expected = torch.softmax(run.model.head(run.features(x)), dim=1).detach().numpy()
    feats = torch.from_numpy(_onnx(quantum_export, x)["features"])
    problem = head_problem(load_exported_head(quantum_export), feats)
    record = json.loads((quantum_export / "head.json").read_text())
    circuit = qasm3.loads((quantum_export / "head.qasm").read_text())
    assert sorted(p.name for p in circuit.parameters) == sorted(record["inputs"]["names"])
    n_inputs = len(record["inputs"]["names"])
    from qiskit.quantum_info import SparsePauliOp, Statevector

    w, b = np.array(record["readout"]["weight"]), np.array(record["readout"]["bias"])
    by_name = {p.name: p for p in circuit.parameters}
    for i in range(len(x)):
        inputs = problem.values[
            i, [problem.parameter_names.index(f"x[{k}]") for k in range(n_inputs)]
        ]
        bound = circuit.assign_parameters(
            {by_name[n]: v for n, v in zip(record["inputs"]["names"], inputs, strict=True)}
        )
        state = Statevector(bound)
        evs = [state.expectation_value(SparsePauliOp(p)).real for p in record["observables"]]
        logits = w @ np.array(evs) + b
        prob = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose(prob, expected[i], atol=1e-4)
    # the worked example of head.json is that chain on its own features
    ex = record["example"]
    again = head_problem(load_exported_head(quantum_export), torch.tensor([ex["features"]]))
    np.testing.assert_allclose(again.exact_evs[0], ex["expectation_values"], atol=1e-9)


def test_metadata_describes_input_classes_thresholds_and_use(quantum_run, quantum_export):
    meta = json.loads((quantum_export / "metadata.json").read_text())
    metrics = json.loads((quantum_run / "metrics.json").read_text())
    image = meta["network_data_format"]["inputs"]["image"]
    assert image["shape"] == ["batch", 1, 32, 32] and image["value_range"] == [0, 1]
    assert meta["label_classes"] == ["normal", "stenosis"]
    assert meta["positive_class"] == "stenosis"
    for name, value in (metrics.get("operating_points") or {}).items():
        assert meta["operating_points"][name] == pytest.approx(value)
    assert meta["intended_use"] == qsdaqec.INTENDED_USE
    assert meta["pytorch_version"] == importlib.metadata.version("torch")
    assert meta["qiskit_version"] and meta["qsdaqec_version"]
    assert meta["head"]["type"] == "quantum" and meta["head"]["encoding"] == "schmidt"
    assert meta["checks"]["qasm"]["passed"] and meta["checks"]["head_json"]["passed"]
    assert set(meta["files"]) == {"model.onnx", "head.qasm", "head.json", "metadata.json"}
    assert {p.name for p in quantum_export.iterdir()} == set(meta["files"])


def test_an_export_is_replaced_only_with_force(quantum_run, quantum_export, reuse_graph, tmp_path):
    before = (quantum_export / "metadata.json").read_text()
    r = CliRunner().invoke(cli, ["export", "--run", str(quantum_run)])
    handled_error(r, "export: an export is already there; pass --force to replace it")
    assert (quantum_export / "metadata.json").read_text() == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    r = CliRunner().invoke(
        cli, ["export", "--run", str(quantum_run), "--out", str(other), "--force"]
    )
    handled_error(r, "a folder that is not an export; choose another --out")
    assert (other / "mine.txt").read_text() == "keep"
    r = CliRunner().invoke(cli, ["export", "--run", str(quantum_run), "--force"])
    assert r.exit_code == 0, r.output
    assert "ONNX check" in r.output and "written:" in r.output
    assert json.loads((quantum_export / "metadata.json").read_text())["created"]


def test_a_failed_check_writes_nothing(quantum_run, reuse_graph, tmp_path, monkeypatch):
    monkeypatch.setattr(export_network, "TOLERANCE", -1.0)  # no difference is that small
    out = tmp_path / "exp"
    with pytest.raises(RunError, match="the onnx check failed: .* nothing written"):
        export_run(quantum_run, out=out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_missing_package_names_the_extra(quantum_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    r = CliRunner().invoke(cli, ["export", "--run", str(quantum_run), "--out", str(tmp_path / "e")])
    handled_error(r, "qsdaqec export needs onnxruntime", "pip install 'qsdaqec[export]'")
    assert not (tmp_path / "e").exists()


def test_a_classical_head_is_in_the_graph(data, tmp_path):
    cfg = tiny_cfg(
        data, tmp_path / "run", head="classical", epochs=1, pooling="avg", lesion_weight=0.0,
        test_views=1, input="gray",
    )  # fmt: skip
    run_dir = fit(cfg, log=_quiet)
    r = export_run(run_dir, out=tmp_path / "exp")
    assert set(r.files) == {"model.onnx", "metadata.json"}
    run = load_run(run_dir)
    x = _images(2, seed=3)
    out = _onnx(tmp_path / "exp", x)
    assert list(out) == ["features", "logits"]
    np.testing.assert_allclose(out["logits"], run.model(x).detach().numpy(), atol=1e-4, rtol=0)
    meta = json.loads((tmp_path / "exp" / "metadata.json").read_text())
    assert meta["head"]["type"] == "classical"
    assert meta["network_data_format"]["outputs"]["logits"]["channel_def"] == {
        "0": "normal",
        "1": "stenosis",
    }

"""fake:<name> end to end through qiskit-ibm-runtime's local testing mode (the ibm: code path)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qsdaqec.quantum.readout import readout_probabilities
from qsdaqec.runner import fake_backend
from qsdaqec.runner import jobs as J
from qsdaqec.runner import records as R
from qsdaqec.runner.fake_runtime import tiny_problem


def noisy_exact(record: R.JobRecord, backend_name: str) -> np.ndarray:
    """Exact expectation values under the fake device's noise model (no shot noise).

    Density-matrix simulation of the stored ISA circuit with the gate noise, then each Z
    observable mapped through its qubit's readout error (Aer's ``save_expectation_value`` does
    not see readout errors; the local primitive measures, so it does)."""
    from qiskit_aer.noise import NoiseModel
    from qiskit_aer.noise.device import basic_device_readout_errors
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator

    backend = fake_backend(backend_name)
    isa = J.load_isa(record)
    params = R.load_array(record.params_path)
    est = AerEstimator(
        options={
            "backend_options": {
                "method": "density_matrix",
                "noise_model": NoiseModel.from_backend(backend, readout_error=False),
            }
        }
    )
    evs = (
        est.run([(isa.circuit, [isa.observables], params[:, None, :])], precision=0)
        .result()[0]
        .data.evs
    )
    readout = {
        tuple(q): e.probabilities for q, e in basic_device_readout_errors(backend.properties())
    }
    out = np.array(evs, dtype=float)
    for j, obs in enumerate(isa.observables):
        (q,) = obs.paulis[0].z.nonzero()[0]
        p = readout[(int(q),)]
        e01, e10 = p[0][1], p[1][0]  # P(read 1 | 0), P(read 0 | 1)
        out[:, j] = (1 - e01 - e10) * out[:, j] + (e10 - e01)
    return out


def test_fake_backend_end_to_end_local_testing_mode(tmp_path):
    prob = tiny_problem(n=4, seed=5)
    shots = 4000
    rec = prob.submit(
        "fake:manila",
        tmp_path,
        options=J.JobOptions(shots=shots, mitigation="readout"),
        limits=J.JobLimits(max_samples_per_job=3),
    )
    # local testing mode: results stored before submit returned; ids and Batch recorded
    on_disk = R.load_record(rec.path)
    assert on_disk.local_mode and on_disk.backend == "fake:fake_manila"
    assert on_disk.status == "complete" and len(on_disk.parts) == 2
    assert all(p.job_id and p.result_file for p in on_disk.parts)
    assert "ignores" in on_disk.options["note"]

    s = J.fetch(on_disk)  # another "process": no service needed, reads stored results
    pred = json.loads(s.predictions.read_text())
    evs = np.array([[r[f"ev_{j}"] for j in range(4)] for r in pred["predictions"]])
    stds = np.array([[r[f"std_{j}"] for j in range(4)] for r in pred["predictions"]])
    assert np.all(stds > 0) and np.all(stds < 2 / np.sqrt(shots))

    # within shot noise of the exact value under the device's noise model
    ref = noisy_exact(on_disk, "fake_manila")
    assert np.all(np.abs(evs - ref) <= 4.5 * stds + 0.005), np.abs(evs - ref) / stds
    # and near the ideal values (device noise only shrinks them)
    assert np.max(np.abs(evs - prob.exact_evs)) < 0.35
    # probabilities = softmax(Linear(4->2)(evs)) of the values actually returned
    w, b = np.asarray(prob.output_layer["weight"]), prob.output_layer["bias"]
    got = np.array([[r["p_normal"], r["p_stenosis"]] for r in pred["predictions"]])
    np.testing.assert_allclose(got, readout_probabilities(evs, w, b), atol=1e-12)
    metrics = json.loads((rec.folder / "metrics.json").read_text())
    assert metrics["n"] == 4 and metrics["vs_exact"]["ev_mean_abs_error"] < 0.35


@pytest.mark.slow
def test_fake_heron_device_end_to_end(tmp_path):
    """The same on a 156-qubit Heron fake device (FakeFez): slow (~50 s on 2 cores)."""
    prob = tiny_problem(n=2, seed=6)
    rec = prob.submit("fake:fake_fez", tmp_path, options=J.JobOptions(shots=2000))
    assert rec.status == "complete" and rec.circuit["isa_num_qubits"] == 156
    evs, stds = R.load_result(rec, rec.parts[0])
    assert np.max(np.abs(evs - prob.exact_evs)) < 0.3

"""head.qasm and head.json of every encoding read back to the head's own outputs: the QASM
re-read and simulated, and the head rebuilt from head.json (the angle encoding's compress layer
included)."""

from __future__ import annotations

import json

import pytest
import torch

from qsdaqec.export.qhead import check_head_json, check_qasm, head_qasm, head_record
from qsdaqec.quantum import HeadConfig, QuantumHead, head_problem
from qsdaqec.quantum.encodings import ENCODINGS


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_every_encodings_head_reads_back(encoding, tmp_path):
    torch.manual_seed(0)
    head = QuantumHead(HeadConfig(encoding=encoding)).eval()
    features = torch.rand(3, 256, generator=torch.Generator().manual_seed(1))
    problem = head_problem(head, features)
    qasm = head_qasm(head, problem, "test")
    (tmp_path / "head.json").write_text(
        json.dumps(head_record(head, problem, features.numpy(), qasm))
    )
    assert check_qasm(head, problem, qasm)["passed"]
    assert check_head_json(tmp_path, problem, features)["passed"]
    assert "_w_" not in qasm  # every trained weight bound
    # the check can fail: another head's weights do not read back to this one's outputs
    other = QuantumHead(HeadConfig(encoding=encoding)).eval()
    assert not check_qasm(head, problem, head_qasm(other, head_problem(other, features), "x"))[
        "passed"
    ]

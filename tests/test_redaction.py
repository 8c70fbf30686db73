"""No token leaves the process: the one redaction function, and every command that can open an
IBM Quantum service, crashing on purpose with the token in the exception's message."""

from __future__ import annotations

import io
import logging

import pytest
from click.testing import CliRunner

from qsdaqec.cli import cli
from qsdaqec.redaction import REDACTED, install_log_redaction, redact, register_secret
from qsdaqec.runner import backends
from qsdaqec.runner.fake_runtime import FakeRuntimeService, tiny_problem
from qsdaqec.runner.jobs import gateway

TOKEN = "qsdaqecREDACTIONtoken_5f6e7d8c9b0a1f2e3d4c5b6a"


def test_redact_known_secrets_and_credential_looking_values(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    assert redact(f"x {TOKEN} y") == f"x {REDACTED} y"
    assert TOKEN[:10] not in redact(f"Authorization: Bearer {TOKEN[5:]}")
    assert "hunter22" not in redact('{"apikey": "hunter22", "n": 1}')
    register_secret("registered-secret-value")
    assert "registered-secret-value" not in redact("a registered-secret-value b")
    assert redact("nothing secret here") == "nothing secret here"


def test_loggers_are_redacted(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    install_log_redaction()
    logger = logging.getLogger("qiskit_ibm_runtime")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("request failed for %s", TOKEN)
    finally:
        logger.removeHandler(handler)
    assert "request failed for" in stream.getvalue() and TOKEN not in stream.getvalue()


def _ibm_record(tmp_path):
    """A record on ibm:fake_manila with jobs still out there (so every command connects)."""
    prob = tiny_problem(n=3, seed=1)
    service = FakeRuntimeService(steps=5)
    return prob.submit("ibm:fake_manila", tmp_path, service=service, sleep=lambda s: None)


@pytest.mark.parametrize("command", ["submit", "status", "fetch", "cancel", "retry", "circuits"])
def test_a_crash_carrying_the_token_prints_no_token(command, tmp_path, monkeypatch):
    """Every command that can open a service: the service layer fails with an *unexpected*
    exception whose message holds the token; the CLI's catch-all prints one line without it."""
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)

    def crash(**kw):
        raise LookupError(f"account state corrupt near {TOKEN}")

    monkeypatch.setattr(gateway, "make_service", crash)
    monkeypatch.setattr(backends, "make_service", crash)
    rec = _ibm_record(tmp_path)
    args = {
        "submit": ["jobs", "submit", "--run", str(tmp_path), "--backend", "ibm:ibm_fez"],
        "status": ["jobs", "status", str(rec.path)],
        "fetch": ["jobs", "fetch", str(rec.path)],
        "cancel": ["jobs", "cancel", str(rec.path)],
        "retry": ["jobs", "retry", str(rec.path)],
        "circuits": ["circuits", "show", "--backend", "ibm:ibm_fez", "--no-draw"],
    }[command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert TOKEN not in result.output and TOKEN[:16] not in result.output
    assert lines[-1].startswith("Error: internal error: LookupError"), result.output
    assert REDACTED in lines[-1]

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


def test_placeholders_stay_readable_and_the_account_hint_is_not_garbled(monkeypatch):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    assert redact("token='<API key>', instance='<CRN>'") == "token='<API key>', instance='<CRN>'"
    assert redact(f"token=<{TOKEN}") == f"token={REDACTED}"  # no closing '>': not a placeholder
    assert redact("token=<redacted>") == "token=<redacted>"
    monkeypatch.setattr(backends, "has_credentials", lambda: False)
    r = CliRunner().invoke(cli, ["jobs", "submit", "--run", ".", "--backend", "ibm:ibm_fez"])
    line = r.output.strip().splitlines()[-1]
    assert "token='<API key>', instance='<CRN>'" in line and REDACTED not in line, line


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


def test_record_fields_printed_by_list_and_status_are_redacted(tmp_path, monkeypatch):
    """A record is a file: edited by hand, copied from an older version, or holding what the
    service said. ``jobs list`` and ``jobs status`` print its fields through ``redact``."""
    import json

    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    service = FakeRuntimeService(steps=1)
    monkeypatch.setattr(gateway, "connect", lambda spec: service)
    rec = tiny_problem(n=3, seed=1).submit(
        "ibm:fake_manila", tmp_path, service=service, sleep=lambda s: None
    )
    data = json.loads(rec.path.read_text())
    data["created"] = f"2026-01-01 token={TOKEN}"
    for part in data["parts"]:
        part.update(state="failed", error=f"HTTP 401 for key {TOKEN}")
    rec.path.write_text(json.dumps(data))
    for args in (["list", "--run", str(tmp_path)], ["status", str(rec.path)]):
        result = CliRunner().invoke(cli, ["jobs", *args])
        assert result.exit_code == 0, result.output
        assert TOKEN not in result.output and TOKEN[:16] not in result.output
        assert REDACTED in result.output


def test_usage_errors_quoting_what_was_typed_are_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    bad = tmp_path / f"apikey={TOKEN}"  # a path (or URL) pasted with a credential in it
    args = ["jobs", "submit", "--run", str(tmp_path), "--backend", "fake:fake_manila"]
    result = CliRunner().invoke(cli, [*args, "--data", str(bad)])
    assert result.exit_code == 2
    assert TOKEN not in result.output and TOKEN[:16] not in result.output
    assert "--data" in result.output and REDACTED in result.output

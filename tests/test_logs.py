"""The library's lines go through ``logging``: printed on stderr while a program configured
nothing, routed by the program once it did, quieted by a level, handed to a ``log=`` function."""

import logging
import subprocess
import sys

from qsdaqec.logs import console, get_logger, lines_to, log_argument


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_unconfigured_program_sees_the_lines_on_stderr():
    r = _run("from qsdaqec.logs import get_logger; get_logger('qsdaqec.train').info('step 1')")
    assert r.stderr == "step 1\n" and r.stdout == ""


def test_a_configured_handler_routes_them_and_nothing_is_printed_twice():
    r = _run(
        "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.INFO, "
        "format='%(name)s|%(message)s'); from qsdaqec.logs import get_logger; "
        "get_logger('qsdaqec.train').info('step 1')"
    )
    assert r.stdout == "qsdaqec.train|step 1\n" and r.stderr == ""


def test_a_level_quiets_them():
    r = _run(
        "import logging; from qsdaqec.logs import get_logger; "
        "logging.getLogger('qsdaqec').setLevel(logging.WARNING); "
        "log = get_logger('qsdaqec.train'); log.info('step 1'); log.warning('careful')"
    )
    assert r.stderr == "careful\n"


def test_lines_to_and_console_take_the_lines_of_their_block(caplog):
    log = get_logger("qsdaqec.test")
    mine, cli = [], []
    with console(cli.append):
        log.info("a")
        with lines_to(mine.append):
            log.info("b")
        with lines_to(None):
            log.info("c")
    log.info("d")  # after the block: neither
    assert mine == ["b"] and cli == ["a", "c"]
    assert [r.getMessage() for r in caplog.records if r.name == "qsdaqec.test"] == list("abcd")


def test_log_argument_keeps_old_callers_working():
    @log_argument
    def work(x):
        get_logger("qsdaqec.test").info(f"working on {x}")
        return x * 2

    lines = []
    assert work(3, log=lines.append) == 6 and lines == ["working on 3"]


def test_records_are_redacted_at_their_logger(caplog):
    from qsdaqec.redaction import register_secret

    register_secret("s3cr3t-token-value")
    with caplog.at_level(logging.INFO, logger="qsdaqec"):
        get_logger("qsdaqec.test.redact").info("token s3cr3t-token-value used")
    (rec,) = [r for r in caplog.records if r.name == "qsdaqec.test.redact"]
    assert "s3cr3t-token-value" not in rec.getMessage()

from click.testing import CliRunner

from qsdaqec import __version__
from qsdaqec.cli import cli


def test_help_lists_examples():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_every_command_has_help_with_examples():
    runner = CliRunner()

    def walk(group, path):
        for name, command in group.commands.items():
            args = [*path, name]
            result = runner.invoke(cli, [*args, "--help"])
            assert result.exit_code == 0, (args, result.output)
            assert "Example" in result.output, f"qsdaqec {' '.join(args)} --help has no examples"
            if hasattr(command, "commands"):
                walk(command, args)

    walk(cli, [])


def test_unknown_command_is_one_clear_error():
    from cli_helpers import handled_error

    handled_error(CliRunner().invoke(cli, ["no-such-command"]), "No such command 'no-such-command'")


def test_a_crash_is_one_line_and_says_it_is_ours(monkeypatch):
    """An unexpected exception (a bug) is not a bad-input message: one line that says
    "internal error" and how to get the traceback (the error tests check it is absent)."""
    from qsdaqec.cli import data as data_cli

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(data_cli, "builtin_dataset_dir", boom)
    r = CliRunner().invoke(cli, ["data", "info"])
    assert r.exit_code == 2
    assert r.output.strip() == (
        "Error: internal error: ZeroDivisionError: division by zero (set QSDAQEC_DEBUG=1 for "
        "the traceback and please report it)"
    )


def test_cli_import_does_not_load_torch():
    """``qsdaqec --help`` and every command's option parsing must stay fast: no torch import."""
    import subprocess
    import sys

    code = "import sys, qsdaqec.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_usage_errors_are_one_line_naming_the_help():
    from cli_helpers import handled_error

    runner = CliRunner()
    handled_error(
        runner.invoke(cli, ["augment", "--out", "x"], prog_name="qsdaqec"),
        "Missing option '--data'. (see `qsdaqec augment --help`)",
    )
    handled_error(
        runner.invoke(cli, ["fit", "--epochs", "many"]),
        "Invalid value for '--epochs': 'many' is not a valid integer",
    )


def test_circuits_export_into_a_file_is_one_line(tmp_path):
    from cli_helpers import handled_error

    target = tmp_path / "afile"
    target.write_text("")
    handled_error(
        CliRunner().invoke(cli, ["circuits", "export", "--out", str(target)]),
        "Invalid value for '--out'",
        "is a file",
    )
    handled_error(
        CliRunner().invoke(cli, ["circuits", "show", "--encoding", "qutrit"]),
        "Invalid value for '--encoding': 'qutrit' is not one of 'amplitude', 'angle'",
    )

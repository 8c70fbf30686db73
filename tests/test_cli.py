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
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_cli_import_does_not_load_torch():
    """``qsdaqec --help`` and every command's option parsing must stay fast: no torch import."""
    import subprocess
    import sys

    code = "import sys, qsdaqec.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""A library error names arguments as a caller writes them; the CLI's text names its options."""

from qsdaqec.errors import ConfigError, RunError


def test_for_cli_names_options_where_the_message_names_arguments():
    e = ConfigError(
        "threshold=1.5: a probability must lie in (0, 1)", cli={"threshold=": "--threshold "}
    )
    assert str(e) == "threshold=1.5: a probability must lie in (0, 1)"
    assert e.for_cli() == "--threshold 1.5: a probability must lie in (0, 1)"


def test_for_cli_leaves_longer_names_and_plain_errors_alone():
    e = RunError(
        "noisy_lr=2 and lr=3; pass resume=True", cli={"lr=": "--lr ", "resume=True": "--resume"}
    )
    assert e.for_cli() == "noisy_lr=2 and --lr 3; pass --resume"
    assert RunError("x: not found").for_cli() == "x: not found"

"""The ``qsdaqec`` command line. Thin: parse options, call library functions, print.

Each command group lives in its own module below; this file only wires them together and turns
the library's typed errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import QsdaqecError
from ..io import storage_error
from ..logs import console
from ..redaction import install_log_redaction, redact
from ._output import err


class CliError(click.ClickException):
    """One line on stderr, exit 2: how every expected failure ends."""

    exit_code = 2


class QsdaqecGroup(click.Group):
    """Converts library errors into ``CliError`` so no user ever sees a traceback for bad input,
    naming arguments as options (``--threshold``, not ``threshold=``); prints the library's log
    lines (the ``qsdaqec`` logger) on stderr, as its commands always did."""

    def invoke(self, ctx: click.Context):
        try:
            with console(err):
                return super().invoke(ctx)
        except QsdaqecError as e:
            raise CliError(redact(e.for_cli())) from None
        except click.UsageError as e:  # one line too, not click's usage block
            where = e.ctx.command_path if e.ctx is not None else "qsdaqec"
            # the message quotes what was typed (a path, a URL), which may hold a token
            raise CliError(redact(f"{e.format_message()} (see `{where} --help`)")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise CliError(
                "interrupted; files already written are complete (writes are atomic)"
            ) from None
        except Exception as e:  # an unexpected bug: one line unless debugging
            refused = _refused_write(e)
            if refused is not None:
                raise CliError(redact(refused)) from None
            if os.environ.get("QSDAQEC_DEBUG"):
                raise
            raise CliError(
                redact(
                    f"internal error: {type(e).__name__}: {e} (set QSDAQEC_DEBUG=1 for the "
                    "traceback and please report it)"
                )
            ) from None


def _refused_write(e: Exception) -> QsdaqecError | None:
    """A full disk or a read-only folder met outside the atomic writers (a folder made, a lock
    or log file opened): one line naming the path, like theirs; not a bug to report."""
    if isinstance(e, OSError) and e.filename:
        return storage_error(e.filename, e, cleaned=False)
    return None


@click.group(cls=QsdaqecGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="qsdaqec")
def cli() -> None:
    """SDA-QEC: diffusion-augmented medical image classification with a quantum head.

    Every command's examples read what the README's tour makes (data/angio, data/aug, runs/tour).

    \b
    Examples:
      qsdaqec data synth --out data/angio-200 --n 200
      qsdaqec fit --data data/aug --out runs/quick --epochs 2 --image-size 64
      qsdaqec circuits show --encoding amplitude --backend fake_torino --no-draw
      qsdaqec jobs submit --run runs/tour --backend fake:fake_torino --limit 8
    """
    install_log_redaction()  # no logger of ours or of qiskit-ibm-runtime prints a token


def _register() -> None:
    from . import augment, circuits, data, experiments, export, jobs, report, train

    for module in (data, augment, circuits, train, export, jobs, report, experiments):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli.main(prog_name="qsdaqec")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

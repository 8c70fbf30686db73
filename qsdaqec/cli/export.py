"""CLI: ``qsdaqec export`` (a thin wrapper of :mod:`qsdaqec.export`).

The implementation (torch, the ONNX exporter) is imported when the command runs: ``qsdaqec
--help`` must stay fast.
"""

from __future__ import annotations

import click

from ..export import FORMATS
from ._output import err


@click.command("export")
@click.option("--run", "run_dir", required=True, type=str, help="A finished run directory.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=FORMATS[0],
    show_default=True,
    help="onnx: the network as model.onnx; a quantum head as head.qasm (OpenQASM 3) + head.json.",
)
@click.option(
    "--out",
    default=None,
    metavar="DIR",
    help="Folder to write [default: RUN/export].",
)
@click.option(
    "--force",
    is_flag=True,
    default=False,
    help="Replace an export already in the folder.",
)
def export_cmd(run_dir, fmt, out, force) -> None:
    """Export a trained run for other tools: the network as ONNX (image -> the features its head
    reads), the quantum head as OpenQASM 3 with its trained weights, and metadata.json (input,
    classes, operating points, intended use, versions).

    Before anything is kept, onnxruntime runs the graph on test images of the run and every
    output must match torch to 1e-4; the re-read QASM must give the head's expectation values.
    For research use only, not for clinical diagnosis. docs/export.md shows how to load the files.

    \b
    Examples:
      qsdaqec export --run runs/tour --format onnx --out exports/tour
      qsdaqec export --run runs/tour --out exports/tour --force
    """
    from ..export import export_run

    r = export_run(run_dir, fmt, out, force=force, log=err)
    onnx = r.checks["onnx"]
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in onnx["max_abs_diff"].items())
    click.echo(
        f"ONNX check ({onnx['runtime']}, {r.check_images}): max |onnxruntime - torch| "
        f"{diffs}; within {onnx['tolerance']:.0e}"
    )
    for name in ("qasm", "head_json"):
        if name in r.checks:
            c = r.checks[name]
            click.echo(
                f"{name} check ({c['how']}): {c['compared']} within {c['tolerance']:.0e} "
                f"(max |difference| {c['max_abs_diff']:.1e})"
            )
    click.echo(f"written: {r.out} ({', '.join(r.files)})")


COMMANDS: list[click.Command] = [export_cmd]

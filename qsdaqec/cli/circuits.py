"""``qsdaqec circuits``: export the head circuits as OpenQASM 3, and show them."""

from __future__ import annotations

import io
from pathlib import Path

import click
from qiskit.exceptions import MissingOptionalLibraryError

from ..errors import ConfigError
from ..io import atomic_write_bytes
from ..quantum.circuits import HeadConfig, build_head_circuit
from ..quantum.encodings import ENCODINGS
from ..quantum.qasm import display_circuit, export_circuits, head_summary_lines, summarize
from ..runner import RunnerConfig, make_estimator, parse_backend
from ..runner.backends import BackendSpec
from ..runner.transpile import active_circuit
from ..train.config import FitConfig, default_encoding


@click.group("circuits")
def circuits() -> None:
    """The quantum head's circuits: OpenQASM 3 export and drawings.

    \b
    Examples:
      qsdaqec circuits export
      qsdaqec circuits show --encoding angle
      qsdaqec circuits show --encoding amplitude --png head.png
      qsdaqec circuits show --backend fake_torino --no-draw
      qsdaqec circuits show --encoding amplitude --backend fake_torino --no-draw
    """


@circuits.command("export")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("circuits"),
    show_default=True,
    help="Folder for the .qasm files.",
)
def export_cmd(out_dir: Path) -> None:
    """Write OpenQASM 3 of every head circuit (unbound), one file per circuit.

    \b
    Example:
      qsdaqec circuits export --out circuits/
    """
    for path in export_circuits(out_dir):
        click.echo(f"wrote {path}")


@circuits.command("show")
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS.names()),
    default=None,
    help="Which head circuit [default: the one fit trains for --backend: schmidt on a device "
    "(aer_noisy, fake_<name>, fake:, ibm:), amplitude (the paper's) otherwise].",
)
@click.option("--layers", type=int, default=None, help="Ansatz layers (default: the paper's 2).")
@click.option(
    "--ansatz-qubits", type=int, default=None, help="Ansatz qubits (default: the paper's 4)."
)
@click.option(
    "--full",
    is_flag=True,
    help="Draw every gate of the amplitude tree instead of one box per tree level.",
)
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), help="Also save a PNG.")
@click.option("--no-draw", is_flag=True, help="Print the counts only.")
@click.option(
    "--backend",
    default=None,
    help="Also transpile for this backend (e.g. fake_torino, the same as fake:fake_torino; "
    "aer_noisy:fake_fez) and print the ISA circuit's counts on the qubits it uses.",
)
@click.option(
    "--optimization-level",
    type=click.IntRange(0, 3),
    default=None,
    help="Transpiler optimization level for --backend (default: the runner's).",
)
def show_cmd(
    encoding: str,
    layers: int | None,
    ansatz_qubits: int | None,
    full: bool,
    png: Path | None,
    no_draw: bool,
    backend: str | None,
    optimization_level: int | None,
) -> None:
    """Draw a head circuit and print its width, depth, 2-qubit gate and parameter counts.

    \b
    Examples:
      qsdaqec circuits show
      qsdaqec circuits show --encoding angle --png angle_head.png
      qsdaqec circuits show --full --no-draw
      qsdaqec circuits show --encoding angle --backend fake_fez --optimization-level 3
    """
    spec = parse_backend(backend) if backend is not None else None  # fail before any output
    if encoding is None:
        encoding = _encoding_for(spec)
        if spec is not None:
            click.echo(f"encoding: {encoding}, what fit trains for {spec} (--encoding to change)")

    kwargs = {"encoding": encoding}
    if layers is not None:
        kwargs["layers"] = layers
    if ansatz_qubits is not None:
        kwargs["ansatz_qubits"] = ansatz_qubits
    cfg = HeadConfig(**kwargs)
    drawing = display_circuit(cfg, expand_tree=full)
    if not no_draw:
        click.echo(drawing.draw(output="text", fold=120))
    for line in head_summary_lines(cfg):
        click.echo(line)
    if spec is not None:
        runner_cfg = RunnerConfig()
        if optimization_level is not None:
            runner_cfg = RunnerConfig(optimization_level=optimization_level)
        program = make_estimator(spec, runner_cfg).prepare(build_head_circuit(cfg).circuit)
        click.echo(
            f"after transpilation for {spec} (optimization level "
            f"{runner_cfg.optimization_level}), on the qubits it uses:"
        )
        for line in summarize(active_circuit(program)).lines():
            click.echo(line)
    if png is not None:
        _save_png(drawing, png)
        click.echo(f"wrote {png}")


def _encoding_for(spec: BackendSpec | None) -> str:
    """The head fit trains for ``spec``: a device's circuits must stay shallow enough for its
    noise, so the device's rule is fit's own (``train.config.default_encoding``; ibm: too: fit
    refuses it, but the circuit sent there is the one fit trains for a device)."""
    if spec is None:
        return FitConfig().resolve_defaults().encoding
    return default_encoding(spec.has_device)


def _save_png(circuit, path: Path) -> None:
    import matplotlib  # here: a second to import, and only --png needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        fig = circuit.draw(output="mpl", fold=40)
    except MissingOptionalLibraryError as e:
        raise ConfigError(f"--png: {e}") from None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


COMMANDS: list[click.Command] = [circuits]

"""``qsdaqec export``: a finished run as files other tools read, checked before they are kept.

The folder (default ``RUN/export``) holds ``model.onnx`` (:mod:`.network`), for a quantum head
``head.qasm`` + ``head.json`` (:mod:`.qhead`), and ``metadata.json`` (:mod:`.metadata`). It is
built in a hidden sibling folder and renamed into place only when every check passed, so a
failed export leaves nothing behind and an existing export is replaced whole or not at all.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..augment.export import atomic_dir
from ..errors import ConfigError, DataError, RunError
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from ..optional import require
from ..quantum import head_problem
from ..train import load_run
from . import FORMATS
from .metadata import FORMAT, export_metadata
from .network import check_onnx, export_onnx
from .qhead import HEAD_JSON, HEAD_QASM, check_head_json, check_qasm, head_qasm, head_record

MODEL_ONNX = "model.onnx"
METADATA = "metadata.json"
DEFAULT_FOLDER = "export"
#: Test images the checks run on (half of each class where the split has them).
CHECK_IMAGES = 4


@dataclass
class ExportResult:
    out: Path
    files: dict[str, str]
    checks: dict[str, Any]
    check_images: str


def default_out(run_dir: str | Path) -> Path:
    return Path(run_dir) / DEFAULT_FOLDER


def _check_out(out: Path, force: bool) -> None:
    """Refuse to replace anything but an earlier export, and that only with ``force``."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"{out}: is a file; choose another --out")
    meta = out / METADATA
    is_export = meta.is_file() and read_json(meta).get("format") == FORMAT
    if not is_export and any(out.iterdir()):
        raise ConfigError(f"{out}: a folder that is not an export; choose another --out")
    if is_export and not force:
        raise ConfigError(f"{out}: an export is already there; pass --force to replace it")


def check_images(run: Any) -> tuple[torch.Tensor, str]:
    """Images for the checks: the first of each class in the run's test split, or, when the
    run's data is not there any more, seeded uniform noise (said in the metadata)."""
    try:
        x, y, _ = run.data().part("test")
    except (DataError, RunError, ConfigError):
        size = run.cfg.image_size
        noise = torch.rand(CHECK_IMAGES, 1, size, size, generator=torch.Generator().manual_seed(0))
        return noise, f"{CHECK_IMAGES} seeded uniform-noise images (the run's data was not found)"
    per_class = CHECK_IMAGES // 2
    pick = [i for c in (0, 1) for i in torch.nonzero(y == c).flatten()[:per_class].tolist()]
    pick = sorted(pick) or list(range(min(CHECK_IMAGES, len(y))))
    return x[pick], f"{len(pick)} images of the run's test split"


def _failed(checks: dict[str, Any]) -> str | None:
    """What the first failed check found, in a few words; ``None`` when all passed."""
    for name, c in checks.items():
        if not c["passed"]:
            diffs = c["max_abs_diff"]
            if not isinstance(diffs, dict):
                diffs = {c["compared"]: diffs}
            worst = max(diffs, key=diffs.get)
            return (
                f"the {name} check failed: {worst} differ by up to {diffs[worst]:.2e} "
                f"(tolerance {c['tolerance']:.0e})"
            )
    return None


def export_run(
    run_dir: str | Path,
    fmt: str = "onnx",
    out: str | Path | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] = lambda m: None,
) -> ExportResult:
    """Export a finished run (module docstring); returns the folder, its files and the checks.
    Every check must pass (``RunError`` otherwise, and nothing is written)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out = Path(out) if out is not None else default_out(run_dir)
    _check_out(out, force)
    for module in ("onnx", "onnxscript", "onnxruntime"):  # all three before any slow step
        require(module)
    run = load_run(run_dir, "cpu")
    images, about = check_images(run)
    log(f"exporting {run_dir}: the ONNX graph (image -> {run.model.feature_dim} features)")
    graph = export_onnx(run)
    checks = {"onnx": check_onnx(graph, run, images)}
    checks["onnx"]["inputs"] = about
    files = {MODEL_ONNX: "the network: image -> " + ", ".join(graph.outputs)}
    tmp, commit = atomic_dir(out, overwrite=True)
    try:
        atomic_write_bytes(tmp / MODEL_ONNX, graph.data)
        if run.is_quantum:
            checks.update(_quantum_files(run, images, tmp))
            files[HEAD_QASM] = "the quantum head's circuit, trained weights bound (OpenQASM 3)"
            files[HEAD_JSON] = "its inputs, observables, readout layer and a worked example"
        failed = _failed(checks)
        if failed is not None:
            raise RunError(f"{run_dir}: {failed}; nothing written")
        files[METADATA] = "this file"
        meta = export_metadata(run, graph.outputs, graph.opset, files, checks)
        atomic_write_json(tmp / METADATA, meta)
        commit()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(out, files, checks, about)


def _quantum_files(run: Any, images: torch.Tensor, folder: Path) -> dict[str, Any]:
    """Write ``head.qasm`` and ``head.json`` into ``folder``; their checks."""
    head = run.model.head
    features = run.features(images)
    problem = head_problem(head, features)
    qasm = head_qasm(head, problem, run.run_dir.name)
    atomic_write_text(folder / HEAD_QASM, qasm)
    atomic_write_json(folder / HEAD_JSON, head_record(head, problem, features.numpy(), qasm))
    return {
        "qasm": check_qasm(head, problem, qasm),
        "head_json": check_head_json(folder, problem, features),
    }

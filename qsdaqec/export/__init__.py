"""Exports of a finished run for other tools: ``qsdaqec export`` (docs/export.md).

- :func:`export_run` (``bundle``): the folder, checked before it is kept;
- ``network``: the network as an ONNX graph, checked with onnxruntime against torch;
- ``qhead``: the quantum head as OpenQASM 3 with its trained weights bound, and ``head.json``;
  :func:`load_exported_head` rebuilds the head from it;
- ``metadata``: ``metadata.json``, after MONAI bundles'.

At the level of hardware, experiments and reports: it reads runs through ``qsdaqec.train``;
nothing below imports it. Names are imported lazily: the CLI reads :data:`FORMATS` at start-up
without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

#: What ``qsdaqec export --format`` writes.
FORMATS = ("onnx",)

_EXPORTS = {
    "ExportResult": "bundle",
    "default_out": "bundle",
    "export_run": "bundle",
    "load_exported_head": "qhead",
}

__all__ = ["FORMATS", "ExportResult", "default_out", "export_run", "load_exported_head"]

if TYPE_CHECKING:  # pragma: no cover
    from .bundle import ExportResult, default_out, export_run
    from .qhead import load_exported_head

__getattr__ = lazy_exports(__name__, _EXPORTS)

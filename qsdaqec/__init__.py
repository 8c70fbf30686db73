"""qsdaqec: SDA-QEC (arXiv 2601.18556) as a hardware-targeted pipeline: synthetic angiography
data, forward-diffusion minority augmentation, a MobileNetV2 backbone and a Qiskit quantum head
on simulators or IBM devices.

Importing the package loads nothing else (pyproject.toml reads ``__version__`` from here at
build time; ``qsdaqec --help`` stays fast). The notebook API loads on first use::

    import qsdaqec

    run = qsdaqec.load_run("runs/tour")   # or: run = qsdaqec.fit(qsdaqec.FitConfig(...))
    run.metrics["test"]["auc"], run.predict("data/aug/test/stenosis")[:3]

Its lines go through ``logging`` (logger ``qsdaqec``; :mod:`qsdaqec.logs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"
"""The package version: this is its one place (pyproject.toml's version is dynamic)."""

INTENDED_USE = (
    "qsdaqec is research software for reproducing and studying SDA-QEC. It is not a medical "
    "device and must not be used for clinical diagnosis or to inform the care of patients."
)
"""The intended-use statement, as the README, the docs and exported models state it."""

_EXPORTS = {
    "FitConfig": "train",
    "Run": "train",
    "RunDir": "runs",
    "evaluate": "train",
    "fit": "train",
    "load_run": "train",
    "predict": "train",
}

__all__ = [
    "INTENDED_USE",
    "FitConfig",
    "Run",
    "RunDir",
    "__version__",
    "evaluate",
    "fit",
    "load_run",
    "predict",
]

if TYPE_CHECKING:  # pragma: no cover
    from .runs import RunDir
    from .train import FitConfig, Run, evaluate, fit, load_run, predict


__getattr__ = lazy_exports(__name__, _EXPORTS)

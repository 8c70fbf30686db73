"""qsdaqec: SDA-QEC (arXiv 2601.18556) as a hardware-targeted pipeline: synthetic angiography
data, forward-diffusion minority augmentation, a MobileNetV2 backbone and a Qiskit quantum head
on simulators or IBM devices.

Importing the package loads nothing else (pyproject.toml reads ``__version__`` from here at
build time; ``qsdaqec --help`` stays fast).
"""

__version__ = "0.1.0"
"""The package version: this is its one place (pyproject.toml's version is dynamic)."""

INTENDED_USE = (
    "qsdaqec is research software for reproducing and studying SDA-QEC. It is not a medical "
    "device and must not be used for clinical diagnosis or to inform the care of patients."
)
"""The intended-use statement, as the README, the docs and exported models state it."""

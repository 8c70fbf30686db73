"""Optional dependencies, checked in one place: each is named with the extra that installs it,
so a missing one is one line saying what to install, never an ImportError traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError

#: module -> (the pip extra that installs it, what needs it)
OPTIONAL = {
    "ray": ("ray", "--executor ray"),
    "submitit": ("slurm", "--executor slurm"),
    "onnx": ("export", "qsdaqec export"),
    "onnxscript": ("export", "qsdaqec export"),  # torch.onnx.export(dynamo=True) needs it
    "onnxruntime": ("export", "qsdaqec export"),  # the check of the exported graph
    "tensorboard": ("tracking", "--tracker tensorboard"),
    "mlflow": ("tracking", "--tracker mlflow"),
}


def require(module: str) -> ModuleType:
    """Import an optional dependency, or raise a ``ConfigError`` naming the extra."""
    extra, purpose = OPTIONAL[module]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{purpose} needs {module}, which is not installed: install qsdaqec[{extra}] "
            f"(pip install 'qsdaqec[{extra}]')"
        ) from None

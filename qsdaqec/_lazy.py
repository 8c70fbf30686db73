"""Lazy package exports: ``qsdaqec --help`` and option parsing must not import torch.

A package lists ``name -> submodule`` and sets ``__getattr__ = lazy_exports(__name__, table)``;
``from qsdaqec.data import load_dataset`` then imports ``qsdaqec.data.loaders`` on first use
only, so importing a torch-free submodule (``qsdaqec.data.synth``) stays torch-free.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<exports[name]>`` on first access."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(f".{exports[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

"""Checkpoints: written atomically, read with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import RunError
from ..io import atomic_torch_save


def save_checkpoint(path: Path, obj: dict[str, Any]) -> None:
    """Write a checkpoint of the run in ``path.parent``; a full disk or a read-only folder is
    one line that says how to go on (the epochs before it are checkpointed)."""
    resume = f"continue with `qsdaqec fit --out {path.parent} --resume`"
    atomic_torch_save(path, obj, then=resume)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path}: checkpoint not found") from None
    except Exception as e:
        raise RunError(
            f"{path}: unreadable checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None

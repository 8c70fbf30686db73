"""Tiny on-disk data sets built in tmp dirs."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, value: int = 128, size: int = 16, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a stable seed (Python's hash() is salted per process: pixels would change every run)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    arr = np.clip(value + rng.integers(-20, 21, (size, size)), 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, mode="L")
    if mode != "L":
        im = im.convert(mode)
    im.save(path)
    return path


def make_folder(root: Path, counts: dict[str, int], size: int = 16) -> Path:
    for cls, k in counts.items():
        for i in range(k):
            write_png(
                root / cls / f"{cls}_{i:02d}.png", value=60 if cls == "stenosis" else 190, size=size
            )
    return root

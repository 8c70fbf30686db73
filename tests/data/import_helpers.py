"""Shared by the ``qsdaqec data import`` tests: tiny images, the CLI call, the clean-refusal
check."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from cli_helpers import handled_error
from click.testing import CliRunner, Result
from PIL import Image

from qsdaqec.cli import cli


def write_image(path: Path, size: tuple[int, int] = (64, 64), mode: str = "L") -> Path:
    """A small angiogram-like frame (dark vessel on a bright field) in ``mode``, saved in the
    format of ``path``'s suffix; the pixels depend only on the file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    arr = np.clip(170 + rng.normal(0, 12, (h, w)), 0, 255)
    arr[h // 2 - 2 : h // 2 + 2, :] = 60  # a vessel
    im = Image.fromarray(arr.astype(np.uint8), mode="L")
    (im if mode == "L" else im.convert(mode)).save(path)
    return path


def run_import(*args: str) -> Result:
    return CliRunner().invoke(cli, ["data", "import", *args])


def refused_cleanly(result: Result, out: Path, *fragments: str) -> str:
    """A handled one-line error, and nothing left behind: no OUT, no hidden temp folder."""
    line = handled_error(result, *fragments)
    assert not out.exists(), f"{out} was created"
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert not leftovers, leftovers
    return line


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

"""The built-in generator gives the same pixels in every process and on every machine: a
stored checksum of a tiny set. A change to the generator must bump GENERATOR_VERSION (the
cache key of the built-in data) and this checksum together."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from PIL import Image

from qsdaqec.data.synth import GENERATOR_VERSION, SynthConfig, generate_synthetic

TINY = SynthConfig(n=10, size=48, seed=11, contact_sheet_tiles=0)
EXPECTED = {
    "version": 6,
    "sha256": "b3f8fefba96ab4422b0d0a0f361ad5c07acf41021ee978ec87f9f73bb040661b",
}


def _digest(root) -> str:
    """Pixels (decoded, so PNG encoder versions do not matter), labels and lesion records."""
    h = hashlib.sha256()
    for path in sorted(root.glob("*/*.png")):
        h.update(str(path.relative_to(root)).encode())
        h.update(np.asarray(Image.open(path)).tobytes())
    manifest = json.loads((root / "manifest.json").read_text())
    h.update(json.dumps(manifest["images"], sort_keys=True).encode())
    return h.hexdigest()


def test_tiny_set_checksum(tmp_path):
    root = generate_synthetic(tmp_path / "tiny", TINY)
    assert GENERATOR_VERSION == EXPECTED["version"]
    assert _digest(root) == EXPECTED["sha256"]

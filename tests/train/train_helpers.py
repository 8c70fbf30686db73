"""Helpers of the training tests: a tiny synthetic ImageFolder and a tiny FitConfig."""

import numpy as np
from PIL import Image


def make_folder(root, n_normal=12, n_stenosis=8, size=32, seed=0, classes=("normal", "stenosis")):
    """A tiny ImageFolder: a dark 'vessel' bar; stenosis images have a bright gap in it."""
    rng = np.random.default_rng(seed)
    for name, n in zip(classes, (n_normal, n_stenosis), strict=False):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = 0.7 + 0.1 * rng.standard_normal((size, size))
            c = size // 2 + rng.integers(-3, 4)
            img[:, c - 2 : c + 2] = 0.2
            if name == classes[1]:
                r = rng.integers(8, size - 8)
                img[r - 3 : r + 3, c - 2 : c + 2] = 0.65
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(d / f"{i:03d}.png")
    return root


def tiny_cfg(data, out, **kw):
    from qsdaqec.train import FitConfig

    base = dict(
        data=str(data),
        out=str(out),
        image_size=32,
        epochs=2,
        batch_size=8,
        weights="none",
        val_frac=0.25,
        test_frac=0.25,
        progress=False,
        num_threads=1,
        noisy_epochs=1,
        noisy_subset=4,
        noisy_batch_size=4,
    )
    base.update(kw)
    return FitConfig(**base)

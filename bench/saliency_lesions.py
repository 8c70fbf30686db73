"""Does Grad-CAM look at the lesion? On the built-in data's stenosis test images of a run.

    python bench/saliency_lesions.py RUN [--tolerance 1 2]

For each stenosis image of the run's test split (the built-in data: its manifest.json gives
every lesion's centre and Gaussian half-length sigma, in pixels of the stored 128-px image),
the Grad-CAM map of the stenosis class (``qsdaqec.train.saliency``) and its peak pixel. A hit:
the peak within ``t * sigma + 2`` pixels of a lesion's centre, for each tolerance ``t``. The
uniform-random baseline is the share of the image's pixels that lie that close to a lesion
(what a peak placed at random would hit), averaged over the same images. Not a speed benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qsdaqec.data import builtin_dataset_dir, load_image  # noqa: E402
from qsdaqec.train import load_run  # noqa: E402
from qsdaqec.train.saliency import grad_cam, peak_of  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--tolerance", type=float, nargs="+", default=[1.0, 2.0])
    args = ap.parse_args(argv)
    run = load_run(args.run)
    root = builtin_dataset_dir()
    manifest = {m["file"]: m for m in json.loads((root / "manifest.json").read_text())["images"]}
    split = json.loads((Path(args.run) / "split.json").read_text())
    ids = [i for i in split["test"]["ids"] if manifest.get(i, {}).get("stenoses")]
    size = run.cfg.image_size
    scale = size / 128.0
    x = torch.stack([load_image(root / i, size) for i in ids])
    pos = run.classes.index("stenosis")
    cam, _ = grad_cam(run.model, x, torch.full((len(ids),), pos))
    yy, xx = np.mgrid[0:size, 0:size]
    for t in args.tolerance:
        hits, area = [], []
        for i, c in zip(ids, cam, strict=True):
            px, py = peak_of(c)
            near = np.zeros((size, size), bool)
            hit = False
            for les in manifest[i]["stenoses"]:
                cx, cy, r = les["x"] * scale, les["y"] * scale, (t * les["sigma"] + 2) * scale
                near |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
                hit |= (px - cx) ** 2 + (py - cy) ** 2 <= r * r
            hits.append(hit)
            area.append(near.mean())
        print(
            f"{args.run}: tolerance {t:g} sigma + 2 px: peak on a lesion in {np.mean(hits):.0%} of "
            f"{len(ids)} stenosis test images; uniform-random peak {np.mean(area):.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

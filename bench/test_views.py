"""Test-time views, side by side on finished runs: test AUC of the exact head from the
backbone's features of one view and of 2, 4 and 8 flipped/transposed views averaged
(``qsdaqec.models.views``), and, for comparison, the head's probabilities averaged over 8
views (8 circuits per image on hardware, which the product does not do).

    python bench/test_views.py RUN [RUN ...]

Prints one row per run and the mean; the runs' own ``test_views`` setting is ignored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qsdaqec.models import dihedral_views  # noqa: E402
from qsdaqec.train import load_run  # noqa: E402
from qsdaqec.train.scoring import features_of, head_logits  # noqa: E402


def _auc(run, feats, y) -> float:
    prob = torch.softmax(head_logits(run.cfg, run.model.head, feats)[0], 1)[:, run.positive]
    return float(roc_auc_score(y == run.positive, prob.numpy()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    cols = ("1 view", "2 views", "4 views", "8 views", "8 views, prob. avg")
    print(f"{'run':<32}" + "".join(f"{c:>20}" for c in cols))
    rows = []
    for rd in a.runs:
        run = load_run(rd, "cpu")
        images, labels, _ = run.data().part("test")
        y = labels.numpy()
        row = [_auc(run, features_of(run.model, images, views=n), y) for n in (1, 2, 4, 8)]
        probs = [
            torch.softmax(head_logits(run.cfg, run.model.head, features_of(run.model, v))[0], 1)
            for v in dihedral_views(images, 8)
        ]
        mean_prob = torch.stack(probs).mean(0)[:, run.positive].numpy()
        row.append(float(roc_auc_score(y == run.positive, mean_prob)))
        rows.append(row)
        print(f"{str(rd)[-32:]:<32}" + "".join(f"{v:>20.3f}" for v in row))
    print(f"{'mean':<32}" + "".join(f"{v:>20.3f}" for v in np.mean(rows, 0)))


if __name__ == "__main__":
    main()

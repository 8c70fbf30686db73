"""Does a run detect the stenosis, and find it? Scores and lesion locations of finished runs
on their own test split and on other labelled data with a lesions.json (e.g. the held-out
configuration, ``qsdaqec data synth --preset heldout``).

    python bench/lesion_eval.py RUN [RUN ...] [--data DIR] [--csv OUT.csv]

Per run: the test split's AUC and lesion localisation as ``fit`` saved them (metrics.json),
and with ``--data`` every image of DIR scored by the run's model (exact head, the run's test
views): AUC, balanced accuracy at 0.5, and localisation: of the true positives (stenosis
images predicted stenosis at 0.5) with known lesions, the share whose top lesion-map peak lies
within a lesion's reach + 2 px (``qsdaqec.train.localise``). Accuracy, not speed.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qsdaqec.data import load_dataset  # noqa: E402
from qsdaqec.data.lesions import find_lesions  # noqa: E402
from qsdaqec.metrics import classification_metrics  # noqa: E402
from qsdaqec.train import load_run  # noqa: E402
from qsdaqec.train.localise import lesion_maps, test_localisation  # noqa: E402
from qsdaqec.train.scoring import head_logits  # noqa: E402


def on_data(run, data: Path) -> dict:
    ds = load_dataset(data, run.cfg.image_size)
    table = find_lesions(data)
    feats = run.features(ds.images)
    logits, _ = head_logits(run.cfg, run.model.head, feats)
    pos = ds.classes.index(run.classes[run.positive])
    prob = torch.softmax(logits, 1)[:, run.positive]
    y = (ds.labels == pos).long()
    m = classification_metrics(y.numpy(), prob.numpy(), positive=1)
    out = {"auc": m["auc"], "bacc": m["balanced_accuracy"], "n": len(y), "loc": math.nan}
    if table is not None and getattr(run.model, "lesion", None) is not None:
        maps = lesion_maps(run.model, ds.images, run.cfg.test_views)
        tp = [i for i in range(len(y)) if y[i] == 1 and prob[i] >= 0.5]
        loc = test_localisation(maps, ds.ids, table, tp, ds.images)
        out.update(loc=loc["rate"], loc_n=loc["n"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--data", type=Path, help="labelled data with lesions.json to score")
    ap.add_argument("--csv", type=Path, help="also write the table here")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for r in args.runs:
        run = load_run(r)
        m = json.loads((Path(r) / "metrics.json").read_text())
        loc = (m.get("localisation") or {}).get("rate", math.nan)
        row = {"run": r, "test_auc": m["test"]["auc"], "test_loc": loc}
        if args.data is not None:
            row.update({f"data_{k}": v for k, v in on_data(run, args.data).items()})
        rows.append(row)
        print(
            "  ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            )
        )
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

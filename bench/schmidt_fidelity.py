"""How close the schmidt encoding's 4-qubit state is to the paper's, on a run's own features.

    python bench/schmidt_fidelity.py RUN [RUN ...]     # runs with features.pt (two-stage fits)

For each test-split feature vector: the fidelity ``<v|rho|v>`` of the encoded pure state ``v``
to the exact reduced state ``rho`` of the paper's 8-qubit amplitude state on the 4 measured
qubits (1 = the paper's outputs exactly), the best any pure state can do (``rho``'s top
eigenvalue), and how far ``qsdaqec.quantum.schmidt.POWER_STEPS`` power-iteration steps are from
it (2-16 steps). Not a speed benchmark.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qsdaqec.quantum.schmidt import POWER_STEPS, schmidt_fidelity  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for run in argv:
        feats = torch.load(Path(run) / "features.pt", weights_only=False)
        x = feats["test"]["features"].double().numpy()
        m = x.reshape(len(x), -1, 16)
        w = np.linalg.eigvalsh(np.swapaxes(m, -1, -2) @ m)
        best = w[:, -1] / w.sum(-1)
        fid = schmidt_fidelity(x, 4)
        print(
            f"{run}: {len(x)} test samples; fidelity mean {fid.mean():.3f}, median "
            f"{np.median(fid):.3f}, min {fid.min():.3f} (best pure state: mean {best.mean():.3f}); "
            f"median lambda2/lambda1 {np.median(w[:, -2] / w[:, -1]):.3f}"
        )
        gaps = {k: np.abs(schmidt_fidelity(x, 4, k) - best).max() for k in (2, 4, 8, 16)}
        print(
            "  max |fidelity - best| after k power steps (default "
            f"{POWER_STEPS}): " + ", ".join(f"{k}: {g:.1e}" for k, g in gaps.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

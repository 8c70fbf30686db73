"""The notebook API: :func:`load_run` returns a :class:`Run`, a trained run held in memory
(its model loaded once) that predicts and evaluates; ``fit`` returns one too::

    import qsdaqec

    run = qsdaqec.load_run("runs/tour")
    run.metrics["test"]["auc"]                   # metrics.json
    run.thresholds                               # {"youden": 0.41, "sens90": 0.23}
    rows = run.predict("data/aug/test/stenosis")  # or arrays, tensors, PIL images
    rows[0]["p_stenosis"], rows[0]["predicted"]
    run.evaluate("aer_noisy:fake_torino", balanced_test=True)["test"]

Lines they print go through ``logging`` (the ``qsdaqec`` logger: :mod:`qsdaqec.logs`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .evaluation import evaluate
from .prediction import Images, predict
from .run import LoadedRun


class Run(LoadedRun):
    """A finished run in memory (:class:`~qsdaqec.train.run.LoadedRun`: ``model``,
    ``config``, ``metrics``, ``thresholds``, ``classes``, ``record``, ``dir``) that scores
    images with its model as loaded, without reading the run again."""

    def predict(
        self,
        images: Images,
        *,
        threshold: float | str = 0.5,
        backend: str = "statevector",
        shots: int | None = None,
        explain: str | Path | None = None,
        frames: str | None = None,
        exclude_train: bool = False,
    ) -> list[dict[str, Any]]:
        """One row per image: ``image`` (its path, or its position among images given in
        memory), ``label`` (from a folder named like a class), ``p_<class>``, ``predicted``,
        the lesion map's ``lesion_x``/``lesion_y``/``lesion_score``/``lesions`` when the model
        has one, ``trained_on`` where it applies. See :func:`qsdaqec.train.predict`."""
        return predict(
            self,
            images,
            threshold=threshold,
            backend=backend,
            shots=shots,
            explain=explain,
            frames=frames,
            exclude_train=exclude_train,
        )

    def evaluate(
        self,
        backend: str = "statevector",
        *,
        balanced_test: bool = False,
        data: str | None = None,
        shots: int | None = None,
        out: str | Path | None = None,
        threshold: float | str = 0.5,
        progress: bool = False,
    ) -> dict[str, Any]:
        """The test split scored with the head on ``backend``; writes and returns what
        :func:`qsdaqec.train.evaluate` does (``result["test"]``: the metrics)."""
        return evaluate(
            self,
            backend,
            balanced_test=balanced_test,
            data=data,
            shots=shots,
            out=out,
            threshold=threshold,
            progress=progress,
        )


def load_run(run_dir: str | os.PathLike, device: str = "cpu") -> Run:
    """The finished run in ``run_dir`` (a ``fit``'s ``out``), its model loaded once, its backbone
    on ``device`` (``auto|cpu|cuda[:N]|mps``); ``RunError`` saying what to do when it is not
    finished or not a run."""
    return Run.open(run_dir, device)

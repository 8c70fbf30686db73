"""Plots say what they show."""

import qsdaqec.plots as plots


def _labels(monkeypatch, history):
    seen = {}

    def keep(fig, path):
        seen["x"] = [ax.get_xlabel() for ax in fig.axes]
        return path

    monkeypatch.setattr(plots, "_save", keep)
    plots.plot_curves("curves.png", history)
    return seen["x"]


def test_curves_name_stage_2_only_when_it_ran(monkeypatch):
    one = [{"stage": 1, "epoch": 1, "train_loss": 0.7, "val_loss": 0.6, "val_auc": 0.7}]
    assert set(_labels(monkeypatch, one)) == {"epoch (stage 1)"}
    two = [*one, {"stage": 2, "epoch": 0, "val_loss": 0.5, "val_auc": 0.75}]
    assert set(_labels(monkeypatch, two)) == {"epoch (stage 1, then stage 2: shaded)"}

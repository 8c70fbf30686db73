"""Stage 2, noisy fine-tune (a quantum head on a non-exact backend only).

The backbone and projection are frozen, the 256-d features of every split are cached
(``features.pt``), and the quantum weights and the output layer are fine-tuned on the backend
(e.g. Aer with an IBM device's noise) with the runner's parameter-shift gradients, on a
stratified subset of the training features each epoch. Epoch 0 is the stage-1 head evaluated
on the backend (its output layer refit there first), so the stage can only keep or improve the
validation criterion.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
from torch import nn

from ..metrics import format_metrics
from .accel import Accel
from .batching import predict_logits
from .checkpoints import load_checkpoint, save_checkpoint
from .context import CHECKPOINT, FEATURES, STAGE2_BEST, STAGE2_START, FitContext
from .data import PreparedData
from .model import backend_head, set_input_gradients
from .scoring import features_of, history_row, score_value, scores
from .seeding import derived_seed, rng_state, set_rng_state
from .stage1 import Progress, train_epoch


def cache_features(
    ctx: FitContext, model, x_tr, y_tr, prep: PreparedData, accel: Accel | None = None
) -> dict[str, Any]:
    """The 256-d features of train (augmented), val and test: ``features.pt`` (computed once)."""
    path = ctx.run / FEATURES
    if path.is_file():
        return load_checkpoint(path)
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    x_va, y_va, id_va = prep.part("val")
    x_te, y_te, id_te = prep.part("test")
    parts = {"train": (x_tr, y_tr, None), "val": (x_va, y_va, id_va), "test": (x_te, y_te, id_te)}
    n = sum(-(-p[0].shape[0] // 64) for p in parts.values())
    with ctx.bar(n, "caching features") as bar:
        for name, (x, y, ids) in parts.items():
            f = features_of(model, x, bar, accel, ctx.cfg.test_views)
            out[name] = {"features": f, "labels": y.clone()}
            if ids is not None:
                out[name]["ids"] = list(ids)
    save_checkpoint(path, out)
    ctx.log(
        f"cached 256-d features of train/val/test in {time.perf_counter() - t0:.1f}s -> {path.name}"
    )
    return out


def stratified_subset(labels: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """``k`` rows keeping the class proportions (at least one per class), shuffled."""
    n = labels.numel()
    if k <= 0 or k >= n:
        return torch.randperm(n, generator=g)
    picks = []
    for c in (0, 1):
        idx = torch.nonzero(labels == c).flatten()
        kc = max(1, round(k * idx.numel() / n)) if idx.numel() else 0
        picks.append(idx[torch.randperm(idx.numel(), generator=g)[:kc]])
    sel = torch.cat(picks)
    return sel[torch.randperm(sel.numel(), generator=g)]


def refit_readout(
    readout: nn.Linear, z: torch.Tensor, y: torch.Tensor, criterion, steps: int = 300
) -> None:
    """Fit the output layer on fixed backend expectation values ``z`` (cheap: no circuits)."""
    z = z.to(readout.weight.dtype)
    opt = torch.optim.Adam(readout.parameters(), lr=0.05)
    for _ in range(steps):
        loss = criterion(readout(z), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


class _Stage2:
    """The stage's state: the head on the backend, its optimiser, the cached features."""

    def __init__(self, ctx: FitContext, model, feats, criterion, positive: int):
        self.ctx, self.cfg, self.criterion, self.positive = ctx, ctx.cfg, criterion, positive
        t_build = time.perf_counter()
        self.head, self.rcfg = backend_head(self.cfg, self.cfg.backend_spec)
        self.head.load_state_dict(model.head.state_dict())
        set_input_gradients(self.head, False)  # the features are constants: weight gradients only
        self.opt = torch.optim.Adam(self.head.parameters(), lr=self.cfg.noisy_lr)
        self.f_tr, self.y_tr = feats["train"]["features"], feats["train"]["labels"]
        self.f_va, self.y_va = feats["val"]["features"], feats["val"]["labels"]
        self.p = Progress(seconds=time.perf_counter() - t_build)

    @property
    def runner(self) -> Any:
        """The head's runner estimator (its generator draws the shots), if it has one."""
        est = getattr(self.head.qnn, "estimator", None)
        return est if hasattr(est, "rng_state") else None

    def resume(self, ckpt: dict[str, Any]) -> None:
        self.head.load_state_dict(ckpt["head"])
        self.opt.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        if self.runner is not None and ckpt.get("runner_rng") is not None:
            self.runner.set_rng_state(ckpt["runner_rng"])
        elif self.runner is not None:
            self.ctx.log(
                "stage 2: the checkpoint predates saving the runner's random state; the "
                "resumed epochs draw other shots than an uninterrupted run would"
            )
        self.p.start = int(ckpt["epoch"]) + 1
        self.p.best_score, self.p.best_epoch = float(ckpt["best_score"]), int(ckpt["best_epoch"])
        self.p.seconds += float(ckpt.get("seconds", 0.0))
        self.ctx.log(f"stage 2: resuming after epoch {self.p.start - 1}")

    def record(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "stage": 2,
            "name": "noisy fine-tune (frozen backbone, cached features)",
            "backend": cfg.backend,
            "backend_resolved": str(cfg.backend_spec),
            "gradient": "parameter-shift (runner)",
            "runner_config": dataclasses.asdict(self.rcfg) if self.rcfg is not None else None,
            "trains": "quantum weights + output layer",
            "samples_per_epoch": cfg.noisy_subset or int(self.y_tr.numel()),
            "status": "running",
            "epochs": max(self.p.start - 1, 0),
            "seconds": round(self.p.seconds, 2),
        }

    def validate(self, desc: str) -> dict[str, Any]:
        self.head.eval()
        with self.ctx.bar(-(-self.f_va.shape[0] // 32), desc) as bar:
            self.val_logits = predict_logits(self.head, self.f_va, 32, bar)
        return scores(self.val_logits, self.y_va, self.positive, self.criterion)

    def checkpoint(self, epoch: int) -> None:
        save_checkpoint(
            self.ctx.run / CHECKPOINT,
            {
                "stage": 2,
                "epoch": epoch,
                "head": self.head.state_dict(),
                "optimizer": self.opt.state_dict(),
                "rng": rng_state(),
                "runner_rng": self.runner.rng_state() if self.runner is not None else None,
                "best_score": self.p.best_score,
                "best_epoch": self.p.best_epoch,
                "history": self.ctx.history,
                "seconds": self.p.seconds,
            },
        )
        self.ctx.update_stage(
            2, epochs=epoch, seconds=round(self.p.seconds, 2), best_epoch=self.p.best_epoch
        )

    def end_epoch(self, epoch: int, train_loss: float, val: dict[str, Any], t0: float) -> bool:
        """Keep the best head, write the history row and the checkpoint; True if improved."""
        score = score_value(val, self.cfg.monitor)
        improved = epoch == 0 or score > self.p.best_score
        if improved:
            self.p.best_score, self.p.best_epoch = score, epoch
            best = {"head": self.head.state_dict(), "epoch": epoch, "val_logits": self.val_logits}
            save_checkpoint(self.ctx.run / STAGE2_BEST, best)
        dt = time.perf_counter() - t0
        self.p.seconds += dt
        row = history_row(2, epoch, train_loss, val, dt, lr=self.cfg.noisy_lr, best=improved)
        self.ctx.add_history(row)
        self.checkpoint(epoch)
        self.dt, self.row = dt, row
        return improved

    def calibrate(self) -> None:
        """Epoch 0: the stage-1 head on this backend, its output layer refit there first."""
        cfg, t0 = self.cfg, time.perf_counter()
        # the stage-1 head as it is on this backend: what the run would be without stage 2
        save_checkpoint(self.ctx.run / STAGE2_START, {"head": self.head.state_dict()})
        if cfg.noisy_calibration != 0:  # None: every training sample
            g = torch.Generator().manual_seed(derived_seed(cfg.seed, 2, 0))
            rows = stratified_subset(self.y_tr, cfg.noisy_calibration or 0, g)
            with self.ctx.bar(-(-rows.numel() // 32), "stage 2 output-layer calibration") as bar:
                z = predict_logits(self.head.expectation_values, self.f_tr[rows], 32, bar)
            refit_readout(self.head.readout, z, self.y_tr[rows], self.criterion)
        val = self.validate("stage 2 epoch 0 (val on backend)")
        self.end_epoch(0, float("nan"), val, t0)
        self.ctx.log(
            f"stage 2 epoch 0 (stage-1 head on {cfg.backend}, output layer refit): "
            f"val {format_metrics(val)}  ({self.dt:.1f}s)"
        )

    def epoch(self, epoch: int) -> None:
        cfg, t0 = self.cfg, time.perf_counter()
        g = torch.Generator().manual_seed(derived_seed(cfg.seed, 2, epoch))
        sel = stratified_subset(self.y_tr, cfg.noisy_subset, g)
        self.head.train()
        bs = cfg.noisy_batch_size
        train_loss = train_epoch(
            self.ctx,
            self.opt,
            self.criterion,
            ((self.head, self.f_tr[b], self.y_tr[b]) for b in sel.split(bs)),
            -(-sel.numel() // bs),
            f"stage 2 epoch {epoch}/{cfg.noisy_epochs} on {cfg.backend}",
        )
        val = self.validate(f"stage 2 epoch {epoch} val")
        improved = self.end_epoch(epoch, train_loss, val, t0)
        self.ctx.log(
            f"stage 2 epoch {epoch}/{cfg.noisy_epochs}: train loss {train_loss:.4f}  val "
            f"{format_metrics(val)}{'  *best' if improved else ''}  ({self.dt:.1f}s)"
        )
        if self.ctx.hook is not None:
            self.ctx.hook(2, epoch, self.row)


def stage2(ctx: FitContext, model, feats, criterion, positive: int, ckpt: dict | None) -> None:
    """Fine-tune ``model``'s head on the run's backend (or continue from ``ckpt``); the best head
    is in ``stage2_best.pt`` and the stage's record in ``run.json``."""
    s = _Stage2(ctx, model, feats, criterion, positive)
    if ckpt is not None:
        s.resume(ckpt)
    ctx.start_stage(s.record())
    if s.p.start == 1 and ckpt is None:
        s.calibrate()
    for epoch in range(s.p.start, ctx.cfg.noisy_epochs + 1):
        s.epoch(epoch)
    ctx.update_stage(
        2,
        status="done",
        best_epoch=s.p.best_epoch,
        monitor=f"val {ctx.cfg.monitor} on {ctx.cfg.backend}",
    )

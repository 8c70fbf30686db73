"""Stage 1, end to end: the whole model trains on the (augmented) training split, the quantum
head on the fast exact path. Best checkpoint by the validation criterion, early stopping, and a
resumable checkpoint after every epoch."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..metrics import format_metrics
from .accel import Accel
from .batching import batches, predict_logits
from .checkpoints import save_checkpoint
from .config import FitConfig
from .context import CHECKPOINT, STAGE1_BEST, FitContext
from .scoring import history_row, score_value, scores
from .seeding import derived_seed, rng_state, seed_all, set_rng_state


@dataclass
class TrainingSet:
    """The (augmented) training split and the validation split, as tensors."""

    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


@dataclass
class Progress:
    """Where a stage stands: next epoch, best criterion so far, patience counter, seconds."""

    start: int = 1
    best_score: float = -math.inf
    best_epoch: int = 0
    bad: int = 0
    seconds: float = 0.0


def train_epoch(
    ctx: FitContext, opt, criterion, steps, n_steps: int, desc: str, accel: Accel | None = None
) -> float:
    """One optimiser step per ``(module, inputs, labels)`` of ``steps``; the mean training loss.

    Both stages train through this loop: stage 1 the whole model on images (on ``accel``'s
    device, under its autocast), stage 2 the head on cached features."""
    total, count = 0.0, 0
    autocast = accel.autocast if accel is not None else contextlib.nullcontext
    with ctx.bar(n_steps, desc) as bar:
        for module, x, y in steps:
            with autocast():
                loss = criterion(module(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * y.numel()
            count += y.numel()
            bar.update(1)
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
    return total / max(count, 1)


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, x: torch.Tensor, batch_size: int = 64, accel: Accel | None = None
) -> None:
    """Recompute every BatchNorm's running statistics as the exact average over ``x``.

    A network trained from scratch for only a few hundred steps has running statistics far
    from the data's (momentum 0.1); in eval mode its features then collapse to a constant and
    every validation image gets the same score. One forward pass in train mode with
    cumulative averaging (``momentum=None``) fixes that; weights are untouched.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training = model.training
    saved = [b.momentum for b in bns]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None
    model.train()
    fn = model.features if hasattr(model, "features") else model
    for i in range(0, x.shape[0], batch_size):
        if x[i : i + batch_size].shape[0] > 1:
            xb = x[i : i + batch_size]
            if accel is None:
                fn(xb)
            else:
                with accel.autocast():
                    fn(accel.batch(xb))
    for b, m in zip(bns, saved, strict=True):
        b.momentum = m
    model.train(was_training)


def flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally and/or vertically with probability 1/2 each (the draws come
    from the CPU generator ``g`` whatever the images' device)."""
    h = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device)
    v = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device)
    x = torch.where(h.view(-1, 1, 1, 1), x.flip(-1), x)
    return torch.where(v.view(-1, 1, 1, 1), x.flip(-2), x)


def _param_groups(model: nn.Module, cfg: FitConfig) -> list[dict[str, Any]]:
    head_ids = {id(p) for p in model.head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    return [
        {"params": body, "lr": cfg.lr},
        {"params": list(model.head.parameters()), "lr": cfg.head_lr},
    ]


def _recal_rows(n: int, cfg: FitConfig) -> torch.Tensor:
    """A fixed, seeded subset of training rows for the BatchNorm recalibration."""
    g = torch.Generator().manual_seed(derived_seed(cfg.seed, 1, 0, 7))
    return torch.randperm(n, generator=g)[: cfg.bn_recalibrate]


def _resume(ctx: FitContext, model, opt, sched, ckpt: dict[str, Any] | None) -> Progress:
    if ckpt is None:
        return Progress()
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"])
    p = Progress(
        start=int(ckpt["epoch"]) + 1,
        best_score=float(ckpt["best_score"]),
        best_epoch=int(ckpt["best_epoch"]),
        bad=int(ckpt["bad_epochs"]),
        seconds=float(ckpt.get("seconds", 0.0)),
    )
    ctx.log(f"stage 1: resuming after epoch {p.start - 1}")
    return p


def stage1(
    ctx: FitContext,
    model,
    data: TrainingSet,
    criterion,
    positive: int,
    ckpt: dict | None,
    accel: Accel,
) -> None:
    """Train ``model`` end to end on ``accel`` (or continue from ``ckpt``); the best model is in
    ``stage1_best.pt`` and the stage's record in ``run.json``."""
    cfg = ctx.cfg
    opt = torch.optim.Adam(_param_groups(model, cfg), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    p = _resume(ctx, model, opt, sched, ckpt)
    ctx.start_stage(
        {
            "stage": 1,
            "name": "end-to-end",
            "backend": "exact (fast path)" if cfg.is_quantum else "classical",
            "status": "running",
            "epochs": p.start - 1,
            "seconds": round(p.seconds, 2),
        }
    )
    n_batches = sum(
        1 for _ in batches(data.y.numel(), cfg.batch_size, torch.Generator().manual_seed(0))
    )
    stopped_early = False
    for epoch in range(p.start, cfg.epochs + 1):
        stopped_early = _epoch(
            ctx, model, data, opt, sched, criterion, positive, p, epoch, n_batches, accel
        )
        if stopped_early:
            ctx.log(f"stage 1: early stop (no validation improvement for {cfg.patience} epochs)")
            break
    ctx.update_stage(
        1,
        status="done",
        best_epoch=p.best_epoch,
        early_stopped=stopped_early,
        monitor=f"val {cfg.monitor}",
    )


def _epoch(
    ctx, model, data, opt, sched, criterion, positive, p: Progress, epoch, n_batches, accel
) -> bool:
    """One stage-1 epoch: train, recalibrate, validate, checkpoint. True: stop early."""
    cfg = ctx.cfg
    train_criterion = copy.deepcopy(criterion).to(accel.device)
    t0 = time.perf_counter()
    seed_all(derived_seed(cfg.seed, 1, epoch))  # dropout etc.: each epoch reproducible alone
    g = torch.Generator().manual_seed(derived_seed(cfg.seed, 1, epoch, 1))
    model.train()

    def steps():
        for b in batches(data.y.numel(), cfg.batch_size, g):
            xb = accel.batch(data.x[b.to(data.x.device)])
            if ctx.noise_match is not None:
                xb = ctx.noise_match(xb, data.y[b], g)
            yield model, (flip(xb, g) if cfg.flips else xb), data.y[b].to(accel.device)

    desc = f"stage 1 epoch {epoch}/{cfg.epochs}"
    train_loss = train_epoch(ctx, opt, train_criterion, steps(), n_batches, desc, accel)
    sched.step()
    if cfg.bn_recalibrate:
        rows = _recal_rows(data.y.numel(), cfg).to(data.x.device)
        recalibrate_batchnorm(model, data.x[rows], accel=accel)
    model.eval()
    logits = predict_logits(model, data.x_val, 64, accel=accel)
    val = scores(logits, data.y_val, positive, criterion)
    score = score_value(val, cfg.monitor)
    improved = score > p.best_score
    if improved:
        p.best_score, p.best_epoch, p.bad = score, epoch, 0
        save_checkpoint(ctx.run / STAGE1_BEST, {"model": model.state_dict(), "epoch": epoch})
    else:
        p.bad += 1
    dt = time.perf_counter() - t0
    p.seconds += dt
    row = history_row(1, epoch, train_loss, val, dt, lr=opt.param_groups[0]["lr"], best=improved)
    ctx.add_history(row)
    stop = cfg.patience > 0 and p.bad >= cfg.patience and epoch < cfg.epochs
    save_checkpoint(
        ctx.run / CHECKPOINT,
        {
            "stage": 1,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": rng_state(),
            "best_score": p.best_score,
            "best_epoch": p.best_epoch,
            "bad_epochs": p.bad,
            "history": ctx.history,
            "seconds": p.seconds,
            "stopped_early": stop,
        },
    )
    ctx.update_stage(1, epochs=epoch, seconds=round(p.seconds, 2), best_epoch=p.best_epoch)
    ctx.log(
        f"stage 1 epoch {epoch}/{cfg.epochs}: train loss {train_loss:.4f}  val loss "
        f"{val['loss']:.4f}  val {format_metrics(val)}{'  *best' if improved else ''}  ({dt:.1f}s)"
    )
    if ctx.hook is not None:
        ctx.hook(1, epoch, row)
    return stop

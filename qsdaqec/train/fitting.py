"""``fit(cfg) -> run directory``: the two-stage SDA-QEC training.

Stage 1 ("end-to-end"): the whole model trains on the (augmented) training split, the quantum
head on the fast exact estimator path. Best checkpoint by validation AUC (or loss), early
stopping, a resumable checkpoint after every epoch.

Stage 2 ("noisy fine-tune", only for a quantum head on a non-exact backend): the backbone and
projection are frozen, the 256-d features of every split are cached (``features.pt``), and the
quantum weights and the output layer are fine-tuned on the backend (e.g. Aer with an IBM
device's noise) with the runner's parameter-shift gradients, on a stratified subset of the
training features each epoch. Epoch 0 is the stage-1 head evaluated on the backend, so the
stage can only keep or improve the validation criterion.

Finally the test split is scored (on the run's backend, and also exactly when stage 2 ran):
``metrics.json``, ``predictions_test.csv``, ROC / confusion / training-curve PNGs.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import RunError
from ..io import atomic_write_json, atomic_write_text, read_json
from ..metrics import classification_metrics, format_metrics
from ..runs import create_run_dir
from .common import (
    PreparedData,
    batches,
    class_weights,
    derived_seed,
    is_exact,
    load_checkpoint,
    make_backend_head,
    parse_fit_backend,
    predict_logits,
    prepare_data,
    rng_state,
    save_checkpoint,
    seed_all,
    set_determinism,
    set_input_gradients,
    set_rng_state,
)
from .config import RUN_CONTROL_FIELDS, FitConfig

EpochHook = Callable[[int, int, dict[str, Any]], None]
"""Called as ``hook(stage, epoch, history_row)`` after each epoch's checkpoint is written."""

CHECKPOINT = "checkpoint.pt"
STAGE1_BEST = "stage1_best.pt"
MODEL = "model.pt"
FEATURES = "features.pt"


def _log_default(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stderr)


# ============================================================================ run directory


def _prepare_run_dir(cfg: FitConfig, log) -> tuple[Path, FitConfig, dict[str, Any] | None]:
    """(run dir, effective config, existing run.json when resuming)."""
    out = Path(cfg.out) if cfg.out else Path("runs") / cfg.auto_name()
    info_path = out / "run.json"
    if out.exists() and any(out.iterdir()):
        is_run = (out / "config.json").is_file()
        if cfg.force:
            if not is_run:
                raise RunError(
                    f"{out}: not a run directory (no config.json); --force only replaces runs, "
                    "choose another --out"
                )
            shutil.rmtree(out)
        elif cfg.resume:
            if not is_run:
                raise RunError(f"{out}: nothing to resume (no config.json); drop --resume")
            saved = FitConfig.from_dict(read_json(out / "config.json"))
            for name in RUN_CONTROL_FIELDS:
                setattr(saved, name, getattr(cfg, name))
            saved.out = str(out)
            info = read_json(info_path) if info_path.is_file() else None
            return out, saved, info
        else:
            state = "finished" if _finished(out) else "interrupted"
            raise RunError(
                f"{out}: a {state} run is already there; pass --resume to continue it, --force "
                "to replace it, or choose another --out"
            )
    elif cfg.resume:
        log(f"{out}: no run to resume; starting a new one")
    cfg = FitConfig.from_dict(cfg.to_dict())
    cfg.out = str(out)
    return out, cfg, None


def _finished(run: Path) -> bool:
    try:
        return read_json(run / "run.json").get("status") == "finished"
    except Exception:
        return False


def _write_history(run: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_json(run / "history.json", history)
    cols: list[str] = []
    for row in history:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow(row)
    atomic_write_text(run / "history.csv", buf.getvalue())


# ============================================================================ scoring


def _scores(logits: torch.Tensor, labels: torch.Tensor, positive: int, criterion) -> dict[str, Any]:
    loss = float(criterion(logits, labels)) if logits.numel() else math.nan
    prob = torch.softmax(logits, dim=1)[:, positive]
    m = classification_metrics(labels.numpy(), prob.numpy(), positive=positive)
    m["loss"] = loss
    return m


def _score_value(m: dict[str, Any], monitor: str) -> float:
    """Higher is better. AUC falls back to -loss when undefined (one-class validation split)."""
    if monitor == "auc" and not math.isnan(m["auc"]):
        return m["auc"] - 1e-6 * m["loss"]  # ties broken by the lower loss
    return -m["loss"]


def _row(
    stage: int, epoch: int, train_loss: float, val: dict[str, Any], seconds: float, **kw
) -> dict[str, Any]:
    row = {"stage": stage, "epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"]}
    for k in ("accuracy", "auc", "f1", "sensitivity", "specificity"):
        row[f"val_{k}"] = val[k]
    row.update(kw)
    row["seconds"] = round(seconds, 3)
    return row


# ============================================================================ fit


class _Ctx:
    """Everything one fit needs; kept small so the stages read top to bottom."""

    def __init__(self, cfg: FitConfig, run: Path, log, hook: EpochHook | None):
        self.cfg, self.run, self.log, self.hook = cfg, run, log, hook
        self.info: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.noise_match: Any = None  # qsdaqec.augment.noise_match.NoiseMatch, when on

    def save_info(self) -> None:
        atomic_write_json(self.run / "run.json", self.info)

    def stage_record(self, stage: int) -> dict[str, Any] | None:
        for s in self.info.get("stages", []):
            if s["stage"] == stage:
                return s
        return None

    def bar(self, total: int, desc: str):
        from tqdm import tqdm

        return tqdm(
            total=total, desc=desc, leave=False, disable=not self.cfg.progress, file=sys.stderr
        )


def fit(
    cfg: FitConfig,
    *,
    log: Callable[[str], None] | None = None,
    on_epoch_end: EpochHook | None = None,
) -> Path:
    """Train (or resume) a run; returns its directory. See the module docstring for the stages."""
    log = log or _log_default
    cfg.validate()
    parsed = parse_fit_backend(cfg.backend)
    run, cfg, info = _prepare_run_dir(cfg, log)
    if info is not None and info.get("status") == "finished":
        log(f"{run}: run already finished; nothing to resume")
        return run
    threads = set_determinism(cfg.seed, cfg.num_threads)

    from ..models import build_model, quantum_head_config

    t_setup = time.perf_counter()
    prep = prepare_data(cfg)
    ds = prep.data
    positive = int(ds.positive)

    fresh = info is None
    if fresh:
        requested = cfg.weights
        seed_all(cfg.seed)
        model, used, message = build_model(
            cfg.model, head=cfg.head, encoding=cfg.encoding, weights=cfg.weights
        )
        if message:
            log(message)
        cfg.weights = used
        create_run_dir(run, cfg.to_dict(), seed=cfg.seed, exist_ok=True)
        info = {
            "status": "running",
            "weights": {"requested": requested, "used": used, "message": message},
            "stages": [],
        }
    else:
        log(f"{run}: resuming (config from {run / 'config.json'})")
        model, _, _ = build_model(cfg.model, head=cfg.head, encoding=cfg.encoding, weights="none")
        model.prep.normalize = cfg.weights == "imagenet"

    ctx = _Ctx(cfg, run, log, on_epoch_end)
    ctx.info = info
    two_stage = cfg.is_quantum and not is_exact(parsed)
    if not cfg.is_quantum and not is_exact(parsed):
        log(f"backend {cfg.backend} is not used by a classical model; training stage 1 only")

    # ---- training set: the train split, augmented (train split only)
    x_tr, y_tr, _ = prep.part("train")
    aug_summary: dict[str, Any] | None = None
    if cfg.augment:
        from ..augment import DiffusionConfig, SimpleDiffusionAugmentor, augment_training_split
        from ..augment.noise_match import NoiseMatch

        dcfg = DiffusionConfig(
            steps=cfg.diffusion_steps,
            beta_end=cfg.beta_end,
            rho_target=cfg.rho_target,
            seed=cfg.seed,
        )
        augmentor = SimpleDiffusionAugmentor(dcfg)
        aug = augment_training_split(
            ds.images, ds.labels, prep.split, minority=positive, augmentor=augmentor
        )
        x_tr, y_tr = aug.images, aug.labels
        aug_summary = aug.result.summary()
        if cfg.noise_match:
            ctx.noise_match = NoiseMatch.for_training_set(augmentor, y_tr, aug.synthetic)
        aug_summary["noise_match"] = ctx.noise_match.summary() if ctx.noise_match else "off"
    x_va, y_va, _ = prep.part("val")
    weights = class_weights(y_tr) if cfg.class_weighted else torch.ones(2)
    criterion = nn.CrossEntropyLoss(weight=weights)

    if fresh:
        info.update(
            {
                "data": {
                    "source": prep.source,
                    "builtin": cfg.data is None,
                    "n": int(ds.labels.numel()),
                    "classes": list(ds.classes),
                    "positive": positive,
                    "skipped": list(getattr(ds, "skipped", []) or []),
                    "split_sizes": {
                        k: len(getattr(prep.split, k)) for k in ("train", "val", "test")
                    },
                    "train_size_after_augmentation": int(y_tr.numel()),
                    "train_class_counts": torch.bincount(y_tr, minlength=2).tolist(),
                },
                "augmentation": aug_summary if cfg.augment else "off",
                "loss": (
                    f"cross-entropy, class-weighted (weights {[round(float(w), 4) for w in weights]})"
                    if cfg.class_weighted
                    else "cross-entropy, unweighted"
                ),
                "head": (
                    {"type": "quantum", "config": _asdict(quantum_head_config(cfg.encoding))}
                    if cfg.is_quantum
                    else {"type": "classical" if cfg.model == "sdaqec" else f"{cfg.model} linear"}
                ),
                "num_threads": threads,
                "device": "cpu",
                "plan": (
                    [
                        "stage 1: end-to-end on the exact fast path",
                        f"stage 2: noisy fine-tune of the head on {cfg.backend}",
                    ]
                    if two_stage
                    else [
                        "stage 1: end-to-end"
                        + (" on the exact fast path" if cfg.is_quantum else "")
                    ]
                ),
            }
        )
        atomic_write_json(
            run / "split.json",
            {
                k: {
                    "index": [int(i) for i in getattr(prep.split, k)],
                    "ids": [ds.ids[int(i)] for i in getattr(prep.split, k)],
                }
                for k in ("train", "val", "test")
            },
        )
        ctx.save_info()
    log(
        f"{run}: {prep.source} ({info['data']['n']} images, train {y_tr.numel()} after "
        f"augmentation, val {y_va.numel()}, test {info['data']['split_sizes']['test']}); "
        f"{info['loss']}; {threads} torch thread(s); setup {time.perf_counter() - t_setup:.1f}s"
    )

    ckpt_path = run / CHECKPOINT
    ckpt = load_checkpoint(ckpt_path) if (not fresh and ckpt_path.is_file()) else None
    if ckpt is not None:
        ctx.history = list(ckpt.get("history", []))

    # ---- stage 1
    s1 = ctx.stage_record(1)
    if s1 is None or s1.get("status") != "done":
        _stage1(
            ctx,
            model,
            x_tr,
            y_tr,
            x_va,
            y_va,
            criterion,
            positive,
            ckpt if ckpt is not None and ckpt.get("stage") == 1 else None,
        )
        ckpt = None
    model.load_state_dict(load_checkpoint(run / STAGE1_BEST)["model"])

    # ---- stage 2
    feats = None
    if two_stage:
        feats = _cache_features(ctx, model, x_tr, y_tr, prep)
        s2 = ctx.stage_record(2)
        if s2 is None or s2.get("status") != "done":
            _stage2(
                ctx,
                model,
                feats,
                criterion,
                positive,
                ckpt if ckpt is not None and ckpt.get("stage") == 2 else None,
            )
        best_head = load_checkpoint(run / "stage2_best.pt")["head"]
        model.head = _noisy_head(cfg, gradient=False)
        model.head.load_state_dict(best_head)

    # ---- final evaluation on the test split
    _final_eval(ctx, model, prep, feats, criterion, positive, two_stage)
    atomic_torch_save_model(run / MODEL, model)
    info["status"] = "finished"
    ctx.save_info()
    ckpt_path.unlink(missing_ok=True)  # the run is complete; model.pt holds the result
    log(f"{run}: finished")
    return run


def _asdict(obj: Any) -> Any:
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def atomic_torch_save_model(path: Path, model: nn.Module) -> None:
    save_checkpoint(path, {"model": model.state_dict()})


def _noisy_head(cfg: FitConfig, *, gradient: bool = True) -> nn.Module:
    head, _ = make_backend_head(cfg, cfg.backend, gradient=gradient)
    return head


# ============================================================================ stage 1


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


def _flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally and/or vertically with probability 1/2 each."""
    h = torch.rand(x.shape[0], generator=g) < 0.5
    v = torch.rand(x.shape[0], generator=g) < 0.5
    x = torch.where(h.view(-1, 1, 1, 1), x.flip(-1), x)
    return torch.where(v.view(-1, 1, 1, 1), x.flip(-2), x)


def _train_epoch(ctx: _Ctx, opt, criterion, steps, n_steps: int, desc: str) -> float:
    """One optimiser step per ``(module, inputs, labels)`` of ``steps``; the mean training loss.

    Both stages train through this loop: stage 1 the whole model on images, stage 2 the head on
    cached features."""
    total, count = 0.0, 0
    with ctx.bar(n_steps, desc) as bar:
        for module, x, y in steps:
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
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> None:
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
            fn(x[i : i + batch_size])
    for b, m in zip(bns, saved, strict=True):
        b.momentum = m
    model.train(was_training)


def _stage1(ctx: _Ctx, model, x_tr, y_tr, x_va, y_va, criterion, positive, ckpt) -> None:
    cfg, run = ctx.cfg, ctx.run
    opt = torch.optim.Adam(_param_groups(model, cfg), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    start, best_score, best_epoch, bad = 1, -math.inf, 0, 0
    seconds = 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        start = int(ckpt["epoch"]) + 1
        best_score, best_epoch, bad = (
            float(ckpt["best_score"]),
            int(ckpt["best_epoch"]),
            int(ckpt["bad_epochs"]),
        )
        seconds = float(ckpt.get("seconds", 0.0))
        ctx.log(f"stage 1: resuming after epoch {start - 1}")
    ctx.info["stages"] = [s for s in ctx.info["stages"] if s["stage"] != 1] + [
        {
            "stage": 1,
            "name": "end-to-end",
            "backend": "exact (fast path)" if cfg.is_quantum else "classical",
            "status": "running",
            "epochs": start - 1,
            "seconds": round(seconds, 2),
        }
    ]
    ctx.save_info()
    n_batches = sum(
        1 for _ in batches(y_tr.numel(), cfg.batch_size, torch.Generator().manual_seed(0))
    )
    stopped_early = False
    for epoch in range(start, cfg.epochs + 1):
        t0 = time.perf_counter()
        seed_all(derived_seed(cfg.seed, 1, epoch))  # dropout etc.: each epoch reproducible alone
        g = torch.Generator().manual_seed(derived_seed(cfg.seed, 1, epoch, 1))
        model.train()

        def steps(g=g):
            for b in batches(y_tr.numel(), cfg.batch_size, g):
                xb = x_tr[b]
                if ctx.noise_match is not None:
                    xb = ctx.noise_match(xb, y_tr[b], g)
                yield model, (_flip(xb, g) if cfg.flips else xb), y_tr[b]

        train_loss = _train_epoch(
            ctx, opt, criterion, steps(), n_batches, f"stage 1 epoch {epoch}/{cfg.epochs}"
        )
        sched.step()
        if cfg.bn_recalibrate:
            recalibrate_batchnorm(model, x_tr[_recal_rows(y_tr.numel(), cfg)])
        model.eval()
        val = _scores(predict_logits(model, x_va, 64), y_va, positive, criterion)
        score = _score_value(val, cfg.monitor)
        improved = score > best_score
        if improved:
            best_score, best_epoch, bad = score, epoch, 0
            save_checkpoint(run / STAGE1_BEST, {"model": model.state_dict(), "epoch": epoch})
        else:
            bad += 1
        dt = time.perf_counter() - t0
        seconds += dt
        row = _row(1, epoch, train_loss, val, dt, lr=opt.param_groups[0]["lr"], best=improved)
        ctx.history.append(row)
        _write_history(run, ctx.history)
        stopped_early = cfg.patience > 0 and bad >= cfg.patience and epoch < cfg.epochs
        save_checkpoint(
            run / CHECKPOINT,
            {
                "stage": 1,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": rng_state(),
                "best_score": best_score,
                "best_epoch": best_epoch,
                "bad_epochs": bad,
                "history": ctx.history,
                "seconds": seconds,
                "stopped_early": stopped_early,
            },
        )
        rec = ctx.stage_record(1)
        rec.update(epochs=epoch, seconds=round(seconds, 2), best_epoch=best_epoch)
        ctx.save_info()
        ctx.log(
            f"stage 1 epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.4f}  val loss "
            f"{val['loss']:.4f}  val {format_metrics(val)}{'  *best' if improved else ''}  ({dt:.1f}s)"
        )
        if ctx.hook is not None:
            ctx.hook(1, epoch, row)
        if stopped_early:
            ctx.log(f"stage 1: early stop (no validation improvement for {cfg.patience} epochs)")
            break
    rec = ctx.stage_record(1)
    rec.update(
        status="done",
        best_epoch=best_epoch,
        early_stopped=stopped_early,
        monitor=f"val {cfg.monitor}",
    )
    ctx.save_info()


# ============================================================================ stage 2


@torch.no_grad()
def _features(model, x: torch.Tensor, bar=None) -> torch.Tensor:
    model.eval()
    return predict_logits(model.features, x, 64, bar)


def _cache_features(ctx: _Ctx, model, x_tr, y_tr, prep: PreparedData) -> dict[str, Any]:
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
            out[name] = {"features": _features(model, x, bar), "labels": y.clone()}
            if ids is not None:
                out[name]["ids"] = list(ids)
    save_checkpoint(path, out)
    ctx.log(
        f"cached 256-d features of train/val/test in {time.perf_counter() - t0:.1f}s -> {path.name}"
    )
    return out


def _stratified_subset(labels: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
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


def _resolved(backend: str) -> str:
    """E.g. ``aer_noisy`` -> ``aer_noisy:fake_torino`` (the device whose noise is simulated)."""
    from ..runner import parse_backend

    return str(parse_backend(backend))


def _refit_readout(
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


def _stage2(ctx: _Ctx, model, feats, criterion, positive, ckpt) -> None:
    cfg, run = ctx.cfg, ctx.run
    t_build = time.perf_counter()
    head, rcfg = make_backend_head(cfg, cfg.backend)
    head.load_state_dict(model.head.state_dict())
    set_input_gradients(head, False)  # the features are constants: weight gradients only
    opt = torch.optim.Adam(head.parameters(), lr=cfg.noisy_lr)
    f_tr, y_tr = feats["train"]["features"], feats["train"]["labels"]
    f_va, y_va = feats["val"]["features"], feats["val"]["labels"]
    seconds = time.perf_counter() - t_build
    start, best_score, best_epoch = 1, -math.inf, 0
    if ckpt is not None:
        head.load_state_dict(ckpt["head"])
        opt.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        start = int(ckpt["epoch"]) + 1
        best_score, best_epoch = float(ckpt["best_score"]), int(ckpt["best_epoch"])
        seconds += float(ckpt.get("seconds", 0.0))
        ctx.log(f"stage 2: resuming after epoch {start - 1}")
    ctx.info["stages"] = [s for s in ctx.info["stages"] if s["stage"] != 2] + [
        {
            "stage": 2,
            "name": "noisy fine-tune (frozen backbone, cached features)",
            "backend": cfg.backend,
            "backend_resolved": _resolved(cfg.backend),
            "gradient": "parameter-shift (runner)",
            "runner_config": _asdict(rcfg) if rcfg is not None else None,
            "trains": "quantum weights + output layer",
            "samples_per_epoch": cfg.noisy_subset or int(y_tr.numel()),
            "status": "running",
            "epochs": max(start - 1, 0),
            "seconds": round(seconds, 2),
        }
    ]
    ctx.save_info()

    def val_pass(desc: str) -> dict[str, Any]:
        head.eval()
        with ctx.bar(-(-f_va.shape[0] // 32), desc) as bar:
            logits = predict_logits(head, f_va, 32, bar)
        return _scores(logits, y_va, positive, criterion)

    def checkpoint(epoch: int) -> None:
        save_checkpoint(
            run / CHECKPOINT,
            {
                "stage": 2,
                "epoch": epoch,
                "head": head.state_dict(),
                "optimizer": opt.state_dict(),
                "rng": rng_state(),
                "best_score": best_score,
                "best_epoch": best_epoch,
                "history": ctx.history,
                "seconds": seconds,
            },
        )
        rec = ctx.stage_record(2)
        rec.update(epochs=epoch, seconds=round(seconds, 2), best_epoch=best_epoch)
        ctx.save_info()

    if start == 1:  # epoch 0: the stage-1 head on this backend, output layer refit there
        t0 = time.perf_counter()
        if cfg.noisy_calibration > 0 and hasattr(head, "expectation_values"):
            g = torch.Generator().manual_seed(derived_seed(cfg.seed, 2, 0))
            rows = _stratified_subset(y_tr, cfg.noisy_calibration, g)
            with ctx.bar(-(-rows.numel() // 32), "stage 2 output-layer calibration") as bar:
                z = predict_logits(head.expectation_values, f_tr[rows], 32, bar)
            _refit_readout(head.readout, z, y_tr[rows], criterion)
        val = val_pass("stage 2 epoch 0 (val on backend)")
        best_score, best_epoch = _score_value(val, cfg.monitor), 0
        save_checkpoint(run / "stage2_best.pt", {"head": head.state_dict(), "epoch": 0})
        dt = time.perf_counter() - t0
        seconds += dt
        row = _row(2, 0, math.nan, val, dt, lr=cfg.noisy_lr, best=True)
        ctx.history.append(row)
        _write_history(run, ctx.history)
        checkpoint(0)
        ctx.log(
            f"stage 2 epoch 0 (stage-1 head on {cfg.backend}, output layer refit): val {format_metrics(val)}  ({dt:.1f}s)"
        )
        start = 1
    for epoch in range(start, cfg.noisy_epochs + 1):
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(derived_seed(cfg.seed, 2, epoch))
        sel = _stratified_subset(y_tr, cfg.noisy_subset, g)
        head.train()
        bs = cfg.noisy_batch_size
        train_loss = _train_epoch(
            ctx,
            opt,
            criterion,
            ((head, f_tr[b], y_tr[b]) for b in sel.split(bs)),
            -(-sel.numel() // bs),
            f"stage 2 epoch {epoch}/{cfg.noisy_epochs} on {cfg.backend}",
        )
        val = val_pass(f"stage 2 epoch {epoch} val")
        score = _score_value(val, cfg.monitor)
        improved = score > best_score
        if improved:
            best_score, best_epoch = score, epoch
            save_checkpoint(run / "stage2_best.pt", {"head": head.state_dict(), "epoch": epoch})
        dt = time.perf_counter() - t0
        seconds += dt
        row = _row(2, epoch, train_loss, val, dt, lr=cfg.noisy_lr, best=improved)
        ctx.history.append(row)
        _write_history(run, ctx.history)
        checkpoint(epoch)
        ctx.log(
            f"stage 2 epoch {epoch}/{cfg.noisy_epochs}: train loss {row['train_loss']:.4f}  val "
            f"{format_metrics(val)}{'  *best' if improved else ''}  ({dt:.1f}s)"
        )
        if ctx.hook is not None:
            ctx.hook(2, epoch, row)
    rec = ctx.stage_record(2)
    rec.update(status="done", best_epoch=best_epoch, monitor=f"val {cfg.monitor} on {cfg.backend}")
    ctx.save_info()


# ============================================================================ final evaluation


def _final_eval(
    ctx: _Ctx, model, prep: PreparedData, feats, criterion, positive, two_stage
) -> None:
    from ..reports.plots import plot_confusion, plot_curves, plot_roc

    cfg, run = ctx.cfg, ctx.run
    t0 = time.perf_counter()
    model.eval()
    x_te, y_te, id_te = prep.part("test")
    if feats is not None:
        f_te = feats["test"]["features"]
    else:
        f_te = _features(model, x_te)
    with ctx.bar(
        -(-f_te.shape[0] // 32), f"test on {cfg.backend if two_stage else 'exact'}"
    ) as bar:
        logits = predict_logits(model.head, f_te, 32, bar)
    test = _scores(logits, y_te, positive, criterion)
    where = cfg.backend if two_stage else ("exact (fast path)" if cfg.is_quantum else "classical")
    metrics: dict[str, Any] = {
        "test": test,
        "test_backend": where,
        "positive_class": prep.data.classes[positive],
    }
    if two_stage:
        exact = FitConfig.from_dict({**cfg.to_dict(), "backend": "statevector"})
        head_exact, _ = make_backend_head(exact, "statevector")
        head_exact.load_state_dict(model.head.state_dict())
        metrics["test_exact"] = _scores(
            predict_logits(head_exact.eval(), f_te, 64), y_te, positive, criterion
        )
    best_rows = [r for r in ctx.history if r.get("best")]
    metrics["best_val"] = best_rows[-1] if best_rows else None
    atomic_write_json(run / "metrics.json", metrics)
    prob = torch.softmax(logits, 1)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    classes = list(prep.data.classes)
    w.writerow(["id", "label", *[f"p_{c}" for c in classes], "predicted"])
    for i, sid in enumerate(id_te):
        pred = positive if float(prob[i, positive]) >= 0.5 else 1 - positive
        w.writerow(
            [sid, classes[int(y_te[i])], *[f"{float(p):.6f}" for p in prob[i]], classes[pred]]
        )
    atomic_write_text(run / "predictions_test.csv", buf.getvalue())
    title = f"{cfg.model}/{cfg.head if cfg.model == 'sdaqec' else 'linear'} on {where}"
    plot_roc(
        run / "roc.png", y_te.numpy(), prob[:, positive].numpy(), positive=positive, title=title
    )
    plot_confusion(
        run / "confusion.png", test["confusion_matrix"], classes, positive=positive, title=title
    )
    plot_curves(run / "curves.png", ctx.history)
    ctx.info["evaluation"] = {"test_backend": where, "seconds": round(time.perf_counter() - t0, 2)}
    ctx.log(f"test ({where}): {format_metrics(test)}")
    if "test_exact" in metrics:
        ctx.log(f"test (exact, same weights): {format_metrics(metrics['test_exact'])}")

"""``fit(cfg) -> run directory``: the two-stage SDA-QEC training, as a few named steps.

1. the run directory (new, resumed or replaced) and the data with its split;
2. the training set: the train split, minority-augmented (training split only), with noise
   matching;
3. stage 1 (:mod:`qsdaqec.train.stage1`): end to end on the exact fast path;
4. stage 2 (:mod:`qsdaqec.train.stage2`, a quantum head on a non-exact backend only): the head
   fine-tuned on the backend with the backbone frozen;
5. the test split scored (on the run's backend, and also exactly when stage 2 ran):
   ``metrics.json``, ``predictions_test.csv``, ROC / confusion / training-curve PNGs.

With a tracker (``tracking``), each epoch, the config and the test scores also go to
TensorBoard or MLflow (:mod:`qsdaqec.train.track`).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..augment import AUGMENTORS, augment_training_split
from ..augment.export import recorded_augmentor
from ..augment.noise_match import NoiseMatch
from ..errors import RunError
from ..io import atomic_write_json
from ..logs import log_argument
from ..metrics import format_metrics, operating_points
from ..plots import plot_curves
from ..quantum import HeadConfig
from ..runner import BackendSpec
from ..runs import RUN_SCHEMA, RunDir, create_run_dir
from ..tracking import TrackingConfig
from .accel import Accel, accelerator, is_out_of_memory
from .api import Run, load_run
from .batching import class_weights
from .checkpoints import load_checkpoint, save_checkpoint
from .config import FitConfig
from .context import (
    CHECKPOINT,
    MODEL,
    STAGE1_BEST,
    STAGE2_BEST,
    STAGE2_START,
    EpochHook,
    FitContext,
    log_line,
)
from .data import PreparedData, prepare_data
from .lesion_targets import LesionTargets, training_targets
from .localise import format_localisation, lesion_maps, test_localisation
from .model import build_network, input_normalization
from .outputs import write_scored
from .rundir import prepare_run_dir
from .scoring import features_of, head_logits, scores
from .seeding import seed_all, set_determinism
from .stage1 import TrainingSet, stage1
from .stage2 import cache_features, stage2
from .track import log_results, open_fit_tracker, track_epochs


@log_argument
def fit(
    cfg: FitConfig,
    *,
    on_epoch_end: EpochHook | None = None,
    tracking: TrackingConfig | None = None,
) -> Run:
    """Train (or resume) a run; returns it loaded (:func:`qsdaqec.train.load_run`; ``os.PathLike``:
    its folder). See the module docstring for the steps. ``tracking``: where its metrics also
    go (:mod:`.track`; ``None``: nowhere else). What it does goes to the ``qsdaqec.train``
    logger (:mod:`qsdaqec.logs`); ``log=``: this call's lines to that function instead."""
    log = log_line
    cfg.validate()
    _ = cfg.backend_spec  # a bad backend fails before the run directory exists
    if tracking is not None:
        tracking.validate()  # a missing package too
    run, cfg, info = prepare_run_dir(cfg, log)
    if info is not None and RunDir(run).finished:
        log(f"{run}: run already finished; nothing to resume")
        return load_run(run, cfg.device)
    threads = set_determinism(cfg.seed, cfg.num_threads)
    accel = accelerator(cfg.device)
    t_setup = time.perf_counter()
    prep = prepare_data(cfg)
    fresh = info is None
    model, info = _model(cfg, run, info, log)
    model = accel.model(model)
    info.update(accel.info())  # where this (part of the) fit runs; a resume may move it
    with open_fit_tracker(tracking, cfg, run, log) as tracker:  # after config.json is written
        ctx = FitContext(cfg, run, log, on_epoch_end, info)
        epochs = track_epochs(tracker, ctx)  # None without a tracker: ctx as it was
        _train(ctx, model, prep, accel, threads, fresh, t_setup)
        log_results(tracker, run, epochs)
    log(f"{run}: finished")
    return load_run(run, cfg.device)


def _train(ctx: FitContext, model, prep: PreparedData, accel: Accel, threads, fresh, t_setup):
    """Steps 2-5 of the module docstring, on a run directory that exists."""
    cfg, run, log, info = ctx.cfg, ctx.run, ctx.log, ctx.info
    spec = cfg.backend_spec  # a resumed run's own (saved) backend
    two_stage = cfg.is_quantum and not spec.is_exact
    if not cfg.is_quantum and not spec.is_exact:
        log(f"backend {cfg.backend} is not used by a classical model; training stage 1 only")
    data, augmentation = _training_set(ctx, prep)
    data.x, data.x_val = accel.resident(data.x), accel.resident(data.x_val)
    weights = class_weights(data.y) if cfg.class_weighted else torch.ones(2)
    criterion = nn.CrossEntropyLoss(weight=weights)
    if fresh:
        _record_setup(ctx, prep, data, augmentation, weights, threads, two_stage)
    log(
        f"{run}: {prep.source} ({info['data']['n']} images, train {data.y.numel()} after "
        f"augmentation, val {data.y_val.numel()}, test {info['data']['split_sizes']['test']}); "
        f"{info['loss']}; {_where(accel, threads)}; setup {time.perf_counter() - t_setup:.1f}s"
    )
    if prep.streamed:
        log(
            f"images: {prep.loading}; read by {cfg.workers} worker process(es); "
            f"{data.x.held_bytes / 2**20:.0f} MiB of synthetic training images held in memory"
        )
    positive = int(prep.data.positive)
    ckpt = _resume_checkpoint(ctx, fresh)
    if not _done(ctx, 1):
        _stage1(ctx, model, data, criterion, positive, _for_stage(ckpt, 1), accel)
    best = load_checkpoint(run / STAGE1_BEST)
    model.load_state_dict(best["model"])
    feats = before = None
    if two_stage:
        feats = cache_features(ctx, model, data.x, data.y, prep, accel)
        if not _done(ctx, 2):
            stage2(ctx, model, feats, criterion, positive, _for_stage(ckpt, 2))
        best = load_checkpoint(run / STAGE2_BEST)
        if (run / STAGE2_START).is_file():
            before = load_checkpoint(run / STAGE2_START)["head"]
        model.head.load_state_dict(best["head"])
    before = _before_stage2(ctx, model.head, before, feats, criterion, positive) if before else None
    val_logits = best.get("val_logits")
    _test(ctx, model, prep, feats, criterion, positive, two_stage, accel, val_logits, before)
    save_checkpoint(run / MODEL, {"model": model.state_dict()})
    info["status"] = "finished"
    ctx.save_info()
    (run / CHECKPOINT).unlink(missing_ok=True)  # the run is complete; model.pt holds the result


def _model(cfg: FitConfig, run: Path, info: dict | None, log) -> tuple[nn.Module, dict]:
    """The network: new (with the requested weights, and the run directory created), or rebuilt
    for a resumed run (its checkpoints hold the weights)."""
    if info is None:
        requested = cfg.weights
        seed_all(cfg.seed)
        model, used, message = build_network(cfg, cfg.weights)
        if message:
            log(message)
        cfg.weights = used
        create_run_dir(run, cfg.to_dict(), seed=cfg.seed, exist_ok=True)
        weights = {
            "requested": requested,
            "used": used,
            "message": message,
            "normalize": model.prep.normalize,
        }
        return model, {
            "schema": RUN_SCHEMA,
            "status": "running",
            "weights": weights,
            "stages": [],
        }
    log(f"{run}: resuming (config from {RunDir(run).config})")
    model, _, _ = build_network(cfg, "none")
    model.prep.normalize = input_normalization(cfg, info)
    return model, info


def _training_set(ctx: FitContext, prep: PreparedData) -> tuple[TrainingSet, Any]:
    """The train split minority-augmented by ``cfg.augmentor`` (never val or test), with noise
    matching when the augmentor noises real images; and the augmentation's summary."""
    cfg = ctx.cfg
    x_tr, y_tr, _ = prep.part("train")
    x_va, y_va, _ = prep.part("val")
    if not cfg.augment:
        rows = torch.as_tensor(prep.split.train, dtype=torch.long)
        return TrainingSet(x_tr, y_tr, x_va, y_va, lesions=_targets(ctx, prep, y_tr, rows)), "off"
    entry = AUGMENTORS[cfg.augmentor]
    augmentor = entry.build(entry.config(cfg.augmentor_options()), None)
    ds = prep.data
    aug = augment_training_split(
        ds.images, ds.labels, prep.split, minority=int(ds.positive), augmentor=augmentor
    )
    summary = aug.result.summary()
    if cfg.noise_match:
        ctx.noise_match = _noise_match(prep, aug, augmentor if entry.forward_noising else None)
    summary["noise_match"] = ctx.noise_match.summary() if ctx.noise_match else "off"
    targets = _targets(ctx, prep, aug.labels, aug.source_index)
    return TrainingSet(aug.images, aug.labels, x_va, y_va, lesions=targets), summary


def _noise_match(prep: PreparedData, aug, augmentor) -> NoiseMatch | None:
    """Noise matching for the training rows that are noisy copies: the ones generated now by
    ``augmentor`` (forward-noising, else ``None``) and, in a ``qsdaqec augment`` folder, its
    synthetic images, noised by the augmentor its manifest records."""
    synthetic = aug.synthetic
    folder = prep.data.synthetic
    if folder is not None:
        rows = aug.index.clamp(min=0).numpy()
        synthetic = synthetic | (torch.as_tensor(folder[rows]) & (aug.index >= 0))
        if not bool(aug.synthetic.any()):
            augmentor = recorded_augmentor(prep.source)
    if augmentor is None:
        return None
    return NoiseMatch.for_training_set(augmentor, aug.labels, synthetic)


def _targets(ctx: FitContext, prep: PreparedData, labels, sources) -> LesionTargets | None:
    """Lesion targets of the training rows (``sources``: their dataset rows), when the model
    has a supervised lesion map and the data's lesions.json knows where lesions are."""
    cfg = ctx.cfg
    if not (cfg.has_lesion_map and cfg.lesion_weight > 0):
        return None
    ds = prep.data
    targets = training_targets(
        prep.lesions,
        ds.ids,
        labels,
        sources,
        int(ds.positive),
        ds.images.shape[-1],
        lazy=prep.streamed,  # made per batch: as large as the images
    )
    if targets is None:
        ctx.log(
            "no lesion positions for the training images (the data folder has no lesions.json "
            "naming them); the lesion map learns from the labels alone"
        )
    return targets


def _record_setup(ctx, prep: PreparedData, data, augmentation, weights, threads, two_stage):
    """``run.json``'s data, augmentation, loss, head and plan; ``split.json``."""
    cfg, ds = ctx.cfg, prep.data
    loss = (
        f"cross-entropy, class-weighted (weights {[round(float(w), 4) for w in weights]})"
        if cfg.class_weighted
        else "cross-entropy, unweighted"
    )
    ctx.info.update(
        {
            "data": {
                "source": prep.source,
                "builtin": cfg.data is None,
                "n": int(ds.labels.numel()),
                "classes": list(ds.classes),
                "positive": int(ds.positive),
                "skipped": list(ds.skipped or []),
                "split_sizes": prep.sizes(),
                "split_method": prep.split_method,
                "loading": prep.loading,
                "train_size_after_augmentation": int(data.y.numel()),
                "train_class_counts": torch.bincount(data.y, minlength=2).tolist(),
            },
            "augmentation": augmentation,
            "loss": loss,
            "head": _head_record(cfg),
            "num_threads": threads,
            "plan": _plan(cfg, two_stage),
        }
    )
    atomic_write_json(RunDir(ctx.run).split, prep.split_json())
    ctx.save_info()


def _head_record(cfg: FitConfig) -> dict[str, Any]:
    if cfg.is_quantum:
        return {"type": "quantum", "config": dataclasses.asdict(HeadConfig(encoding=cfg.encoding))}
    return {"type": "classical" if cfg.model == "sdaqec" else f"{cfg.model} linear"}


def _plan(cfg: FitConfig, two_stage: bool) -> list[str]:
    if two_stage:
        return [
            "stage 1: end-to-end on the exact fast path",
            f"stage 2: noisy fine-tune of the head on {cfg.backend}",
        ]
    return ["stage 1: end-to-end" + (" on the exact fast path" if cfg.is_quantum else "")]


def _stage1(ctx, model, data, criterion, positive, ckpt, accel: Accel) -> None:
    """Stage 1; GPU memory running out is one line naming --batch-size (the epochs finished so
    far are checkpointed, so --resume continues)."""
    try:
        stage1(ctx, model, data, criterion, positive, ckpt, accel)
    except RuntimeError as e:
        if accel.is_cpu or not is_out_of_memory(e):
            raise
        raise RunError(
            f"{accel.device}: out of GPU memory at batch_size={ctx.cfg.batch_size} and "
            f"image_size={ctx.cfg.image_size}; pass a smaller batch_size and continue with "
            f"`qsdaqec fit --out {ctx.run} --resume`",
            cli={
                "batch_size=": "--batch-size ",
                "image_size=": "--image-size ",
                "smaller batch_size": "smaller --batch-size",
            },
        ) from None


def _where(accel: Accel, threads: int) -> str:
    info = accel.info()
    if accel.is_cpu:
        return f"cpu, {threads} torch thread(s)"
    return f"{info['device']} ({info['gpu'] or 'GPU'}, autocast {info['amp']})"


def _resume_checkpoint(ctx: FitContext, fresh: bool) -> dict[str, Any] | None:
    """The last epoch's checkpoint of a resumed run (its history comes back with it)."""
    path = ctx.run / CHECKPOINT
    if fresh or not path.is_file():
        return None
    ckpt = load_checkpoint(path)
    ctx.history = list(ckpt.get("history", []))
    return ckpt


def _for_stage(ckpt: dict[str, Any] | None, stage: int) -> dict[str, Any] | None:
    return ckpt if ckpt is not None and ckpt.get("stage") == stage else None


def _done(ctx: FitContext, stage: int) -> bool:
    rec = ctx.stage_record(stage)
    return rec is not None and rec.get("status") == "done"


def _before_stage2(ctx: FitContext, head, state, feats, criterion, positive) -> dict[str, Any]:
    """Test scores of the stage-1 head as it is (``state``) on the backend, to set beside the
    kept head's: what stage 2 (output-layer calibration and fine-tuning) bought."""
    head = copy.deepcopy(head)
    head.load_state_dict(state)
    f_te, y_te = feats["test"]["features"], feats["test"]["labels"]
    with ctx.bar(f_te.shape[0], "test of the head before stage 2") as bar:
        logits, _ = head_logits(ctx.cfg, head, f_te, ctx.cfg.backend_spec, on_chunk=bar.update)
    return scores(logits, y_te, positive, criterion)


def _test(
    ctx: FitContext,
    model,
    prep,
    feats,
    criterion,
    positive,
    two_stage,
    accel,
    val_logits,
    before=None,
):
    """Score the test split with the final model; ``metrics.json`` (with the operating points
    its ``val_logits`` give, and after stage 2 the scores ``before`` it, of the stage-1 head on
    the backend) and the test outputs. The features come from the
    device; the head and everything after run on the CPU."""
    cfg, run = ctx.cfg, ctx.run
    t0 = time.perf_counter()
    model.eval()
    x_te, y_te, id_te = prep.part("test")
    if feats is not None:
        f_te = feats["test"]["features"]
    else:
        f_te = features_of(model, x_te, accel=accel, views=cfg.test_views)
        if val_logits is not None and cfg.test_views > 1:  # operating points on the same views
            f_va = features_of(model, prep.part("val")[0], accel=accel, views=cfg.test_views)
            val_logits = head_logits(cfg, model.head.cpu(), f_va)[0]
    maps = None
    if cfg.has_lesion_map and prep.lesions is not None:
        maps = lesion_maps(model, x_te, cfg.test_views, accel)
    model.cpu()
    backend = cfg.backend_spec if two_stage else BackendSpec("statevector")
    with ctx.bar(f_te.shape[0], f"test on {cfg.backend if two_stage else 'exact'}") as bar:
        logits, exact = head_logits(cfg, model.head, f_te, backend, on_chunk=bar.update)
    test = scores(logits, y_te, positive, criterion)
    where = cfg.backend if two_stage else ("exact (fast path)" if cfg.is_quantum else "classical")
    classes = list(prep.data.classes)
    metrics: dict[str, Any] = {
        "test": test,
        "test_backend": where,
        "positive_class": classes[positive],
    }
    if two_stage:
        metrics["test_exact"] = scores(exact, y_te, positive, criterion)
        metrics["test_before_stage2"] = before if before is not None else test
    best_rows = [r for r in ctx.history if r.get("best")]
    metrics["best_val"] = best_rows[-1] if best_rows else None
    if val_logits is not None:  # the kept model's own validation scores, from its stage
        val_prob = torch.softmax(val_logits, 1)[:, positive].numpy()
        y_va = prep.part("val")[1]
        metrics["operating_points"] = operating_points(y_va.numpy(), val_prob, positive)
    if maps is not None:
        hit = torch.softmax(logits, 1)[:, positive] >= test["threshold"]
        true_pos = [i for i in range(len(id_te)) if hit[i] and int(y_te[i]) == positive]
        metrics["localisation"] = test_localisation(maps, id_te, prep.lesions, true_pos, x_te)
        ctx.log(f"lesion localisation: {format_localisation(metrics['localisation'])}")
    atomic_write_json(RunDir(run).metrics, metrics)
    title = f"{cfg.model}/{cfg.head if cfg.model == 'sdaqec' else 'linear'} on {where}"
    prob = torch.softmax(logits, 1)
    write_scored(
        run,
        RunDir.PREDICTIONS,
        ids=id_te,
        labels=y_te,
        prob=prob,
        metrics=test,
        classes=classes,
        positive=positive,
        title=title,
    )
    plot_curves(run / RunDir.CURVES, ctx.history)
    ctx.info["evaluation"] = {"test_backend": where, "seconds": round(time.perf_counter() - t0, 2)}
    ctx.log(f"test ({where}): {format_metrics(test)}")
    if "test_exact" in metrics:
        ctx.log(f"test (exact, same weights): {format_metrics(metrics['test_exact'])}")
        before = metrics["test_before_stage2"]
        ctx.log(f"test before stage 2 ({where}): {format_metrics(before)}")

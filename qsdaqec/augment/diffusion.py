"""SimpleDiffusionAugmentor: forward-diffusion minority oversampling (the paper's augmentor).

Forward (noising) process only, no reverse network::

    x_t = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * eps,   eps ~ N(0, I)
    alpha_bar_t = prod_{s=1..t} (1 - beta_s),   beta_s linear from beta_start to beta_end

The diffusion is done in ``[-1, 1]`` space (the convention the schedule was designed for). Input
images are in ``[0, 1]`` (the loader's range, the default) or ``[-1, 1]``; ``DiffusionConfig.
value_range`` says which. ``x_t`` is clamped to ``[-1, 1]`` and mapped back to the input range, so
outputs always lie in the same range as the inputs.

Synthetic samples are drawn from the minority class until ``n_minority / n_majority >=
rho_target``. Every synthetic sample records its source (input row), its step ``t`` and the seed
of its noise, so it can be regenerated alone: see :func:`regenerate`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.stream import StreamedImages
from ..errors import DataError
from .config import VALUE_RANGES, DiffusionConfig  # noqa: F401  (re-exported)


class LowSNRWarning(UserWarning):
    """The chosen schedule leaves so little signal that synthetic samples are mostly noise."""


# --------------------------------------------------------------------------- schedule helpers


def linear_beta_schedule(steps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """``beta_1 .. beta_T`` (float64, shape ``(T,)``), linear from ``beta_start`` to ``beta_end``.

    With ``T == 1`` the single step uses ``beta_end`` (the schedule's end point), so one step
    still adds the configured amount of noise.
    """
    if steps == 1:
        return torch.tensor([beta_end], dtype=torch.float64)
    return torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)


def cosine_beta_schedule(steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021) cosine schedule, ``beta_1 .. beta_T`` as float64."""
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(min=1e-8, max=max_beta)


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """``alpha_bar_t = prod_{s<=t} (1 - beta_s)``; index ``t - 1`` holds step ``t``."""
    return torch.cumprod(1.0 - betas.to(torch.float64), dim=0)


def snr_db(alpha_bar: float | torch.Tensor) -> float | torch.Tensor:
    """Nominal signal-to-noise ratio of ``x_t`` in dB: ``10 log10(alpha_bar / (1 - alpha_bar))``.

    This is signal power over noise power for a unit-power signal; see :func:`measured_snr_db` for
    the figure measured on actual images.
    """
    if isinstance(alpha_bar, torch.Tensor):
        return 10.0 * torch.log10(alpha_bar / (1.0 - alpha_bar))
    return 10.0 * math.log10(alpha_bar / (1.0 - alpha_bar))


def measured_snr_db(x0: torch.Tensor, alpha_bar: float, noise: torch.Tensor | None = None) -> float:
    """Measured SNR (dB) of ``x_t = sqrt(ab) x0 + sqrt(1-ab) noise``; ``x0`` in ``[-1, 1]`` space.

    Signal power is the mean squared *structure* of the scaled images, ``alpha_bar * Var(x0)``
    (per image, mean removed, so a uniform background does not count as signal); noise power is
    ``(1 - alpha_bar) * mean(noise**2)`` (``mean(noise**2) = 1`` in expectation when ``noise`` is
    ``None``). Both are averaged over all images before the ratio is taken.
    """
    x0 = x0.to(torch.float64)
    flat = x0.reshape(x0.shape[0], -1)
    signal = alpha_bar * flat.var(dim=1, unbiased=False).mean().item()
    noise_pow = 1.0 if noise is None else noise.to(torch.float64).pow(2).mean().item()
    noise_pow *= 1.0 - alpha_bar
    if noise_pow <= 0:
        return math.inf
    if signal <= 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise_pow)


def to_diffusion_space(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = value_range
    return (x - lo) / (hi - lo) * 2.0 - 1.0


def from_diffusion_space(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = value_range
    return (x.clamp(-1.0, 1.0) + 1.0) / 2.0 * (hi - lo) + lo


def q_sample(
    x0: torch.Tensor, alpha_bar: float | torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """One forward-diffusion draw in ``[-1, 1]`` space (not clamped)."""
    if not isinstance(alpha_bar, torch.Tensor):
        alpha_bar = torch.tensor(alpha_bar, dtype=torch.float64)
    a = alpha_bar.to(x0.dtype)
    while a.dim() < x0.dim():
        a = a.unsqueeze(-1)
    return a.sqrt() * x0 + (1.0 - a).sqrt() * noise


def sample_seed(seed: int, k: int) -> int:
    """Seed of the ``k``-th synthetic sample's noise: independent streams from one run seed."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(k)]).generate_state(1)[0])


def noise_like(shape: Sequence[int], seed: int) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32)


# --------------------------------------------------------------------------- config and result


@dataclass
class AugmentResult:
    """Originals first (in input order), then synthetic samples.

    ``source_index``: for an original its own input row; for a forward-diffusion synthetic the
    input row it was made from; ``-1`` for a sample with no single source (DDPM).
    ``t``: 0 for originals, the forward step for forward-diffusion synthetics, 0 for DDPM samples.
    ``seed``: per-sample noise seed (-1 for originals).
    """

    images: torch.Tensor
    labels: torch.Tensor
    source_index: torch.Tensor
    t: torch.Tensor
    synthetic: torch.Tensor
    seed: torch.Tensor
    generated: int = 0
    reason: str = ""
    minority: int = -1
    majority: int = -1
    counts_before: dict[int, int] = field(default_factory=dict)
    counts_after: dict[int, int] = field(default_factory=dict)
    ratio_before: float = float("nan")
    ratio_after: float = float("nan")
    snr: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    augmentor: str = "simple"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> torch.Tensor:  # the name used in docs/architecture.md
        return self.source_index

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description (no tensors)."""
        return {
            "augmentor": self.augmentor,
            "generated": self.generated,
            "reason": self.reason,
            "minority": self.minority,
            "majority": self.majority,
            "counts_before": {str(k): v for k, v in self.counts_before.items()},
            "counts_after": {str(k): v for k, v in self.counts_after.items()},
            "ratio_before": self.ratio_before,
            "ratio_after": self.ratio_after,
            "snr": self.snr,
            "warnings": list(self.warnings),
            **({"info": self.info} if self.info else {}),
        }


# --------------------------------------------------------------------------- shared helpers


def check_images(
    images: torch.Tensor, labels: torch.Tensor, value_range: tuple[float, float]
) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise DataError(f"images: expected a tensor of shape (N, C, H, W), got {shape}")
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dim() != 1
        or labels.shape[0] != images.shape[0]
    ):
        raise DataError(
            f"labels: expected a 1-D tensor with one label per image ({images.shape[0]}), got "
            f"{tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}"
        )
    if images.numel():
        lo, hi = value_range
        mn, mx = float(images.min()), float(images.max())
        tol = 1e-4 * (hi - lo)
        if mn < lo - tol or mx > hi + tol:
            raise DataError(
                f"images: values span [{mn:.4g}, {mx:.4g}] but value_range is [{lo:g}, {hi:g}]; "
                "rescale the images or set value_range to match"
            )


def class_balance(
    labels: torch.Tensor, minority: int | None, counts: dict[int, int] | None = None
) -> tuple[int, int, dict[int, int]]:
    """(minority, majority, counts). Raises DataError for a minority class without images.
    ``counts``: the class counts to balance, when ``labels`` are only part of the set."""
    if counts is None:
        counts = {
            int(c): int(n) for c, n in zip(*torch.unique(labels, return_counts=True), strict=False)
        }
    if minority is None:
        if len(counts) < 2:
            present = ", ".join(str(c) for c in counts) or "none"
            raise DataError(
                f"labels: only one class present (labels: {present}); cannot tell the minority "
                "class, pass minority= explicitly"
            )
        minority = min(counts, key=lambda c: (counts[c], c))
    minority = int(minority)
    n_min = counts.get(minority, 0)
    if n_min == 0:
        raise DataError(
            f"minority class {minority} has 0 images in the data being augmented (classes "
            f"present: {sorted(counts)}); nothing to augment from — check the class folders "
            "or the split"
        )
    others = {c: n for c, n in counts.items() if c != minority}
    if not others:
        raise DataError(
            f"labels: only the minority class {minority} is present; there is no majority class "
            "to balance against"
        )
    majority = max(others, key=lambda c: (others[c], -c))
    return minority, majority, counts


def n_to_generate(n_min: int, n_maj: int, rho_target: float) -> int:
    """Smallest ``k >= 0`` with ``(n_min + k) / n_maj >= rho_target`` (float-safe)."""
    need = math.ceil(round(rho_target * n_maj, 9))
    return max(0, need - n_min)


def _nothing_result(
    images, labels, minority, majority, counts, ratio, reason, augmentor
) -> AugmentResult:
    n = images.shape[0]
    return AugmentResult(
        images=images.clone(),
        labels=labels.clone(),
        source_index=torch.arange(n, dtype=torch.int64),
        t=torch.zeros(n, dtype=torch.int64),
        synthetic=torch.zeros(n, dtype=torch.bool),
        seed=torch.full((n,), -1, dtype=torch.int64),
        generated=0,
        reason=reason,
        minority=minority,
        majority=majority,
        counts_before=dict(counts),
        counts_after=dict(counts),
        ratio_before=ratio,
        ratio_after=ratio,
        augmentor=augmentor,
    )


def plan(
    labels: torch.Tensor,
    minority: int | None,
    rho_target: float,
    counts: dict[int, int] | None = None,
) -> tuple[int, int, dict[int, int], float, int, str]:
    """(minority, majority, counts, ratio_before, n_generate, reason-if-zero); ``counts`` as in
    :func:`class_balance`."""
    minority, majority, counts = class_balance(labels, minority, counts)
    ratio = counts[minority] / counts[majority]
    k = n_to_generate(counts[minority], counts[majority], rho_target)
    reason = ""
    if k == 0:
        reason = (
            f"minority/majority ratio is already {ratio:.3f} >= rho_target {rho_target:g} "
            f"(class {minority}: {counts[minority]}, class {majority}: {counts[majority]}); "
            "nothing generated"
        )
    return minority, majority, counts, ratio, k, reason


# --------------------------------------------------------------------------- the augmentor


class SimpleDiffusionAugmentor:
    """Forward-diffusion oversampling of the minority class. Deterministic under ``cfg.seed``."""

    name = "simple"

    def __init__(self, cfg: DiffusionConfig | None = None):
        self.cfg = (cfg or DiffusionConfig()).validate()
        self.betas = linear_beta_schedule(self.cfg.steps, self.cfg.beta_start, self.cfg.beta_end)
        self.alpha_bars = alpha_bars(self.betas)

    def alpha_bar(self, t: int) -> float:
        return float(self.alpha_bars[t - 1])

    def noisy(self, x0: torch.Tensor, t: int, seed: int) -> torch.Tensor:
        """``x_t`` of images ``x0`` (input range) with the noise of ``seed``; output in input range."""
        rng = self.cfg.range
        y = to_diffusion_space(x0.to(torch.float32), rng)
        eps = noise_like(y.shape, seed).to(y.device)
        return from_diffusion_space(q_sample(y, self.alpha_bar(t), eps), rng).to(x0.dtype)

    def snr_table(self, x0: torch.Tensor | None = None) -> dict[str, Any]:
        """Nominal (and, given minority images ``x0`` in input range, measured) SNR per step."""
        table: dict[str, Any] = {
            "alpha_bar": [round(float(a), 8) for a in self.alpha_bars],
            "nominal_db": [round(float(snr_db(float(a))), 3) for a in self.alpha_bars],
        }
        if x0 is not None and x0.numel():
            y = to_diffusion_space(x0.to(torch.float32), self.cfg.range)
            table["measured_db"] = [round(measured_snr_db(y, float(a)), 3) for a in self.alpha_bars]
        return table

    def augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        minority: int | None = None,
        *,
        counts: dict[int, int] | None = None,
    ) -> AugmentResult:
        """Originals, then the synthetic minority samples. ``counts``: the class counts of the
        whole training split when ``images`` holds only its minority images (a streamed fit:
        only they are read); the number generated comes from them."""
        cfg = self.cfg
        check_images(images, labels, cfg.range)
        minority, majority, counts, ratio, k, reason = plan(
            labels, minority, cfg.rho_target, counts
        )
        if k == 0:
            return _nothing_result(
                images, labels, minority, majority, counts, ratio, reason, self.name
            )

        src_pool = torch.nonzero(labels == minority).flatten()
        g = torch.Generator(device="cpu").manual_seed(int(cfg.seed))
        if cfg.source_order == "round_robin":
            sources = src_pool[torch.arange(k) % len(src_pool)]
        else:
            sources = src_pool[torch.randint(len(src_pool), (k,), generator=g)]
        if cfg.t == "random":
            ts = torch.randint(1, cfg.steps + 1, (k,), generator=g)
        else:
            ts = torch.full((k,), int(cfg.t), dtype=torch.int64)
        seeds = torch.tensor([sample_seed(cfg.seed, i) for i in range(k)], dtype=torch.int64)

        rng = cfg.range
        x0 = to_diffusion_space(images[sources].to(torch.float32), rng)
        eps = torch.stack([noise_like(images.shape[1:], int(s)) for s in seeds]).to(x0.device)
        ab = self.alpha_bars[ts - 1].to(x0.device)
        xt = q_sample(x0, ab, eps)
        clamped = float((xt.abs() > 1.0).float().mean())
        syn = from_diffusion_space(xt, rng).to(images.dtype)

        # SNR: measured per step on the sources actually noised with the noise actually drawn.
        measured: dict[str, float] = {}
        for t in sorted(set(ts.tolist())):
            m = ts == t
            measured[str(t)] = round(measured_snr_db(x0[m], float(ab[m][0]), eps[m]), 3)
        worst_t = max(int(t) for t in measured)
        worst = measured[str(worst_t)]
        snr = {
            **self.snr_table(),
            "measured_db_by_t": measured,
            "worst_t": worst_t,
            "worst_measured_db": worst,
            "clamped_fraction": round(clamped, 6),
            "definition": "alpha_bar*Var(x0) / ((1-alpha_bar)*mean(eps^2)) in [-1,1] space",
        }
        warns: list[str] = []
        if worst < cfg.snr_warn_db:
            msg = (
                f"beta_end={cfg.beta_end:g} over {cfg.steps} steps leaves little signal: measured "
                f"SNR at t={worst_t} is {worst:.1f} dB (nominal "
                f"{snr['nominal_db'][worst_t - 1]:.1f} dB, alpha_bar={snr['alpha_bar'][worst_t - 1]:.3f})"
                f" < {cfg.snr_warn_db:g} dB; synthetic samples are mostly noise — lower beta_end "
                "or steps"
            )
            warns.append(msg)
            warnings.warn(msg, LowSNRWarning, stacklevel=2)

        n = images.shape[0]
        out_labels = torch.cat([labels, torch.full((k,), minority, dtype=labels.dtype)])
        counts_after = dict(counts)
        counts_after[minority] += k
        return AugmentResult(
            images=torch.cat([images, syn]),
            labels=out_labels,
            source_index=torch.cat([torch.arange(n), sources]).to(torch.int64),
            t=torch.cat([torch.zeros(n, dtype=torch.int64), ts]),
            synthetic=torch.cat(
                [torch.zeros(n, dtype=torch.bool), torch.ones(k, dtype=torch.bool)]
            ),
            seed=torch.cat([torch.full((n,), -1, dtype=torch.int64), seeds]),
            generated=k,
            reason=(
                f"generated {k} class-{minority} samples to bring minority/majority from "
                f"{ratio:.3f} to {counts_after[minority] / counts[majority]:.3f} "
                f"(rho_target {cfg.rho_target:g})"
            ),
            minority=minority,
            majority=majority,
            counts_before=counts,
            counts_after=counts_after,
            ratio_before=ratio,
            ratio_after=counts_after[minority] / counts[majority],
            snr=snr,
            warnings=warns,
            augmentor=self.name,
        )

    def preview(self, images: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """``(S, T + 1, C, H, W)``: each source image, then its ``x_t`` for t = 1..T (input range).

        One noise draw per source is shared across t, so the columns show the schedule alone.
        """
        seed = self.cfg.seed if seed is None else seed
        rows = []
        for i in range(images.shape[0]):
            s = sample_seed(seed, 10_000_000 + i)
            rows.append(
                torch.stack(
                    [images[i]]
                    + [self.noisy(images[i : i + 1], t, s)[0] for t in range(1, self.cfg.steps + 1)]
                )
            )
        return torch.stack(rows)


def regenerate(
    images: torch.Tensor, source_index: int, t: int, seed: int, cfg: DiffusionConfig
) -> torch.Tensor:
    """Rebuild one synthetic sample from its provenance (source row, t, seed)."""
    return SimpleDiffusionAugmentor(cfg).noisy(images[source_index : source_index + 1], t, seed)[0]


# --------------------------------------------------------------------------- training split only


@dataclass
class TrainAugmentation:
    """The augmented training set. Indices refer to rows of the full dataset passed in.

    ``index``: dataset row of each original train image, ``-1`` for synthetic rows.
    ``source_index``: dataset row of the source (originals: themselves; DDPM samples: ``-1``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    source_index: torch.Tensor
    t: torch.Tensor
    seed: torch.Tensor
    synthetic: torch.Tensor
    result: AugmentResult

    def provenance(self, ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        rows = []
        for j in range(self.images.shape[0]):
            src = int(self.source_index[j])
            row: dict[str, Any] = {
                "synthetic": bool(self.synthetic[j]),
                "label": int(self.labels[j]),
                "index": int(self.index[j]),
                "source_index": src,
                "t": int(self.t[j]),
                "seed": int(self.seed[j]),
            }
            if ids is not None:
                row["source_id"] = ids[src] if src >= 0 else None
            rows.append(row)
        return rows


def _indices(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.int64).reshape(-1))


def augment_training_split(
    images: torch.Tensor,
    labels: torch.Tensor,
    split: Any,
    cfg: DiffusionConfig | None = None,
    minority: int | None = None,
    augmentor: Any = None,
) -> TrainAugmentation:
    """Augment only the rows in ``split.train``; val/test rows are never read or returned.

    ``split`` is anything with ``.train`` (and optionally ``.val``/``.test``) index arrays, e.g.
    ``qsdaqec.data.Split``. Raises DataError if train overlaps val or test. ``augmentor`` defaults
    to ``SimpleDiffusionAugmentor(cfg)``; any object with ``.augment(images, labels, minority)``
    works (e.g. the DDPM augmentor).
    """
    train = _indices(split.train)
    for name in ("val", "test"):
        other = getattr(split, name, None)
        if other is None:
            continue
        overlap = np.intersect1d(train.numpy(), _indices(other).numpy())
        if overlap.size:
            raise DataError(
                f"split: {overlap.size} rows are in both train and {name} (e.g. row "
                f"{int(overlap[0])}); augmentation would leak into {name}"
            )
    if train.numel() and (int(train.min()) < 0 or int(train.max()) >= images.shape[0]):
        raise DataError(f"split.train: indices outside 0..{images.shape[0] - 1}")
    aug = augmentor if augmentor is not None else SimpleDiffusionAugmentor(cfg)
    if isinstance(images, StreamedImages):
        return _augment_streamed(images, labels, train, aug, minority)
    res = aug.augment(images[train], labels[train], minority)
    src_local = res.source_index
    src_global = torch.where(
        src_local >= 0, train[src_local.clamp(min=0)], torch.full_like(src_local, -1)
    )
    n = train.numel()
    index = torch.cat([train, torch.full((res.images.shape[0] - n,), -1, dtype=torch.int64)])
    return TrainAugmentation(
        images=res.images,
        labels=res.labels,
        index=index,
        source_index=src_global,
        t=res.t,
        seed=res.seed,
        synthetic=res.synthetic,
        result=res,
    )


def _augment_streamed(
    images: StreamedImages, labels: torch.Tensor, train: torch.Tensor, aug: Any, minority
) -> TrainAugmentation:
    """:func:`augment_training_split` of streamed images: the augmentor reads only the minority
    images of the split (read into memory here) and is given the split's class counts; the
    result's ``images`` are the split's rows, still streamed, then the synthetic images, held in
    memory. Row for row what the in-memory augmentation gives."""
    y = labels[train]
    minority, _, counts = class_balance(y, minority)
    rows = train[y == minority]
    res = aug.augment(images[rows], labels[rows], minority, counts=counts)
    m, n = rows.numel(), train.numel()
    k = res.images.shape[0] - m
    src = res.source_index[m:]
    src = torch.where(src >= 0, rows[src.clamp(min=0)], torch.full_like(src, -1))
    return TrainAugmentation(
        images=images.take(train).with_rows(res.images[m:].clone()),  # not a view of the rest
        labels=torch.cat([y, res.labels[m:]]),
        index=torch.cat([train, torch.full((k,), -1, dtype=torch.int64)]),
        source_index=torch.cat([train, src]),
        t=torch.cat([torch.zeros(n, dtype=torch.int64), res.t[m:]]),
        seed=torch.cat([torch.full((n,), -1, dtype=torch.int64), res.seed[m:]]),
        synthetic=torch.cat([torch.zeros(n, dtype=torch.bool), res.synthetic[m:]]),
        result=res,
    )


def config_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)

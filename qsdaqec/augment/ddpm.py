"""An optional learned augmentor: a compact UNet DDPM trained on the minority class.

This is the comparison the paper's open question 2 asks for: instead of noising real images
(forward diffusion only), train a small denoiser ``eps_theta(x_t, t)`` on the minority class at a
small resolution (32 px by default), draw new images with DDPM ancestral sampling from pure noise,
and upsample them to the dataset's image size. Everything is seeded, so a run is reproducible on
the same machine and thread count.

Defaults are sized to train in about 1-3 minutes on 2 CPU cores; this is a small, data-starved
model (tens of minority images), so its samples are blurrier and less faithful than a full DDPM.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .diffusion import (
    VALUE_RANGES,
    AugmentResult,
    _nothing_result,
    alpha_bars,
    check_images,
    cosine_beta_schedule,
    from_diffusion_space,
    linear_beta_schedule,
    plan,
    sample_seed,
    to_diffusion_space,
)

# --------------------------------------------------------------------------- the UNet


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps ``t`` (shape ``(B,)``) -> ``(B, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :].to(t.device)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _groups(ch: int) -> int:
    for g in (8, 4, 2, 1):
        if ch % g == 0:
            return g
    return 1


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class TinyUNet(nn.Module):
    """A small UNet: one ResBlock per level, stride-2 down/up-sampling, skip connections,
    sinusoidal time embedding added in every block. ``(B, C, S, S), (B,) -> (B, C, S, S)``."""

    def __init__(self, channels: int = 1, base: int = 16, mults: Sequence[int] = (1, 2, 2)):
        super().__init__()
        self.tdim = base * 4
        self.time_mlp = nn.Sequential(
            nn.Linear(base, self.tdim), nn.SiLU(), nn.Linear(self.tdim, self.tdim)
        )
        self.base = base
        self.inc = nn.Conv2d(channels, base, 3, padding=1)
        chs = [base * m for m in mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        cin = base
        for i, c in enumerate(chs):
            self.down.append(ResBlock(cin, c, self.tdim))
            last = i == len(chs) - 1
            self.downsample.append(
                nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1)
            )
            cin = c
        self.mid = ResBlock(cin, cin, self.tdim)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, c in reversed(list(enumerate(chs))):
            self.up.append(ResBlock(cin + c, c, self.tdim))
            self.upsample.append(
                nn.Identity()
                if i == 0
                else nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)
                )
            )
            cin = c
        self.out = nn.Sequential(
            nn.GroupNorm(_groups(cin), cin), nn.SiLU(), nn.Conv2d(cin, channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(t, self.base))
        h = self.inc(x)
        skips = []
        for block, ds in zip(self.down, self.downsample, strict=False):
            h = block(h, temb)
            skips.append(h)
            h = ds(h)
        h = self.mid(h, temb)
        for block, us in zip(self.up, self.upsample, strict=False):
            h = block(torch.cat([h, skips.pop()], dim=1), temb)
            h = us(h)
        return self.out(h)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- config


@dataclass
class DDPMConfig:
    """DDPM augmentor settings. Defaults: ~1-3 min of training on 2 CPU cores."""

    image_size: int = 32
    """Resolution the model is trained and sampled at (power of two, >= 8)."""
    steps: int = 200
    """T of the DDPM chain (training and ancestral sampling)."""
    schedule: str = "cosine"
    """"cosine" (Nichol & Dhariwal) or "linear" (beta_start..beta_end)."""
    beta_start: float = 1e-4
    beta_end: float = 0.02
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 2)
    train_steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    ema_decay: float = 0.995
    hflip: bool = False
    """Randomly mirror training images left-right (more data for a tiny minority class)."""
    rho_target: float = 0.7
    seed: int = 0
    value_range: str = "0,1"
    sample_batch: int = 64

    def validate(self) -> DDPMConfig:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"{name}: {why}, got {getattr(self, name)!r}")

        if (
            not isinstance(self.image_size, int)
            or self.image_size < 8
            or self.image_size & (self.image_size - 1)
        ):
            raise bad("image_size", "must be a power of two >= 8")
        down = 2 ** (len(self.channel_mults) - 1)
        if self.image_size % down:
            raise bad(
                "image_size", f"must be divisible by {down} for {len(self.channel_mults)} levels"
            )
        if not isinstance(self.steps, int) or self.steps < 2:
            raise bad("steps", "must be an integer >= 2")
        if self.schedule not in ("cosine", "linear"):
            raise bad("schedule", 'must be "cosine" or "linear"')
        for name in ("beta_start", "beta_end"):
            if not 0.0 < float(getattr(self, name)) < 1.0:
                raise bad(name, "must lie in (0, 1)")
        if self.beta_start > self.beta_end:
            raise bad("beta_start", f"must be <= beta_end ({self.beta_end})")
        for name in ("base_channels", "batch_size", "sample_batch"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "must be a positive integer")
        if not isinstance(self.train_steps, int) or self.train_steps < 0:
            raise bad("train_steps", "must be an integer >= 0")
        if not self.lr > 0:
            raise bad("lr", "must be > 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise bad("ema_decay", "must lie in [0, 1)")
        if not (self.rho_target > 0 and math.isfinite(self.rho_target)):
            raise bad("rho_target", "must be a positive number")
        if self.value_range not in VALUE_RANGES:
            raise bad("value_range", 'must be "0,1" or "-1,1"')
        if not self.channel_mults or any(int(m) < 1 for m in self.channel_mults):
            raise bad("channel_mults", "must be positive integers")
        return self

    @property
    def range(self) -> tuple[float, float]:
        return VALUE_RANGES[self.value_range]


# --------------------------------------------------------------------------- the model


class DDPM:
    """Noise schedule + UNet; ``fit`` on images in ``[-1, 1]`` at ``cfg.image_size``, ``sample``."""

    def __init__(self, cfg: DDPMConfig, channels: int = 1):
        self.cfg = cfg.validate()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = TinyUNet(channels, cfg.base_channels, tuple(cfg.channel_mults))
        self.ema = TinyUNet(channels, cfg.base_channels, tuple(cfg.channel_mults))
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False)
        if cfg.schedule == "cosine":
            betas = cosine_beta_schedule(cfg.steps)
        else:
            betas = linear_beta_schedule(cfg.steps, cfg.beta_start, cfg.beta_end)
        self.betas = betas
        self.alpha_bars = alpha_bars(betas)
        self.channels = channels
        self.losses: list[float] = []
        self.train_seconds = 0.0

    def fit(self, x: torch.Tensor, log_every: int = 0) -> DDPM:
        """Train on ``x`` (``(N, C, S, S)`` in ``[-1, 1]``) for ``cfg.train_steps`` steps."""
        cfg = self.cfg
        g = torch.Generator(device="cpu").manual_seed(sample_seed(cfg.seed, 1))
        opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.0)
        warmup = max(1, min(100, cfg.train_steps // 10))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda s: (
                min(1.0, (s + 1) / warmup)
                * (
                    0.5
                    * (1 + math.cos(math.pi * min(s, cfg.train_steps) / max(1, cfg.train_steps)))
                )
            ),
        )
        ab = self.alpha_bars.to(torch.float32)
        self.model.train()
        start = time.perf_counter()
        for step in range(cfg.train_steps):
            idx = torch.randint(x.shape[0], (cfg.batch_size,), generator=g)
            x0 = x[idx]
            if cfg.hflip:
                flip = torch.rand(cfg.batch_size, generator=g) < 0.5
                x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
            t = torch.randint(cfg.steps, (cfg.batch_size,), generator=g)
            eps = torch.randn(x0.shape, generator=g)
            a = ab[t][:, None, None, None]
            xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
            loss = F.mse_loss(self.model(xt, t), eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                for pe, pm in zip(self.ema.parameters(), self.model.parameters(), strict=False):
                    pe.mul_(cfg.ema_decay).add_(pm.detach(), alpha=1 - cfg.ema_decay)
            self.losses.append(float(loss.detach()))
            if log_every and (step + 1) % log_every == 0:
                recent = sum(self.losses[-log_every:]) / log_every
                print(f"ddpm step {step + 1}/{cfg.train_steps} loss {recent:.4f}", flush=True)
        self.train_seconds = time.perf_counter() - start
        self.model.eval()
        return self

    @torch.no_grad()
    def sample(
        self, n: int, seed: int, snapshots: Sequence[int] = ()
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Ancestral sampling (x0-clipped posterior mean, posterior variance) from ``x_T ~ N(0, I)``.

        Returns ``(n, C, S, S)`` in ``[-1, 1]`` and ``{t: x_t}`` for each step in ``snapshots``.
        """
        cfg = self.cfg
        size = cfg.image_size
        g = torch.Generator(device="cpu").manual_seed(seed)
        betas = self.betas.to(torch.float32)
        ab = self.alpha_bars.to(torch.float32)
        ab_prev = torch.cat([torch.ones(1), ab[:-1]])
        x = torch.randn((n, self.channels, size, size), generator=g)
        snaps: dict[int, torch.Tensor] = {}
        if cfg.steps in snapshots:
            snaps[cfg.steps] = x.clone()
        model = self.ema.eval()
        for i in reversed(range(cfg.steps)):
            t = torch.full((n,), i, dtype=torch.int64)
            eps = torch.cat(
                [
                    model(x[j : j + cfg.sample_batch], t[j : j + cfg.sample_batch])
                    for j in range(0, n, cfg.sample_batch)
                ]
            )
            x0 = ((x - (1 - ab[i]).sqrt() * eps) / ab[i].sqrt()).clamp(-1, 1)
            coef0 = betas[i] * ab_prev[i].sqrt() / (1 - ab[i])
            coeft = (1 - ab_prev[i]) * (1 - betas[i]).sqrt() / (1 - ab[i])
            mean = coef0 * x0 + coeft * x
            if i > 0:
                var = betas[i] * (1 - ab_prev[i]) / (1 - ab[i])
                x = mean + var.sqrt() * torch.randn(x.shape, generator=g)
            else:
                x = mean
            if i in snapshots:
                snaps[i] = x.clone()
        return x.clamp(-1, 1), snaps


def resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    if isinstance(size, int):
        size = (size, size)
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


# --------------------------------------------------------------------------- the augmentor


class DDPMAugmentor:
    """Trains a :class:`DDPM` on the minority images it is given and samples new ones.

    Same interface and result as :class:`~qsdaqec.augment.SimpleDiffusionAugmentor`; synthetic
    rows have ``source_index == -1`` (no single source) and ``t == 0``.
    """

    name = "ddpm"

    def __init__(self, cfg: DDPMConfig | None = None, log_every: int = 0):
        self.cfg = (cfg or DDPMConfig()).validate()
        self.log_every = log_every
        self.ddpm: DDPM | None = None

    def augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        minority: int | None = None,
        *,
        counts: dict[int, int] | None = None,
    ) -> AugmentResult:
        """Originals, then the DDPM's minority samples; ``counts`` as in
        :meth:`qsdaqec.augment.diffusion.SimpleDiffusionAugmentor.augment`."""
        cfg = self.cfg
        check_images(images, labels, cfg.range)
        minority, majority, counts, ratio, k, reason = plan(
            labels, minority, cfg.rho_target, counts
        )
        if k == 0:
            return _nothing_result(
                images, labels, minority, majority, counts, ratio, reason, self.name
            )
        real = to_diffusion_space(images[labels == minority].to(torch.float32), cfg.range)
        small = resize(real, cfg.image_size).clamp(-1, 1)
        self.ddpm = DDPM(cfg, channels=images.shape[1]).fit(small, log_every=self.log_every)
        start = time.perf_counter()
        sample_run_seed = sample_seed(cfg.seed, 2)
        gen, _ = self.ddpm.sample(k, sample_run_seed)
        sample_seconds = time.perf_counter() - start
        syn = from_diffusion_space(resize(gen, tuple(images.shape[-2:])), cfg.range).to(
            images.dtype
        )
        n = images.shape[0]
        counts_after = dict(counts)
        counts_after[minority] += k
        losses = self.ddpm.losses
        tail = losses[-max(1, len(losses) // 10) :] if losses else []
        return AugmentResult(
            images=torch.cat([images, syn]),
            labels=torch.cat([labels, torch.full((k,), minority, dtype=labels.dtype)]),
            source_index=torch.cat([torch.arange(n), torch.full((k,), -1)]).to(torch.int64),
            t=torch.zeros(n + k, dtype=torch.int64),
            synthetic=torch.cat(
                [torch.zeros(n, dtype=torch.bool), torch.ones(k, dtype=torch.bool)]
            ),
            seed=torch.cat([torch.full((n,), -1), torch.full((k,), sample_run_seed)]).to(
                torch.int64
            ),
            generated=k,
            reason=(
                f"generated {k} class-{minority} samples with a DDPM trained on "
                f"{real.shape[0]} minority images, minority/majority {ratio:.3f} -> "
                f"{counts_after[minority] / counts[majority]:.3f} (rho_target {cfg.rho_target:g})"
            ),
            minority=minority,
            majority=majority,
            counts_before=counts,
            counts_after=counts_after,
            ratio_before=ratio,
            ratio_after=counts_after[minority] / counts[majority],
            augmentor=self.name,
            info={
                "unet_params": n_params(self.ddpm.model),
                "train_images": int(real.shape[0]),
                "train_seconds": round(self.ddpm.train_seconds, 2),
                "sample_seconds": round(sample_seconds, 2),
                "final_loss": round(sum(tail) / len(tail), 5) if tail else None,
                "sample_seed": sample_run_seed,
                "model_resolution": cfg.image_size,
            },
        )

    def preview(self, n: int = 4, columns: int = 6) -> torch.Tensor:
        """``(n, columns, C, S, S)`` in the input range: the reverse chain from x_T to x_0."""
        if self.ddpm is None:
            raise ConfigError("preview: the DDPM has not been trained yet; call augment() first")
        T = self.cfg.steps
        marks = sorted({round(T - j * T / (columns - 1)) for j in range(columns)}, reverse=True)
        marks = [min(m, T) for m in marks]
        final, snaps = self.ddpm.sample(
            n, sample_seed(self.cfg.seed, 3), snapshots=[m for m in marks if m > 0]
        )
        cols = [snaps[m] if m > 0 else final for m in marks]
        return from_diffusion_space(torch.stack(cols, dim=1), self.cfg.range)

"""Vessel-tree geometry of the synthetic angiograms (``qsdaqec.data.synth``): branch
centrelines and lumen radii, contrast filling, narrowings at lesions, slow distal flow, and where
lesions go. All lengths in stored pixels; "u" = size / 128 scales every constant."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the config's module renders with this one; typing only, no cycle
    from .synth import SynthConfig


@dataclass
class _Branch:
    xy: np.ndarray  # (m, 2) centreline points, (x = column, y = row), spacing STEP
    r: np.ndarray  # (m,) lumen radius
    depth: int
    children: list[tuple[int, int]] = field(default_factory=list)  # (branch, index on self)
    fill: np.ndarray | None = None  # (m,) contrast-filling factor, 1 = fully opacified


STEP = 0.5  # centreline sample spacing in pixels


def _smooth_noise(rng: np.random.Generator, m: int, sigma: float) -> np.ndarray:
    """Smooth 1-D noise of length m, about unit variance: N(0,1) knots ``sigma`` samples apart,
    linearly interpolated (cheap, and the integrated heading is smooth anyway)."""
    n_knots = int(m / sigma) + 2
    knots = rng.standard_normal(n_knots) * 1.2
    return np.interp(np.arange(m) / sigma + rng.random(), np.arange(n_knots), knots)


def _curve(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    length: float,
    u: float,
    bend: float,
) -> np.ndarray:
    m = max(int(length / STEP), 4)
    arc = rng.uniform(-1.0, 1.0) / (90.0 * u)  # a steady bend: arteries wrap around the heart
    curvature = arc + bend * _smooth_noise(rng, m, sigma=10.0 * u / STEP) / (50.0 * u)
    theta = heading + np.cumsum(curvature) * STEP
    steps = np.stack([np.cos(theta), np.sin(theta)], axis=1) * STEP
    return start[None, :] + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)[:-1]])


def _taper(rng: np.random.Generator, m: int, r0: float, r1: float, u: float) -> np.ndarray:
    t = np.linspace(0.0, 1.0, m)
    r = r0 * (r1 / r0) ** t
    wobble = 1.0 + 0.05 * _smooth_noise(rng, m, sigma=6.0 * u / STEP)
    return r * wobble


def _make_tree(rng: np.random.Generator, size: int) -> tuple[list[_Branch], np.ndarray]:
    """Return the vessel branches and the catheter centreline (k, 2)."""
    u = size / 128.0
    ostium = np.array([rng.uniform(0.25, 0.6), rng.uniform(0.12, 0.3)]) * size
    branches: list[_Branch] = []

    def grow(start, heading, length, r0, depth):
        xy = _curve(rng, start, heading, length, u, bend=rng.uniform(0.6, 1.4))
        r1 = max(r0 * rng.uniform(0.3, 0.45), 0.55 * u)
        r = _taper(rng, len(xy), r0, r1, u)
        idx = len(branches)
        branches.append(_Branch(xy=xy, r=r, depth=depth))
        if depth >= 3 or r0 < 1.0 * u:
            return idx
        n_side = rng.poisson(length / (26.0 * u) + 0.5)
        if n_side == 0:
            return idx
        ts = np.sort(rng.uniform(0.12, 0.85, size=n_side))
        for t in ts:
            k = int(t * (len(xy) - 1))
            d = xy[min(k + 1, len(xy) - 1)] - xy[max(k - 1, 0)]
            parent_heading = math.atan2(d[1], d[0])
            side = rng.choice([-1.0, 1.0])
            child_heading = parent_heading + side * rng.uniform(0.45, 1.15)
            child_r0 = r[k] * rng.uniform(0.55, 0.8)
            child_len = length * rng.uniform(0.35, 0.7) * (1 - t * 0.5)
            if child_r0 < 0.6 * u or child_len < 8 * u:
                continue
            c = grow(xy[k], child_heading, child_len, child_r0, depth + 1)
            branches[idx].children.append((c, k))
        return idx

    # Main vessels fan out from the ostium downward: LAD-like (down), LCx-like (sideways),
    # sometimes an intermediate branch in between.
    n_main = 2 + int(rng.random() < 0.4)
    base = rng.uniform(0.2, 0.9) * math.pi  # down-right .. down-left
    spread = rng.uniform(0.7, 1.2)
    headings = base + spread * (np.linspace(-0.5, 0.5, n_main) + rng.uniform(-0.1, 0.1, n_main))
    r_main = rng.uniform(2.6, 3.4) * u
    # a short common stem (left main) before the split
    stem = _curve(rng, ostium, base + rng.uniform(-0.3, 0.3), rng.uniform(6, 14) * u, u, 0.5)
    stem_r = np.full(len(stem), r_main)
    branches.append(_Branch(xy=stem, r=stem_r, depth=0))
    split = stem[-1]
    for h in headings:
        length = rng.uniform(0.75, 1.15) * size
        c = grow(split, float(h), length, r_main * rng.uniform(0.8, 1.0), 1)
        branches[0].children.append((c, len(stem) - 1))

    # Catheter: from the top edge (slightly left or right of the ostium) down to the ostium.
    top = np.array([ostium[0] + rng.uniform(-0.35, 0.35) * size, -4.0 * u])
    ctrl = np.array([ostium[0] + rng.uniform(-0.25, 0.25) * size, ostium[1] * 0.4])
    t = np.linspace(0, 1, max(int(size * 1.5), 8))[:, None]
    catheter = (1 - t) ** 2 * top + 2 * (1 - t) * t * ctrl + t**2 * ostium
    return branches, catheter


def _init_fill(branches: list[_Branch]) -> None:
    for b in branches:
        if b.fill is None:
            b.fill = np.ones(len(b.r))


def _narrow(branches: list[_Branch], lesions: list[dict[str, Any]]) -> None:
    """Narrow the lumen at each lesion: a Gaussian dip of the radius along the vessel."""
    for les in lesions:
        b = branches[les["branch"]]
        s = np.arange(len(b.r)) * STEP
        dip = np.exp(-0.5 * ((s - les["index"] * STEP) / les["sigma"]) ** 2)
        b.r = b.r * (1.0 - les["severity"] * dip)


def _slow_flow(branches: list[_Branch], sites: list[dict[str, Any]]) -> None:
    """Fill the vessel beyond each site, and all its side branches there, more faintly by the
    site's ``drop`` (slower flow: less contrast by the time of the frame)."""
    _init_fill(branches)
    for site in sites:
        b = branches[site["branch"]]
        s = np.arange(len(b.r)) * STEP
        s0, width = site["index"] * STEP, site["sigma"]
        ramp = 1.0 / (1.0 + np.exp(-(s - s0 - 2 * width) / width))
        b.fill = b.fill * (1.0 - site["drop"] * ramp)
        stack = [c for c, k in b.children if k > site["index"]]
        while stack:
            c = stack.pop()
            branches[c].fill = branches[c].fill * (1.0 - site["drop"])
            stack.extend(cc for cc, _ in branches[c].children)


def _pick_lesions(
    rng: np.random.Generator,
    branches: list[_Branch],
    cfg: SynthConfig,
    count: int,
    severity: tuple[float, float],
    avoid: list[np.ndarray],
) -> list[dict[str, Any]]:
    """Choose ``count`` lesion sites on vessels wide enough, inside the image, apart."""
    size, u = cfg.size, cfg.size / 128.0
    margin = 10 * u
    sites: list[tuple[int, np.ndarray]] = []  # (branch, positions allowed on it)
    for bi, b in enumerate(branches):
        if bi == 0:  # the left-main stem: too short for a clean focal lesion
            continue
        m = len(b.r)
        k = np.arange(m)
        ok = (k > 0.08 * m) & (k < 0.9 * m) & (k * STEP > 6 * u)
        ok &= np.all((b.xy > margin) & (b.xy < size - margin), axis=1)
        sites.append((bi, ok))
    widest = max((float(branches[bi].r[ok].max()) for bi, ok in sites if ok.any()), default=0.0)
    r_min = min(cfg.min_stenosis_radius * u, 0.9 * widest)
    # Every site of a vessel wide enough is equally likely: no preference for proximal sites,
    # which would put the most vessel beyond a lesion (generator version 5 weighted them so).
    cands = [
        (bi, int(kk)) for bi, ok in sites for kk in np.flatnonzero(ok & (branches[bi].r >= r_min))
    ]
    lesions: list[dict[str, Any]] = []
    if not cands:
        return lesions
    order = rng.permutation(len(cands))
    taken = list(avoid)
    for ci in order:
        bi, k = cands[ci]
        p = branches[bi].xy[k]
        if any(np.hypot(*(p - q)) < 14 * u for q in taken):
            continue
        sev = float(rng.uniform(*severity))
        sigma = float(rng.uniform(*cfg.stenosis_length)) * u
        lesions.append(
            {
                "branch": bi,
                "index": k,
                "severity": sev,
                "sigma": sigma,
                "radius": float(branches[bi].r[k]),
                "x": float(p[0]),
                "y": float(p[1]),
            }
        )
        taken.append(p)
        if len(lesions) == count:
            break
    return lesions

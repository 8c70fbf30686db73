"""Where a trained model thinks the lesions are: its lesion map, averaged over the test views,
its peaks in image pixels, and how often the top peak lies on a known lesion."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..data.lesions import ImageLesions, LesionTable
from .accel import Accel
from .batching import predict_logits

HIT_TOLERANCE = 2.0
"""Pixels (of the stored image) a predicted lesion centre may lie beyond the lesion's reach
(half its box; for the built-in data 2 sigma) and still count as on the lesion."""


@dataclass(frozen=True)
class Peak:
    """A likely lesion: centre ``(x, y)`` in pixels of the image as given, and the lesion
    map's probability there."""

    x: float
    y: float
    score: float


def view_pairs(n: int):
    """The first ``n`` dihedral views as (transpose?, flip dims), in ``dihedral_views``'
    order; a view's map goes back to the image's frame by the flip, then the transpose."""
    pairs = [(t, d) for t in (False, True) for d in ((), (-1,), (-2,), (-1, -2))]
    return pairs[:n]


def _view_map(lesion_logits, x: torch.Tensor, views: int) -> torch.Tensor:
    """The lesion map's probabilities ``(B, h, w)`` averaged over ``views`` views, each mapped
    back into the image's frame."""
    total = None
    for transpose, dims in view_pairs(views):
        v = x.transpose(-1, -2) if transpose else x
        v = v.flip(dims) if dims else v
        p = torch.sigmoid(lesion_logits(v).float())
        p = p.flip(dims) if dims else p
        p = p.transpose(-1, -2) if transpose else p
        total = p if total is None else total + p
    return (total / views)[:, 0]


@torch.no_grad()
def lesion_maps(model, x: torch.Tensor, views: int = 1, accel: Accel | None = None):
    """The lesion-map probabilities ``(N, h, w)`` of images ``x`` ``(N, 1, H, W)`` (eval mode;
    on the CPU)."""
    model.eval()
    return predict_logits(lambda b: _view_map(model.lesion_logits, b, views), x, 64, None, accel)


def peaks(prob: torch.Tensor, size: tuple[int, int], k: int = 3) -> list[Peak]:
    """Up to ``k`` peaks of one map ``(h, w)``, strongest first, as image pixels of an image of
    ``size`` (H, W): each a local maximum (3 x 3), refined to the probability-weighted centre
    of its 3 x 3 neighbourhood; peaks closer than 2 cells to a stronger one are dropped."""
    h, w = prob.shape
    sy, sx = size[0] / h, size[1] / w
    local = F.max_pool2d(prob[None, None], 3, stride=1, padding=1)[0, 0]
    cand = torch.nonzero((prob >= local) & (prob > 0))
    order = torch.argsort(prob[cand[:, 0], cand[:, 1]], descending=True)
    out: list[Peak] = []
    cells: list[tuple[int, int]] = []
    for i, j in cand[order].tolist():
        if any(max(abs(i - a), abs(j - b)) < 2 for a, b in cells):
            continue
        r0, r1, c0, c1 = max(i - 1, 0), min(i + 2, h), max(j - 1, 0), min(j + 2, w)
        wgt = prob[r0:r1, c0:c1]
        rows = torch.arange(r0, r1, dtype=wgt.dtype)[:, None] + 0.5
        cols = torch.arange(c0, c1, dtype=wgt.dtype)[None, :] + 0.5
        total = float(wgt.sum())
        cy = float((wgt * rows).sum()) / total if total > 0 else i + 0.5
        cx = float((wgt * cols).sum()) / total if total > 0 else j + 0.5
        out.append(Peak(cx * sx, cy * sy, float(prob[i, j])))
        cells.append((i, j))
        if len(out) == k:
            break
    return out


def on_lesion(peak: Peak, entry: ImageLesions, size: tuple[int, int]) -> bool:
    """Whether ``peak`` (pixels of the image resized to ``size``) lies within a lesion's reach
    + :data:`HIT_TOLERANCE` pixels of its centre, in pixels of the stored image."""
    fx, fy = entry.width / size[1], entry.height / size[0]
    return any(
        math.hypot(peak.x * fx - le.x, peak.y * fy - le.y) <= le.reach + HIT_TOLERANCE
        for le in entry.lesions
    )


def localisation(
    top: Sequence[Peak | None], entries: Sequence[ImageLesions | None], size: tuple[int, int]
) -> dict[str, Any]:
    """Of the images with known lesions (an entry with lesions), the share whose top peak lies
    on one: ``{"n": ..., "hits": ..., "rate": ...}`` (rate NaN when n is 0)."""
    pairs = [(p, e) for p, e in zip(top, entries, strict=True) if e is not None and e.lesions]
    hits = sum(1 for p, e in pairs if p is not None and on_lesion(p, e, size))
    return {"n": len(pairs), "hits": hits, "rate": hits / len(pairs) if pairs else math.nan}


def test_localisation(
    maps: torch.Tensor,
    ids: Sequence[str],
    table: LesionTable,
    rows: Sequence[int],
    images: torch.Tensor,
) -> dict[str, Any]:
    """:func:`localisation` of the top peak of ``maps`` on the images ``rows`` (e.g. the test
    split's true positives), with what it counted."""
    size = tuple(images.shape[-2:])
    tops, entries = [], []
    for i in rows:
        found = peaks(maps[i], size, k=1)
        tops.append(found[0] if found else None)
        entries.append(table.get(ids[i]))
    out = localisation(tops, entries, size)
    out["of"] = "true-positive images with known lesions: top lesion-map peak on a lesion"
    out["tolerance_px"] = HIT_TOLERANCE
    return out


def format_localisation(loc: dict[str, Any]) -> str:
    if not loc["n"]:
        return "no true-positive image with known lesions"
    return (
        f"top peak on a lesion in {loc['hits']}/{loc['n']} true-positive images "
        f"({100 * loc['rate']:.0f} %)"
    )

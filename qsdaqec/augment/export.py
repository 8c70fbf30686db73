"""Writing an augmented dataset: ImageFolder per split, manifest.json, preview grid; atomically.

Layout::

    OUT/train/<class>/*.png   originals of the training split + synthetic minority images
    OUT/val/<class>/*.png     the validation split, untouched
    OUT/test/<class>/*.png    the test split, untouched
    OUT/manifest.json         every file: split, class, synthetic?, source id, t, seed
    OUT/lesions.json          the source's lesions.json under the new paths, when it has one
                              (a synthetic image keeps its source's lesions: forward diffusion
                              adds noise and moves nothing)
    OUT/preview.png           each source vs each t = 1..T (forward diffusion) or the reverse chain (DDPM)

Everything is written into a temporary sibling folder that is renamed to ``OUT`` at the end, so an
interrupted run never leaves a half-written dataset behind.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data.lesions import LESIONS_FILE, ImageLesions, LesionTable, write_lesions
from ..errors import ConfigError
from ..io import atomic_write_json, make_dir, read_json
from .registry import AUGMENTORS

MANIFEST_FORMAT = "qsdaqec-augmented/1"


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in ``[0, 1]`` -> ``(H, W)`` (C=1) or ``(H, W, C)`` uint8."""
    a = (img.detach().to(torch.float32).clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    return a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))


def save_png(img: torch.Tensor, path: Path) -> None:
    Image.fromarray(to_uint8(img)).save(path, format="PNG")


def grid_image(
    tiles: torch.Tensor,
    col_titles: Sequence[str] = (),
    row_titles: Sequence[str] = (),
    pad: int = 2,
    scale: int = 1,
) -> Image.Image:
    """``(R, K, C, H, W)`` in ``[0, 1]`` -> one image with an optional title row/column."""
    r, k, c, h, w = tiles.shape
    h2, w2 = h * scale, w * scale
    top = 14 if col_titles else 0
    left = 64 if row_titles else 0
    canvas = Image.new(
        "L" if c == 1 else "RGB", (left + k * (w2 + pad) + pad, top + r * (h2 + pad) + pad), 255
    )
    draw = ImageDraw.Draw(canvas)
    for j, title in enumerate(col_titles):
        draw.text((left + pad + j * (w2 + pad) + 2, 1), str(title), fill=0)
    for i in range(r):
        if i < len(row_titles):
            draw.text(
                (2, top + pad + i * (h2 + pad) + h2 // 2 - 5), str(row_titles[i])[:10], fill=0
            )
        for j in range(k):
            tile = Image.fromarray(to_uint8(tiles[i, j]))
            if scale != 1:
                tile = tile.resize((w2, h2), Image.NEAREST)
            canvas.paste(tile, (left + pad + j * (w2 + pad), top + pad + i * (h2 + pad)))
    return canvas


def _safe_stem(identifier: str) -> str:
    stem = os.path.splitext(str(identifier))[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "img"


def atomic_dir(out: Path, overwrite: bool) -> tuple[Path, callable]:
    """A temp folder beside ``out`` and a ``commit()`` that renames it into place."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"--out: {out} already exists; choose a new folder or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_dir(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))

    def commit() -> Path:
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return out

    return tmp, commit


class _Placer:
    """Saves images as ``<split>/<class>/<stem>.png`` under ``root``, never twice to one path."""

    def __init__(self, root: Path, classes: Sequence[str]):
        self.root, self.classes = root, classes
        self.used: set[str] = set()
        self.files: list[dict[str, Any]] = []

    def place(self, split: str, label: int, stem: str, img: torch.Tensor, **entry: Any) -> None:
        cls = self.classes[label]
        rel = f"{split}/{cls}/{stem}.png"
        n = 1
        while rel in self.used:
            n += 1
            rel = f"{split}/{cls}/{stem}-{n}.png"
        self.used.add(rel)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(img, path)
        self.files.append({"path": rel, "split": split, "class": cls, "label": label, **entry})

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            key = f"{f['split']}{'_synthetic' if f['synthetic'] else ''}"
            out.setdefault(key, {}).setdefault(f["class"], 0)
            out[key][f["class"]] += 1
        return out


def _place_train(placer: _Placer, aug: Any, ids: Sequence[str]) -> None:
    """The augmented training split: originals under their ids, synthetic images as
    ``syn_<k>_<source>_t<t>`` (or ``syn_<augmentor>_<k>`` without a single source): the
    ``syn_`` prefix marks a synthetic image wherever the file travels
    (:data:`qsdaqec.data.loaders.SYNTHETIC_PREFIX`)."""
    augmentor = aug.result.augmentor
    k = 0
    for j in range(aug.images.shape[0]):
        lab = int(aug.labels[j])
        if not bool(aug.synthetic[j]):
            i = int(aug.index[j])
            placer.place(
                "train", lab, _safe_stem(ids[i]), aug.images[j], synthetic=False, id=ids[i]
            )
            continue
        src, t = int(aug.source_index[j]), int(aug.t[j])
        stem = (
            f"syn_{k:05d}_{_safe_stem(ids[src])}_t{t}" if src >= 0 else f"syn_{augmentor}_{k:05d}"
        )
        placer.place(
            "train",
            lab,
            stem,
            aug.images[j],
            synthetic=True,
            augmentor=augmentor,
            source_id=ids[src] if src >= 0 else None,
            t=t if src >= 0 else None,
            seed=int(aug.seed[j]),
        )
        k += 1


def _resized(entry: ImageLesions, width: int, height: int) -> ImageLesions:
    """``entry`` in pixels of the image as written (``--image-size`` resizes it)."""
    if (entry.width, entry.height) == (width, height):
        return entry
    sx, sy = width / entry.width, height / entry.height
    lesions = tuple(
        dataclasses.replace(le, x=le.x * sx, y=le.y * sy, w=le.w * sx, h=le.h * sy)
        for le in entry.lesions
    )
    return ImageLesions(width, height, lesions, entry.group)


def carried_lesions(
    table: LesionTable, files: Sequence[dict[str, Any]], size: tuple[int, int]
) -> LesionTable:
    """``table`` keyed by the written paths (``train/stenosis/x.png``): each file takes the
    entry of the image it was made from (its own, or a synthetic image's source). ``size``:
    the written images' ``(height, width)``."""
    height, width = size
    out: dict[str, ImageLesions] = {}
    for f in files:
        entry = table.get(f["source_id"] if f["synthetic"] else f["id"])
        if entry is not None:
            out[f["path"]] = _resized(entry, width, height)
    return LesionTable(out, table.source)


def write_augmented(
    out: str | os.PathLike,
    *,
    images: torch.Tensor,
    labels: torch.Tensor,
    ids: Sequence[str],
    classes: Sequence[str],
    split: Any,
    train_aug: Any,
    preview: Image.Image | None,
    manifest_extra: dict[str, Any],
    overwrite: bool = False,
    lesions: LesionTable | None = None,
) -> Path:
    """Write the layout above. ``train_aug`` is a :class:`~qsdaqec.augment.TrainAugmentation`;
    ``lesions``: the source data's ``lesions.json``, carried over to ``OUT/lesions.json``."""
    tmp, commit = atomic_dir(Path(out), overwrite)
    try:
        placer = _Placer(tmp, classes)
        for name in ("val", "test"):
            for i in np.asarray(getattr(split, name), dtype=np.int64).tolist():
                lab = int(labels[i])
                placer.place(name, lab, _safe_stem(ids[i]), images[i], synthetic=False, id=ids[i])
        _place_train(placer, train_aug, ids)
        if preview is not None:
            preview.save(tmp / "preview.png", format="PNG")
        manifest = {
            "format": MANIFEST_FORMAT,
            "classes": list(classes),
            "counts": placer.counts(),
            "preview": "preview.png" if preview is not None else None,
            **manifest_extra,
            "files": placer.files,
        }
        atomic_write_json(tmp / "manifest.json", manifest)
        if lesions is not None:
            size = tuple(images.shape[-2:])
            write_lesions(tmp / LESIONS_FILE, carried_lesions(lesions, placer.files, size))
        return commit()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recorded_augmentor(folder: str | os.PathLike) -> Any | None:
    """The augmentor a ``qsdaqec augment`` folder was made with, rebuilt from its manifest, when
    it noises real images (``forward_noising``); ``None`` for any other folder or augmentor.

    A fit on such a folder generates nothing (its minority is already at ``rho_target``), yet
    its synthetic images are the only noisy ones: noise matching needs this augmentor's schedule
    to noise the majority alike."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = read_json(path) if path.is_file() else {}
    except Exception:  # noqa: BLE001 - not an augment manifest we can read: nothing to match
        return None
    name = manifest.get("augmentor") if isinstance(manifest, dict) else None
    if manifest.get("format") != MANIFEST_FORMAT or name not in AUGMENTORS:
        return None
    entry = AUGMENTORS.get(name)
    if not entry.forward_noising:
        return None
    default = entry.config({})
    fields = {f.name for f in dataclasses.fields(default)}
    saved = {k: v for k, v in (manifest.get("config") or {}).items() if k in fields}
    return entry.build(dataclasses.replace(default, **saved).validate(), None)

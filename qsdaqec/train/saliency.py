"""Grad-CAM saliency for a trained run (``qsdaqec predict --explain``).

Grad-CAM (Selvaraju et al., 2017) on a layer fine enough to localise (:func:`cam_layer`: the
backbone's stride-8 block when the model has a lesion map, else the backbone's last convolution, a
4 x 4 grid at 128 px for the paper's network): the layer's activations ``A_k`` weighted by the mean gradient of the predicted class's logit with respect to
them, ``ReLU(sum_k mean(dy/dA_k) A_k)``, upsampled to the image and scaled to [0, 1]. The logit
comes through the whole model, the quantum head included (its exact path differentiates the
circuit), so the map shows what the diagnosis depends on. Written with forward hooks here: the
two library candidates (pytorch-grad-cam, captum) would add a dependency for twenty lines.

:func:`write_explanations` saves one overlay PNG per image (the image in gray, the map in a
colour scale over it, the lesion map's peaks circled) and an ``index.html`` of them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..io import atomic_write_bytes, atomic_write_text
from ..models.lesion import STRIDE8_BLOCKS
from ..templating import render


def cam_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM explains: the backbone's stride-8 block when the model has a lesion
    map (8-px cells; the diagnosis depends on it through the deeper map and the lesion
    pooling), else the model's last ``Conv2d`` (the backbone's last convolutional block)."""
    if getattr(model, "lesion", None) is not None:
        return model.backbone[STRIDE8_BLOCKS - 1]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError(
            "explain: the run's backbone has no convolutional layer, so Grad-CAM has no "
            "feature map to explain; use a run with a CNN backbone (sdaqec, resnet18, ...)",
            cli={"explain:": "--explain:"},
        )
    return convs[-1]


def grad_cam(model: nn.Module, images: torch.Tensor, target: torch.Tensor | None = None):
    """``(maps (B, H, W) in [0, 1], logits (B, 2))`` for images ``(B, 1, H, W)``; ``target``
    (default: the predicted class) is the class whose logit is explained."""
    layer = cam_layer(model)
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        store["act"] = output

    handle = layer.register_forward_hook(keep)
    model.eval()
    try:
        with torch.enable_grad():
            x = images.detach().clone().requires_grad_(True)  # gradients flow even if frozen
            logits = model(x)
            cls = logits.argmax(1) if target is None else target
            logits.gather(1, cls[:, None]).sum().backward()
    finally:
        handle.remove()
    act, grad = store["act"], store["act"].grad
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(1, keepdim=True))
    cam = nn.functional.interpolate(
        cam, size=images.shape[-2:], mode="bilinear", align_corners=False
    )
    cam = cam[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    return (cam / peak).detach(), logits.detach()


def peak_of(cam: torch.Tensor) -> tuple[int, int]:
    """``(x, y)`` pixel of a map's maximum (column, row)."""
    idx = int(torch.argmax(cam))
    return idx % cam.shape[-1], idx // cam.shape[-1]


def overlay_png(
    image: np.ndarray,
    cam: np.ndarray,
    alpha: float = 0.45,
    marks: Sequence[tuple[float, float]] = (),
) -> bytes:
    """PNG bytes: the gray image ``(H, W)`` in [0, 1] with the map in matplotlib's ``jet``, and
    a circle at each of ``marks`` (``(x, y)`` pixels: the likely lesions, strongest in white)."""
    from matplotlib import colormaps  # imported here: only --explain draws
    from PIL import Image, ImageDraw

    gray = np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=2)
    heat = colormaps["jet"](np.clip(cam, 0, 1))[..., :3]
    mixed = (1 - alpha * cam[..., None]) * gray + alpha * cam[..., None] * heat
    im = Image.fromarray((mixed * 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    r = max(4.0, image.shape[0] / 20)
    for k, (x, y) in enumerate(marks):
        colour = (255, 255, 255) if k == 0 else (255, 200, 0)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=1)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write_explanations(
    out_dir: Path,
    images: torch.Tensor,
    cams: torch.Tensor,
    rows: Sequence[dict],
    marks: Sequence[Sequence[tuple[float, float]]] | None = None,
    layer: str = "the backbone's last convolutional layer",
) -> Path:
    """``out_dir/<n>_<name>[_frame<k>].png`` per image and ``out_dir/index.html``; returns the
    index. ``marks``: per image, the likely lesions to circle (pixels of ``images``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    marks = marks if marks is not None else [()] * len(rows)
    for i, (img, cam, row) in enumerate(zip(images, cams, rows, strict=True)):
        frame = f"_frame{row['frame']}" if "frame" in row else ""
        name = f"{i:04d}_{Path(str(row['image']).split('#')[0]).stem}{frame}.png"
        png = overlay_png(img[0].numpy(), cam.numpy(), marks=marks[i])
        atomic_write_bytes(out_dir / name, png)
        figures.append(_figure(name, row))
    wrong = sum("label" in r and r["label"] != r["predicted"] for r in rows)
    page = render(
        "explain_index.html.j2",
        layer=layer,
        circles=any(marks),
        wrong=wrong,
        figures=figures,
    )
    return atomic_write_text(out_dir / "index.html", page)


def _figure(name: str, row: dict) -> dict:
    """One overlay with its caption: the file (and frame), the predicted class and its
    probability, and the label, marked when it differs."""
    predicted = str(row["predicted"])
    p = row.get(f"p_{predicted}")
    label = str(row["label"]) if "label" in row else None
    return {
        "file": name,
        "where": str(row["image"]).split("#")[0],
        "frame": int(row["frame"]) if "frame" in row else None,
        "predicted": predicted,
        "p": p if isinstance(p, float) else None,
        "label": label,
        "wrong": label is not None and row["label"] != predicted,
    }

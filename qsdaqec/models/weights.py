"""Where a network's starting weights come from: ``--weights auto|imagenet|none|PATH``.

- ``imagenet``: torchvision's ImageNet weights, from the torch hub cache
  (``torch.hub.get_dir()/checkpoints``) or downloaded there once by torchvision
  (``Weights.get_state_dict(check_hash=True)``); the file's SHA-256 must match the hash in its
  name, cached or fresh;
- ``auto`` (the default): ImageNet weights when cached or downloadable, else from scratch with
  one line saying so (offline machines, or ``QSDAQEC_OFFLINE=1``);
- ``none``: from scratch;
- ``PATH``: your own: a state dict file (torchvision's layout, e.g. ``features.*`` of
  MobileNetV2, or a qsdaqec ``model.pt``) or a previous run directory, whose backbone (and
  projection) are used. This is how domain-pretrained weights come in.

Every problem (an explicit ``imagenet`` offline, a hash mismatch, a file that does not fit the
architecture) is a ``ConfigError`` naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchvision import models as tvm

from ..errors import ConfigError, RunError
from ..runs import RunDir

WEIGHTS = ("auto", "imagenet", "none")
"""The named choices; anything else is a path."""

OFFLINE_ENV = "QSDAQEC_OFFLINE"
NOT_CACHED_MESSAGE = "ImageNet weights not cached and not downloadable here; training from scratch"
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


@dataclass(frozen=True)
class StartWeights:
    """Resolved starting weights: a state dict (or ``None``: from scratch) in ``layout``
    (``torchvision``: the torchvision network's own keys; ``qsdaqec``: a qsdaqec model's keys),
    what was used (``imagenet``, ``none`` or the path), a line for the user, and whether the
    network expects ImageNet-normalised inputs."""

    state: dict[str, torch.Tensor] | None
    layout: str
    used: str
    message: str | None
    normalize: bool


def _weights_enum(arch: str):
    table = {
        "mobilenet_v2": tvm.MobileNet_V2_Weights.IMAGENET1K_V1,
        "resnet18": tvm.ResNet18_Weights.IMAGENET1K_V1,
        "densenet121": tvm.DenseNet121_Weights.IMAGENET1K_V1,
        "vgg16": tvm.VGG16_Weights.IMAGENET1K_V1,
    }
    if arch not in table:
        raise ConfigError(f"no ImageNet weights known for {arch!r}; choose one of {sorted(table)}")
    return table[arch]


def imagenet_url(arch: str) -> str:
    """torchvision's download URL of ``arch``'s ImageNet weights (tests point it at a file)."""
    return _weights_enum(arch).url


def cached_weights_path(arch: str) -> Path:
    """Where torchvision caches ``arch``'s ImageNet weights (the file may not exist)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(imagenet_url(arch))


_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _check_hash(path: Path) -> None:
    m = HASH_IN_NAME.search(path.name)
    if m is None:
        return
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if not h.hexdigest().startswith(m.group(1)):
        raise ConfigError(
            f"{path}: hash mismatch (SHA-256 {h.hexdigest()[:12]}..., the name says "
            f"{m.group(1)}): the file is damaged or not torchvision's; delete it to download it "
            "again, or pass --weights none"
        )


def _read(path: Path, what: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated download or not a torch file: one line, no traceback
        raise ConfigError(
            f"{path}: {what} unreadable ({type(e).__name__}); replace the file or pass "
            "--weights none"
        ) from None


def _reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether ``url`` answers (a HEAD request, ``timeout`` seconds); never with QSDAQEC_OFFLINE."""
    if os.environ.get(OFFLINE_ENV):
        return False
    try:
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout):
            return True
    except Exception:
        return False


def load_imagenet_state(arch: str, *, download: bool = False) -> dict[str, torch.Tensor] | None:
    """``arch``'s ImageNet state dict from the hub cache (hash-checked); with ``download``,
    fetched there first when missing and the URL answers. ``None`` when not to be had.

    torchvision's ``Weights.get_state_dict(check_hash=True)`` downloads (checking the hash in
    the file's name) and loads; it checks only what it downloads, so a cached file is checked
    here first."""
    weights = _weights_enum(arch)
    path = cached_weights_path(arch)
    cached = path.is_file()
    if cached:
        _check_hash(path)
    elif not (download and _reachable(weights.url)):
        return None
    try:
        # torch.hub says "Downloading: ..." on stdout, which is for results (predict's CSV)
        with contextlib.redirect_stdout(sys.stderr):
            state = weights.get_state_dict(
                progress=False, check_hash=True, map_location="cpu", weights_only=True
            )
    except Exception as e:
        if cached:  # a truncated file or not a torch file: one line, no traceback
            raise ConfigError(
                f"{path}: cached ImageNet weights are unreadable ({type(e).__name__}); replace "
                "the file or pass --weights none"
            ) from None
        raise ConfigError(
            f"{weights.url}: download of the ImageNet weights failed ({type(e).__name__}: {e}); "
            "try again, or pass --weights none"
        ) from None
    if arch == "densenet121":  # old-style keys, as torchvision's own loader rewrites them
        for key in list(state):
            m = _DENSENET_KEY.match(key)
            if m:
                state[m.group(1) + m.group(2)] = state.pop(key)
    return state


def _from_path(path: Path) -> StartWeights:
    """A state dict file or a run directory (its ``model.pt``)."""
    normalize = False
    if path.is_dir():
        run = RunDir(path)
        if not run.finished:
            raise ConfigError(
                f"{path}: not a finished run directory (no model.pt, or its run.json does not "
                "say finished); pass a run's --out folder or a state dict file"
            )
        normalize = _run_normalizes(run)
        path = run.model
    obj = _read(path, "weights file is")
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]  # a qsdaqec checkpoint
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(
            f"{path}: not a state dict (a mapping of parameter names to tensors); save one with "
            "torch.save(model.state_dict(), PATH)"
        )
    qsdaqec = any(k.startswith(("backbone.", "body.", "proj.")) for k in obj)
    if not qsdaqec:
        normalize = True  # torchvision's layout: its networks are trained on normalised inputs
    return StartWeights(obj, "qsdaqec" if qsdaqec else "torchvision", str(path), None, normalize)


def _run_normalizes(run: RunDir) -> bool:
    """Whether the run at ``run`` fed its network ImageNet-normalised inputs."""
    try:
        return bool(run.read_info().raw["weights"]["normalize"])
    except (RunError, KeyError, TypeError):
        try:
            return run.read_config()["weights"] == "imagenet"
        except (RunError, KeyError, TypeError):
            return False


def resolve_weights(arch: str, weights: str) -> StartWeights:
    """The starting weights of torchvision network ``arch`` for ``--weights weights``."""
    if weights == "none":
        return StartWeights(None, "torchvision", "none", None, False)
    if weights in ("auto", "imagenet"):
        state = load_imagenet_state(arch, download=True)
        if state is not None:
            return StartWeights(state, "torchvision", "imagenet", None, True)
        if weights == "imagenet":
            raise ConfigError(
                f"--weights imagenet: not in {cached_weights_path(arch).parent} and "
                f"{imagenet_url(arch)} cannot be reached; connect to the internet once, copy the "
                f"file there, or pass --weights auto (trains from scratch when offline)"
            )
        return StartWeights(None, "torchvision", "none", NOT_CACHED_MESSAGE, False)
    path = Path(weights)
    if not path.exists():
        raise ConfigError(
            f"--weights {weights}: not auto, imagenet or none, and no such file or run directory"
        )
    return _from_path(path)

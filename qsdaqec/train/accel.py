"""Where a fit computes: the device (``--device auto|cpu|cuda[:N]|mps``), bf16 autocast on CUDA,
channels-last memory (CUDA and CPU: MobileNetV2's depthwise convolutions run about a quarter
faster in it on a CPU too), and whether the data sits on the device.

A quantum head with a runner estimator runs on the CPU: ``TorchConnector`` hands the circuit to
numpy (estimators and gradients are CPU code), so the model moves the 256-d features there and the
logits back (:meth:`qsdaqec.models.SDAQECModel.forward`). An exact head stays on the device and
simulates its circuit in torch there (:mod:`qsdaqec.quantum.torch_sim`): its numpy path on the
CPU would be about a quarter of a GPU training step (an estimate; docs/quantum.md, "On a GPU").
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .config import check_device

#: Data sets up to this size stay on the GPU for the whole fit (a few thousand images at 224 px
#: are a few hundred MB); larger ones are copied batch by batch from pinned host memory.
RESIDENT_BYTES = 2 << 30

_DEVICE = {"device=": "--device "}  # the command line's name of the argument


def resolve_device(spec: str) -> torch.device:
    """The torch device for ``spec``; ``auto`` is CUDA when available, else the CPU. Asking for
    a device this machine lacks is a ``ConfigError`` saying what to pass instead."""
    check_device(spec)
    spec = spec.strip()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={spec}: CUDA is not available on this machine (no GPU, or a CPU-only "
                "torch build); use device=cpu or auto",
                cli=_DEVICE,
            )
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device={spec}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}",
                cli=_DEVICE,
            )
        return torch.device("cuda", index)
    if spec == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "device=mps: Apple MPS is not available on this machine; use cpu", cli=_DEVICE
        )
    return torch.device(spec)


@dataclass(frozen=True)
class Accel:
    """A fit's device and how it computes there."""

    device: torch.device
    amp: torch.dtype | None = None
    """Autocast dtype of the backbone (bf16 on CUDA), ``None`` = full precision."""
    channels_last: bool = False

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def model(self, model: nn.Module) -> nn.Module:
        """``model`` on the device (channels-last where set); a quantum head with a runner
        estimator stays on the CPU (an exact one computes on the device)."""
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        if self.is_cpu:
            return model.to(memory_format=fmt)
        model.to(self.device, memory_format=fmt)
        head = getattr(model, "head", None)
        if head is not None and hasattr(head, "qnn") and not getattr(head, "is_exact", False):
            head.to("cpu")
        return model

    def resident(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` kept on the device when it is small enough, else in pinned host memory
        (streamed images stay where they are: their loader pins each batch)."""
        if self.is_cpu or not isinstance(x, torch.Tensor):
            return x
        if x.numel() * x.element_size() <= RESIDENT_BYTES:
            return x.to(self.device)
        return x.pin_memory() if self.device.type == "cuda" else x

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on the device, in the model's memory format."""
        if not self.is_cpu:
            x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def info(self) -> dict[str, Any]:
        """What ``run.json`` records: device, GPU name, autocast."""
        gpu = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None
        amp = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp, "off")
        return {"device": str(self.device), "gpu": gpu, "amp": amp}


def accelerator(spec: str = "auto") -> Accel:
    """The ``Accel`` of ``--device spec``: bf16 autocast on CUDA (where the GPU supports it),
    float32 elsewhere; channels-last on CUDA and the CPU."""
    device = resolve_device(spec)
    if device.type != "cuda":
        return Accel(device, channels_last=device.type == "cpu")
    amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return Accel(device, amp=amp, channels_last=True)


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()

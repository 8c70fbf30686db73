"""The run's network as one ONNX graph: image -> the features its head consumes (averaged over
the run's test views), the lesion map where the network has one, and the logits of a classical
head; checked with onnxruntime against torch right after the export.

What the graph computes is what scoring computes (``LoadedRun.features``: ``model.features``
averaged over the test views); the check compares the two on real images, so a graph that drifts
from the code fails the export instead of shipping.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..optional import require
from ..train.localise import lesion_maps, view_pairs

#: The exporter's own operator set (torch's TORCHLIB_OPSET): no version conversion, and every
#: onnxruntime since 1.14 runs it.
OPSET = 18
#: Largest |onnxruntime - torch| allowed on any output.
TOLERANCE = 1e-4
INPUT = "image"


class ExportedNetwork(nn.Module):
    """``(B, 1, S, S)`` images in [0, 1] -> ``features`` ``(B, F)`` (what the head consumes),
    then ``lesion_map`` ``(B, S/8, S/8)`` (probabilities, averaged over the views like
    ``predict``'s) when the network has one, then ``logits`` ``(B, 2)`` of a classical head.

    The test views go through the network as one batch: in eval mode every sample is computed on
    its own, so this is the loop of ``view_averaged`` with one copy of the network in the graph
    instead of one per view (8 copies took minutes to export)."""

    def __init__(self, model: nn.Module, views: int, *, lesion: bool, logits: bool):
        super().__init__()
        self.model, self.views, self.lesion, self.logits = model, views, lesion, logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, pairs = x.shape[0], view_pairs(self.views)
        views = torch.cat([_view(x, t, dims) for t, dims in pairs]) if len(pairs) > 1 else x
        if self.lesion:
            z, logits = self.model.features_and_map(views)
            p = torch.sigmoid(logits.fine.float())
            p = p.reshape(len(pairs), b, *p.shape[1:])
            # each view's map back in the image's frame, as train.localise does it
            total = sum(_unview(p[i], t, dims) for i, (t, dims) in enumerate(pairs))
            out = [_mean_over_views(z, len(pairs), b), (total / len(pairs))[:, 0]]
        else:
            out = [_mean_over_views(self.model.features(views), len(pairs), b)]
        if self.logits:
            out.append(self.model.head(out[0]))
        return tuple(out)


def _view(x: torch.Tensor, transpose: bool, dims: tuple[int, ...]) -> torch.Tensor:
    v = x.transpose(-1, -2) if transpose else x
    return v.flip(dims) if dims else v


def _unview(p: torch.Tensor, transpose: bool, dims: tuple[int, ...]) -> torch.Tensor:
    p = p.flip(dims) if dims else p
    return p.transpose(-1, -2) if transpose else p


def _mean_over_views(z: torch.Tensor, n: int, b) -> torch.Tensor:
    return z if n == 1 else z.reshape(n, b, z.shape[-1]).mean(0)


@dataclass
class OnnxGraph:
    """The serialised graph (weights inside), its output names and operator set."""

    data: bytes
    outputs: list[str]
    opset: int


def output_names(run: Any) -> list[str]:
    """The graph's outputs for a loaded run (``qsdaqec.train.LoadedRun``)."""
    names = ["features"]
    if getattr(run.model, "lesion", None) is not None:
        names.append("lesion_map")
    if not run.is_quantum:
        names.append("logits")
    return names


def export_onnx(run: Any) -> OnnxGraph:
    """``run``'s network as ONNX (torch's dynamo exporter, a dynamic batch dimension)."""
    for module in ("onnx", "onnxscript"):
        require(module)
    names = output_names(run)
    net = ExportedNetwork(
        run.model.cpu(),
        run.cfg.test_views,
        lesion="lesion_map" in names,
        logits="logits" in names,
    ).eval()
    size = run.cfg.image_size
    example = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad():
        # once in eager mode first: modules that cache tensors (the vessel filter's kernels)
        # then hold real ones, not the exporter's tracing stand-ins
        net(example)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        program = torch.onnx.export(
            net,
            (example,),
            dynamo=True,
            input_names=[INPUT],
            output_names=names,
            opset_version=OPSET,
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
    if program is None:  # pragma: no cover - dynamo=True always returns the program
        raise ConfigError("the ONNX exporter returned no program")
    buf = io.BytesIO()
    program.save(buf, external_data=False)
    return OnnxGraph(buf.getvalue(), names, OPSET)


@torch.no_grad()
def reference_outputs(run: Any, images: torch.Tensor, names: list[str]) -> dict[str, np.ndarray]:
    """What the code computes for ``images``, output by output: the features as scoring
    computes them, the lesion map as ``predict`` does, a classical head's logits."""
    feats = run.features(images)
    ref = {"features": feats}
    if "lesion_map" in names:
        ref["lesion_map"] = lesion_maps(run.model, images, run.cfg.test_views)
    if "logits" in names:
        ref["logits"] = run.model.head(feats)
    return {k: v.detach().float().cpu().numpy() for k, v in ref.items()}


def check_onnx(graph: OnnxGraph, run: Any, images: torch.Tensor) -> dict[str, Any]:
    """Run the graph in onnxruntime (CPU) on ``images`` and compare every output with
    :func:`reference_outputs`: max |difference| per output, and whether all are within
    :data:`TOLERANCE`."""
    ort = require("onnxruntime")
    session = ort.InferenceSession(graph.data, providers=["CPUExecutionProvider"])
    got = session.run(graph.outputs, {INPUT: images.numpy().astype(np.float32)})
    ref = reference_outputs(run, images, graph.outputs)
    diffs = {}
    for name, value in zip(graph.outputs, got, strict=True):
        if value.shape != ref[name].shape:
            raise ConfigError(
                f"ONNX check: output {name} has shape {value.shape}, torch gives {ref[name].shape}"
            )
        diffs[name] = float(np.max(np.abs(value - ref[name]))) if value.size else 0.0
    return {
        "runtime": f"onnxruntime {ort.__version__} (CPUExecutionProvider)",
        "images": int(images.shape[0]),
        "max_abs_diff": diffs,
        "tolerance": TOLERANCE,
        "passed": all(d <= TOLERANCE for d in diffs.values()),
    }

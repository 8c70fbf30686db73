"""``metadata.json`` of an export, after MONAI bundles' ``metadata.json``: what goes in (shape,
value range, preprocessing), what comes out, the classes and the positive one, the run's operating
points and test scores, the intended use, the versions, and the export's own checks."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from typing import Any

from .. import INTENDED_USE
from ..io import read_json
from ..metrics import METRICS, OPERATING_POINTS
from ..runs import environment
from .network import INPUT

FORMAT = "qsdaqec export 1"

#: Packages of the export path, beside those every run records (qsdaqec.runs).
EXPORT_PACKAGES = ("onnx", "onnxscript", "onnxruntime")

PREPROCESSING = [
    "read as grayscale: 8-bit values / 255, 16-bit / 65535 (colour: ITU-R 601 luminance; "
    "DICOM: the run's frame choice and its LUTs), as qsdaqec.data.load_image does",
    "resize to the input's spatial_shape, antialiased bilinear",
    "nothing else: the graph makes the backbone's 3 channels and normalises them itself",
]


def _version(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def _finite(value: Any) -> Any:
    """JSON has no NaN: an undefined metric is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _outputs(run: Any, names: list[str]) -> dict[str, Any]:
    size = run.cfg.image_size
    classes = run.classes
    out: dict[str, Any] = {
        "features": {
            "type": "features",
            "shape": ["batch", int(run.model.feature_dim)],
            "dtype": "float32",
            "what": "what the run's head consumes: the network's features of the image, "
            f"averaged over {run.cfg.test_views} test view(s) (flips and transposes)",
        }
    }
    if "lesion_map" in names:
        out["lesion_map"] = {
            "type": "probabilities",
            "shape": ["batch", size // 8, size // 8],
            "dtype": "float32",
            "value_range": [0, 1],
            "what": "the lesion map: per 8-px cell the probability of a lesion, averaged over "
            "the test views as qsdaqec predict computes it",
        }
    if "logits" in names:
        out["logits"] = {
            "type": "logits",
            "shape": ["batch", len(classes)],
            "dtype": "float32",
            "channel_def": {str(i): c for i, c in enumerate(classes)},
            "what": "the classical head's logits; probabilities = softmax",
        }
    return out


def _head(run: Any) -> dict[str, Any]:
    if not run.is_quantum:
        return {"type": "classical", "in_graph": "logits output of model.onnx"}
    return {
        "type": "quantum",
        "encoding": run.cfg.encoding,
        "files": ["head.qasm", "head.json"],
        "how": "features -> circuit inputs (head.json: inputs) -> head.qasm -> expectation values "
        "of Z on each measured qubit -> readout Linear(4 -> 2) (head.json: readout) -> softmax",
    }


def _metrics(run: Any) -> dict[str, Any]:
    """The run's ``metrics.json`` ({} when it has none)."""
    path = run.run_dir / "metrics.json"
    return read_json(path) if path.is_file() else {}


def _scores(run: Any) -> dict[str, Any]:
    m = _metrics(run)
    test = m.get("test") or {}
    return {
        "split": "test",
        "backend": m.get("test_backend"),
        **{name: _finite(test.get(name)) for name in METRICS if name in test},
    }


def export_metadata(
    run: Any, names: list[str], opset: int, files: dict[str, str], checks: dict[str, Any]
) -> dict[str, Any]:
    """The ``metadata.json`` of ``run``'s export (``qsdaqec.train.LoadedRun``)."""
    cfg, info = run.cfg, run.info
    size = cfg.image_size
    points = _metrics(run).get("operating_points") or {}
    env = environment(cfg.seed)
    return {
        "format": FORMAT,
        "name": run.run_dir.name,
        "task": "binary classification of coronary angiograms",
        "description": f"{cfg.model} network of qsdaqec run {run.run_dir.name} with its "
        f"{'quantum (' + cfg.encoding + ')' if run.is_quantum else 'classical'} head",
        "intended_use": INTENDED_USE,  # the package's one statement of it
        "qsdaqec_version": env["packages"]["qsdaqec"],
        "pytorch_version": env["packages"]["torch"],
        "qiskit_version": env["packages"]["qiskit"],
        "numpy_version": env["packages"]["numpy"],
        "optional_packages_version": {name: _version(name) for name in EXPORT_PACKAGES},
        "onnx_opset": opset,
        "trained_with": _trained_with(run),
        "data": {
            "builtin": bool(info["data"].get("builtin")),
            "images": info["data"].get("n"),
            "split_sizes": info["data"].get("split_sizes"),
        },
        "label_classes": run.classes,
        "positive_class": run.classes[run.positive],
        "positive_index": run.positive,
        "operating_points": {
            "what": "thresholds on the positive class's probability, chosen on the validation "
            "split; an image is positive from the threshold up (default 0.5)",
            **{k: float(points[k]) for k in OPERATING_POINTS if k in points},
        },
        "eval_metrics": _scores(run),
        "network_data_format": {
            "inputs": {
                INPUT: {
                    "type": "image",
                    "format": "magnitude",
                    "modality": "XA (X-ray angiography)",
                    "num_channels": 1,
                    "spatial_shape": [size, size],
                    "shape": ["batch", 1, size, size],
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": False,
                    "channel_def": {"0": "image"},
                    "preprocessing": PREPROCESSING,
                }
            },
            "outputs": _outputs(run, names),
            "in_graph": {
                "input_channels": cfg.input,
                "imagenet_normalization": bool(run.model.prep.normalize),
                "test_views": cfg.test_views,
            },
        },
        "head": _head(run),
        "files": files,
        "checks": checks,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _trained_with(run: Any) -> dict[str, Any] | None:
    """The package versions the run was trained with (its environment.json)."""
    path = run.run_dir / "environment.json"
    return read_json(path).get("packages") if path.is_file() else None

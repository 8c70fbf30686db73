"""Pieces shared by fit, evaluate and predict: data preparation, seeding, batching, checkpoints."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import BackendError, ConfigError, DataError, RunError
from ..io import atomic_torch_save
from .config import FitConfig

# ----------------------------------------------------------------------------- data


@dataclass
class PreparedData:
    """The loaded dataset and the run's split (index arrays into ``data``)."""

    data: Any  # qsdaqec.data.LabeledImages
    split: Any  # qsdaqec.data.Split
    source: str  # the data path actually read

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        idx = np.asarray(getattr(self.split, name), dtype=np.int64)
        t = torch.as_tensor(idx)
        return self.data.images[t], self.data.labels[t], [self.data.ids[i] for i in idx]


def data_path(cfg: FitConfig) -> Path:
    if cfg.data is None:
        from ..data import builtin_dataset_dir

        return Path(builtin_dataset_dir())
    path = Path(cfg.data)
    if not path.exists():
        raise DataError(
            f"{path}: data not found; pass an ImageFolder (one subfolder per class) or a .npz, "
            "or leave out --data for the built-in synthetic data"
        )
    return path


def check_binary(data: Any, source: str) -> None:
    classes = list(data.classes)
    if len(classes) != 2:
        raise DataError(
            f"{source}: found {len(classes)} class(es) {classes}; SDA-QEC is a binary classifier "
            "and needs exactly two class folders (e.g. normal/ and stenosis/)"
        )
    counts = torch.bincount(data.labels, minlength=2).tolist()
    if min(counts) == 0:
        empty = classes[counts.index(0)]
        raise DataError(f"{source}: class {empty!r} has no images; both classes need images")


def prepare_data(cfg: FitConfig, *, data: str | None = None) -> PreparedData:
    """Load the data and make (or take) the run's stratified split. ``data`` overrides ``cfg.data``."""
    from ..data import load_dataset, stratified_split

    c = cfg if data is None else FitConfig.from_dict({**cfg.to_dict(), "data": data})
    path = data_path(c)
    ds = load_dataset(path, c.image_size, skip_bad=c.skip_bad)
    check_binary(ds, str(path))
    split = getattr(ds, "split", None) or getattr(ds, "splits", None)
    if split is None:
        split = stratified_split(ds.labels, c.val_frac, c.test_frac, c.seed)
    for name in ("train", "val", "test"):
        if len(getattr(split, name)) == 0:
            raise DataError(
                f"{path}: the {name} split is empty ({len(ds.labels)} images); add images or "
                "change --val-frac/--test-frac"
            )
    return PreparedData(ds, split, str(path))


# ----------------------------------------------------------------------------- backends


def parse_fit_backend(spec: str) -> Any:
    """Parsed backend spec; refuses IBM hardware for training (it is for inference jobs)."""
    from ..runner import parse_backend

    parsed = parse_backend(spec)
    if backend_kind(parsed) == "ibm":
        raise BackendError(
            f"{spec}: training on IBM hardware is not supported; fit with aer_noisy[:<fake>] and "
            f"run inference with `qsdaqec jobs submit --run DIR --backend {spec}`"
        )
    return parsed


def backend_kind(parsed: Any) -> str:
    kind = getattr(parsed, "kind", None) or getattr(parsed, "name", None) or str(parsed)
    return str(kind).split(":")[0]


def is_exact(parsed: Any) -> bool:
    """True for the exact (statevector) backend: only stage 1 runs."""
    return backend_kind(parsed) == "statevector"


def runner_config(cfg: FitConfig, shots: int | None = None) -> Any:
    from ..runner import RunnerConfig

    kwargs: dict[str, Any] = {}
    s = shots if shots is not None else cfg.shots
    if s is not None:
        kwargs["shots"] = s
    import dataclasses

    names = {f.name for f in dataclasses.fields(RunnerConfig)}
    if "seed" in names:
        kwargs["seed"] = cfg.seed
    elif "seed_simulator" in names:
        kwargs["seed_simulator"] = cfg.seed
    return RunnerConfig(**kwargs)


def make_backend_head(
    cfg: FitConfig, backend: str, *, shots: int | None = None, gradient: bool = True
):
    """A ``QuantumHead`` whose estimator (and parameter-shift gradient) run on ``backend``."""
    from ..models import build_head

    if backend.strip() == "statevector":  # the exact fast path needs no runner
        return build_head("quantum", encoding=cfg.encoding), None
    from ..runner import make_estimator, make_gradient, parse_backend

    parsed = parse_backend(backend)
    if is_exact(parsed):
        return build_head("quantum", encoding=cfg.encoding), None
    rcfg = runner_config(cfg, shots)
    est = make_estimator(parsed, rcfg)
    grad = make_gradient(parsed, est, rcfg) if gradient else None
    return build_head("quantum", encoding=cfg.encoding, estimator=est, gradient=grad), rcfg


def set_input_gradients(head: nn.Module, enabled: bool) -> None:
    """Turn the QNN's input gradients on/off (off when the features are constants)."""
    for m in head.modules():
        qnn = getattr(m, "neural_network", None) or getattr(m, "_neural_network", None)
        if qnn is not None and hasattr(qnn, "input_gradients"):
            qnn.input_gradients = enabled
    if hasattr(head, "input_gradients"):
        try:
            head.input_gradients = enabled
        except AttributeError:
            pass


# ----------------------------------------------------------------------------- determinism


def set_determinism(seed: int, num_threads: int | None = None) -> int:
    """Seed everything, deterministic kernels; returns the torch thread count in use."""
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    # torch.use_deterministic_algorithms() imports torch._inductor (seconds of start-up); the
    # flag itself lives in torch._C, so set it there when available.
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is not None:
        setter(True, warn_only=True)
    else:  # pragma: no cover
        torch.use_deterministic_algorithms(True, warn_only=True)
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.benchmark = False
    seed_all(seed)
    return torch.get_num_threads()


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def derived_seed(seed: int, *parts: int) -> int:
    """A seed for (stage, epoch, ...) so every epoch is reproducible on its own (exact resume)."""
    h = seed * 1_000_003
    for p in parts:
        h = (h * 10_007 + int(p)) % (2**62)
    return h


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.as_tensor(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def batches(
    n: int, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Index batches over ``range(n)`` (shuffled with ``generator``); a last batch of 1 is dropped
    in training (``generator`` given) because batch norm needs two samples."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        b = order[i : i + batch_size]
        if generator is not None and b.numel() < 2:
            continue
        yield b


@torch.no_grad()
def predict_logits(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    batch_size: int,
    progress: Any = None,
) -> torch.Tensor:
    out = []
    for b in batches(x.shape[0], batch_size):
        out.append(fn(x[b]).detach().float())
        if progress is not None:
            progress.update(1)
    return torch.cat(out) if out else torch.zeros(0, 2)


def class_weights(labels: torch.Tensor, n_classes: int = 2) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=n_classes).float()
    return labels.numel() / (n_classes * counts.clamp(min=1))


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, obj: dict[str, Any]) -> None:
    atomic_torch_save(path, obj)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path}: checkpoint not found") from None
    except Exception as e:
        raise RunError(
            f"{path}: unreadable checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None


def require(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)

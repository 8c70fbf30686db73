"""Which network a run trains, and its head on a backend.

This layer knows both heads (``quantum``: :class:`qsdaqec.quantum.QuantumHead`; ``classical``:
:class:`qsdaqec.models.DenseHead`), so models never import the quantum layer.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from ..models import DenseHead, build_model
from ..quantum import HeadConfig, QuantumHead
from ..runner import BackendSpec, RunnerConfig, make_estimator, make_gradient, parse_backend
from .config import HEADS, FitConfig


def build_head(
    head: str = "quantum", *, encoding: str = "amplitude", estimator=None, gradient=None
) -> nn.Module:
    """``QuantumHead`` (``estimator``/``gradient`` ``None`` = the fast exact path) or ``DenseHead``."""
    if head == "classical":
        return DenseHead()
    if head == "quantum":
        return QuantumHead(HeadConfig(encoding=encoding), estimator=estimator, gradient=gradient)
    raise ConfigError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")


def build_network(cfg: FitConfig, weights: str) -> tuple[nn.Module, str, str | None]:
    """``cfg``'s model with ``weights``: ``(module, weights_used, message)``."""
    head = build_head(cfg.head, encoding=cfg.encoding) if cfg.model == "sdaqec" else None
    if isinstance(head, QuantumHead):
        head.train_noise = cfg.noise_injection  # stage 1 only: stage 2 has the backend's noise
    if cfg.model != "sdaqec":
        return build_model(cfg.model, weights=weights, input=cfg.input)
    return build_model(
        cfg.model,
        head=head,
        weights=weights,
        input=cfg.input,
        output_stride=cfg.output_stride,
        pooling=cfg.pooling,
        lesion_map=cfg.has_lesion_map,
    )


def input_normalization(cfg: FitConfig, info: dict | None) -> bool:
    """Whether a run's network takes ImageNet-normalised inputs: as run.json recorded it (runs
    before that record: ImageNet weights)."""
    recorded = ((info or {}).get("weights") or {}).get("normalize")
    return bool(recorded) if recorded is not None else cfg.weights == "imagenet"


def runner_config(cfg: FitConfig, shots: int | None = None) -> RunnerConfig:
    """The runner options of a run: its shots (``shots`` overrides) and its seed."""
    return RunnerConfig(shots=shots if shots is not None else cfg.shots, seed=cfg.seed)


def backend_head(
    cfg: FitConfig, backend: str | BackendSpec, *, shots: int | None = None, gradient: bool = True
) -> tuple[nn.Module, RunnerConfig | None]:
    """A ``QuantumHead`` whose estimator (and parameter-shift gradient) run on ``backend``, and
    the runner options (``None`` on the exact backend, which needs no runner)."""
    spec = parse_backend(backend)
    if spec.is_exact:  # the exact fast path
        return build_head("quantum", encoding=cfg.encoding), None
    rcfg = runner_config(cfg, shots)
    est = make_estimator(spec, rcfg)
    grad = make_gradient(spec, est, rcfg) if gradient else None
    return build_head("quantum", encoding=cfg.encoding, estimator=est, gradient=grad), rcfg


def set_input_gradients(head: nn.Module, enabled: bool) -> None:
    """Turn the QNN's input gradients on/off (off when the features are constants)."""
    head.qnn.input_gradients = enabled

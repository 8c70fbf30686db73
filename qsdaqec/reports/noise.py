"""Noise-robustness report: how a trained quantum head holds up under device noise, shot noise,
mitigation and the choice of encoding (the seed's open question 1, answered for one run).

What is computed
----------------
For every *point* (encoding, backend, noise scale, shots, mitigation) the run's test split goes
through the trained head on that backend: the head's expectation values ``<Z_i>`` (4 per
sample) come from the runner's estimator, the run's output layer turns them into class
probabilities, and the point records

* accuracy, AUC, F1, sensitivity, specificity (``qsdaqec.metrics``),
* the error of the expectation values against the exact ones (mean and max absolute error)
  and the fraction of samples whose prediction equals the exact head's,
* the transpiled circuit for the backend: active width (qubits the ISA circuit touches), depth,
  two-qubit gate count (one transpilation per backend and encoding).

Two references come with every report: the **exact quantum head** (the fast exact path the run
was trained on) and a **classical head** (a run trained with ``--head classical`` given as
``--classical-run``; without one, a logistic regression fitted on the quantum run's own frozen
256-d training features, labelled as such). Fetched hardware-job results under ``RUN/jobs/``
(``qsdaqec jobs fetch``) are added as points of their own.

The grid
--------
``design="sweep"`` (default): one-at-a-time sweeps around a *centre* (noise scale
``center_noise``, shots ``center_shots`` = exact expectation values where the backend can give
them, else the largest ``shots`` value; no mitigation), per encoding and backend:

* noise sweep: every noise scale at the centre's shots, no mitigation (``aer_noisy`` only:
  ``fake:`` backends carry their device's own noise, scale 1; ``aer`` is noiseless, scale 0);
* shots sweep: every shot count at the centre noise, no mitigation;
* mitigation sweep: every mitigation at the centre noise and shots.

Points shared by sweeps are computed once. ``design="full"`` crosses noise x shots x mitigation.

Resuming
--------
Each finished point is written atomically to ``OUT/points/<key>.json`` before the next starts.
The key names the point's settings and ends in a hash of everything that determines its result
(the run's weights and test ids, optimisation level, seed, ...); a later call with the same
settings reads the file instead of simulating again, and changed settings give new keys, so
only the new points are computed.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendError, ConfigError, QsdaqecError, RunError
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from ..metrics import METRIC_NAMES, classification_metrics

SCHEMA = "qsdaqec.noise-report/1"
DESIGNS = ("sweep", "full")
SWEEPS = ("noise", "shots", "mitigation")

#: Columns of results.csv and of the HTML table, in order.
CSV_COLUMNS = (
    "key",
    "label",
    "kind",
    "status",
    "encoding",
    "backend",
    "noise_scale",
    "shots",
    "mitigation",
    "sweeps",
    *METRIC_NAMES,
    "ev_mae",
    "ev_max",
    "agree_exact",
    "d_accuracy",
    "d_auc",
    "n",
    "width",
    "depth",
    "two_qubit_gates",
    "seconds",
    "note",
)


# ============================================================================ configuration


@dataclass(frozen=True)
class NoiseReportConfig:
    """Options of ``qsdaqec noise-report``; the field defaults are the command's defaults."""

    runs: tuple[str, ...] = ()
    """Run directories trained with the quantum head on the same data (one per encoding); the
    first is the primary run. Two runs (amplitude and angle) give the encoding comparison."""
    out: str = "noise-report"
    backends: tuple[str, ...] = ("aer_noisy:fake_torino",)
    noise_scales: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
    shots: tuple[int | None, ...] = (128, 1024, 8192)
    """Shot counts of the shots sweep; ``None`` = exact expectation values."""
    mitigation: tuple[str, ...] = ("none", "readout")
    """Mitigation settings compared: ``none``, ``readout``, ``zne``, or combinations ``readout+zne``."""
    encodings: tuple[str, ...] | None = None
    """Encodings to report (each needs a run); ``None`` = those of the given runs."""
    design: str = "sweep"
    center_noise: float = 1.0
    center_shots: int | None = None
    """Shots of the centre point; ``None`` = exact expectation values where the backend can
    give them (``aer``, ``aer_noisy``), else the largest value of ``shots``."""
    optimization_level: int = 2
    seed: int = 1234
    """Seed of the simulators' shot sampling and of the transpiler."""
    classical_run: str | None = None
    tolerance: float = 0.01
    """"Stays within" tolerance of the conclusion, as a fraction (0.01 = 1 accuracy point)."""
    include_jobs: bool = True
    progress: bool = True

    def validate(self) -> NoiseReportConfig:
        if not self.runs:
            raise ConfigError("no run given; pass --run DIR (a run trained with the quantum head)")
        if self.design not in DESIGNS:
            raise ConfigError(f"design {self.design!r}: use one of {', '.join(DESIGNS)}")
        if not self.backends:
            raise ConfigError("--backends: empty list; name at least one backend")
        for name, values in (
            ("noise scale", self.noise_scales),
            ("noise scale", (self.center_noise,)),
        ):
            for v in values:
                if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                    raise ConfigError(f"{name} {v!r}: must be a finite number >= 0")
        for s in (*self.shots, self.center_shots):
            if s is not None and (int(s) != s or s < 1):
                raise ConfigError(f"shots {s!r}: must be a positive integer (or 'exact')")
        if not self.noise_scales or not self.shots or not self.mitigation:
            raise ConfigError(
                "--noise-scales, --shots and --mitigation need at least one value each"
            )
        if self.optimization_level not in (0, 1, 2, 3):
            raise ConfigError(f"optimization level {self.optimization_level}: use 0, 1, 2 or 3")
        if not (0 <= self.tolerance < 1):
            raise ConfigError(f"tolerance {self.tolerance}: must be in [0, 1) (0.01 = 1 point)")
        for m in self.mitigation:
            mitigation_label(m)
        if self.encodings is not None:
            from ..quantum.circuits import ENCODINGS

            bad = [e for e in self.encodings if e not in ENCODINGS]
            if bad or not self.encodings:
                raise ConfigError(
                    f"encodings {', '.join(bad) or '(empty)'}: use {', '.join(ENCODINGS)}"
                )
        return self


# ============================================================================ list parsing (CLI)


def _split(text: str, what: str) -> list[str]:
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise ConfigError(
            f"{what} {text!r}: a comma-separated list without empty items, e.g. {_EXAMPLES[what]}"
        )
    return parts


_EXAMPLES = {
    "--noise-scales": "0,0.5,1,2,4",
    "--shots": "128,1024,8192 (or exact)",
    "--backends": "aer_noisy:fake_torino,fake:fake_fez",
    "--mitigation": "none,readout,zne",
    "--encodings": "amplitude,angle",
}


def parse_noise_scales(text: str) -> tuple[float, ...]:
    out = []
    for p in _split(text, "--noise-scales"):
        try:
            v = float(p)
        except ValueError:
            raise ConfigError(
                f"--noise-scales: {p!r} is not a number; e.g. {_EXAMPLES['--noise-scales']}"
            ) from None
        if not math.isfinite(v) or v < 0:
            raise ConfigError(
                f"--noise-scales: {p} must be a finite number >= 0 (0 = noiseless, 1 = the device)"
            )
        out.append(v)
    return tuple(dict.fromkeys(out))


def parse_shots(text: str) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for p in _split(text, "--shots"):
        if p.lower() in ("exact", "none", "inf"):
            out.append(None)
            continue
        try:
            v = int(p)
        except ValueError:
            raise ConfigError(
                f"--shots: {p!r} is not a whole number; e.g. {_EXAMPLES['--shots']}"
            ) from None
        if v < 1:
            raise ConfigError(f"--shots: {p} must be a positive number of shots")
        out.append(v)
    return tuple(dict.fromkeys(out))


def parse_backends(text: str) -> tuple[str, ...]:
    """Canonical backend strings; refuses ``statevector`` (always the reference) and ``ibm:``."""
    from ..runner.backends import parse_backend

    out = []
    for p in _split(text, "--backends"):
        spec = parse_backend(p)  # BackendError lists the valid names
        if spec.kind == "statevector":
            raise BackendError(
                "--backends: statevector is the exact reference and always in the report; "
                "list noisy backends, e.g. aer_noisy:fake_torino"
            )
        if spec.kind == "ibm":
            raise BackendError(
                f"--backends: {p} is hardware; submit it with `qsdaqec jobs submit --run DIR "
                f"--backend {p}` and `qsdaqec jobs fetch`; fetched results under RUN/jobs/ are "
                "included in the report automatically"
            )
        out.append(str(spec))
    return tuple(dict.fromkeys(out))


def mitigation_label(value: str) -> str:
    """``"none"``, ``"readout"``, ``"readout+zne"``: the normalised name of a mitigation setting."""
    from ..runner.config import parse_mitigation

    text = str(value).strip().lower()
    if not text:
        raise ConfigError("--mitigation: empty item; e.g. none,readout,zne")
    names = parse_mitigation(text.replace(",", "+"))
    names = tuple(sorted({"readout" if n == "trex" else n for n in names}))
    return "+".join(names) if names else "none"


def parse_mitigations(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(mitigation_label(p) for p in _split(text, "--mitigation")))


def parse_encodings(text: str) -> tuple[str, ...]:
    from ..quantum.circuits import ENCODINGS

    parts = _split(text, "--encodings")
    bad = [p for p in parts if p not in ENCODINGS]
    if bad:
        raise ConfigError(f"--encodings: unknown {', '.join(bad)}; use {', '.join(ENCODINGS)}")
    return tuple(dict.fromkeys(parts))


# ============================================================================ points


def _num(v: float) -> str:
    return f"{v:g}"


def shots_label(shots: int | None) -> str:
    return "exact" if shots is None else str(int(shots))


@dataclass(frozen=True)
class PointSpec:
    """One simulated point of the grid."""

    encoding: str
    backend: str
    noise_scale: float
    shots: int | None
    mitigation: str
    sweeps: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "backend": self.backend,
            "noise_scale": float(self.noise_scale),
            "shots": self.shots,
            "mitigation": self.mitigation,
        }

    @property
    def label(self) -> str:
        return (
            f"{self.encoding} | {self.backend} | noise {_num(self.noise_scale)} | "
            f"shots {shots_label(self.shots)} | {self.mitigation}"
        )

    def key(self, context: dict[str, Any]) -> str:
        """File-name-safe, readable, and unique for everything that determines the result."""
        digest = hashlib.sha256(
            json.dumps({"point": self.settings(), "context": context}, sort_keys=True).encode()
        ).hexdigest()[:10]
        slug = (
            f"{self.encoding}_{self.backend}_n{_num(self.noise_scale)}_s{shots_label(self.shots)}"
            f"_m{self.mitigation}"
        )
        return re.sub(r"[^A-Za-z0-9_.+-]+", "-", slug) + "_" + digest


def noise_knob(backend: str) -> str:
    """``scalable`` (aer_noisy: the device noise model times a factor), ``device`` (fake:: the
    fake device's own noise, scale 1) or ``none`` (aer: noiseless, scale 0)."""
    kind = backend.split(":", 1)[0]
    return {"aer_noisy": "scalable", "fake": "device", "ibm": "device"}.get(kind, "none")


def exact_capable(backend: str) -> bool:
    return backend.split(":", 1)[0] in ("aer", "aer_noisy")


def plan_points(cfg: NoiseReportConfig, encodings: Sequence[str]) -> list[PointSpec]:
    """The grid of ``cfg`` for ``encodings`` (see the module docstring); duplicates merged."""
    merged: dict[tuple, set[str]] = {}
    order: list[tuple] = []

    def add(enc, b, noise, shots, mit, sweep):
        k = (enc, b, float(noise), shots, mit)
        if k not in merged:
            merged[k] = set()
            order.append(k)
        if sweep:
            merged[k].add(sweep)

    for enc in encodings:
        for b in cfg.backends:
            knob = noise_knob(b)
            scales = (
                list(cfg.noise_scales) if knob == "scalable" else [1.0 if knob == "device" else 0.0]
            )
            center_noise = cfg.center_noise if knob == "scalable" else scales[0]
            shot_list = [s for s in cfg.shots if s is not None or exact_capable(b)]
            if not shot_list:
                shot_list = (
                    [max(s for s in cfg.shots if s is not None)] if any(cfg.shots) else [1024]
                )
            if cfg.center_shots is not None:
                center_shots = cfg.center_shots
            elif exact_capable(b):
                center_shots = None
            else:
                center_shots = max((s for s in cfg.shots if s is not None), default=1024)
            mits = list(cfg.mitigation) if knob != "none" else ["none"]
            if cfg.design == "full":
                for n in scales:
                    for s in shot_list:
                        for m in mits:
                            add(enc, b, n, s, m, None)
                for k in order:
                    if k[0] == enc and k[1] == b:
                        _, _, n, s, m = k
                        if s == center_shots and m == "none":
                            merged[k].add("noise")
                        if n == center_noise and m == "none":
                            merged[k].add("shots")
                        if n == center_noise and s == center_shots:
                            merged[k].add("mitigation")
                continue
            # the centre belongs to every sweep (the reference the others move away from)
            for sweep in (
                ("noise", "shots", "mitigation") if knob == "scalable" else ("shots", "mitigation")
            ):
                add(enc, b, center_noise, center_shots, "none", sweep)
            if knob == "scalable":
                for n in scales:
                    add(enc, b, n, center_shots, "none", "noise")
            for s in shot_list:
                add(enc, b, center_noise, s, "none", "shots")
            for m in mits:
                add(enc, b, center_noise, center_shots, m, "mitigation")
    out = []
    for k in order:
        sweeps = tuple(s for s in SWEEPS if s in merged[k])
        out.append(PointSpec(k[0], k[1], k[2], k[3], k[4], sweeps))
    return out


# ============================================================================ the run's data


@dataclass
class HeadSource:
    """One run's test split pushed up to the head: everything a point needs, computed once."""

    run_dir: Path
    encoding: str
    circuit: Any
    observables: list[Any]
    values: np.ndarray  # (N, circuit.num_parameters) in circuit.parameters order
    readout_w: np.ndarray  # (2, 4)
    readout_b: np.ndarray  # (2,)
    exact_evs: np.ndarray  # (N, 4) from the run's own exact head
    labels: np.ndarray
    ids: list[str]
    classes: list[str]
    positive: int
    fingerprint: str
    data_source: str | None = None  # the data the run was trained on (run.json)
    features: Any = None  # (N, 256) torch tensor of the test features
    run: Any = None

    def probabilities(self, evs: np.ndarray) -> np.ndarray:
        z = np.asarray(evs, dtype=np.float64) @ self.readout_w.T + self.readout_b
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True))[:, self.positive]

    def metrics(self, evs: np.ndarray) -> dict[str, Any]:
        return classification_metrics(self.labels, self.probabilities(evs), positive=self.positive)


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_source(run_dir: str | Path) -> HeadSource:
    """Load a quantum run and compute its test features, circuit inputs and exact values once."""
    import torch

    from ..train import load_run

    run = load_run(run_dir)
    if not run.is_quantum:
        raise RunError(
            f"{run_dir}: trained with a {run.cfg.head} head ({run.cfg.model}); the noise report "
            "needs a run trained with --head quantum (a classical run goes in --classical-run)"
        )
    head = run.model.head
    feats, labels, ids = run.test_features()
    feats = feats.detach().float()
    with torch.no_grad():
        inputs = head.circuit_inputs(feats).detach().double().cpu().numpy()
        weights = head.quantum.weight.detach().double().cpu().numpy().reshape(-1)
        exact = head.expectation_values(feats).detach().double().cpu().numpy()
    hc = head.head_circuit
    names = list(hc.input_params) + list(hc.weight_params)
    full = np.hstack([inputs, np.tile(weights, (len(inputs), 1))])
    order = [names.index(p) for p in hc.circuit.parameters]
    fingerprint = hashlib.sha256(
        (_file_sha(Path(run_dir) / "model.pt") + "|" + "|".join(map(str, ids))).encode()
    ).hexdigest()[:16]
    return HeadSource(
        run_dir=Path(run_dir),
        encoding=run.cfg.encoding,
        circuit=hc.circuit,
        observables=list(hc.observables),
        values=np.ascontiguousarray(full[:, order]),
        readout_w=head.readout.weight.detach().double().cpu().numpy(),
        readout_b=head.readout.bias.detach().double().cpu().numpy(),
        exact_evs=exact,
        labels=labels.cpu().numpy().astype(np.int64),
        ids=[str(i) for i in ids],
        classes=run.classes,
        positive=run.positive,
        fingerprint=fingerprint,
        data_source=(run.info.get("data") or {}).get("source"),
        features=feats,
        run=run,
    )


# ============================================================================ estimators


EstimatorFactory = Callable[[Any, Any], Any]
"""``(BackendSpec, RunnerConfig) -> BaseEstimatorV2``; the default is ``runner.make_estimator``."""


def default_estimator_factory(spec: Any, rcfg: Any) -> Any:
    try:
        from ..runner import make_estimator
    except ImportError:
        raise BackendError(
            "qsdaqec.runner.make_estimator is not available in this installation; the noise "
            "report needs the runner (issue 5)"
        ) from None
    return make_estimator(spec, rcfg)


def runner_config(point: PointSpec, cfg: NoiseReportConfig) -> Any:
    """The ``RunnerConfig`` of a point (fields the runner does not know are left out)."""
    from ..runner.config import RunnerConfig

    wanted = {
        "shots": point.shots,
        "noise_scale": float(point.noise_scale) if noise_knob(point.backend) == "scalable" else 1.0,
        "mitigation": () if point.mitigation == "none" else tuple(point.mitigation.split("+")),
        "optimization_level": cfg.optimization_level,
        "seed": cfg.seed,
    }
    known = {f.name for f in dataclasses.fields(RunnerConfig)}
    return RunnerConfig(**{k: v for k, v in wanted.items() if k in known})


#: Samples per estimator call: the progress bar moves at least this often within a point.
CHUNK = 16


def estimate(
    src: HeadSource,
    point: PointSpec,
    cfg: NoiseReportConfig,
    factory: EstimatorFactory,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(evs, stds), each ``(N, 4)``: the test split through the head on the point's backend.
    One estimator per point; each call is one PUB of up to :data:`CHUNK` samples (parameter
    array broadcast against the 4 observables). ``on_chunk(n)`` after every call."""
    from ..runner.backends import parse_backend

    spec = parse_backend(point.backend)
    if spec.kind == "fake" and point.mitigation != "none":
        raise ConfigError(
            f"{point.backend}: qiskit-ibm-runtime's local testing mode ignores resilience "
            "options, so mitigation is not applied on fake: backends; compare mitigation on "
            "aer_noisy or on hardware (ibm:, through qsdaqec jobs)"
        )
    est = factory(spec, runner_config(point, cfg))
    kwargs = {"precision": 0.0} if point.shots is None else {}
    evs_parts, std_parts = [], []
    for start in range(0, len(src.values), CHUNK):
        rows = src.values[start : start + CHUNK]
        pub = (src.circuit, [list(src.observables)], rows[:, None, :])
        res = est.run([pub], **kwargs).result()[0]
        evs = np.asarray(res.data.evs, dtype=np.float64).reshape(len(rows), -1)
        stds = getattr(res.data, "stds", None)
        stds = (
            np.zeros_like(evs)
            if stds is None
            else np.asarray(stds, dtype=np.float64).reshape(evs.shape)
        )
        evs_parts.append(evs)
        std_parts.append(stds)
        if on_chunk is not None:
            on_chunk(len(rows))
    return np.concatenate(evs_parts), np.concatenate(std_parts)


def transpile_info(
    backend: str, src: HeadSource, cfg: NoiseReportConfig, factory: EstimatorFactory | None = None
) -> dict[str, Any]:
    """Width (qubits the ISA circuit acts on), depth and two-qubit gates of the head on
    ``backend``: the runner's own (cached) transpilation, the one the points run."""
    from ..runner.backends import parse_backend
    from ..runner.config import RunnerConfig

    spec = parse_backend(backend)
    known = {f.name for f in dataclasses.fields(RunnerConfig)}
    wanted = {"optimization_level": cfg.optimization_level, "seed": cfg.seed}
    est = (factory or default_estimator_factory)(
        spec, RunnerConfig(**{k: v for k, v in wanted.items() if k in known})
    )
    prepare = getattr(est, "prepare", None)
    if prepare is None:  # an estimator without the runner's prepare(): nothing to report
        return {
            "backend": backend,
            "encoding": src.encoding,
            "width": None,
            "depth": None,
            "two_qubit_gates": None,
            "note": "estimator does not expose its transpiled circuit",
        }
    prog = prepare(src.circuit)
    isa = prog.circuit
    active = set()
    two_q = 0
    for inst in isa.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        qs = [isa.find_bit(q).index for q in inst.qubits]
        active.update(qs)
        if len(qs) == 2:
            two_q += 1
    phys = list(prog.logical_to_physical)
    if prog.active is not None:  # compacted for local simulation: back to device qubits
        phys = [prog.active[i] for i in phys]
    device_qubits = getattr(getattr(est, "backend", None), "num_qubits", None) or isa.num_qubits
    return {
        "backend": backend,
        "encoding": src.encoding,
        "width": len(active),
        "device_qubits": int(device_qubits),
        "depth": int(isa.depth()),
        "two_qubit_gates": two_q,
        "ops": {str(k): int(v) for k, v in isa.count_ops().items()},
        "layout": [int(q) for q in phys],
        "optimization_level": cfg.optimization_level,
    }


# ============================================================================ references


def classical_reference(cfg: NoiseReportConfig, src: HeadSource) -> dict[str, Any]:
    """The classical head's test metrics: ``cfg.classical_run`` (a run with --head classical on
    the same test split) or a logistic regression on the quantum run's frozen features."""
    if cfg.classical_run:
        from ..train import load_run
        from ..train.common import predict_logits

        run = load_run(cfg.classical_run)
        if run.is_quantum:
            raise RunError(
                f"{cfg.classical_run}: --classical-run must be a run with --head classical"
            )
        feats, labels, ids = run.test_features()
        if sorted(map(str, ids)) != sorted(src.ids):
            raise RunError(
                f"{cfg.classical_run}: its test split differs from {src.run_dir}'s; train both on "
                "the same data with the same --seed, --val-frac and --test-frac"
            )
        import torch

        head = run.model.head if hasattr(run.model, "head") else None
        fn = head if head is not None else run.model
        logits = predict_logits(fn, feats, 64)
        prob = torch.softmax(logits, 1)[:, run.positive].numpy()
        m = classification_metrics(labels.numpy(), prob, positive=run.positive)
        return {
            "source": f"run {cfg.classical_run} ({run.cfg.model}, classical head)",
            "metrics": m,
        }
    return _linear_probe(src)


def _linear_probe(src: HeadSource) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    run = src.run
    cached = run.cached_features()
    if cached is not None and "train" in cached and "features" in cached["train"]:
        x, y = cached["train"]["features"], cached["train"]["labels"]
    else:
        prep = run.data()
        images, y, _ = prep.part("train")
        x = run.features(images)
    x = np.asarray(x.detach().float().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    y = np.asarray(y.numpy() if hasattr(y, "numpy") else y, dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise RunError(f"{src.run_dir}: the training split has one class; no classical reference")
    clf = make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    )
    clf.fit(x, y)
    xt = src.features.detach().double().numpy()
    col = list(clf.classes_).index(src.positive)
    prob = clf.predict_proba(xt)[:, col]
    m = classification_metrics(src.labels, prob, positive=src.positive)
    return {
        "source": "logistic regression on the quantum run's frozen 256-d training features "
        "(no --classical-run given)",
        "metrics": m,
    }


# ============================================================================ hardware jobs


def job_points(src: HeadSource) -> list[dict[str, Any]]:
    """Points from fetched job records under ``RUN/jobs/`` (results of ``qsdaqec jobs fetch``)."""
    from ..runner import records as R

    out = []
    by_id = {sid: i for i, sid in enumerate(src.ids)}
    for rec in R.list_records(src.run_dir):
        fetched = [p for p in rec.parts if p.state == R.FETCHED]
        labels = rec.samples.get("labels")
        if not fetched or labels is None or rec.output_layer is None:
            continue
        try:
            evs = []
            idx = []
            for part in sorted(fetched, key=lambda p: p.start):
                e, _ = R.load_result(rec, part)
                evs.append(e)
                idx.extend(range(part.start, part.stop))
        except QsdaqecError:
            continue
        ev = np.concatenate(evs)
        ids = [rec.samples["ids"][k] for k in idx]
        y = np.asarray([labels[k] for k in idx], dtype=np.int64)
        w = np.asarray(rec.output_layer["weight"], dtype=np.float64)
        b = np.asarray(rec.output_layer["bias"], dtype=np.float64)
        z = ev @ w.T + b
        z = z - z.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        pos = int(rec.samples.get("positive", 1))
        m = classification_metrics(y, p[:, pos], positive=pos)
        row: dict[str, Any] = {
            "key": f"job_{rec.record_id}",
            "label": f"{src.encoding} | {rec.backend} | hardware job {rec.record_id}",
            "kind": "job",
            "status": "ok"
            if rec.status == "complete"
            else f"partial ({len(idx)}/{rec.samples['count']})",
            "encoding": src.encoding,
            "backend": rec.backend,
            "noise_scale": None,
            "shots": rec.options.get("shots"),
            "mitigation": mitigation_label(rec.options.get("mitigation") or "none"),
            "sweeps": ["job"],
            "metrics": m,
            "n": int(len(idx)),
            "width": None,
            "depth": rec.circuit.get("depth"),
            "two_qubit_gates": rec.circuit.get("two_qubit_gates"),
            "record": str(rec.path),
            "note": rec.options.get("note") or "",
        }
        if all(i in by_id for i in ids):
            exact = src.exact_evs[[by_id[i] for i in ids]]
            row.update(_ev_errors(ev, exact, src))
            row["note"] = (
                row["note"] + "; " if row["note"] else ""
            ) + "compared with this run's exact head"
        elif (rec.folder / "reference_evs.npy").is_file():
            ref = R.load_array(rec.folder / "reference_evs.npy")[idx]
            row.update(_ev_errors(ev, ref, src))
            row["note"] = (
                row["note"] + "; " if row["note"] else ""
            ) + "samples outside this run's test split"
        out.append(row)
    return out


def _ev_errors(evs: np.ndarray, exact: np.ndarray, src: HeadSource) -> dict[str, Any]:
    diff = np.abs(np.asarray(evs) - np.asarray(exact))
    agree = float(np.mean((src.probabilities(evs) >= 0.5) == (src.probabilities(exact) >= 0.5)))
    return {"ev_mae": float(diff.mean()), "ev_max": float(diff.max()), "agree_exact": agree}


# ============================================================================ the report


@dataclass
class ReportResult:
    out: Path
    html: Path
    json: Path
    csv: Path
    computed: int
    reused: int
    points: list[dict[str, Any]] = field(default_factory=list)
    conclusion: list[str] = field(default_factory=list)


def _check_sources(sources: list[HeadSource], cfg: NoiseReportConfig) -> dict[str, HeadSource]:
    by_enc: dict[str, HeadSource] = {}
    primary = sources[0]
    for s in sources:
        if s.encoding in by_enc:
            raise ConfigError(
                f"{s.run_dir} and {by_enc[s.encoding].run_dir}: both use the {s.encoding} "
                "encoding; pass one run per encoding"
            )
        if s is not primary and s.data_source != primary.data_source:
            raise RunError(
                f"{s.run_dir}: trained on {s.data_source}, {primary.run_dir} on "
                f"{primary.data_source}; the encoding comparison needs runs on the same data "
                "(pass the same --data to both fits)"
            )
        if s is not primary and sorted(s.ids) != sorted(primary.ids):
            raise RunError(
                f"{s.run_dir}: its test split differs from {primary.run_dir}'s; the encoding "
                "comparison needs runs trained on the same data with the same --seed, "
                "--val-frac and --test-frac"
            )
        by_enc[s.encoding] = s
    wanted = cfg.encodings or tuple(by_enc)
    missing = [e for e in wanted if e not in by_enc]
    if missing:
        have = ", ".join(f"{e} ({s.run_dir})" for e, s in by_enc.items())
        raise ConfigError(
            f"--encodings {', '.join(missing)}: no run with that encoding (given: {have}); train "
            f"one with `qsdaqec fit --encoding {missing[0]} --seed <same seed> --out DIR` and add "
            "it with another --run DIR"
        )
    return {e: by_enc[e] for e in wanted}


def _context(src: HeadSource, cfg: NoiseReportConfig) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "run": src.fingerprint,
        "optimization_level": cfg.optimization_level,
        "seed": cfg.seed,
    }


def _clean(v: Any) -> Any:
    """NaN -> None for JSON, recursively."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def compute_point(
    src: HeadSource,
    point: PointSpec,
    cfg: NoiseReportConfig,
    factory: EstimatorFactory,
    key: str,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    base = {
        "key": key,
        "label": point.label,
        "kind": "simulation",
        **point.settings(),
        "sweeps": list(point.sweeps),
        "n": int(len(src.labels)),
    }
    try:
        evs, stds = estimate(src, point, cfg, factory, on_chunk)
    except (ConfigError, BackendError) as e:
        return {
            **base,
            "status": "unsupported",
            "note": str(e),
            "metrics": None,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    m = src.metrics(evs)
    return {
        **base,
        "status": "ok",
        "metrics": m,
        **_ev_errors(evs, src.exact_evs, src),
        "ev_std_mean": float(np.mean(stds)),
        "evs": np.round(evs, 6).tolist(),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def run_noise_report(
    cfg: NoiseReportConfig,
    *,
    estimator_factory: EstimatorFactory | None = None,
    log: Callable[[str], None] | None = None,
) -> ReportResult:
    """Compute (or reuse) every point of ``cfg``'s grid, then write the HTML, JSON and CSV."""
    cfg.validate()
    log = log or (lambda m: None)
    factory = estimator_factory or default_estimator_factory
    out = Path(cfg.out)
    for b in cfg.backends:  # fail on a bad spec before any heavy work
        parse_backends(b)
    sources = [load_source(r) for r in cfg.runs]
    by_enc = _check_sources(sources, cfg)
    primary = sources[0]
    encodings = list(by_enc)
    log(
        f"test split: {len(primary.labels)} samples ({', '.join(primary.classes)}); "
        f"encodings: {', '.join(f'{e} ({s.run_dir})' for e, s in by_enc.items())}"
    )
    points_dir = out / "points"
    points_dir.mkdir(parents=True, exist_ok=True)

    # ---- references
    references: list[dict[str, Any]] = []
    for enc, src in by_enc.items():
        m = src.metrics(src.exact_evs)
        references.append(
            {
                "key": f"exact_{enc}",
                "label": f"{enc} | exact quantum head (statevector)",
                "kind": "exact",
                "status": "ok",
                "encoding": enc,
                "backend": "statevector",
                "noise_scale": 0.0,
                "shots": None,
                "mitigation": "none",
                "sweeps": ["reference"],
                "metrics": m,
                "ev_mae": 0.0,
                "ev_max": 0.0,
                "agree_exact": 1.0,
                "n": int(len(src.labels)),
                "run": str(src.run_dir),
            }
        )
    classical = classical_reference(cfg, primary)
    references.append(
        {
            "key": "classical",
            "label": "classical head",
            "kind": "classical",
            "status": "ok",
            "encoding": None,
            "backend": "cpu",
            "noise_scale": None,
            "shots": None,
            "mitigation": None,
            "sweeps": ["reference"],
            "metrics": classical["metrics"],
            "n": int(len(primary.labels)),
            "note": classical["source"],
        }
    )

    # ---- transpilation, once per backend and encoding (cached like the points)
    transpiled: dict[tuple[str, str], dict[str, Any]] = {}
    for enc, src in by_enc.items():
        for b in cfg.backends:
            tkey = (
                "transpile_"
                + re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{enc}_{b}")
                + "_"
                + hashlib.sha256(
                    json.dumps(_context(src, cfg), sort_keys=True).encode()
                ).hexdigest()[:10]
            )
            path = points_dir / f"{tkey}.json"
            if path.is_file():
                transpiled[(enc, b)] = read_json(path)
            else:
                info = transpile_info(b, src, cfg, factory)
                atomic_write_json(path, info)
                transpiled[(enc, b)] = info

    # ---- the grid
    plan = plan_points(cfg, encodings)
    keyed = [(p, p.key(_context(by_enc[p.encoding], cfg))) for p in plan]
    pending = [(p, k) for p, k in keyed if not _load_point(points_dir / f"{k}.json")]
    reused = len(keyed) - len(pending)
    log(f"{len(keyed)} points: {reused} already computed, {len(pending)} to compute")
    bar = _progress(
        sum(len(by_enc[p.encoding].labels) for p, _ in pending),
        cfg.progress,
        f"{len(pending)} point(s)",
    )
    try:
        for p, k in pending:
            bar.set_postfix_str(p.label, refresh=True)
            done = bar.n
            row = compute_point(by_enc[p.encoding], p, cfg, factory, k, bar.update)
            atomic_write_json(points_dir / f"{k}.json", _clean(row))
            bar.update(done + len(by_enc[p.encoding].labels) - bar.n)  # unsupported: no chunks ran
    finally:
        bar.close()
    rows: list[dict[str, Any]] = []
    for p, k in keyed:
        row = _load_point(points_dir / f"{k}.json")
        row["sweeps"] = list(p.sweeps)  # sweep membership depends on the grid, not the result
        row.update(
            {
                f: transpiled[(p.encoding, p.backend)].get(f)
                for f in ("width", "depth", "two_qubit_gates")
            }
        )
        rows.append(row)

    jobs: list[dict[str, Any]] = []
    if cfg.include_jobs:
        for src in by_enc.values():
            jobs.extend(job_points(src))
        if jobs:
            log(f"{len(jobs)} fetched hardware job record(s) included")

    all_rows = references + rows + jobs
    exact_by_enc = {r["encoding"]: r for r in references if r["kind"] == "exact"}
    for r in all_rows:
        _flatten(r, exact_by_enc.get(r.get("encoding")))
    conclusion = conclude(all_rows, cfg, len(primary.labels))
    payload = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": {e: str(s.run_dir) for e, s in by_enc.items()},
        "classes": primary.classes,
        "positive": primary.classes[primary.positive],
        "n_test": int(len(primary.labels)),
        "config": _clean(dataclasses.asdict(cfg)),
        "classical_reference": classical["source"],
        "transpiled": [transpiled[k] for k in sorted(transpiled)],
        "conclusion": conclusion,
        "points": [_clean({k: v for k, v in r.items() if k != "evs"}) for r in all_rows],
    }
    json_path = atomic_write_json(out / "results.json", payload)
    csv_path = atomic_write_text(out / "results.csv", to_csv(all_rows))
    from .noise_html import render_html

    html_text, pngs = render_html(payload, all_rows, cfg)
    for name, data in pngs.items():
        atomic_write_bytes(out / "plots" / f"{name}.png", data)
    html_path = atomic_write_text(out / "report.html", html_text)
    return ReportResult(
        out, html_path, json_path, csv_path, len(pending), reused, all_rows, conclusion
    )


def _progress(total: int, enabled: bool, what: str):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=f"noise report, {what}",
        unit="sample",
        disable=not enabled or total == 0,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _load_point(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged file is recomputed (writes are atomic, so this is rare)
    return row if isinstance(row, dict) and row.get("status") else None


def _flatten(r: dict[str, Any], exact: dict[str, Any] | None) -> None:
    """Metrics to top-level columns, and the change against the exact head of its encoding."""
    m = r.get("metrics") or {}
    for name in METRIC_NAMES:
        v = m.get(name)
        r[name] = float("nan") if v is None else float(v)
    if exact is not None and r is not exact and r.get("metrics"):
        r["d_accuracy"] = r["accuracy"] - exact["accuracy"]
        r["d_auc"] = (
            r["auc"] - exact["auc"]
            if not (math.isnan(r["auc"]) or math.isnan(exact["auc"]))
            else float("nan")
        )
    elif r is exact:
        r["d_accuracy"], r["d_auc"] = 0.0, 0.0
    r.setdefault("note", "")


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        cells = []
        for c in CSV_COLUMNS:
            v = r.get(c)
            if c == "sweeps":
                v = "+".join(v or [])
            elif c == "shots" and r.get("kind") in ("simulation", "exact") and v is None:
                v = "exact"
            elif isinstance(v, float):
                v = "" if math.isnan(v) else repr(v)
            cells.append("" if v is None else v)
        w.writerow(cells)
    return buf.getvalue()


# ============================================================================ conclusion


def _pts(v: float) -> str:
    x = f"{100 * v:.1f}".rstrip("0").rstrip(".")
    return f"{x} point" + ("" if x == "1" else "s")


def conclude(rows: Sequence[dict[str, Any]], cfg: NoiseReportConfig, n_test: int) -> list[str]:
    """Plain sentences computed from the points: the report's first section."""
    out: list[str] = []
    tol = cfg.tolerance
    classical = next((r for r in rows if r["kind"] == "classical"), None)
    c_acc = classical["accuracy"] if classical else float("nan")
    exact = {r["encoding"]: r for r in rows if r["kind"] == "exact"}
    sims = [r for r in rows if r["kind"] == "simulation" and r.get("status") == "ok"]
    for enc, ex in exact.items():
        a0 = ex["accuracy"]
        line = f"{enc} encoding, exact head: accuracy {a0:.3f}, AUC {ex['auc']:.3f}"
        if classical:
            rel = "above" if a0 > c_acc else ("equal to" if a0 == c_acc else "below")
            line += f" ({rel} the classical head's accuracy {c_acc:.3f})"
        out.append(line + ".")
        cm = (ex.get("metrics") or {}).get("confusion_matrix")
        if cm:
            (tn, fp), (fn, tp) = cm
            if tp + fp == 0 or tn + fn == 0:
                out.append(
                    f"Caution ({enc}): the exact head predicts one class for every test sample, so "
                    "accuracy cannot fall below that class's share; judge noise by AUC and the EV error."
                )
            elif not math.isnan(ex["auc"]) and ex["auc"] < 0.6:
                out.append(
                    f"Caution ({enc}): the exact head is close to chance (AUC {ex['auc']:.3f})."
                )
        for b in cfg.backends:
            noise = sorted(
                (
                    r
                    for r in sims
                    if r["encoding"] == enc and r["backend"] == b and "noise" in r["sweeps"]
                ),
                key=lambda r: r["noise_scale"],
            )
            if len(noise) >= 2:
                within = None
                for r in noise:
                    if abs(r["accuracy"] - a0) <= tol + 1e-12:
                        within = r["noise_scale"]
                    else:
                        break
                top = noise[-1]["noise_scale"]
                scales = f"{_num(noise[0]['noise_scale'])}–{_num(top)}"
                if within is None:
                    s = (
                        f"on {b}: accuracy is already more than {_pts(tol)} from exact at noise "
                        f"scale {_num(noise[0]['noise_scale'])} ({noise[0]['accuracy']:.3f})"
                    )
                elif within == top:
                    s = f"on {b}: accuracy stays within {_pts(tol)} of exact over the whole tested range (noise scale {scales})"
                else:
                    nxt = next(r for r in noise if r["noise_scale"] > within)
                    s = (
                        f"on {b}: accuracy stays within {_pts(tol)} of exact up to noise scale "
                        f"{_num(within)} (at {_num(nxt['noise_scale'])}: {nxt['accuracy']:.3f})"
                    )
                if classical:
                    below = next((r for r in noise if r["accuracy"] < c_acc), None)
                    if a0 < c_acc:
                        s += "; the exact head is already below the classical head"
                    elif below is None:
                        s += f"; it never falls below the classical head ({c_acc:.3f}) within the tested range"
                    else:
                        s += (
                            f"; it falls below the classical head ({c_acc:.3f}) at noise scale "
                            f"{_num(below['noise_scale'])} ({below['accuracy']:.3f})"
                        )
                if not (math.isnan(ex["auc"]) or math.isnan(noise[-1]["auc"])):
                    s += f"; AUC {ex['auc']:.3f} exact, {noise[-1]['auc']:.3f} at noise scale {_num(top)}"
                dev = next((r for r in noise if r["noise_scale"] == 1.0), None)
                if dev is not None:
                    s += (
                        f". At the device's noise (scale 1) the expectation values are off by "
                        f"{dev['ev_mae']:.3f} on average (max {dev['ev_max']:.3f}) and "
                        f"{100 * dev['agree_exact']:.0f}% of predictions equal the exact head's"
                    )
                out.append(f"{enc}, " + s + ".")
            shots = sorted(
                (
                    r
                    for r in sims
                    if r["encoding"] == enc
                    and r["backend"] == b
                    and "shots" in r["sweeps"]
                    and r["shots"] is not None
                ),
                key=lambda r: r["shots"],
            )
            if shots:
                center = next(
                    (
                        r
                        for r in sims
                        if r["encoding"] == enc
                        and r["backend"] == b
                        and "shots" in r["sweeps"]
                        and r["shots"] is None
                    ),
                    None,
                )
                ref = center or ex
                what = "exact expectation values at the same noise" if center else "the exact head"
                ok = next(
                    (
                        r
                        for r in shots
                        if abs(r["accuracy"] - ref["accuracy"]) <= tol + 1e-12
                        and all(
                            abs(q["accuracy"] - ref["accuracy"]) <= tol + 1e-12
                            for q in shots
                            if q["shots"] >= r["shots"]
                        )
                    ),
                    None,
                )
                if ok is None:
                    s = f"no tested shot count ({', '.join(str(r['shots']) for r in shots)}) brings accuracy within {_pts(tol)} of {what}"
                else:
                    s = f"{ok['shots']} shots or more keep accuracy within {_pts(tol)} of {what} ({ref['accuracy']:.3f})"
                out.append(f"{enc}, on {b}: " + s + ".")
            mits = [
                r
                for r in sims
                if r["encoding"] == enc and r["backend"] == b and "mitigation" in r["sweeps"]
            ]
            none = next((r for r in mits if r["mitigation"] == "none"), None)
            if none is not None and len(mits) > 1:
                parts = []
                for r in mits:
                    if r is none:
                        continue
                    parts.append(
                        f"{r['mitigation']}: accuracy {r['accuracy'] - none['accuracy']:+.3f}, "
                        f"EV error {none['ev_mae']:.3f} → {r['ev_mae']:.3f}"
                    )
                if parts:
                    out.append(
                        f"{enc}, on {b}, mitigation vs none at noise scale "
                        f"{_num(none['noise_scale'])}: " + "; ".join(parts) + "."
                    )
            bad = [
                r
                for r in rows
                if r["kind"] == "simulation"
                and r["encoding"] == enc
                and r["backend"] == b
                and r.get("status") != "ok"
            ]
            if bad:
                out.append(
                    f"{enc}, on {b}: {len(bad)} point(s) not supported by the backend "
                    f"(e.g. {bad[0]['label']}: {bad[0].get('note', '')})."
                )
    if len(exact) > 1:
        parts = []
        for enc, ex in exact.items():
            dev = [
                r
                for r in sims
                if r["encoding"] == enc
                and r["noise_scale"] == cfg.center_noise
                and r["mitigation"] == "none"
                and "noise" in r["sweeps"]
            ]
            s = f"{enc} {ex['accuracy']:.3f} exact"
            if dev:
                s += f", {dev[0]['accuracy']:.3f} on {dev[0]['backend']} at noise {_num(cfg.center_noise)}"
            parts.append(s)
        out.append("Encodings (accuracy): " + "; ".join(parts) + ".")
    for r in rows:
        if r["kind"] == "job":
            s = f"Hardware job {r['key'][4:]} on {r['backend']} ({r['n']} samples, {r['status']}): accuracy {r['accuracy']:.3f}"
            if r.get("ev_mae") is not None:
                s += f", EV error {r['ev_mae']:.3f}"
            out.append(s + ".")
    step = 1.0 / n_test if n_test else float("nan")
    out.append(
        f"Test split: {n_test} samples, so one sample moves accuracy by {_pts(step)}"
        + (
            f" (more than the {_pts(tol)} tolerance: 'within tolerance' means no prediction changed)"
            if step > tol
            else ""
        )
        + "."
    )
    return out

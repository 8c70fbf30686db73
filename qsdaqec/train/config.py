"""``FitConfig``: every training option and its default (the one place a default is written)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..augment.config import DiffusionConfig
from ..augment.registry import AUGMENTORS
from ..data.dicom import DicomError, parse_frame
from ..errors import BackendError, ConfigError
from ..quantum.encodings import ENCODINGS
from ..runner.backends import BackendSpec, parse_backend

MONITORS = ("auc", "loss")
INPUTS = ("gray", "vessel")  # qsdaqec.models.inputs.INPUTS (this module stays torch-free)
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "onecycle")
DEVICE_FORM = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
DEVICE_HELP = "auto | cpu | cuda[:N] | mps"
DATA_LOADINGS = ("auto", "memory", "stream")
HEADS = ("quantum", "classical")
"""``quantum``: the paper's 18-parameter quantum head; ``classical``: the Dense(256->2) control."""

NOISY_SHOTS = 4096
"""Shots per circuit of stage 2 and noisy test scores by default: ``jobs submit``'s default,
a standard error of 1/64 per expectation value."""

#: Fields that steer *how* a run executes, not *what* it computes; they may differ on --resume.
RUN_CONTROL_FIELDS = (
    "out",
    "resume",
    "force",
    "progress",
    "num_threads",
    "device",
    "data_loading",
    "workers",
)


LEGACY_VALUES: dict[str, Any] = {
    "test_views": 1,
    "output_stride": 32,
    "pooling": "avg",
    "lesion_weight": 0.0,
}
"""What a run saved before a field existed did, where that differs from today's default: runs
from before test-time views scored one view, runs from before the lesion map pooled the
stride-32 map by its average and had no lesion map. ``FitConfig.from_dict`` fills these in, and an
experiment's saved fit is judged stale against them."""


@dataclass
class FitConfig:
    """Options of ``qsdaqec fit``. ``fit(FitConfig())`` is the README's headline run minus backend."""

    # --- data
    data: str | None = None
    """ImageFolder or ``.npz``; ``None`` = the built-in synthetic angiography data."""
    image_size: int = 128
    """Images are resized to ``image_size`` x ``image_size`` (grayscale)."""
    skip_bad: bool = False
    """Skip unreadable image files (listed in run.json) instead of failing."""
    frames: str = "max-contrast"
    """Which frame of a multi-frame DICOM file (a cine loop) is the image: max-contrast (peak
    vessel opacification) | middle | a frame index (``qsdaqec.data.dicom``); the run's
    predictions and hardware jobs read DICOM files the same way."""
    val_frac: float = 0.15
    test_frac: float = 0.15
    seed: int = 0
    """Seeds the split, the augmentation, initialisation, batch order and noisy sampling."""

    # --- model
    model: str = "sdaqec"
    """sdaqec | resnet18 | mobilenet_v2 | densenet121 | vgg16."""
    head: str = "quantum"
    """quantum | classical (SDA-QEC model only; baselines have their own linear head)."""
    encoding: str | None = None
    """amplitude (the paper's) | schmidt | angle (quantum head only; ``qsdaqec.quantum.ENCODINGS``).
    ``None``: schmidt on backends with device noise (aer_noisy, fake:), whose circuits run on
    today's devices (about 40 two-qubit gates on a Heron against about 650 for amplitude),
    else amplitude."""
    input: str = "vessel"
    """The backbone's 3 input channels: gray (the image repeated: the paper's) | vessel (the
    image, and Sato vessel maps at thin and wide scales; ``qsdaqec.models.inputs``)."""
    output_stride: int = 16
    """32 (the paper's MobileNetV2) | 16: the last stage dilated, a map twice as fine
    (``qsdaqec.models.lesion``)."""
    pooling: str = "lesion"
    """avg (global average pooling: the paper's) | lesion (the backbone's map averaged with
    weights from the lesion map, so one local finding can decide; SDA-QEC model only)."""
    lesion_weight: float = 1.0
    """Weight of the lesion-map loss where lesion positions are known (the data folder's
    lesions.json: the built-in data and imported data sets have one; 0 = no location
    supervision). With lesion pooling or a weight above 0 the model has a lesion map, whose
    peaks ``predict`` reports."""
    weights: str = "auto"
    """auto (ImageNet weights when cached or downloadable, else from scratch with a notice) |
    imagenet (cached or downloaded, hash-checked; an error when offline) | none | PATH (a
    state dict, or a run directory whose backbone is used: domain-pretrained weights)."""

    # --- stage 1: end to end on the exact fast path
    epochs: int = 16
    batch_size: int = 32
    lr: float = 4e-3
    """Learning rate of the backbone and projection (the peak of a one-cycle schedule)."""
    head_lr: float = 1e-2
    """Learning rate of the head (quantum weights and output layer train better faster)."""
    optimizer: str = "adamw"
    """adam (weight_decay as L2 on every parameter) | adamw (decoupled weight decay on the
    backbone's weights only, none on norms, biases and the head)."""
    schedule: str = "onecycle"
    """cosine (per epoch) | onecycle (per batch: warm-up then anneal)."""
    weight_decay: float = 0.02
    label_smoothing: float = 0.1
    """Cross-entropy label smoothing in training (validation and test losses are plain)."""
    ema: float = 0.99
    """Decay of an exponential moving average of the weights (e.g. 0.99; 0 = off): with it,
    validation, checkpoints and the final model use the averaged weights."""
    class_weighted: bool = True
    """Cross-entropy weighted by inverse class frequency of the (augmented) training set;
    ``False`` = plain cross-entropy."""
    bn_recalibrate: int = 256
    """Before each validation, recompute BatchNorm statistics on this many training images
    (0 = off; see ``recalibrate_batchnorm``)."""
    monitor: str = "auc"
    """Validation criterion for the best checkpoint and early stopping: auc (higher) | loss."""
    patience: int = 0
    """Stop after this many epochs without validation improvement (0 = never stop early)."""
    test_views: int = 8
    """Views of each image whose backbone features are averaged when the trained model scores
    (the feature cache of stage 2, the test, evaluate, predict, hardware jobs): 1 (off) | 2 |
    4 | 8 right-angle flips and transposes (``qsdaqec.models.views``), the symmetries the
    training augmentation teaches. The head still gets one feature vector per image, so a
    hardware job costs the same; the backbone runs n times. Epoch validation uses 1."""

    noise_injection: float = 0.0
    """Standard deviation of Gaussian noise added to the quantum head's 4 expectation values
    while training stage 1 (QuantumNAT-style: the output layer learns margins that survive
    device and shot noise; 0 = off). Stage 2 trains on the backend's own noise."""

    # --- augmentation (training split only)
    flips: bool = True
    """Random horizontal/vertical flips of training batches (seeded; label-preserving)."""
    rot90: bool = True
    """Also transpose half of the training images (with flips: all 8 right-angle views)."""
    affine_degrees: float = 10.0
    """Random rotation of training images up to this many degrees (0 = off)."""
    affine_scale: float = 0.1
    """Random zoom of training images by up to this fraction (0.1 = 0.9-1.1)."""
    affine_shift: float = 0.05
    """Random shift of training images by up to this fraction of half the side."""
    augment: bool = True
    augmentor: str = "simple"
    """Minority augmentor (``qsdaqec.augment.AUGMENTORS``): simple (the paper's forward
    diffusion) | ddpm (a small DDPM trained on the minority class; the diffusion_steps and
    beta_end below are the forward diffusion's and do not apply to it)."""
    diffusion_steps: int = DiffusionConfig.steps
    """T of the forward diffusion."""
    beta_end: float = DiffusionConfig.beta_end
    rho_target: float = DiffusionConfig.rho_target
    """Synthesise minority samples until minority/majority >= rho_target."""
    noise_match: bool = True
    """Forward-diffuse majority training images on the fly, as often as minority ones are
    synthetic, so that noise is not a class cue (see ``qsdaqec.augment.noise_match``)."""

    # --- stage 2: quantum weights + output layer on the run's (noisy) backend
    backend: str = "statevector"
    """statevector (exact: stage 1 only) | aer | aer_noisy[:<fake>] | fake:<name>."""
    # Budget: a training sample needs 17 circuits (the forward pass + 2 parameter shifts for each
    # of the 8 ansatz weights), a calibration, validation or test sample 1. On aer_noisy at 4096
    # shots a schmidt circuit costs about 5 ms (4 qubits), an amplitude circuit about 0.5 s of
    # CPU (8 qubits, ~650 CZ), hence the per-encoding defaults below (docs/training.md).
    noisy_epochs: int = 1
    noisy_subset: int | None = None
    """Training samples per stage-2 epoch (stratified, reseeded each epoch; 0 = all). ``None``:
    64, or 16 with the amplitude encoding (its 8-qubit noisy circuits cost ~100x more)."""
    noisy_calibration: int | None = None
    """Training samples whose backend expectation values (forward passes only) refit the output
    layer at the start of stage 2: noise shrinks the expectation values, and the stage-1 output
    layer could otherwise put every sample in one class (0 = off; ``None`` = every training
    sample, the default except with the amplitude encoding, which refits on 48: a refit on 48
    cost the schmidt head up to 0.05 test AUC, on all of them nothing)."""
    noisy_batch_size: int = 8
    noisy_lr: float = 2e-2
    shots: int | None = None
    """Shots per circuit in stage 2 and the backend's test scores: what hardware returns.
    ``None``: :data:`NOISY_SHOTS` on backends with device noise (aer_noisy, fake:), else exact
    expectation values where the backend allows."""

    # --- run control
    out: str | None = None
    """Run directory; ``None`` = ``runs/<auto name>``."""
    resume: bool = False
    force: bool = False
    progress: bool = True
    num_threads: int | None = None
    """torch CPU threads; ``None`` = torch's default (recorded in run.json)."""
    device: str = "auto"
    """auto | cpu | cuda[:N] | mps: where the backbone trains and computes features (``auto`` =
    CUDA when available). On CUDA: bf16 autocast and channels-last. The quantum head and
    stage 2 always run on the CPU (circuits are simulated in numpy/Aer)."""
    data_loading: str = "auto"
    """auto | memory | stream: hold the images in memory, or read them from their files batch
    by batch (image folders only; ``qsdaqec.data.stream``). auto streams a folder whose images
    would take more than ``qsdaqec.train.data.STREAM_BYTES`` (2 GiB: n x 1 x size x size x 4
    bytes). Either way the fit computes the same numbers."""
    workers: int = 2
    """Processes that read streamed images ahead of the training loop (0 = none: the loop
    reads them itself); pinned memory on CUDA. Not used in memory."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes carried into config.json (e.g. by job specs)."""

    def validate(self) -> FitConfig:
        # qsdaqec.models imports torch; this module stays torch-free for the CLI's option parsing
        from ..models import MODELS, OUTPUT_STRIDES, POOLINGS, VIEWS, WEIGHTS

        def bad(msg: str) -> ConfigError:
            return ConfigError(msg)

        self.resolve_defaults()
        if self.model not in MODELS:
            raise bad(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.head not in HEADS:
            raise bad(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        if self.encoding not in ENCODINGS:
            raise bad(f"unknown encoding {self.encoding!r}; choose one of {', '.join(ENCODINGS)}")
        if self.weights not in WEIGHTS and not Path(self.weights).exists():
            raise ConfigError(
                f"weights={self.weights}: not {', '.join(WEIGHTS)}, and no such file or run "
                "directory",
                cli={"weights=": "--weights "},
            )
        if self.augmentor not in AUGMENTORS:
            raise bad(
                f"unknown augmentor {self.augmentor!r}; choose one of {', '.join(AUGMENTORS)}"
            )
        if self.augment:  # a bad --beta-end or --rho-target fails before the run directory
            AUGMENTORS[self.augmentor].config(self.augmentor_options())
        for name, choices in (
            ("input", INPUTS),
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
        ):
            if getattr(self, name) not in choices:
                raise bad(
                    f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(choices)}"
                )
        if not 0 <= self.label_smoothing < 1:
            raise bad(f"label_smoothing={self.label_smoothing}: must be in [0, 1)")
        if not 0 <= self.noise_injection < 1:
            raise bad(
                f"noise_injection={self.noise_injection}: must be in [0, 1) (a standard deviation "
                "of expectation values, which lie in [-1, 1]; 0 = off)"
            )
        if not 0 <= self.ema < 1:
            raise bad(f"ema={self.ema}: must be in [0, 1) (a decay such as 0.99; 0 = off)")
        if self.output_stride not in OUTPUT_STRIDES:
            raise bad(f"output_stride={self.output_stride}: use 32 (the paper's) or 16")
        if self.pooling not in POOLINGS:
            raise bad(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
        if not self.lesion_weight >= 0:
            raise bad(f"lesion_weight={self.lesion_weight}: must be >= 0 (0 = no supervision)")
        if self.test_views not in VIEWS:
            raise bad(f"test_views={self.test_views}: use one of {', '.join(map(str, VIEWS))}")
        for name in ("affine_degrees", "affine_scale", "affine_shift"):
            if getattr(self, name) < 0:
                raise bad(f"{name}={getattr(self, name)}: must be >= 0")
        if self.affine_scale >= 1:
            raise bad(f"affine_scale={self.affine_scale}: must be below 1")
        if self.monitor not in MONITORS:
            raise bad(f"unknown monitor {self.monitor!r}; choose one of {', '.join(MONITORS)}")
        if self.image_size < 32:
            raise bad(
                f"image_size={self.image_size}: must be at least 32 (the backbones downsample 32x)"
            )
        for name in ("epochs", "batch_size", "noisy_batch_size"):
            if getattr(self, name) < 1:
                raise bad(f"{name}={getattr(self, name)}: must be at least 1")
        for name in (
            "noisy_epochs",
            "noisy_subset",
            "patience",
            "bn_recalibrate",
        ):
            if getattr(self, name) < 0:
                raise bad(f"{name}={getattr(self, name)}: must be >= 0")
        if self.noisy_calibration is not None and self.noisy_calibration < 0:
            raise bad(f"noisy_calibration={self.noisy_calibration}: must be >= 0")
        if self.batch_size < 2:
            raise bad("batch_size must be at least 2 (batch norm needs two samples)")
        for name in ("lr", "head_lr", "noisy_lr"):
            if not getattr(self, name) > 0:
                raise bad(f"{name}={getattr(self, name)}: must be > 0")
        if not (
            0 < self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1
        ):
            raise bad(
                f"val_frac={self.val_frac}, test_frac={self.test_frac}: each must lie in (0, 1) "
                "and their sum below 1"
            )
        if self.shots is not None and self.shots < 1:
            raise bad(f"shots={self.shots}: must be a positive number of shots")
        if self.num_threads is not None and self.num_threads < 1:
            raise bad(f"num_threads={self.num_threads}: must be >= 1")
        if self.data_loading not in DATA_LOADINGS:
            raise bad(
                f"unknown data_loading {self.data_loading!r}; choose one of "
                f"{', '.join(DATA_LOADINGS)}"
            )
        if not isinstance(self.workers, int) or self.workers < 0:
            raise bad(f"workers={self.workers}: must be a whole number >= 0 (0 = no processes)")
        check_device(self.device)
        try:
            parse_frame(self.frames)
        except DicomError as e:
            raise bad(str(e)) from None
        return self

    def resolve_defaults(self) -> FitConfig:
        """Fill in the defaults that depend on the backend and encoding (the ``None`` of
        ``encoding``, ``shots``, ``noisy_subset``, ``noisy_calibration``; see each field);
        :meth:`validate` starts with it. Returns ``self``."""
        try:
            noisy = self._parsed_backend().has_device
        except BackendError:
            noisy = False  # the backend's own error comes from backend_spec
        if self.encoding is None:
            self.encoding = default_encoding(noisy)
        if self.shots is None and noisy:
            self.shots = NOISY_SHOTS
        if self.noisy_subset is None:
            self.noisy_subset = 16 if self.encoding == "amplitude" else 64
        if self.noisy_calibration is None and self.encoding == "amplitude":
            self.noisy_calibration = 48
        return self

    @property
    def backend_spec(self) -> BackendSpec:
        """The training backend, parsed once per ``backend`` string (IBM hardware refused,
        :func:`parse_fit_backend`): the steps of a fit ask this instead of parsing it again."""
        return _trainable(self._parsed_backend(), self.backend)

    def _parsed_backend(self) -> BackendSpec:
        cached = self.__dict__.get("_backend_parsed")
        if cached is None or cached[0] != self.backend:
            # not a field: to_dict (config.json), == and repr leave it out
            cached = self.__dict__["_backend_parsed"] = (self.backend, parse_backend(self.backend))
        return cached[1]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def copy(self) -> FitConfig:
        """A detached copy, its parsed backend with it."""
        new = FitConfig.from_dict(self.to_dict())
        if "_backend_parsed" in self.__dict__:
            new.__dict__["_backend_parsed"] = self.__dict__["_backend_parsed"]
        return new

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {**LEGACY_VALUES, **d}
        return cls(**{k: v for k, v in d.items() if k in known})

    def augmentor_options(self) -> dict[str, Any]:
        """The generic options ``fit`` hands its augmentor (``AUGMENTORS[augmentor].config``):
        the seed, and those of diffusion_steps / beta_end / rho_target the augmentor takes."""
        given = {
            "steps": self.diffusion_steps,
            "beta_end": self.beta_end,
            "rho_target": self.rho_target,
        }
        return {"seed": self.seed, **{k: given[k] for k in AUGMENTORS[self.augmentor].fit_options}}

    @property
    def has_lesion_map(self) -> bool:
        """Whether the network has a lesion map: the SDA-QEC model with lesion pooling or
        lesion supervision."""
        return self.model == "sdaqec" and (self.pooling == "lesion" or self.lesion_weight > 0)

    @property
    def is_quantum(self) -> bool:
        return self.model == "sdaqec" and self.head == "quantum"

    def auto_name(self) -> str:
        """E.g. ``sdaqec-quantum-amplitude-aer_noisy-s0-20260101-120000``."""
        parts = [self.model]
        if self.model == "sdaqec":
            parts.append(self.head)
            if self.head == "quantum":
                parts += [self.encoding, self.backend]
        parts.append(f"s{self.seed}")
        parts.append(datetime.now().strftime("%Y%m%d-%H%M%S"))
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


def default_encoding(noisy: bool) -> str:
    """The encoding fit trains by default: ``schmidt`` for a backend with a device's noise (its
    circuits must stay shallow enough to run there), else the paper's ``amplitude``."""
    return "schmidt" if noisy else "amplitude"


def parse_fit_backend(spec: str) -> BackendSpec:
    """Parsed backend spec; refuses IBM hardware for training (it is for inference jobs)."""
    return _trainable(parse_backend(spec), spec)


def _trainable(parsed: BackendSpec, spec: str) -> BackendSpec:
    if parsed.is_hardware:
        raise BackendError(
            f"{spec}: training on IBM hardware is not supported; fit with aer_noisy[:<fake>] and "
            f"run inference with `qsdaqec jobs submit --run DIR --backend {spec}`"
        )
    return parsed


def check_device(spec: str) -> None:
    """``ConfigError`` unless ``spec`` has the form ``auto|cpu|cuda[:N]|mps`` (no torch needed)."""
    if not isinstance(spec, str) or not DEVICE_FORM.fullmatch(spec.strip()):
        raise ConfigError(f"device {spec!r}: unknown; use {DEVICE_HELP}")

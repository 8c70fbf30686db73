"""The noise report's options (``NoiseReportConfig``) and the parsing of its comma-separated
command-line lists."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import BackendError, ConfigError
from ...quantum.encodings import ENCODINGS
from ...runner.backends import parse_backend
from ...runner.config import parse_mitigation
from ...train.config import check_device

DESIGNS = ("sweep", "full")


@dataclass(frozen=True)
class NoiseReportConfig:
    """Options of ``qsdaqec noise-report``; the field defaults are the command's defaults."""

    runs: tuple[str, ...] = ()
    """Run directories trained with the quantum head on the same data (one per encoding); the
    first is the primary run. Runs with different encodings (amplitude, schmidt, angle) give the
    encoding comparison."""
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
    """"Stays within" tolerance of the conclusion, as a fraction of balanced accuracy (0.01 =
    1 point)."""
    min_job_samples: int = 30
    """Fetched hardware jobs with fewer samples (or one class only) are shown apart, with their
    n, and left out of the comparisons."""
    include_jobs: bool = True
    progress: bool = True
    device: str = "auto"
    """Where a run's backbone computes test features it did not cache (auto|cpu|cuda[:N]|mps)."""

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
        check_device(self.device)
        if not (0 <= self.tolerance < 1):
            raise ConfigError(f"tolerance {self.tolerance}: must be in [0, 1) (0.01 = 1 point)")
        if self.min_job_samples < 1:
            raise ConfigError(f"min_job_samples {self.min_job_samples}: must be at least 1")
        for m in self.mitigation:
            mitigation_label(m)
        if self.encodings is not None:
            bad = [e for e in self.encodings if e not in ENCODINGS]
            if bad or not self.encodings:
                raise ConfigError(
                    f"encodings {', '.join(bad) or '(empty)'}: use {', '.join(ENCODINGS)}"
                )
        return self


# ------------------------------------------------------------------ list parsing (CLI)


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
    "--encodings": "amplitude,schmidt,angle",
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
    out = []
    for p in _split(text, "--backends"):
        spec = parse_backend(p)  # BackendError lists the valid names
        if spec.is_exact:
            raise BackendError(
                "--backends: statevector is the exact reference and always in the report; "
                "list noisy backends, e.g. aer_noisy:fake_torino"
            )
        if spec.is_hardware:
            raise BackendError(
                f"--backends: {p} is hardware; submit it with `qsdaqec jobs submit --run DIR "
                f"--backend {p}` and `qsdaqec jobs fetch`; fetched results under RUN/jobs/ are "
                "included in the report automatically"
            )
        out.append(str(spec))
    return tuple(dict.fromkeys(out))


def mitigation_label(value: str) -> str:
    """``"none"``, ``"readout"``, ``"readout+zne"``: the normalised name of a mitigation setting."""
    text = str(value).strip().lower()
    if not text:
        raise ConfigError("--mitigation: empty item; e.g. none,readout,zne")
    names = parse_mitigation(text.replace(",", "+"))
    names = tuple(sorted({"readout" if n == "trex" else n for n in names}))
    return "+".join(names) if names else "none"


def parse_mitigations(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(mitigation_label(p) for p in _split(text, "--mitigation")))


def parse_encodings(text: str) -> tuple[str, ...]:
    parts = _split(text, "--encodings")
    bad = [p for p in parts if p not in ENCODINGS]
    if bad:
        raise ConfigError(f"--encodings: unknown {', '.join(bad)}; use {', '.join(ENCODINGS)}")
    return tuple(dict.fromkeys(parts))

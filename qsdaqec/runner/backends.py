"""Backend specs: one string names where circuits run.

========================  =====================================================================
``statevector``           exact expectation values (no transpilation, no noise)
``aer``                   Aer, ideal; exact (``shots=None``) or sampled shots
``aer_noisy[:<fake>]``    Aer with the noise model of an IBM device (default :data:`DEFAULT_FAKE`),
                          simulated on the active qubits only (see ``qsdaqec.runner.noise``)
``fake:<fake>``           qiskit-ibm-runtime ``EstimatorV2`` in local testing mode on that fake
                          backend: the same code path as hardware
``ibm:<device>``          ``QiskitRuntimeService`` + ``EstimatorV2`` on IBM Quantum hardware
========================  =====================================================================

Fake backend names are accepted as ``fake_torino``, ``FakeTorino``, ``torino`` (any case).

qiskit-aer and qiskit-ibm-runtime are imported inside the functions that use them: they take
about 1.5 s to import, and ``qsdaqec --help`` imports this module.
"""

from __future__ import annotations

import functools
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError, CredentialsError
from ..redaction import redact

KINDS = ("statevector", "aer", "aer_noisy", "fake", "ibm")
DEFAULT_FAKE = "fake_torino"  # Heron r1, 133 qubits, CZ basis
TOKEN_ENV = "QISKIT_IBM_TOKEN"

_SAVE_ACCOUNT_HINT = (
    'save an IBM Quantum account once with: python -c "from qiskit_ibm_runtime import '
    "QiskitRuntimeService as S; S.save_account(channel='ibm_quantum_platform', "
    "token='<API key>', instance='<CRN>', set_as_default=True)\" (or export QISKIT_IBM_TOKEN "
    "and QISKIT_IBM_INSTANCE)"
)


@dataclass(frozen=True)
class BackendSpec:
    """A parsed backend string: the one interpreter of backend strings. Callers ask it what a
    backend can do instead of looking at the string.

    ``name`` is the canonical fake name (``fake_torino``) for ``aer_noisy``/``fake``, the
    device name for ``ibm`` and ``None`` otherwise."""

    kind: str
    name: str | None = None

    def __str__(self) -> str:
        if self.kind in ("aer_noisy", "fake", "ibm"):
            return f"{self.kind}:{self.name}"
        return self.kind

    @property
    def is_exact(self) -> bool:
        """The exact statevector backend: the fast exact path, no runner, no noise."""
        return self.kind == "statevector"

    @property
    def exact_capable(self) -> bool:
        """True where ``shots=None`` gives exact expectation values."""
        return self.kind in ("statevector", "aer", "aer_noisy")

    @property
    def uses_runtime(self) -> bool:
        """True for backends that go through qiskit-ibm-runtime's ``EstimatorV2`` (the ones
        hardware inference jobs run on: ``fake:`` in local testing mode, ``ibm:``)."""
        return self.kind in ("fake", "ibm")

    @property
    def is_hardware(self) -> bool:
        """IBM Quantum hardware: reached only through jobs, never for training."""
        return self.kind == "ibm"

    @property
    def has_device(self) -> bool:
        return self.kind in ("aer_noisy", "fake", "ibm")

    @property
    def noise_knob(self) -> str:
        """``scalable`` (aer_noisy: the device noise model times a factor), ``device`` (fake:,
        ibm: the device's own noise, scale 1) or ``none`` (noiseless: scale 0)."""
        if self.kind == "aer_noisy":
            return "scalable"
        return "device" if self.kind in ("fake", "ibm") else "none"


def _norm(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    key = re.sub(r"^fake_?", "", key)
    key = re.sub(r"_?v2$", "", key)
    return key.replace("_", "")


@functools.lru_cache(maxsize=1)
def _fake_classes() -> dict[str, tuple[str, type]]:
    """normalised key -> (canonical name ``fake_xxx``, class), without instantiating any."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    out: dict[str, tuple[str, type]] = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        if not (isinstance(cls, type) and issubclass(cls, FakeBackendV2)):
            continue
        if attr in ("FakeBackendV2", "FakeFractionalBackend") or not attr.startswith("Fake"):
            continue
        stem = re.sub(r"V2$", "", attr[4:])
        canonical = "fake_" + re.sub(r"(?<!^)(?=[A-Z])", "_", stem).lower()
        out[_norm(attr)] = (canonical, cls)
    return out


def fake_backend_names() -> list[str]:
    """Canonical names of the fake backends shipped with qiskit-ibm-runtime."""
    return sorted(name for name, _ in _fake_classes().values())


def _canonical_fake(name: str, spec: str) -> str:
    entry = _fake_classes().get(_norm(name))
    if entry is None:
        raise BackendError(
            f"backend {spec!r}: unknown fake backend {name!r}; valid: "
            + ", ".join(fake_backend_names())
        )
    return entry[0]


def parse_backend(spec: str | BackendSpec) -> BackendSpec:
    """Parse ``statevector | aer | aer_noisy[:<fake>] | fake:<fake> | ibm:<device>``.

    A command parses its backend string once, where it enters (the CLI option, or a library
    function given a string), and hands the :class:`BackendSpec` down; a spec passed here is
    returned as it is."""
    if isinstance(spec, BackendSpec):
        return spec
    return _parse(spec)


def _parse(spec: str) -> BackendSpec:
    """The parse itself (a string); tests count its calls."""
    if not isinstance(spec, str) or not spec.strip():
        raise BackendError(f"backend {spec!r}: empty; valid: {_valid_forms()}")
    text = spec.strip()
    kind, sep, arg = text.partition(":")
    kind = kind.strip().lower().replace("-", "_")
    arg = arg.strip()
    if kind in ("statevector", "aer"):
        if arg:
            raise BackendError(
                f"backend {spec!r}: {kind} takes no ':<name>'; valid: {_valid_forms()}"
            )
        return BackendSpec(kind)
    if kind == "aer_noisy":
        return BackendSpec(kind, _canonical_fake(arg or DEFAULT_FAKE, spec))
    if kind == "fake":
        if not arg:
            raise BackendError(
                f"backend {spec!r}: name the fake backend, e.g. fake:{DEFAULT_FAKE}; valid: "
                + ", ".join(fake_backend_names())
            )
        return BackendSpec(kind, _canonical_fake(arg, spec))
    if kind == "ibm":
        if not arg or not re.fullmatch(r"[A-Za-z0-9_\-]+", arg):
            raise BackendError(
                f"backend {spec!r}: name the IBM device, e.g. ibm:ibm_torino "
                "(QiskitRuntimeService().backends() lists yours)"
            )
        return BackendSpec(kind, arg)
    if not sep and _norm(kind) in _fake_classes():  # a bare fake name: treat as fake:<name>
        return BackendSpec("fake", _canonical_fake(kind, spec))
    raise BackendError(f"backend {spec!r}: unknown; valid: {_valid_forms()}")


def _valid_forms() -> str:
    return (
        "statevector, aer, aer_noisy[:<fake>], fake:<fake>, ibm:<device>; fake backends: "
        + ", ".join(fake_backend_names())
    )


@functools.lru_cache(maxsize=16)
def fake_backend(name: str) -> Any:
    """An instance of the fake backend (cached: building the 133-qubit target takes ~1 s)."""
    entry = _fake_classes().get(_norm(name))
    if entry is None:
        _canonical_fake(name, name)  # raises with the list
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. "properties not typical" notes
        return entry[1]()


# --------------------------------------------------------------------------- IBM service


def account_file() -> Path:
    """Where ``QiskitRuntimeService.save_account`` keeps accounts (read at call time)."""
    return Path(os.path.expanduser("~")) / ".qiskit" / "qiskit-ibm.json"


def has_credentials() -> bool:
    """True when ``QISKIT_IBM_TOKEN`` is set or a saved account file with an account exists."""
    if os.environ.get(TOKEN_ENV):
        return True
    path = account_file()
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return False


def make_service(**kwargs: Any) -> Any:
    """The one place a ``QiskitRuntimeService`` is built: the saved account, or ``QISKIT_IBM_TOKEN``
    (+ optional ``QISKIT_IBM_INSTANCE``) from the environment. The token is only read, never
    written or logged; errors never carry it.

    The jobs layer and fault tests pass their own ``service`` object to
    :func:`qsdaqec.runner.make_estimator` instead of calling this.
    """
    if not has_credentials():
        raise CredentialsError(f"no IBM Quantum account found; {_SAVE_ACCOUNT_HINT}")
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService
        from qiskit_ibm_runtime.accounts.exceptions import AccountNotFoundError
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise BackendError(f"qiskit-ibm-runtime not importable: {e}") from None
    try:
        return QiskitRuntimeService(**kwargs)
    except AccountNotFoundError:
        raise CredentialsError(f"no IBM Quantum account found; {_SAVE_ACCOUNT_HINT}") from None
    except Exception as e:  # network, auth, bad instance: one line, token scrubbed
        msg = redact(f"{type(e).__name__}: {e}").splitlines()[0][:300]
        raise BackendError(
            f"could not connect to IBM Quantum ({msg}); check the saved account"
        ) from None


def ibm_backend(name: str, service: Any | None = None) -> Any:
    service = service if service is not None else make_service()
    try:
        return service.backend(name)
    except Exception as e:
        msg = redact(str(e)).splitlines()[0][:200] if str(e) else type(e).__name__
        raise BackendError(f"ibm:{name}: not available to this account ({msg})") from None


def resolve_backend(spec: BackendSpec, service: Any | None = None) -> Any:
    """The ``BackendV2`` object whose target the runner transpiles for (``None`` for
    ``statevector``/``aer``, which run the logical circuit)."""
    if spec.kind in ("aer_noisy", "fake"):
        return fake_backend(spec.name)
    if spec.kind == "ibm":
        return ibm_backend(spec.name, service)
    return None

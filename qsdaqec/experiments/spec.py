"""Experiment specs: TOML files (the paper's: ``paper:<name>``, see ``catalog``) parsed into typed,
validated dataclasses.

An experiment is a base ``FitConfig`` override set, a list of variants (or a grid, or both:
their product), seeds, the test sets to score (``original``, ``balanced``) and the metrics to
tabulate. Profiles (``[profiles.<name>]``) override the base, e.g. the paper-size ``full``.

.. code-block:: toml

    [experiment]
    name = "baselines"                       # default: the file name without .toml
    description = "SDA-QEC vs CNN baselines"
    seeds = [0, 1, 2]
    test_sets = ["original"]                 # original | balanced
    metrics = ["accuracy", "auc", "f1", "sensitivity", "specificity"]
    labels = { diffusion_steps = "T" }       # short names of grid keys in variant names

    [base]                                   # FitConfig fields shared by every variant
    image_size = 32
    epochs = 3

    [[variants]]                             # one table per variant: a name + FitConfig fields
    name = "SDA-QEC"
    model = "sdaqec"

    [grid]                                   # or/and: every combination of these values
    diffusion_steps = [1, 5, 10]

    [profiles.full]                          # --profile full: overrides of [base] (+ seeds)
    image_size = 224

    [executor]                               # optional: where the fits run (see .executors.config)
    kind = "slurm"
    partition = "gpu"

Every problem is a ``ConfigError`` naming ``file: key``, what is wrong and how to fix it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.synth import SynthConfig
from ..errors import BackendError, ConfigError
from ..metrics import METRIC_NAMES
from ..train.config import LEGACY_VALUES, FitConfig, parse_fit_backend
from .catalog import spec_path
from .executors.config import ExecutorConfig

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:
        tomllib = None  # type: ignore[assignment]

TEST_SETS = ("original", "balanced")
"""``original``: the run's test split as is; ``balanced``: majority subsampled to the minority's
size (seeded, ``qsdaqec.train.balanced_subset``)."""

METRICS = (*METRIC_NAMES, "fit_seconds")
"""Tabulated metrics: those of ``qsdaqec.metrics`` plus ``fit_seconds`` (training + test time
of the fit, from its run.json)."""

DEFAULT_METRICS = METRIC_NAMES

#: FitConfig fields a spec may not set: the experiment runner owns them.
RESERVED_FIELDS = {
    "seed": "set the seeds with experiment.seeds = [0, 1, 2] (or --seeds on the command line)",
    "out": "fit directories are chosen by `qsdaqec run` (--fits DIR)",
    "resume": "`qsdaqec run` resumes interrupted fits by itself",
    "force": "delete the fit directory to redo a fit",
    "progress": "pass --progress to `qsdaqec run`",
    "extra": "`qsdaqec run` records the experiment and variant in config.json itself",
}

EXPERIMENT_KEYS = ("name", "description", "seeds", "test_sets", "metrics", "labels")
TOP_KEYS = ("experiment", "base", "variants", "grid", "profiles", "executor")


# ============================================================================ dataclasses


@dataclass(frozen=True)
class Variant:
    """One row of the results table: a name and its FitConfig overrides (over the base)."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    """Where it was defined, e.g. ``variants[2]`` or ``grid`` (for error messages)."""


@dataclass(frozen=True)
class FitPlan:
    """One fit of the experiment: a variant at a seed, with its full ``FitConfig`` fields."""

    variant: str
    seed: int
    config: dict[str, Any]
    """FitConfig fields (without run control: out/resume/force/progress/extra)."""

    @property
    def key(self) -> str:
        """Content hash of the config: identical fits (also across specs) share a directory."""
        return config_key(self.config)

    @property
    def dirname(self) -> str:
        c = self.config
        parts = [c.get("model", "sdaqec")]
        if parts[0] == "sdaqec":
            parts.append(c.get("head", "quantum"))
        parts.append(f"s{self.seed}")
        parts.append(self.key)
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


@dataclass
class ExperimentSpec:
    """A parsed, validated experiment spec."""

    name: str
    path: Path | None
    description: str = ""
    base: dict[str, Any] = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    test_sets: list[str] = field(default_factory=lambda: ["original"])
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    labels: dict[str, str] = field(default_factory=dict)
    profile: str | None = None
    """The profile applied (``None``: the spec's default budget)."""
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every profile defined in the file (name -> its raw overrides)."""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    """``[executor]``: where its fits run unless the command line says otherwise (never part
    of a fit's identity)."""

    def fits(self) -> list[FitPlan]:
        """Every (variant, seed) fit, in table order (variants outer, seeds inner)."""
        out = []
        for v in self.variants:
            for s in self.seeds:
                cfg = fit_fields({**self.base, **v.overrides, "seed": s})
                out.append(FitPlan(v.name, s, cfg))
        return out

    def with_seeds(self, seeds: Sequence[int]) -> ExperimentSpec:
        seeds = _check_seeds(list(seeds), self._where("--seeds"))
        return dataclasses.replace(self, seeds=seeds)

    def only(self, names: Sequence[str]) -> ExperimentSpec:
        """Keep the named variants (in the spec's order)."""
        known = [v.name for v in self.variants]
        bad = [n for n in names if n not in known]
        if bad:
            raise ConfigError(
                f"{self._where('--only')}: unknown variant(s) {', '.join(map(repr, bad))}; "
                f"the variants are: {', '.join(map(repr, known))}"
            )
        return dataclasses.replace(self, variants=[v for v in self.variants if v.name in names])

    def _where(self, key: str) -> str:
        return f"{self.path}: {key}" if self.path else key


# ============================================================================ FitConfig fields


def _fit_types() -> dict[str, Any]:
    hints = typing.get_type_hints(FitConfig)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(FitConfig)
        if f.name not in RESERVED_FIELDS
    }


def fit_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    """FitConfig defaults updated with ``overrides``, minus run-control fields; the defaults
    that depend on the backend are filled in, as ``fit`` saves them in config.json."""
    d = FitConfig(**overrides).resolve_defaults().to_dict()
    for k in ("out", "resume", "force", "progress", "extra"):
        d.pop(k, None)
    return d


def builtin_data_key() -> str:
    """Identity of the built-in synthetic data set (its generator version and ``SynthConfig``)."""
    return SynthConfig().key()


#: Fields that never change what a fit computes (run control), or record what was used rather
#: than what was asked (``weights`` falls back to ``none`` without cached ImageNet weights).
KEY_IGNORED = (
    "out",
    "resume",
    "force",
    "progress",
    "extra",
    "num_threads",
    "device",
    "data_loading",
    "workers",
)
COMPARE_IGNORED = (*KEY_IGNORED, "weights")


def canonical_config(config: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``config`` that differ from ``FitConfig``'s defaults (minus run control),
    plus the built-in data set's identity when ``data`` is unset. Two spellings of one fit
    (a field set to its default or left out) give the same dict, and a field added to
    ``FitConfig`` later (with a default) does not change it. The defaults compared against are
    those of the config's backend (``FitConfig.resolve_defaults``); the backend itself counts
    when it is not the default one."""
    backend = config.get("backend", FitConfig.backend)
    defaults = FitConfig(backend=backend).resolve_defaults().to_dict()
    defaults["backend"] = FitConfig.backend  # else every backend at its defaults would share a key
    unused = unused_fields(config)
    d = {
        k: v
        for k, v in config.items()
        if k not in KEY_IGNORED and k not in unused and (k not in defaults or v != defaults[k])
    }
    if config.get("data") is None:
        d["builtin_data"] = builtin_data_key()
    return d


#: Stage-2 fields: they only matter for a quantum head on a non-exact backend.
STAGE2_FIELDS = (
    "noisy_epochs",
    "noisy_subset",
    "noisy_calibration",
    "noisy_batch_size",
    "noisy_lr",
    "shots",
)


def unused_fields(config: dict[str, Any]) -> set[str]:
    """Fields ``fit`` does not read for this config: stage 2 without a quantum head on a
    non-exact backend; ``head``/``encoding`` for a baseline; ``encoding`` for the dense head."""
    model = config.get("model", "sdaqec")
    head = config.get("head", "quantum")
    quantum = model == "sdaqec" and head == "quantum"
    out: set[str] = set()
    if not quantum or config.get("backend", "statevector") == "statevector":
        out.update(STAGE2_FIELDS)
    if not quantum:
        out.update(("encoding", "backend"))
    if model != "sdaqec":
        out.add("head")
    return out


def config_key(config: dict[str, Any]) -> str:
    """Hash of :func:`canonical_config`: a fit's folder name. A user's ``data`` path is hashed
    by name, not content; a changed ``FitConfig`` default is caught by :func:`stale_fields`."""
    blob = json.dumps(canonical_config(config), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def stale_fields(saved: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Fields where a fit's saved ``config.json`` differs from ``config`` (fields in both,
    except run control and ``weights``; a field the saved config predates counts with its
    ``LEGACY_VALUES`` value): non-empty when a ``FitConfig`` default changed since."""
    unused = unused_fields(config)
    saved = {**LEGACY_VALUES, **saved}
    return sorted(
        k
        for k in config
        if k in saved and k not in COMPARE_IGNORED and k not in unused and saved[k] != config[k]
    )


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return " or ".join(names.get(a, getattr(a, "__name__", str(a))) for a in args)


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return False


def _coerce(value: Any, hint: Any) -> Any:
    """TOML ints for float fields become floats (``lr = 1`` means 1.0)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if float in args and int not in args and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _unknown(where: str, key: str, valid: Sequence[str], what: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(f"{where}.{key}: unknown {what}; {hint}valid: {', '.join(valid)}")


def executor_table(table: Any, where: str) -> ExecutorConfig:
    """A spec's ``[executor]`` table (``where``: ``file: executor``): ``ExecutorConfig`` fields,
    each checked like a FitConfig field, then the values by ``ExecutorConfig.validate``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table ([executor])")
    hints = typing.get_type_hints(ExecutorConfig)
    for key, value in table.items():
        if key not in hints:
            raise _unknown(where, key, list(hints), "key")
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{where}.{key}: must be {_type_name(hints[key])}, got {value!r}")
    cfg = ExecutorConfig(**table)
    try:
        dataclasses.replace(cfg).validate()
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    return cfg


def _check_fields(
    table: Any, where: str, types_: dict[str, Any], *, allow: Sequence[str] = ()
) -> dict:
    """Type-checked copy of a table of FitConfig overrides (``allow``: extra keys kept as is)."""
    if not isinstance(table, dict):
        raise ConfigError(
            f"{where}: must be a table of FitConfig fields, got {type(table).__name__}"
        )
    out = {}
    for key, value in table.items():
        if key in allow:
            out[key] = value
            continue
        if key in RESERVED_FIELDS:
            raise ConfigError(f"{where}.{key}: not allowed in a spec; {RESERVED_FIELDS[key]}")
        if key not in types_:
            raise _unknown(where, key, sorted(types_), "FitConfig field")
        hint = types_[key]
        if not _type_ok(value, hint):
            raise ConfigError(
                f"{where}.{key}: must be {_type_name(hint)}, got {type(value).__name__} {value!r}; "
                f"e.g. {key} = {_example(hint)}"
            )
        out[key] = _coerce(value, hint)
    return out


def _example(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return {int: "3", float: "0.02", bool: "true", str: '"value"'}.get(args[0], "...")


def _check_seeds(seeds: Any, where: str) -> list[int]:
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"{where}: must be a non-empty list of integers, e.g. seeds = [0, 1, 2]")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ConfigError(
                f"{where}: {s!r} is not a seed; seeds are integers >= 0, e.g. [0, 1, 2]"
            )
    if len(set(seeds)) != len(seeds):
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ConfigError(f"{where}: seed(s) {dup} listed twice; list each seed once")
    return list(seeds)


def _check_names(value: Any, where: str, valid: Sequence[str], example: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a non-empty list of strings, e.g. {example}")
    for v in value:
        if not isinstance(v, str):
            raise ConfigError(f"{where}: {v!r} is not a string; e.g. {example}")
        if v not in valid:
            close = difflib.get_close_matches(v, list(valid), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}: unknown {v!r}; {hint}choose from {', '.join(valid)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: an entry is listed twice; list each once")
    return list(value)


# ============================================================================ parsing


def load_spec(path: str | Path, *, profile: str | None = None) -> ExperimentSpec:
    """Read, parse and validate a spec file (``profile``: a ``[profiles.<name>]`` to apply);
    ``paper:<name>`` is one of the paper's specs installed with the package."""
    path = spec_path(path)
    if not path.is_file():
        near = sorted(p.name for p in path.parent.glob("*.toml")) if path.parent.is_dir() else []
        listing = f"; specs there: {', '.join(near)}" if near else ""
        raise ConfigError(f"{path}: no such spec file{listing}")
    if tomllib is None:  # pragma: no cover
        raise ConfigError("reading TOML needs Python >= 3.11 or `pip install tomli`")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the syntax at that line") from None
    return parse_spec(data, path=path, profile=profile)


def parse_spec(
    data: dict[str, Any], *, path: str | Path | None = None, profile: str | None = None
) -> ExperimentSpec:
    """Validate a spec already read from TOML (a dict). See the module docstring for the layout."""
    src = str(path) if path is not None else "<spec>"
    types_ = _fit_types()
    for key in data:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, TOP_KEYS, n=1)
            hint = f"did you mean [{close[0]}]? " if close else ""
            raise ConfigError(f"{src}: {key}: unknown section; {hint}valid: {', '.join(TOP_KEYS)}")
    exp = _experiment_table(data.get("experiment", {}), src, path, types_)
    base = _check_fields(data.get("base", {}), f"{src}: base", types_)
    profiles = _profiles(data.get("profiles", {}), src, types_)
    seeds = exp["seeds"]
    if profile is not None:
        if profile not in profiles:
            have = ", ".join(profiles) or "none defined"
            raise ConfigError(
                f"{src}: profile {profile!r} not found; profiles in this spec: {have}"
            )
        chosen = dict(profiles[profile])
        if "seeds" in chosen:
            seeds = list(chosen.pop("seeds"))
        base = {**base, **chosen}
    variants = _variants(data.get("variants", []), src, types_)
    variants = _expand_grid(data.get("grid", {}), variants, exp["labels"], src, types_)
    names = [v.name for v in variants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(
            f"{src}: variants: name(s) {', '.join(map(repr, dup))} used twice; names must be unique"
        )
    spec = ExperimentSpec(
        name=exp["name"],
        path=Path(path) if path is not None else None,
        description=exp["description"],
        base=base,
        variants=variants,
        seeds=seeds,
        test_sets=exp["test_sets"],
        metrics=exp["metrics"],
        labels=dict(exp["labels"]),
        profile=profile,
        profiles=profiles,
        executor=executor_table(data.get("executor", {}), f"{src}: executor"),
    )
    for v in variants:
        _validate_values(spec, v, src, profile)
    return spec


def _experiment_table(exp: Any, src: str, path, types_: dict[str, Any]) -> dict[str, Any]:
    """``[experiment]``: name, description, seeds, test sets, metrics, labels (checked)."""
    if not isinstance(exp, dict):
        raise ConfigError(f"{src}: experiment: must be a table ([experiment])")
    for key in exp:
        if key not in EXPERIMENT_KEYS:
            raise _unknown(f"{src}: experiment", key, EXPERIMENT_KEYS, "key")
    default_name = Path(path).stem if path is not None else "experiment"
    name = exp.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(
            f"{src}: experiment.name: {name!r} must be a non-empty string of letters, digits, "
            "'_', '.', '-' (it names the output folder)"
        )
    description = exp.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{src}: experiment.description: must be a string")
    seeds = _check_seeds(exp.get("seeds", [0]), f"{src}: experiment.seeds")
    test_sets = _check_names(
        exp.get("test_sets", ["original"]),
        f"{src}: experiment.test_sets",
        TEST_SETS,
        'test_sets = ["original", "balanced"]',
    )
    metrics = _check_names(
        exp.get("metrics", list(DEFAULT_METRICS)),
        f"{src}: experiment.metrics",
        METRICS,
        'metrics = ["accuracy", "auc"]',
    )
    labels = exp.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(
            f'{src}: experiment.labels: must be a table of strings, e.g. {{ diffusion_steps = "T" }}'
        )
    for key in labels:
        if key not in types_:
            raise _unknown(f"{src}: experiment.labels", key, sorted(types_), "FitConfig field")
    return {
        "name": name,
        "description": description,
        "seeds": seeds,
        "test_sets": test_sets,
        "metrics": metrics,
        "labels": labels,
    }


def _profiles(raw: Any, src: str, types_: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``[profiles.<name>]``: FitConfig overrides (and seeds) per profile, checked."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: profiles: must be tables [profiles.<name>]")
    profiles: dict[str, dict[str, Any]] = {}
    for pname, table in raw.items():
        checked = _check_fields(table, f"{src}: profiles.{pname}", types_, allow=("seeds",))
        if "seeds" in checked:
            _check_seeds(checked["seeds"], f"{src}: profiles.{pname}.seeds")
        profiles[pname] = checked
    return profiles


def _variants(raw: Any, src: str, types_: dict[str, Any]) -> list[Variant]:
    """``[[variants]]``: a name and FitConfig overrides each."""
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        raise ConfigError(
            f"{src}: variants: must be an array of tables ([[variants]] with a name each)"
        )
    variants: list[Variant] = []
    for i, table in enumerate(raw):
        where = f"{src}: variants[{i}]"
        vname = table.get("name")
        if not isinstance(vname, str) or not vname.strip():
            raise ConfigError(f'{where}.name: every variant needs a name, e.g. name = "SDA-QEC"')
        overrides = _check_fields({k: v for k, v in table.items() if k != "name"}, where, types_)
        variants.append(Variant(vname.strip(), overrides, f"variants[{i}]"))
    return variants


def _expand_grid(
    grid: Any, variants: list[Variant], labels: dict[str, str], src: str, types_: dict[str, Any]
) -> list[Variant]:
    """``[grid]``: every variant (or the base) crossed with every combination of the grid's
    values, named ``"<variant>, key=value, ..."``; no grid and no variants: one ``base``."""
    if not isinstance(grid, dict):
        raise ConfigError(
            f"{src}: grid: must be a table of lists, e.g. [grid] beta_end = [0.005, 0.02]"
        )
    axes: list[tuple[str, list[Any]]] = []
    for key, values in grid.items():
        where = f"{src}: grid.{key}"
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"{where}: must be a non-empty list of values, e.g. {key} = [1, 5, 10]"
            )
        checked = [_check_fields({key: v}, f"{src}: grid", types_)[key] for v in values]
        if len({json.dumps(v) for v in checked}) != len(checked):
            raise ConfigError(f"{where}: a value is listed twice; list each once")
        for v in variants:
            if key in v.overrides:
                raise ConfigError(
                    f"{src}: {v.source}.{key}: also a grid key; set it in the grid or in the "
                    "variants, not both"
                )
        axes.append((key, checked))
    if not axes:
        return variants or [Variant("base", {}, "base")]
    keys = [k for k, _ in axes]
    expanded = []
    for v in variants or [Variant("", {}, "grid")]:
        for combo in itertools.product(*[vals for _, vals in axes]):
            label = ", ".join(
                f"{labels.get(k, k)}={_fmt_value(val)}" for k, val in zip(keys, combo, strict=True)
            )
            expanded.append(
                Variant(
                    f"{v.name}, {label}" if v.name else label,
                    {**v.overrides, **dict(zip(keys, combo, strict=True))},
                    v.source or "grid",
                )
            )
    return expanded


def _fmt_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ============================================================================ value validation

_DIFFUSION_FIELDS = {
    "steps": "diffusion_steps",
    "beta_start": "beta_end",  # beta_start is fixed; a too-small beta_end trips it
    "beta_end": "beta_end",
    "rho_target": "rho_target",
}


def _origin(spec: ExperimentSpec, v: Variant, key: str, profile: str | None) -> str:
    """The spec key that set ``key`` for variant ``v`` (variant > grid > profile > base)."""
    if key in v.overrides:
        return f"{v.source}.{key}" if v.source != "grid" else f"grid.{key}"
    if profile is not None and key in spec.profiles.get(profile, {}):
        return f"profiles.{profile}.{key}"
    if key in spec.base:
        return f"base.{key}"
    return f"{key} (FitConfig default)"


def _validate_values(spec: ExperimentSpec, v: Variant, src: str, profile: str | None) -> None:
    merged = {**spec.base, **v.overrides}
    label = f" (variant {v.name!r})"
    try:
        FitConfig(**merged, seed=spec.seeds[0]).validate()  # the augmentor's options too
    except ConfigError as e:
        msg = str(e)
        diffusion = _DIFFUSION_FIELDS.get(msg.split(":", 1)[0].strip())
        fields_ = (
            [diffusion]
            if diffusion
            else [
                f
                for f in sorted(merged, key=len, reverse=True)
                if re.search(rf"\b{re.escape(f)}\b", msg)
            ]
        )
        if not fields_:
            fields_ = [f for f in _fit_types() if re.search(rf"\b{re.escape(f)}\b", msg)]
        key = _origin(spec, v, fields_[0], profile) if fields_ else "variants"
        raise ConfigError(f"{src}: {key}{label}: {msg}") from None
    backend = merged.get("backend")
    if backend is not None:
        try:
            parse_fit_backend(backend)
        except BackendError as e:
            raise ConfigError(
                f"{src}: {_origin(spec, v, 'backend', profile)}{label}: {e}"
            ) from None

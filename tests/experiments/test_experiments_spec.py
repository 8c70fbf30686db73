"""Spec parsing, variant/grid expansion and every validation error (file: key + how to fix)."""

from __future__ import annotations

import re

import pytest
from exp_helpers import SPEC, write_spec

from qsdaqec.errors import ConfigError
from qsdaqec.experiments import load_spec, parse_spec
from qsdaqec.train.config import FitConfig


def _err(tmp_path, text, match, **kw):
    p = write_spec(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as ei:
        load_spec(p, **kw)
    msg = str(ei.value)
    assert msg.startswith(str(p)), msg  # every message names the file
    assert "\n" not in msg
    return msg


def test_parse_typed_spec(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert spec.name == "exp"  # default: the file stem
    assert spec.seeds == [0, 1]
    assert spec.metrics == ["accuracy", "auc"]
    assert spec.base == {"image_size": 32, "epochs": 1, "weights": "none"}
    assert [v.name for v in spec.variants] == ["quantum", "dense"]
    fits = spec.fits()
    assert [(f.variant, f.seed) for f in fits] == [
        ("quantum", 0),
        ("quantum", 1),
        ("dense", 0),
        ("dense", 1),
    ]
    assert fits[2].config["head"] == "classical" and fits[2].config["image_size"] == 32
    assert fits[0].config["lr"] == FitConfig().lr  # FitConfig defaults fill the rest
    assert "out" not in fits[0].config and "extra" not in fits[0].config


def test_float_field_accepts_integer_and_defaults(tmp_path):
    spec = parse_spec({"base": {"lr": 1, "epochs": 2}})
    assert spec.base["lr"] == 1.0 and isinstance(spec.base["lr"], float)
    assert [v.name for v in spec.variants] == ["base"]
    assert spec.seeds == [0] and spec.test_sets == ["original"]


def test_grid_expansion_with_labels():
    spec = parse_spec(
        {
            "experiment": {"labels": {"diffusion_steps": "T"}},
            "grid": {"diffusion_steps": [1, 5, 10], "beta_end": [0.005, 0.02, 0.05]},
        }
    )
    names = [v.name for v in spec.variants]
    assert (
        len(names) == 9 and names[0] == "T=1, beta_end=0.005" and names[-1] == "T=10, beta_end=0.05"
    )
    assert spec.variants[4].overrides == {"diffusion_steps": 5, "beta_end": 0.02}


def test_grid_times_variants():
    spec = parse_spec(
        {
            "variants": [{"name": "q", "head": "quantum"}, {"name": "c", "head": "classical"}],
            "grid": {"epochs": [1, 2]},
        }
    )
    assert [v.name for v in spec.variants] == [
        "q, epochs=1",
        "q, epochs=2",
        "c, epochs=1",
        "c, epochs=2",
    ]
    assert spec.variants[3].overrides == {"head": "classical", "epochs": 2}


def test_identical_configs_share_a_key_distinct_ones_do_not():
    a = parse_spec({"variants": [{"name": "x", "epochs": 2}, {"name": "y", "epochs": 3}]}).fits()
    b = parse_spec({"base": {"epochs": 2}}).fits()
    assert a[0].key == b[0].key and a[0].dirname == b[0].dirname
    assert a[0].key != a[1].key
    # num_threads does not change what is computed: same key
    c = parse_spec({"base": {"epochs": 2, "num_threads": 1}}).fits()
    assert c[0].key == b[0].key


def test_profile_overrides_base_and_seeds(tmp_path):
    text = SPEC + "\n[profiles.full]\nimage_size = 224\nepochs = 30\nseeds = [0, 1, 2, 3, 4]\n"
    p = write_spec(tmp_path, text)
    small, full = load_spec(p), load_spec(p, profile="full")
    assert small.base["image_size"] == 32 and small.seeds == [0, 1]
    assert (
        full.base["image_size"] == 224
        and full.base["epochs"] == 30
        and full.seeds == [0, 1, 2, 3, 4]
    )
    assert full.profile == "full" and "full" in small.profiles


def test_with_seeds_and_only(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert spec.with_seeds([3, 4]).seeds == [3, 4]
    assert [v.name for v in spec.only(["dense"]).variants] == ["dense"]
    with pytest.raises(ConfigError, match="unknown variant.*'nope'.*'quantum', 'dense'"):
        spec.only(["nope"])
    with pytest.raises(ConfigError, match="listed twice"):
        spec.with_seeds([1, 1])


@pytest.mark.parametrize(
    "name", ["baselines", "ablation_diffusion", "head_ablation", "test_balance"]
)
def test_shipped_specs_parse_in_both_profiles(name):
    small = load_spec(f"paper:{name}")
    full = load_spec(f"paper:{name}", profile="full")
    assert small.name == name and len(small.seeds) >= 3
    assert full.base["image_size"] == 224 and full.base["weights"] == "imagenet"
    assert len(small.fits()) == len(small.variants) * len(small.seeds)


def test_shipped_specs_cover_the_issue():
    b = load_spec("paper:baselines")
    assert {f.config["model"] for f in b.fits()} == {
        "sdaqec",
        "resnet18",
        "mobilenet_v2",
        "densenet121",
        "vgg16",
    }
    a = load_spec("paper:ablation_diffusion")
    grid = {(v.overrides["diffusion_steps"], v.overrides["beta_end"]) for v in a.variants}
    assert grid == {(t, b_) for t in (1, 5, 10) for b_ in (0.005, 0.02, 0.05)}
    h = load_spec("paper:head_ablation")
    assert {f.config["head"] for f in h.fits()} == {"quantum", "classical"}
    assert len({f.config["model"] for f in h.fits()}) == 1
    t = load_spec("paper:test_balance")
    assert t.test_sets == ["original", "balanced"]
    # the SDA-QEC default fit is shared by baselines, head ablation, test balance and the ablation cell
    keys = [
        {
            f.key
            for f in s.fits()
            if f.config["model"] == "sdaqec"
            and f.config["head"] == "quantum"
            and f.config["diffusion_steps"] == 5
            and f.config["beta_end"] == 0.02
        }
        for s in (b, a, h, t)
    ]
    assert keys[0] == keys[1] == keys[2] == keys[3] and len(keys[0]) == 3


# ------------------------------------------------------------------------ validation errors

BAD = [
    # (spec text, expected key in the message, a fragment of the hint)
    ("[experimnt]\nseeds = [0]\n", "experimnt: unknown section", "did you mean [experiment]"),
    ("[experiment]\nseed = [0]\n", "experiment.seed: unknown key", "did you mean 'seeds'"),
    ("[base]\nepoch = 3\n", "base.epoch: unknown FitConfig field", "did you mean 'epochs'"),
    ('[base]\nepochs = "3"\n', "base.epochs: must be an integer, got str", "epochs = 3"),
    ("[base]\nepochs = 2.5\n", "base.epochs: must be an integer, got float", "epochs = 3"),
    ('[base]\nlr = "fast"\n', "base.lr: must be a number", "lr = 0.02"),
    ("[base]\naugment = 1\n", "base.augment: must be true or false", "augment = true"),
    ("[base]\nepochs = true\n", "base.epochs: must be an integer, got bool", ""),
    ("[base]\nseed = 1\n", "base.seed: not allowed", "experiment.seeds"),
    ('[base]\nout = "x"\n', "base.out: not allowed", "--fits"),
    ("base = 3\n", "base: must be a table", ""),
    ("[base]\nepochs = 0\n", "base.epochs (variant 'base'): epochs=0: must be at least 1", ""),
    ("[base]\nimage_size = 16\n", "base.image_size (variant 'base'): image_size=16", "at least 32"),
    (
        '[base]\nmodel = "resnet50"\n',
        "base.model (variant 'base'): unknown model 'resnet50'",
        "choose one of",
    ),
    ('[base]\nbackend = "nope"\n', "base.backend (variant 'base')", ""),
    (
        "[base]\ndiffusion_steps = 0\n",
        "base.diffusion_steps (variant 'base'): steps: must be an integer >= 1",
        "",
    ),
    (
        "[base]\nbeta_end = 1.5\n",
        "base.beta_end (variant 'base'): beta_end: must lie in (0, 1)",
        "",
    ),
    (
        "[base]\nval_frac = 0.6\ntest_frac = 0.6\n",
        "(variant 'base'): val_frac=0.6, test_frac=0.6",
        "sum below 1",
    ),
    (
        '[[variants]]\nname = "a"\nhead = "quantm"\n',
        "variants[0].head (variant 'a'): unknown head 'quantm'",
        "",
    ),
    (
        '[[variants]]\nhead = "quantum"\n',
        "variants[0].name: every variant needs a name",
        'name = "SDA-QEC"',
    ),
    (
        '[[variants]]\nname = "a"\n[[variants]]\nname = "a"\n',
        "variants: name(s) 'a' used twice",
        "",
    ),
    (
        '[[variants]]\nname = "a"\nepochz = 1\n',
        "variants[0].epochz: unknown FitConfig field",
        "epochs",
    ),
    ("variants = 3\n", "variants: must be an array of tables", "[[variants]]"),
    ("[grid]\nbeta_end = []\n", "grid.beta_end: must be a non-empty list", ""),
    ("[grid]\nbeta_end = 0.02\n", "grid.beta_end: must be a non-empty list", "[1, 5, 10]"),
    ('[grid]\nbeta_end = [0.02, "x"]\n', "grid.beta_end: must be a number, got str", ""),
    ("[grid]\nbeta_end = [0.02, 0.02]\n", "grid.beta_end: a value is listed twice", ""),
    (
        "[grid]\nbeta_end = [0.02, 2.0]\n",
        "grid.beta_end (variant 'beta_end=2'): beta_end: must lie in (0, 1)",
        "",
    ),
    (
        '[grid]\nepochs = [1]\n[[variants]]\nname = "a"\nepochs = 2\n',
        "variants[0].epochs: also a grid key",
        "",
    ),
    (
        "[experiment]\nseeds = []\n",
        "experiment.seeds: must be a non-empty list",
        "seeds = [0, 1, 2]",
    ),
    ("[experiment]\nseeds = [0, -1]\n", "experiment.seeds: -1 is not a seed", ""),
    ("[experiment]\nseeds = [0, 0]\n", "experiment.seeds: seed(s) [0] listed twice", ""),
    ("[experiment]\nseeds = 3\n", "experiment.seeds: must be a non-empty list", ""),
    (
        '[experiment]\ntest_sets = ["balancd"]\n',
        "experiment.test_sets: unknown 'balancd'",
        "did you mean 'balanced'",
    ),
    ('[experiment]\nmetrics = ["acc"]\n', "experiment.metrics: unknown 'acc'", "choose from"),
    ('[experiment]\nmetrics = "auc"\n', "experiment.metrics: must be a non-empty list", ""),
    ('[experiment]\nname = "a b"\n', "experiment.name: 'a b' must be", "letters, digits"),
    ("[experiment]\ndescription = 3\n", "experiment.description: must be a string", ""),
    (
        '[experiment]\nlabels = { nope = "T" }\n',
        "experiment.labels.nope: unknown FitConfig field",
        "",
    ),
    (
        "[experiment]\nlabels = { epochs = 3 }\n",
        "experiment.labels: must be a table of strings",
        "",
    ),
    (
        "[profiles.full]\nimage_sise = 224\n",
        "profiles.full.image_sise: unknown FitConfig field",
        "image_size",
    ),
    ("[profiles.full]\nseeds = [1, 1]\n", "profiles.full.seeds: seed(s) [1] listed twice", ""),
    (
        "[profiles.full]\nimage_size = 8\n",
        "profiles.full.image_size (variant 'base'): image_size=8",
        "",
    ),
    ("[base\nepochs = 1\n", "not valid TOML", "fix the syntax"),
]


@pytest.mark.parametrize("text,key,hint", BAD, ids=[b[1].split(":")[0][:40] for b in BAD])
def test_validation_errors_name_file_key_and_fix(tmp_path, text, key, hint):
    profile = "full" if "[profiles.full]\nimage_size = 8" in text else None
    msg = _err(tmp_path, text, re.escape(key), profile=profile)
    assert hint in msg


def test_unknown_profile_lists_the_defined_ones(tmp_path):
    p = write_spec(tmp_path, SPEC + "\n[profiles.full]\nepochs = 2\n")
    with pytest.raises(ConfigError, match=r"profile 'huge' not found; profiles in this spec: full"):
        load_spec(p, profile="huge")


def test_missing_file_lists_the_specs_there(tmp_path):
    write_spec(tmp_path, SPEC, name="real.toml")
    with pytest.raises(ConfigError, match=r"no such spec file; specs there: real.toml"):
        load_spec(tmp_path / "nope.toml")


def test_key_follows_the_builtin_data_set(monkeypatch):
    import qsdaqec.experiments.spec as spec_mod

    fit = parse_spec({"base": {"epochs": 2}}).fits()[0]
    k1 = fit.key
    monkeypatch.setattr(spec_mod, "builtin_data_key", lambda: "another-generator")
    assert fit.key != k1  # new built-in data -> a new fit, never a stale one
    with_data = parse_spec({"base": {"epochs": 2, "data": "data/angio"}}).fits()[0]
    assert with_data.key != fit.key


def test_key_ignores_defaults_spelled_out_and_new_fields():
    from qsdaqec.experiments.spec import config_key

    implicit = parse_spec({"base": {"epochs": 2}}).fits()[0]
    explicit = parse_spec(
        {"base": {"epochs": 2, "head": "quantum", "model": "sdaqec", "lr": FitConfig().lr}}
    ).fits()[0]
    assert implicit.key == explicit.key
    # a field FitConfig gains later (at its default) does not change existing keys
    grown = {**implicit.config, "some_new_field": None}
    grown_default = dict(implicit.config)
    assert config_key(grown_default) == implicit.key
    assert config_key(grown) != implicit.key  # unknown non-default-comparable field counts


def test_stale_fields_compare_common_fields_only():
    from qsdaqec.experiments.spec import stale_fields

    cfg = parse_spec({"base": {"epochs": 2}}).fits()[0].config
    saved = {k: v for k, v in cfg.items() if k != "noisy_lr"}  # an older config.json lacks a field
    saved.update(weights="none", num_threads=7, out="x")
    assert stale_fields(saved, cfg) == []
    saved["lr"] = 0.5
    assert stale_fields(saved, cfg) == ["lr"]


def test_fields_a_fit_does_not_read_do_not_split_fits():
    from qsdaqec.experiments.spec import stale_fields

    exact = parse_spec({"base": {"epochs": 2}}).fits()[0]
    other_noisy = parse_spec({"base": {"epochs": 2, "noisy_epochs": 9, "shots": 100}}).fits()[0]
    assert exact.key == other_noisy.key  # statevector: stage 2 never runs
    noisy_a = parse_spec({"base": {"backend": "aer_noisy"}}).fits()[0]
    noisy_b = parse_spec({"base": {"backend": "aer_noisy", "noisy_epochs": 9}}).fits()[0]
    assert noisy_a.key != noisy_b.key
    r1 = parse_spec({"base": {"model": "resnet18"}}).fits()[0]
    r2 = parse_spec(
        {"base": {"model": "resnet18", "head": "classical", "encoding": "angle"}}
    ).fits()[0]
    assert r1.key == r2.key
    saved = dict(exact.config, noisy_lr=123.0)
    assert stale_fields(saved, exact.config) == []


def test_paper_specs_are_installed_and_named(tmp_path, monkeypatch):
    from qsdaqec.experiments import paper_spec_names, spec_path

    monkeypatch.chdir(tmp_path)  # from any folder, not only a source checkout
    assert set(paper_spec_names()) >= {"baselines", "head_ablation", "noise_match"}
    assert spec_path("paper:baselines").is_file()
    assert spec_path("mine.toml").name == "mine.toml"  # anything else is a path
    with pytest.raises(ConfigError, match=r"^paper:nope: no such paper spec; choose one of "):
        load_spec("paper:nope")


def test_backend_dependent_defaults_are_resolved_like_fit_saves_them():
    """A fit plan holds what fit will save in config.json (the backend's defaults filled in),
    so a finished fit is not taken for stale, and keys of exact-backend fits do not move."""
    from qsdaqec.experiments.spec import canonical_config, fit_fields, stale_fields

    noisy = fit_fields({"backend": "aer_noisy", "seed": 0})
    assert (noisy["encoding"], noisy["shots"], noisy["noisy_subset"]) == ("schmidt", 4096, 64)
    exact = fit_fields({"seed": 0})
    assert (exact["encoding"], exact["shots"], exact["noisy_calibration"]) == (
        "amplitude",
        None,
        48,
    )
    saved = FitConfig(backend="aer_noisy", seed=0).validate().to_dict()
    assert stale_fields(saved, noisy) == []
    assert "encoding" not in canonical_config(noisy) and "encoding" not in canonical_config(exact)
    assert (
        canonical_config(fit_fields({"backend": "aer_noisy", "encoding": "amplitude"}))["encoding"]
        == "amplitude"
    )


def test_fits_on_two_backends_at_their_defaults_are_two_fits():
    """The exact head and the same head at a device's defaults (schmidt, 4096 shots) differ in
    their backend only: their keys must differ, or one would be taken for the other."""
    spec = load_spec("paper:hardware_inference")
    exact, device = (f for f in spec.fits() if f.seed == 0)
    assert (exact.config["backend"], device.config["backend"]) == (
        "statevector",
        "fake:fake_torino",
    )
    assert {exact.config["encoding"], device.config["encoding"]} == {"schmidt"}
    assert device.config["shots"] == 4096 and exact.config["shots"] is None
    assert exact.key != device.key
    plain = load_spec("paper:head_ablation").fits()[0]
    assert plain.key != device.key  # amplitude on statevector: all defaults too

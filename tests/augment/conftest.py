import pytest


@pytest.fixture(scope="session")
def tiny_angio(tmp_path_factory):
    """A tiny synthetic angiogram ImageFolder: 30 normal + 10 stenosis, 32 px."""
    from qsdaqec.data import SynthConfig, generate_synthetic

    out = tmp_path_factory.mktemp("augdata") / "angio"
    generate_synthetic(out, SynthConfig(n=40, size=32, minority_frac=0.25, seed=0))
    return out

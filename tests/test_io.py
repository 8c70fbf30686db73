import json

import pytest

from qsdaqec.errors import RunError
from qsdaqec.io import atomic_write_json, atomic_write_text, read_json


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "a.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [f.name for f in p.parent.iterdir()] == ["a.json"]


def test_failed_write_keeps_old_content(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")

    class Boom(Exception):
        pass

    def bad(_):
        raise Boom

    from qsdaqec.io import atomic_write

    with pytest.raises(Boom):
        atomic_write(p, bad)
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]


def test_read_json_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{nope")
    with pytest.raises(RunError, match="bad.json"):
        read_json(p)
    with pytest.raises(RunError, match="missing.json"):
        read_json(tmp_path / "missing.json")


def test_atomic_writes_and_folders_respect_the_umask(tmp_path):
    import os
    import stat

    from qsdaqec.data.synth import SynthConfig, generate_synthetic
    from qsdaqec.io import atomic_write_text

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "report.html", "<p>")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # as open() would make it
        root = generate_synthetic(tmp_path / "angio", SynthConfig(n=4, size=32))
        assert stat.S_IMODE(root.stat().st_mode) == 0o755
        os.umask(0o077)
        private = atomic_write_text(tmp_path / "private.json", "{}")
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(old)

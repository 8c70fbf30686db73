import errno
import json
import os
from pathlib import Path

import pytest

from qsdaqec.errors import RunError, WriteError
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


# ---- a full disk or a read-only folder: one line naming the path, nothing half-written ----


def _no_space(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_is_a_write_error_naming_the_path_and_leaves_nothing(tmp_path, monkeypatch):
    from qsdaqec.io import atomic_torch_save, atomic_write_text

    p = atomic_write_text(tmp_path / "report.json", "old")
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(WriteError) as e:
        atomic_write_text(p, "new")
    assert str(e.value).startswith(f"{p}: cannot write (no space left on the device)")
    assert "run the command again" in str(e.value)
    with pytest.raises(WriteError, match="no space left"):
        atomic_torch_save(tmp_path / "model.pt", {"w": list(range(10))})
    assert p.read_text() == "old"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["report.json"]  # no temp, no .pt


def test_torch_writer_failing_on_a_full_disk_is_our_write_error(tmp_path, monkeypatch):
    """torch.save straight into a file reports a full disk as ``RuntimeError: enforce fail at
    inline_container.cc``; the checkpoint is serialised in memory, so the disk's own error
    (here at the write) names the path instead."""
    import io as stdio

    import torch

    from qsdaqec.io import atomic_torch_save

    real_save = torch.save

    def save(obj, f, *a, **k):
        if not isinstance(f, stdio.BytesIO):
            raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    atomic_torch_save(tmp_path / "ok.pt", {"a": 1})
    assert torch.load(tmp_path / "ok.pt", weights_only=True) == {"a": 1}
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(WriteError, match="ok.pt: cannot write"):
        atomic_torch_save(tmp_path / "ok.pt", {"a": 2})
    assert torch.load(tmp_path / "ok.pt", weights_only=True) == {"a": 1}


def test_checkpoint_on_a_full_disk_says_how_to_continue(tmp_path, monkeypatch):
    from qsdaqec.train.checkpoints import save_checkpoint

    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(WriteError) as e:
        save_checkpoint(tmp_path / "run" / "checkpoint.pt", {"epoch": 1})
    assert f"continue with `qsdaqec fit --out {tmp_path / 'run'} --resume`" in str(e.value)
    assert list((tmp_path / "run").iterdir()) == []


def test_read_only_folder_is_a_write_error(tmp_path, monkeypatch):
    """Tests run as root here, whom chmod does not stop: the refusal is simulated where the
    temp file is made (the real-permission variant below runs for other users)."""
    import tempfile

    from qsdaqec.io import atomic_write_text

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(WriteError, match=r"out.csv: cannot write \(read-only file system\)"):
        atomic_write_text(tmp_path / "out.csv", "a,b\n")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0500 folder regardless")
def test_folder_without_write_permission_is_a_write_error(tmp_path):
    from qsdaqec.io import atomic_write_text

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError, match=r"permission denied"):
            atomic_write_text(folder / "out.csv", "a,b\n")
    finally:
        folder.chmod(0o700)


def test_cli_full_disk_and_read_only_are_one_line_not_internal_errors(tmp_path, monkeypatch):
    from cli_helpers import handled_error
    from click.testing import CliRunner

    from qsdaqec.cli import cli

    out = tmp_path / "c"
    monkeypatch.setattr(os, "fsync", _no_space)
    r = CliRunner().invoke(cli, ["circuits", "export", "--out", str(out)])
    line = handled_error(r, f"{out}/", "cannot write (no space left on the device)")
    assert "nothing half-written" in line and not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    assert CliRunner().invoke(cli, ["circuits", "export", "--out", str(out)]).exit_code == 0

    def refuse(self, *a, **k):  # a folder made outside the atomic writers
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    r = CliRunner().invoke(cli, ["circuits", "export", "--out", str(tmp_path / "d")])
    handled_error(r, "cannot write (read-only file system)")

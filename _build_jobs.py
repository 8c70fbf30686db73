"""Build step of the wheel: the experiment specs live in the top-level ``jobs/`` folder (their
one copy); a wheel carries them as ``qsdaqec/experiments/specs/*.toml``, where
``qsdaqec.experiments.catalog`` finds them once installed. An editable install copies nothing:
it reads ``jobs/`` where it is. pyproject.toml names this class as setuptools' ``build_py``."""

from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py as _build_py

JOBS = Path(__file__).parent / "jobs"
PACKAGED = ("qsdaqec", "experiments", "specs")


class build_py(_build_py):  # noqa: N801 - setuptools' command name
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        out = Path(self.build_lib, *PACKAGED)
        self.mkpath(str(out))
        for spec in sorted(JOBS.glob("*.toml")):
            self.copy_file(str(spec), str(out / spec.name))

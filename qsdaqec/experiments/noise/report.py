"""``build_noise_report``: compute (or reuse) every point of the grid, then write the report.

Two references come with every report: the exact quantum head of each run and a classical
head (:mod:`.sources`). Transpilation is done once per backend and encoding, each point once
(stored in ``OUT/points/`` and reused), fetched hardware jobs are added as points, and the
conclusion (:mod:`.conclude`) and the rendering (:mod:`qsdaqec.reports.noise_html`) finish it.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ...errors import RunError
from ...io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from ...metrics import METRIC_NAMES
from ...reports.noise_html import render_html
from ...runner import make_estimator
from ...tracking import TrackingConfig
from ..executors import ExecutorConfig, RemoteExecutor, Task, make_executor
from .compute import (
    EstimatorFactory,
    PointTask,
    clean,
    compute_and_store,
    run_point_task,
    transpile_info,
)
from .conclude import collapsed, conclude
from .config import NoiseReportConfig, parse_backends
from .jobpoints import job_points
from .plan import PointSpec, plan_points
from .runlinks import register
from .sources import HeadSource, check_sources, classical_reference, load_source
from .tracked import SCORES, SETTINGS, send_report

SCHEMA = "qsdaqec.noise-report/1"

#: Columns of results.csv and of the HTML table, in order.
CSV_COLUMNS = ("key", *SETTINGS, "sweeps", *SCORES, "note")


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


def build_noise_report(
    cfg: NoiseReportConfig,
    *,
    estimator_factory: EstimatorFactory | None = None,
    log: Callable[[str], None] | None = None,
    executor: ExecutorConfig | None = None,
    tracking: TrackingConfig | None = None,
) -> ReportResult:
    """Compute (or reuse) every point of ``cfg``'s grid, then write the HTML, JSON and CSV.
    ``executor``: where the points run (default: one after another in this process);
    ``tracking``: the report's points also go to TensorBoard or MLflow (:mod:`.tracked`)."""
    cfg.validate()
    if tracking is not None:
        tracking.validate()  # a missing package: before any point is computed
    log = log or (lambda m: None)
    factory = estimator_factory or make_estimator
    for b in cfg.backends:  # fail on a bad spec before any heavy work
        parse_backends(b)
    runner = make_executor(
        executor or ExecutorConfig(),
        folder=Path(cfg.out) / "slurm",
        echo=log,
        log=log,
    )
    sources = [load_source(r, cfg.device) for r in cfg.runs]
    by_enc = check_sources(sources, cfg)
    primary = sources[0]
    log(
        f"test split: {len(primary.labels)} samples ({', '.join(primary.classes)}); "
        f"encodings: {', '.join(f'{e} ({s.run_dir})' for e, s in by_enc.items())}"
    )
    points_dir = Path(cfg.out) / "points"
    points_dir.mkdir(parents=True, exist_ok=True)
    classical = classical_reference(cfg, primary)
    references = _references(by_enc, classical, len(primary.labels))
    transpiled = _transpiled(by_enc, cfg, factory, points_dir)
    keyed = [(p, p.key(_context(by_enc[p.encoding], cfg))) for p in plan_points(cfg, list(by_enc))]
    pending = _pending(keyed, points_dir, log)
    if runner.remote:
        _compute_remote(runner, pending, by_enc, cfg, factory, points_dir, log)
    else:
        _compute_here(pending, by_enc, cfg, factory, points_dir)
    computed = len(pending)
    rows = _point_rows(keyed, transpiled, points_dir)
    jobs = [row for src in by_enc.values() for row in job_points(src)] if cfg.include_jobs else []
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
        "config": clean(dataclasses.asdict(cfg)),
        "classical_reference": classical["source"],
        "transpiled": [transpiled[k] for k in sorted(transpiled)],
        "conclusion": conclusion,
        "points": [clean({k: v for k, v in r.items() if k != "evs"}) for r in all_rows],
    }
    paths = _write(Path(cfg.out), payload, all_rows, cfg)
    for src in by_enc.values():  # the run's own page links it (qsdaqec report)
        register(src.run_dir, paths[0], payload["created"])
    send_report(tracking, Path(cfg.out), payload, all_rows, paths, log)
    return ReportResult(
        Path(cfg.out), *paths, computed, len(keyed) - computed, all_rows, conclusion
    )


def _references(
    by_enc: dict[str, HeadSource], classical: dict[str, Any], n: int
) -> list[dict[str, Any]]:
    """The exact quantum head of each encoding, then the classical head."""
    refs: list[dict[str, Any]] = []
    for enc, src in by_enc.items():
        refs.append(
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
                "metrics": src.metrics(src.exact_evs),
                "ev_mae": 0.0,
                "ev_max": 0.0,
                "agree_exact": 1.0,
                "n": int(len(src.labels)),
                "run": str(src.run_dir),
            }
        )
    refs.append(
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
            "n": n,
            "note": classical["source"],
        }
    )
    return refs


def _transpiled(
    by_enc: dict[str, HeadSource], cfg: NoiseReportConfig, factory, points_dir: Path
) -> dict[tuple[str, str], dict[str, Any]]:
    """Transpilation, once per backend and encoding (cached in ``points/`` like the points)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for enc, src in by_enc.items():
        digest = hashlib.sha256(json.dumps(_context(src, cfg), sort_keys=True).encode())
        for b in cfg.backends:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{enc}_{b}")
            path = points_dir / f"transpile_{slug}_{digest.hexdigest()[:10]}.json"
            if path.is_file():
                out[(enc, b)] = read_json(path)
            else:
                info = transpile_info(b, src, cfg, factory)
                atomic_write_json(path, info)
                out[(enc, b)] = info
    return out


def _pending(keyed, points_dir: Path, log) -> list[tuple[PointSpec, str]]:
    """The points without a stored result."""
    pending = [(p, k) for p, k in keyed if not _load_point(points_dir / f"{k}.json")]
    log(
        f"{len(keyed)} points: {len(keyed) - len(pending)} already computed, {len(pending)} to compute"
    )
    return pending


def _task(p: PointSpec, k: str, src: HeadSource, cfg, factory, points_dir: Path) -> PointTask:
    return PointTask(src.point_data(), p, cfg, factory, k, points_dir / f"{k}.json")


def _compute_here(pending, by_enc, cfg, factory, points_dir: Path) -> None:
    """One point after another in this process; each is stored before the next starts."""
    total = sum(len(by_enc[p.encoding].labels) for p, _ in pending)
    bar = _progress(total, cfg.progress, f"{len(pending)} point(s)")
    try:
        for p, k in pending:
            bar.set_postfix_str(p.label, refresh=True)
            done = bar.n
            compute_and_store(_task(p, k, by_enc[p.encoding], cfg, factory, points_dir), bar.update)
            bar.update(done + len(by_enc[p.encoding].labels) - bar.n)  # unsupported: no chunks ran
    finally:
        bar.close()


def _compute_remote(
    runner: RemoteExecutor, pending, by_enc, cfg, factory, points_dir: Path, log
) -> None:
    """Each point a Ray task or Slurm job, storing its own result; a failed one is reported
    with its key and log, and left for the next call (the report is written without it)."""
    tasks = [
        Task(
            name=p.label,
            key=k,
            fn=run_point_task,
            arg=_task(p, k, by_enc[p.encoding], cfg, factory, points_dir),
            log_path=points_dir / "logs" / f"{k}.log",
        )
        for p, k in pending
    ]
    if not tasks:
        return
    failed = []
    with runner:
        log(f"{len(tasks)} point(s) to {runner.name}; logs in {points_dir / 'logs'}")
        for i, done in enumerate(runner.run(tasks), 1):
            if done.ok:
                log(f"[{i}/{len(tasks)}] {done.task.name}: {done.value['status']}")
            else:
                failed.append(done)
                log(
                    f"[{i}/{len(tasks)}] {done.task.name}: FAILED (point {done.task.key}): "
                    f"{done.error}; log: {', '.join(done.logs)}"
                )
    if failed:
        raise RunError(
            f"{len(failed)} of {len(tasks)} point(s) failed (first: {failed[0].task.key}: "
            f"{failed[0].error}; log {failed[0].logs[0]}); the others are stored, and the same "
            "command computes only what is missing"
        )


def _point_rows(keyed: list[tuple[PointSpec, str]], transpiled, points_dir: Path) -> list[dict]:
    rows = []
    for p, k in keyed:
        row = _load_point(points_dir / f"{k}.json")
        row["sweeps"] = list(p.sweeps)  # sweep membership depends on the grid, not the result
        info = transpiled[(p.encoding, p.backend)]
        row.update({f: info.get(f) for f in ("width", "depth", "two_qubit_gates")})
        rows.append(row)
    return rows


def _write(out: Path, payload: dict[str, Any], rows, cfg) -> tuple[Path, Path, Path]:
    """report.html (+ plots/*.png), results.json, results.csv; returns (html, json, csv)."""
    json_path = atomic_write_json(out / "results.json", payload)
    csv_path = atomic_write_text(out / "results.csv", to_csv(rows))
    html_text, pngs = render_html(payload, rows, cfg)
    for name, data in pngs.items():
        atomic_write_bytes(out / "plots" / f"{name}.png", data)
    html_path = atomic_write_text(out / "report.html", html_text)
    return html_path, json_path, csv_path


def _context(src: HeadSource, cfg: NoiseReportConfig) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "run": src.fingerprint,
        "optimization_level": cfg.optimization_level,
        "seed": cfg.seed,
    }


def _progress(total: int, enabled: bool, what: str):
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
    if exact is not None and r.get("metrics"):
        for name in ("accuracy", "balanced_accuracy", "auc"):
            # NaN - x is NaN: undefined stays undefined
            r[f"d_{name}"] = 0.0 if r is exact else r[name] - exact[name]
    r.setdefault("note", "")
    if collapsed(r) and r["kind"] in ("simulation", "job"):
        r["note"] = "; ".join(n for n in (r["note"], "one class predicted for every sample") if n)


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

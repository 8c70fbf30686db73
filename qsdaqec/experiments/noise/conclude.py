"""The noise report's conclusion: plain sentences computed from the points, its first section.

The headline metrics are ones a collapsed head cannot game: balanced accuracy (0.5 for a head
that predicts one class, whatever the class shares) and AUC. Every point whose head predicts one
class gets a caution and never counts as "within tolerance"; hardware jobs too small or with one
class only are shown apart and left out of the comparisons."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .config import NoiseReportConfig
from .plan import fmt_num

Row = dict[str, Any]
HEADLINE = "balanced_accuracy"


def _pts(v: float) -> str:
    x = f"{100 * v:.1f}".rstrip("0").rstrip(".")
    return f"{x} point" + ("" if x == "1" else "s")


def collapsed(r: Row) -> bool:
    """The head predicted one class for every sample of this point."""
    cm = (r.get("metrics") or {}).get("confusion_matrix")
    if not cm:
        return False
    (tn, fp), (fn, tp) = cm
    return tp + fp == 0 or tn + fn == 0


def small_job(r: Row, min_samples: int) -> bool:
    """A hardware job too small (or with one class only) to compare with the others."""
    n_pos = (r.get("metrics") or {}).get("n_positive")
    return r["kind"] == "job" and (r["n"] < min_samples or n_pos in (0, r["n"]))


def conclude(rows: Sequence[Row], cfg: NoiseReportConfig, n_test: int) -> list[str]:
    """Plain sentences computed from the points: the report's first section."""
    out: list[str] = []
    classical = next((r for r in rows if r["kind"] == "classical"), None)
    exact = {r["encoding"]: r for r in rows if r["kind"] == "exact"}
    sims = [r for r in rows if r["kind"] == "simulation" and r.get("status") == "ok"]
    for enc, ex in exact.items():
        out += _exact_lines(enc, ex, classical)
        for b in cfg.backends:
            mine = [r for r in sims if r["encoding"] == enc and r["backend"] == b]
            out += _noise_line(enc, b, ex, mine, classical, cfg.tolerance)
            out += _shots_line(enc, b, ex, mine, cfg.tolerance)
            out += _mitigation_line(enc, b, mine)
            bad = [
                r
                for r in rows
                if r["kind"] == "simulation"
                and r["encoding"] == enc
                and r["backend"] == b
                and r.get("status") != "ok"
            ]
            if bad:
                out.append(
                    f"{enc}, on {b}: {len(bad)} point(s) not supported by the backend "
                    f"(e.g. {bad[0]['label']}: {bad[0].get('note', '')})."
                )
    if len(exact) > 1:
        out.append(_encodings_line(exact, sims, cfg.center_noise))
    out += _job_lines(rows, cfg.min_job_samples)
    out += _collapse_lines(rows)
    out.append(_test_size_line(n_test, cfg.tolerance))
    return out


def _collapse_lines(rows: Sequence[Row]) -> list[str]:
    """One caution naming every point (simulated, hardware) whose head predicts one class."""
    bad = [r for r in rows if r["kind"] in ("simulation", "job") and collapsed(r)]
    if not bad:
        return []
    names = "; ".join(r["label"] for r in bad[:6]) + (
        f"; and {len(bad) - 6} more" if len(bad) > 6 else ""
    )
    return [
        f"Caution: {len(bad)} point(s) predict one class for every test sample ({names}): their "
        "accuracy is only that class's share and their balanced accuracy 0.5; a collapse is "
        "never counted as staying within tolerance."
    ]


def _exact_lines(enc: str, ex: Row, classical: Row | None) -> list[str]:
    b0 = ex[HEADLINE]
    line = (
        f"{enc} encoding, exact head: balanced accuracy {b0:.3f}, AUC {ex['auc']:.3f} "
        f"(sensitivity {ex['sensitivity']:.3f}, specificity {ex['specificity']:.3f})"
    )
    if classical:
        c_b = classical[HEADLINE]
        rel = "above" if b0 > c_b else ("equal to" if b0 == c_b else "below")
        line += f"; {rel} the classical head's balanced accuracy {c_b:.3f}"
    out = [line + "."]
    cm = (ex.get("metrics") or {}).get("confusion_matrix")
    if cm:
        (tn, fp), (fn, tp) = cm
        if tp + fp == 0 or tn + fn == 0:
            out.append(
                f"Caution ({enc}): the exact head predicts one class for every test sample "
                "(balanced accuracy 0.5): noise cannot make it worse by that measure; judge noise "
                "by AUC and the EV error."
            )
        elif not math.isnan(ex["auc"]) and ex["auc"] < 0.6:
            out.append(f"Caution ({enc}): the exact head is close to chance (AUC {ex['auc']:.3f}).")
    return out


def _close(r: Row, ref: float, tol: float) -> bool:
    """Within ``tol`` of ``ref`` in balanced accuracy, and not a collapsed head."""
    return not collapsed(r) and abs(r[HEADLINE] - ref) <= tol + 1e-12


def _within(noise: list[Row], b0: float, tol: float) -> float | None:
    """The largest noise scale up to which every point stays within ``tol`` of ``b0``."""
    within = None
    for r in noise:
        if _close(r, b0, tol):
            within = r["noise_scale"]
        else:
            break
    return within


def _noise_line(
    enc: str, b: str, ex: Row, mine: list[Row], classical: Row | None, tol: float
) -> list[str]:
    noise = sorted((r for r in mine if "noise" in r["sweeps"]), key=lambda r: r["noise_scale"])
    if len(noise) < 2:
        return []
    s = f"on {b}: " + _tolerated(noise, ex[HEADLINE], tol)
    if classical:
        s += _vs_classical(noise, ex[HEADLINE], classical[HEADLINE])
    top = noise[-1]
    if not (math.isnan(ex["auc"]) or math.isnan(top["auc"])):
        s += f"; AUC {ex['auc']:.3f} exact, {top['auc']:.3f} at noise scale {fmt_num(top['noise_scale'])}"
    dev = next((r for r in noise if r["noise_scale"] == 1.0), None)
    if dev is not None:
        s += (
            f". At the device's noise (scale 1) the expectation values are off by "
            f"{dev['ev_mae']:.3f} on average (max {dev['ev_max']:.3f}) and "
            f"{100 * dev['agree_exact']:.0f}% of predictions equal the exact head's"
        )
    return [f"{enc}, " + s + "." + _ranked_but_collapsed(noise, ex)]


def _tolerated(noise: list[Row], b0: float, tol: float) -> str:
    """How far along the noise sweep balanced accuracy stays within ``tol`` of exact, and what
    it is at the first scale where it does not."""
    within = _within(noise, b0, tol)
    top = noise[-1]["noise_scale"]

    def at(r: Row) -> str:
        what = f"{r[HEADLINE]:.3f}" + (
            ": one class predicted for every sample" if collapsed(r) else ""
        )
        return f"at noise scale {fmt_num(r['noise_scale'])} it is {what}"

    if all(collapsed(r) for r in noise):  # no measure of distance left: say what happens
        return (
            f"every noise scale predicts one class for every sample (balanced accuracy "
            f"{noise[0][HEADLINE]:.3f})"
        )
    if within is None:
        return f"balanced accuracy is already more than {_pts(tol)} from exact: {at(noise[0])}"
    if within == top:
        scales = f"{fmt_num(noise[0]['noise_scale'])}–{fmt_num(top)}"
        return (
            f"balanced accuracy stays within {_pts(tol)} of exact over the whole tested range "
            f"(noise scale {scales})"
        )
    nxt = next(r for r in noise if r["noise_scale"] > within)
    if within == noise[0]["noise_scale"]:  # "up to noise scale 0" would read as a range
        where = "without noise" if within == 0 else f"at noise scale {fmt_num(within)} only"
    else:
        where = f"up to noise scale {fmt_num(within)}"
    return f"balanced accuracy is within {_pts(tol)} of exact {where}; {at(nxt)}"


def _ranked_but_collapsed(noise: list[Row], ex: Row) -> str:
    """Why a noisy point can keep its AUC yet predict one class: the ranking survives, the
    scores' scale does not."""
    r = next((r for r in noise if collapsed(r) and not collapsed(ex)), None)
    if r is None or math.isnan(r["auc"]) or r["auc"] < max(0.6, ex["auc"] - 0.05):
        return ""
    return (
        f" Its ranking survives (AUC {r['auc']:.3f} at noise scale {fmt_num(r['noise_scale'])}) "
        "but its threshold does not: device noise shrinks the expectation values towards 0, so "
        "the output layer, fitted on exact values, puts every sample on one side of it (fit "
        "with --backend aer_noisy fits it on noisy values; a shallower encoding loses less)."
    )


def _vs_classical(noise: list[Row], b0: float, c_b: float) -> str:
    below = next((r for r in noise if r[HEADLINE] < c_b or collapsed(r)), None)
    if b0 < c_b:
        return "; the exact head is already below the classical head"
    if below is None:
        return f"; it never falls below the classical head ({c_b:.3f}) within the tested range"
    if collapsed(below):
        return (
            f"; at noise scale {fmt_num(below['noise_scale'])} it predicts one class for every "
            f"sample, so it does not match the classical head ({c_b:.3f}) there"
        )
    return (
        f"; it falls below the classical head ({c_b:.3f}) at noise scale "
        f"{fmt_num(below['noise_scale'])} ({below[HEADLINE]:.3f})"
    )


def _shots_line(enc: str, b: str, ex: Row, mine: list[Row], tol: float) -> list[str]:
    in_sweep = [r for r in mine if "shots" in r["sweeps"]]
    shots = sorted((r for r in in_sweep if r["shots"] is not None), key=lambda r: r["shots"])
    if not shots:
        return []
    center = next((r for r in in_sweep if r["shots"] is None), None)
    ref = center or ex
    what = "exact expectation values at the same noise" if center else "the exact head"

    def close(r: Row) -> bool:
        return _close(r, ref[HEADLINE], tol)

    ok = next(
        (r for r in shots if close(r) and all(close(q) for q in shots if q["shots"] >= r["shots"])),
        None,
    )
    if ok is None:
        tested = ", ".join(str(r["shots"]) for r in shots)
        s = f"no tested shot count ({tested}) brings balanced accuracy within {_pts(tol)} of {what}"
    else:
        s = f"{ok['shots']} shots or more keep balanced accuracy within {_pts(tol)} of {what} ({ref[HEADLINE]:.3f})"
    return [f"{enc}, on {b}: " + s + "."]


def _mitigation_line(enc: str, b: str, mine: list[Row]) -> list[str]:
    mits = [r for r in mine if "mitigation" in r["sweeps"]]
    none = next((r for r in mits if r["mitigation"] == "none"), None)
    if none is None or len(mits) < 2:
        return []
    parts = [
        f"{r['mitigation']}: balanced accuracy {r[HEADLINE] - none[HEADLINE]:+.3f}, "
        f"EV error {none['ev_mae']:.3f} → {r['ev_mae']:.3f}"
        for r in mits
        if r is not none
    ]
    if not parts:
        return []
    return [
        f"{enc}, on {b}, mitigation vs none at noise scale "
        f"{fmt_num(none['noise_scale'])}: " + "; ".join(parts) + "."
    ]


def _encodings_line(exact: dict[str, Row], sims: list[Row], center_noise: float) -> str:
    parts = []
    for enc, ex in exact.items():
        dev = [
            r
            for r in sims
            if r["encoding"] == enc
            and r["noise_scale"] == center_noise
            and r["mitigation"] == "none"
            and "noise" in r["sweeps"]
        ]
        s = f"{enc} {ex[HEADLINE]:.3f} exact"
        if dev:
            s += f", {dev[0][HEADLINE]:.3f} on {dev[0]['backend']} at noise {fmt_num(center_noise)}"
        parts.append(s)
    return "Encodings (balanced accuracy): " + "; ".join(parts) + "."


def _job_lines(rows: Sequence[Row], min_samples: int) -> list[str]:
    out = []
    for r in rows:
        if r["kind"] != "job":
            continue
        head = f"Hardware job {r['key'][4:]} on {r['backend']} ({r['n']} samples, {r['status']})"
        if small_job(r, min_samples):
            n_pos = (r.get("metrics") or {}).get("n_positive")
            why = "one class only" if n_pos in (0, r["n"]) else f"fewer than {min_samples} samples"
            s = f"{head}: shown apart and not compared ({why})"
        else:
            s = f"{head}: balanced accuracy {r[HEADLINE]:.3f}, AUC {r['auc']:.3f}"
        if r.get("ev_mae") is not None:
            s += f"; EV error {r['ev_mae']:.3f}"
        out.append(s + ".")
    return out


def _test_size_line(n_test: int, tol: float) -> str:
    step = 1.0 / n_test if n_test else float("nan")
    return (
        f"Test split: {n_test} samples, so one sample moves accuracy by up to {_pts(step)}"
        + (
            f" (more than the {_pts(tol)} tolerance: 'within tolerance' means no prediction changed)"
            if step > tol
            else ""
        )
        + "."
    )

"""CADICA (Jiménez-Partinen et al. 2024, arXiv 2402.00570; Mendeley Data p9bpx9ctcv): coronary
angiography videos of 42 patients with per-frame lesion boxes and severity classes.

On disk after unzipping (``nonselectedVideos/``, ``metadata.xlsx`` and ``readme.txt`` are not
read)::

    CADICA/selectedVideos/p<N>/lesionVideos.txt        one video name (v<M>) a line
    CADICA/selectedVideos/p<N>/nonlesionVideos.txt
    CADICA/selectedVideos/p<N>/v<M>/p<N>_v<M>_selectedFrames.txt   frame ids, p<N>_v<M>_<frame>
    CADICA/selectedVideos/p<N>/v<M>/input/p<N>_v<M>_<frame>.png
    CADICA/selectedVideos/p<N>/v<M>/groundtruth/p<N>_v<M>_<frame>.txt   lesion videos only:
                                                      a line "X Y W H label" a lesion (top-left
                                                      corner, size), label p0_20 ... p100

Only the selected (annotated) frames are imported. A frame of a non-lesion video is ``normal``;
a frame of a lesion video is ``stenosis`` when a lesion is at least ``min_severity`` (default
p50_70: >= 50 % diameter reduction). Milder lesions make a frame neither: it is skipped, and
so is a lesion-video frame without boxes (not annotated, not known to be normal). Only the
qualifying lesions go to ``lesions.json`` (with their class as severity). Group: the patient.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import ConfigError, DataError
from ..lesions import Lesion
from .common import (
    NORMAL,
    STENOSIS,
    ImportOptions,
    Item,
    Plan,
    box,
    image_size,
    number,
    read_text,
    relative,
    require_dir,
)

SEVERITIES = ("p0_20", "p20_50", "p50_70", "p70_90", "p90_98", "p99", "p100")
"""CADICA's lesion classes (percent diameter reduction), mildest first."""
PATIENT = re.compile(r"^p\d+$")
VIDEO = re.compile(r"^v\d+$")


def rule(min_severity: str) -> str:
    return (
        f"stenosis: a selected frame of a lesion video with a lesion of class {min_severity} or "
        "worse; normal: a selected frame of a non-lesion video; skipped: lesion-video frames "
        f"whose lesions are all milder than {min_severity}, or that have no boxes; group: the "
        "patient (p<N>)"
    )


def _root(source: Path) -> Path:
    require_dir(source, "pass the folder the CADICA zip unpacked to")
    for cand in (source / "selectedVideos", source / "CADICA" / "selectedVideos"):
        if cand.is_dir():
            return cand
    raise DataError(
        f"{source}: no selectedVideos/ folder in it or in its CADICA/ folder; pass the folder "
        "the CADICA zip unpacked to"
    )


def _names(path: Path) -> list[str]:
    """The non-blank lines of a listing; an absent listing lists nothing (a patient without
    non-lesion videos)."""
    if not path.is_file():
        return []
    return [ln.strip() for ln in read_text(path).splitlines() if ln.strip()]


def _ground_truth(path: Path, size: tuple[int, int]) -> list[tuple[str, Lesion]]:
    """The lesions of one frame as (class, lesion); a malformed line is a ``DataError``."""
    out = []
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {n}"
        fields = line.split()
        if len(fields) != 5:
            raise DataError(f'{where}: expected "X Y W H label", got {line.strip()!r}')
        label = fields[4]
        if label not in SEVERITIES:
            raise DataError(
                f"{where}: unknown label {label!r}; expected one of {', '.join(SEVERITIES)}"
            )
        xywh = tuple(number(where, v, "a box coordinate") for v in fields[:4])
        out.append((label, box(where, f"box {' '.join(fields[:4])}", xywh, size, label)))
    return out


def _frames(video_dir: Path, patient: str) -> tuple[Path, list[str]]:
    """The video's selected-frames listing and its frame ids (``p<N>_v<M>_<frame>``)."""
    listing = video_dir / f"{patient}_{video_dir.name}_selectedFrames.txt"
    if not listing.is_file():
        raise DataError(f"{listing}: file missing (every listed video has its selected frames)")
    prefix = f"{patient}_{video_dir.name}_"
    frames = [f.removesuffix(".png") for f in _names(listing)]
    return listing, [f if f.startswith(prefix) else prefix + f for f in frames]  # bare numbers


def _video(plan: Plan, video_dir: Path, patient: str, has_lesion: bool, min_rank: int) -> None:
    listing, frames = _frames(video_dir, patient)
    for frame in frames:
        image = video_dir / "input" / f"{frame}.png"
        size = image_size(image, str(listing))
        if not has_lesion:
            plan.items.append(Item(image, f"{NORMAL}/{frame}.png", NORMAL, size, (), patient))
            continue
        gt = video_dir / "groundtruth" / f"{frame}.txt"
        boxes = _ground_truth(gt, size) if gt.is_file() else []
        keep = tuple(le for label, le in boxes if SEVERITIES.index(label) >= min_rank)
        if keep:
            rel = f"{STENOSIS}/{frame}.png"
            plan.items.append(Item(image, rel, STENOSIS, size, keep, patient))
        elif boxes:
            worst = max((label for label, _ in boxes), key=SEVERITIES.index)
            plan.skipped.append((str(image), f"lesions milder than the threshold (worst {worst})"))
        else:
            why = (
                "no boxes" if gt.is_file() else f"no ground truth file ({relative(gt, video_dir)})"
            )
            plan.skipped.append((str(image), f"lesion video frame with {why}"))


def _patient(plan: Plan, patient_dir: Path, min_rank: int) -> None:
    lesion = set(_names(patient_dir / "lesionVideos.txt"))
    clean = set(_names(patient_dir / "nonlesionVideos.txt"))
    both = sorted(lesion & clean)
    if both:
        raise DataError(
            f"{patient_dir}: video {both[0]} is listed as lesion and as non-lesion video"
        )
    for name in sorted(lesion | clean):
        require_dir(patient_dir / name, f"listed in {patient_dir.name}'s (non)lesionVideos.txt")
    videos = [d for d in patient_dir.iterdir() if d.is_dir() and VIDEO.match(d.name)]
    for video_dir in sorted(videos, key=lambda d: int(d.name[1:])):
        if video_dir.name in lesion | clean:
            _video(plan, video_dir, patient_dir.name, video_dir.name in lesion, min_rank)
        else:
            plan.skipped.append(
                (str(video_dir), "video in neither lesionVideos.txt nor nonlesionVideos.txt")
            )


def plan_cadica(source: Path, options: ImportOptions) -> Plan:
    """Read and check CADICA's selected videos below ``source``."""
    if options.min_severity not in SEVERITIES:
        raise ConfigError(
            f"min severity {options.min_severity!r}: choose one of {', '.join(SEVERITIES)}"
        )
    root = _root(source)
    min_rank = SEVERITIES.index(options.min_severity)
    details = {"min_severity": options.min_severity}
    plan = Plan("cadica", source, [], rule(options.min_severity), details=details)
    patients = [d for d in root.iterdir() if d.is_dir() and PATIENT.match(d.name)]
    if not patients:
        raise DataError(f"{root}: no patient folders (p1, p2, ...)")
    for patient_dir in sorted(patients, key=lambda d: int(d.name[1:])):
        _patient(plan, patient_dir, min_rank)
    return plan

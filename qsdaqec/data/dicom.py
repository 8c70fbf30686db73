"""DICOM angiograms (X-ray angiography, usually multi-frame cine loops) as grayscale images.

Read with pydicom. A file is DICOM when its name ends in ``.dcm``/``.dicom``, or it has no
extension and carries the DICOM preamble (``DICM`` at byte 128), as PACS exports often do.

From stored values to a display image in [0, 1], per the DICOM standard's pipeline:

1. the **frame**: one per file (:data:`DEFAULT_FRAME`); ``middle``, ``max-contrast`` (the frame
   of peak vessel opacification: the one whose darkest 5 % of pixels lie furthest below its
   median; contrast-filled vessels are the darkest structures of an XA frame) or an index;
2. the **modality LUT** (rescale slope/intercept or a LUT sequence);
3. the **VOI** transform: the header's window (centre/width, linear) clipped to [0, 1]; a VOI LUT
   sequence through pydicom; without either, the loop's own min-max (one range for all frames);
4. **MONOCHROME1** (high values dark) is inverted, so vessels are dark in every image.

Patient identifiers are never read into anything this module returns or says:
:class:`DicomInfo` holds modality, frames, bit depth and photometric interpretation only, and
error messages name the file and the problem. Compressed transfer syntaxes need a decoder
plug-in (pylibjpeg: ``pip install 'qsdaqec[dicom]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
DEFAULT_FRAME = "max-contrast"
FRAME_CHOICES = ("middle", "max-contrast")
ALL_FRAMES = "all"
"""``predict --frames all``: one prediction per frame, ids ``path#frame``."""


class DicomError(DataError):
    """A DICOM file that cannot become an image (the message names the problem and the fix)."""


@dataclass(frozen=True)
class DicomInfo:
    """What ``qsdaqec data info`` shows of a DICOM file (no patient identifiers)."""

    modality: str
    frames: int
    bits_stored: int
    photometric: str
    transfer_syntax: str


def is_dicom(path: Path) -> bool:
    """``.dcm``/``.dicom``, or no extension and the DICOM preamble."""
    suffix = path.suffix.lower()
    if suffix in DICOM_EXTENSIONS:
        return True
    if suffix:
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _dataset(path: Path, pixels: bool = True):
    import pydicom  # a core dependency, imported here: only DICOM inputs need it
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError) as e:
        raise DicomError(f"not a readable DICOM file ({type(e).__name__}: {e})") from None


def dicom_info(path: Path) -> DicomInfo:
    ds = _dataset(path, pixels=False)
    meta = getattr(ds, "file_meta", None)
    return DicomInfo(
        modality=str(getattr(ds, "Modality", "?")),
        frames=int(getattr(ds, "NumberOfFrames", 1) or 1),
        bits_stored=int(getattr(ds, "BitsStored", 0) or 0),
        photometric=str(getattr(ds, "PhotometricInterpretation", "?")),
        transfer_syntax=str(getattr(meta, "TransferSyntaxUID", "?")),
    )


def dicom_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of a DICOM file's frames, from its header."""
    ds = _dataset(path, pixels=False)
    return int(getattr(ds, "Columns", 0) or 0), int(getattr(ds, "Rows", 0) or 0)


def _pixels(ds) -> np.ndarray:
    """``(frames, H, W)`` stored values, or a :class:`DicomError` saying what is missing."""
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise DicomError("DICOM file without pixel data (a structured report or a header only)")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        arr = np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError, ValueError, ImportError) as e:
        if syntax is not None and syntax.is_compressed:
            raise DicomError(
                f"compressed DICOM ({syntax.name}) and no decoder for it is installed; "
                "install qsdaqec[dicom] (pip install 'qsdaqec[dicom]')"
            ) from None
        raise DicomError(f"pixel data cannot be decoded ({e})") from None
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if str(getattr(ds, "PhotometricInterpretation", "")).startswith(("RGB", "YBR")):
        arr = arr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return arr.reshape(frames, *arr.shape[-2:]) if frames > 1 else arr.reshape(1, *arr.shape[-2:])


def _display(ds, stack: np.ndarray) -> np.ndarray:
    """Modality LUT, VOI (the header's window or VOI LUT, else the loop's own min-max, one range
    for every frame so that frames stay comparable), MONOCHROME1 inverted: ``(F, H, W)``
    float32 in [0, 1]."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = np.asarray(apply_modality_lut(stack, ds), dtype=np.float64)
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is not None and width is not None:
        c, w = _first(center), _first(width)
        out = np.clip((values - (c - w / 2)) / max(w, 1e-9), 0.0, 1.0)
    else:
        if "VOILUTSequence" in ds:
            values = np.asarray(apply_voi_lut(values, ds), dtype=np.float64)
        lo, hi = float(values.min()), float(values.max())
        out = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 1.0 - out
    return out.astype(np.float32)


def _first(value) -> float:
    """A window value: the first of several (pydicom's MultiValue), or the only one."""
    try:
        return float(value)
    except TypeError:
        return float(value[0])


def opacification(image: np.ndarray) -> float:
    """How far the darkest 5 % of a display frame lie below its median (``max-contrast``)."""
    return float(np.median(image) - np.percentile(image, 5))


def parse_frame(text: str | int, *, allow_all: bool = False) -> str | int:
    """A frame choice: ``middle``, ``max-contrast``, a frame index, or (``allow_all``: predict)
    ``all`` (``DicomError`` otherwise)."""
    if isinstance(text, int) or str(text).isdigit():
        return int(text)
    if text in FRAME_CHOICES or (allow_all and text == ALL_FRAMES):
        return str(text)
    if text == ALL_FRAMES:
        raise DicomError(
            "frames 'all' is for predict only: the frames of one loop are near-duplicates, and "
            "split frame by frame they would leak between train and test; use max-contrast, "
            "middle or a frame index"
        )
    raise DicomError(f"frames {text!r}: use middle, max-contrast or a frame index (0, 1, ...)")


def read_dicom_frames(path: Path) -> np.ndarray:
    """Every frame of a DICOM file: ``(F, H, W)`` float32 display images in [0, 1]."""
    ds = _dataset(path)
    return _display(ds, _pixels(ds))


def read_dicom(path: Path, frame: str | int = DEFAULT_FRAME) -> np.ndarray:
    """One frame (:func:`parse_frame`'s choices but ``all``) of a DICOM file as a ``(H, W)``
    float32 display image in [0, 1]."""
    choice = parse_frame(frame)
    shown = read_dicom_frames(path)
    return shown[_pick(shown, choice)]


def frame_index(path: Path, frame: str | int = DEFAULT_FRAME) -> int:
    """Which frame :func:`read_dicom` reads for ``frame`` (``predict`` names it)."""
    choice = parse_frame(frame)
    return _pick(read_dicom_frames(path), choice)


def _pick(shown: np.ndarray, choice: str | int) -> int:
    n = shown.shape[0]
    if isinstance(choice, int):
        if choice >= n:
            raise DicomError(f"frame {choice} out of range: the file has {n} frame(s) (0..{n - 1})")
        return choice
    if choice == "middle":
        return n // 2
    return int(np.argmax([opacification(f) for f in shown]))  # max-contrast


def dicom_summary(paths: list[Path]) -> str | None:
    """One line on the DICOM files among ``paths`` (``qsdaqec data info``), or ``None``."""
    infos = [dicom_info(p) for p in paths if is_dicom(p)]
    if not infos:
        return None

    def spread(values) -> str:
        values = sorted(set(values))
        return ", ".join(map(str, values))

    frames = [i.frames for i in infos]
    return (
        f"DICOM: {len(infos)} file(s); modality {spread(i.modality for i in infos)}; frames "
        f"{min(frames)}-{max(frames)} per file (one used each); bits stored "
        f"{spread(i.bits_stored for i in infos)}; {spread(i.photometric for i in infos)}"
    )

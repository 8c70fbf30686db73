"""Small DICOM files written with pydicom, with planted patient identifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PATIENT = {
    "PatientName": "Doe^Janeplanted",
    "PatientID": "PID-PLANTED-4711",
    "PatientBirthDate": "19391122",
}


def write_dicom(
    path: Path,
    frames: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = None,
    pixels: bool = True,
    compressed: bool = False,
    preamble: bool = True,
) -> Path:
    """An X-ray angiography DICOM of ``frames`` (``(F, H, W)`` or ``(H, W)``, uint8 or uint16)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        JPEGBaseline8Bit,
        XRayAngiographicImageStorage,
        generate_uid,
    )

    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    bits = 8 if frames.dtype == np.uint8 else 16
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = XRayAngiographicImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if compressed else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for k, v in PATIENT.items():
        setattr(ds, k, v)
    ds.Modality = "XA"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if frames.shape[0] > 1:
        ds.NumberOfFrames = frames.shape[0]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if compressed:
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0not-a-real-jpeg\xff\xd9"] * frames.shape[0])
    elif pixels:
        ds.PixelData = frames.tobytes()
    ds.save_as(path, enforce_file_format=preamble)
    return path


def angiogram_frames(n: int = 5, size: int = 32, peak: int = 3) -> np.ndarray:
    """``n`` uint8 frames of a bright background; frame ``peak`` has the darkest vessel."""
    frames = np.full((n, size, size), 200, dtype=np.uint8)
    for i in range(n):
        frames[i, size // 2 - 1 : size // 2 + 1, :] = 200 - (150 if i == peak else 20 * i // 2)
    return frames


def dicom_folder(root: Path, per_class: int = 3) -> Path:
    """An ImageFolder of 3-frame loops: ``root/normal/normal<i>.dcm`` (peak frame 0) and
    ``root/stenosis/stenosis<i>.dcm`` (peak frame 2)."""
    for cls, peak in (("normal", 0), ("stenosis", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            write_dicom(root / cls / f"{cls}{i}.dcm", angiogram_frames(n=3, peak=peak))
    return root

"""Tiny CT-like DICOM files written with pydicom (headers as scanners write them), and the classification cases built
from them: shared by the core tests (``tests/core/test_classify.py``: what the core makes of them) and the napari tier
(``tests/napari/test_reader_classes.py``: which of them the reader opens, and which one it shows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

STUDY = generate_uid()
FRAME = generate_uid()
SIZE = 16


def write_image(
    path: Path,
    *,
    series_uid: str,
    number: int | None,
    instance: int,
    orientation: Sequence[float] | None = (1, 0, 0, 0, 1, 0),
    position: Sequence[float] | None = (0, 0, 0),
    description: str = "",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    sop_class: str = CTImageStorage,
    thickness: float = 5.0,
    kernel: str = "STANDARD",
    tilt: float | None = None,
    size: int = SIZE,
) -> Path:
    """One small CT-like image; geometry tags only when given."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FRAME
    ds.Modality = "CT"
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20260315"
    ds.AcquisitionTime = "101203"
    if number is not None:
        ds.SeriesNumber = number
    ds.InstanceNumber = instance
    ds.SeriesDescription = description
    ds.ImageType = list(image_type)
    ds.ConvolutionKernel = kernel
    ds.SliceThickness = f"{thickness:g}"
    if tilt is not None:
        ds.GantryDetectorTilt = f"{tilt:g}"
    if orientation is not None:
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
    if position is not None:
        ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
    ds.PixelSpacing = ["1", "1"]
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ds.PixelData = (np.arange(size * size, dtype=np.int16) + instance).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.save_as(path, enforce_file_format=True)
    return path


def write_stack(out: Path, n: int, *, orientation: Sequence[float], step: Sequence[float], start: int = 1, **kw) -> None:
    """``n`` slices of one series, slice k at ``k * step``."""
    for k in range(n):
        pos = np.asarray(step, float) * k
        write_image(
            out / f"{kw['series_uid'][-6:]}_{start + k:03d}.dcm", instance=start + k, orientation=orientation, position=pos, **kw
        )


AXIAL = (1, 0, 0, 0, 1, 0)
CORONAL = (1, 0, 0, 0, 0, -1)
SAGITTAL = (0, 1, 0, 0, 0, -1)


def axial_volume(out: Path, number: int = 2, n: int = 12) -> str:
    uid = generate_uid()
    write_stack(out, n, orientation=AXIAL, step=(0, 0, 5), series_uid=uid, number=number, description="5mm STANDARD")
    return uid


def by_number(volumes) -> dict[int | None, list]:
    out: dict[int | None, list] = {}
    for v in volumes:
        out.setdefault(v.series_number, []).append(v)
    return out


# ----------------------------------------------------------------------------- classification cases


def three_plane_localizer(out: Path, per_plane: Sequence[int]) -> None:
    """Series 1: a localizer of ``per_plane`` slices in the axial, coronal and sagittal planes, without LOCALIZER in its
    ImageType; series 2: an axial volume (:func:`axial_volume`)."""
    uid = generate_uid()
    instance = 1
    for plane, n in zip((AXIAL, CORONAL, SAGITTAL), per_plane, strict=False):
        normal = np.cross(plane[:3], plane[3:])
        write_stack(out, n, orientation=plane, step=normal * 10, start=instance, series_uid=uid, number=1,
                    description="3-Plane Loc", image_type=("ORIGINAL", "PRIMARY", "OTHER"), thickness=1.0)  # fmt: skip
        instance += n
    axial_volume(out)


def secondary_captures(out: Path) -> None:
    """Series 2: an axial volume; 501, 999 and 1001: secondary captures and dose reports; 1: a lone coronal scout."""
    axial_volume(out, number=2)
    # Philips "Exam Summary" screenshot: Secondary Capture SOP class, no geometry
    write_image(out / "summary.dcm", series_uid=generate_uid(), number=501, instance=1, orientation=None, position=None,
                description="Exam Summary", sop_class=SecondaryCaptureImageStorage, image_type=("DERIVED", "SECONDARY"), size=40)  # fmt: skip
    # GE dose report stored as a CT image: ImageType SCREEN SAVE
    write_image(out / "dose.dcm", series_uid=generate_uid(), number=999, instance=1, description="Dose Report",
                image_type=("DERIVED", "SECONDARY", "SCREEN SAVE"), size=40)  # fmt: skip
    # Philips "Dose Info": DERIVED\SECONDARY and a dose description, CT SOP class, with geometry
    write_image(out / "doseinfo.dcm", series_uid=generate_uid(), number=1001, instance=1, description="Dose Info",
                image_type=("DERIVED", "SECONDARY"), size=40, position=(0, 0, 200))  # fmt: skip
    # a genuine lone coronal slice of another size stays a localizer
    write_image(out / "scout.dcm", series_uid=generate_uid(), number=1, instance=1, orientation=CORONAL,
                description="Scout", size=24, thickness=1.0)  # fmt: skip


def lone_secondary_capture(out: Path) -> None:
    """A folder holding one Philips "Exam Summary" screenshot (SIZE x SIZE) and nothing else."""
    write_image(out / "summary.dcm", series_uid=generate_uid(), number=501, instance=1, orientation=None, position=None,
                description="Exam Summary", sop_class=SecondaryCaptureImageStorage, image_type=("DERIVED", "SECONDARY"))  # fmt: skip


#: The gantry tilt of :func:`tilted_axial_and_oblique`, in degrees.
TILT = 20.0
#: ImageOrientationPatient of a GE-style tilted axial slice (the plane turned by :data:`TILT` about the LR axis).
TILTED = (1, 0, 0, 0, math.cos(math.radians(TILT)), -math.sin(math.radians(TILT)))


def tilted_axial_and_oblique(out: Path) -> None:
    """Series 3: GE-style gantry tilt (image plane turned about LR, table stepping along SI: a sheared volume), thin;
    series 4: an MR-style oblique stack of the same plane (no tilt, stepped along its normal), thick."""
    write_stack(out, 6, orientation=TILTED, step=(0, 0, 2.5), series_uid=generate_uid(), number=3, tilt=TILT, thickness=0.625)
    normal = np.cross(TILTED[:3], TILTED[3:])
    write_stack(out, 6, orientation=TILTED, step=normal * 2.5, series_uid=generate_uid(), number=4, thickness=2.5)

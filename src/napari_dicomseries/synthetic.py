"""Deterministic synthetic CT study: a scout and four reconstructions of one acquisition.

The study looks like a PACS export of a chest CT: one flat folder of files with
random names holding

* series 1, a coronal scout (ImageType ``LOCALIZER``, one 944 x 972 slice);
* series 2-5, the reconstructions ``5mm STANDARD``, ``5mm LUNG``,
  ``1.25mm STANDARD`` and ``1.25mm LUNG`` of one axial acquisition
  (512 x 512, int16 stored values with RescaleIntercept -1024).

The phantom is defined in patient coordinates (mm), so every reconstruction
samples the same object: a body ellipse of soft tissue with a fat rim, two
lungs with a nodule, a vertebral body and a sternum of bone. Instance 1 of
each axial series is the top slice (highest z), as GE scanners write them.

``scale`` shrinks the matrix and the number of slices (not the physical
extent) so tests can use a small study; ``scale=1`` gives 645 files.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["SeriesSpec", "STUDY_SERIES", "phantom_hu", "write_study", "write_series"]

UID_ROOT = "1.2.826.0.1.3680043.10.1505."

#: Extent of the axial reconstructions along z (mm): top and bottom slice centres.
Z_TOP = 0.0
Z_EXTENT = 320.0
#: In-plane field of view of the axial reconstructions (mm).
FOV = 400.0


@dataclass(frozen=True)
class SeriesSpec:
    """What one synthetic series is."""

    number: int
    description: str
    kernel: str
    thickness: float
    window: tuple[float, float]
    noise: float
    content_time: str


STUDY_SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec(2, "5mm STANDARD", "STANDARD", 5.0, (40.0, 400.0), 6.0, "101512"),
    SeriesSpec(3, "5mm LUNG", "LUNG", 5.0, (-700.0, 1500.0), 25.0, "101517"),
    SeriesSpec(4, "1.25mm STANDARD", "STANDARD", 1.25, (40.0, 400.0), 10.0, "101531"),
    SeriesSpec(5, "1.25mm LUNG", "LUNG", 1.25, (-700.0, 1500.0), 40.0, "101544"),
)


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(prefix=UID_ROOT, entropy_srcs=[str(p) for p in parts])


def phantom_hu(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Hounsfield units of the body phantom at patient coordinates (LPS, mm).

    Broadcasts over ``x``, ``y`` and ``z``; returns float32.
    """
    x, y, z = np.broadcast_arrays(np.asarray(x, np.float32), np.asarray(y, np.float32), np.asarray(z, np.float32))
    zc = (z - (Z_TOP - Z_EXTENT / 2)) / (Z_EXTENT / 2)  # -1 (bottom) .. 1 (top)
    inside_z = np.abs(zc) <= 1.2
    hu = np.full(x.shape, -1000.0, np.float32)
    body = ((x / 170.0) ** 2 + (y / 120.0) ** 2 <= 1.0) & inside_z
    hu[body] = -100.0  # fat
    muscle = ((x / 160.0) ** 2 + (y / 110.0) ** 2 <= 1.0) & inside_z
    hu[muscle] = 40.0  # soft tissue
    lung_z = np.clip(1.0 - zc**2, 0.0, None)  # lungs taper towards the apex and base
    for cx in (-75.0, 75.0):
        lung = ((x - cx) / 55.0) ** 2 + ((y + 5.0) / 70.0) ** 2 <= lung_z
        hu[lung & inside_z] = -850.0
    nodule = (x - 80.0) ** 2 + (y + 10.0) ** 2 + (z - (Z_TOP - 140.0)) ** 2 <= 12.0**2
    hu[nodule] = 30.0
    vertebra = (x**2 + (y - 80.0) ** 2 <= 22.0**2) & inside_z
    hu[vertebra] = 700.0
    canal = x**2 + (y - 110.0) ** 2 <= 8.0**2
    hu[canal & inside_z] = 20.0
    sternum = ((x / 20.0) ** 2 + ((y + 100.0) / 8.0) ** 2 <= 1.0) & inside_z
    hu[sternum] = 500.0
    return hu


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float32) * sigma
    return noise


def _base_dataset(study: dict[str, str], series_uid: str, spec_number: int) -> Dataset:
    from pydicom.dataset import Dataset
    from pydicom.uid import CTImageStorage

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = "20260315"
    ds.SeriesDate = "20260315"
    ds.AcquisitionDate = "20260315"
    ds.ContentDate = "20260315"
    ds.StudyTime = "101000"
    ds.AccessionNumber = "SYN0001"
    ds.Modality = "CT"
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    ds.InstitutionName = "napari-dicomseries synthetic"
    ds.ManufacturerModelName = "LightSpeed VCT"
    ds.StudyDescription = "CHEST SYNTHETIC"
    ds.PatientName = "SYNTHETIC^PHANTOM"
    ds.PatientID = "SYN-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "CHEST"
    ds.KVP = "120"
    ds.StudyInstanceUID = study["study"]
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1001"
    ds.SeriesNumber = spec_number
    ds.FrameOfReferenceUID = study["for"]
    ds.PositionReferenceIndicator = "SN"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    return ds


def _save(ds: Dataset, path: Path) -> None:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.save_as(path, enforce_file_format=True)


def _names(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        name = "".join(rng.choice("0123456789ABCDEF") for _ in range(16)) + ".dcm"
        if name not in names:
            names.add(name)
            out.append(name)
    return out


def write_series(
    out: Path,
    spec: SeriesSpec,
    *,
    scale: float = 1.0,
    study: dict[str, str] | None = None,
    names: Sequence[str] | None = None,
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    seed: int = 0,
) -> list[Path]:
    """Write one axial (or re-oriented) reconstruction of the phantom; return its files.

    ``orientation`` is the ImageOrientationPatient of every slice; the slices
    are stacked along its normal through the same centre as the axial series.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study = study or _study_uids()
    size = max(8, int(round(512 * scale)))
    step = spec.thickness / scale
    n = int(round(Z_EXTENT / step)) + 1
    pix = FOV / size
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    normal = np.cross(row, col)
    centre = np.array([0.0, 0.0, Z_TOP - Z_EXTENT / 2])
    series_uid = _uid("series", spec.number, scale, tuple(orientation))
    rng = np.random.default_rng(seed * 1000 + spec.number)
    names = list(names) if names is not None else _names(random.Random(spec.number), n)
    ii = (np.arange(size) - (size - 1) / 2) * pix
    jj = (np.arange(size) - (size - 1) / 2) * pix
    paths = []
    for k in range(n):
        # instance 1 is the top slice: the highest position along the normal
        offset = (Z_EXTENT / 2) - k * step
        origin_plane = centre + offset * normal
        pos0 = origin_plane - ((size - 1) / 2) * pix * row - ((size - 1) / 2) * pix * col
        jv, iv = np.meshgrid(jj, ii, indexing="ij")
        pts = origin_plane[:, None, None] + row[:, None, None] * iv + col[:, None, None] * jv
        hu = phantom_hu(pts[0], pts[1], pts[2])
        hu = hu + _smooth_noise(rng, hu.shape, spec.noise)
        stored = np.clip(np.rint(hu + 1024.0), -2000, 4000).astype(np.int16)
        ds = _base_dataset(study, series_uid, spec.number)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPInstanceUID = _uid("sop", spec.number, scale, tuple(orientation), k)
        ds.SeriesDescription = spec.description
        ds.SeriesTime = spec.content_time
        ds.AcquisitionTime = "101203"
        ds.ContentTime = spec.content_time
        ds.InstanceCreationDate = "20260315"
        ds.InstanceCreationTime = spec.content_time
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ds.ConvolutionKernel = spec.kernel
        ds.SliceThickness = f"{spec.thickness:g}"
        ds.SpacingBetweenSlices = f"{step:g}"
        ds.ImagePositionPatient = [f"{v:.6g}" for v in pos0]
        ds.ImageOrientationPatient = [f"{v:.6g}" for v in orientation]
        ds.SliceLocation = f"{float(pos0 @ normal):.6g}"
        ds.Rows = size
        ds.Columns = size
        ds.PixelSpacing = [f"{pix:.6g}", f"{pix:.6g}"]
        ds.WindowCenter = f"{spec.window[0]:g}"
        ds.WindowWidth = f"{spec.window[1]:g}"
        ds.PixelData = stored.tobytes()
        path = out / names[k]
        _save(ds, path)
        paths.append(path)
    return paths


def _study_uids() -> dict[str, str]:
    return {"study": _uid("study"), "for": _uid("frame-of-reference")}


def _write_scout(out: Path, study: dict[str, str], scale: float, name: str) -> Path:
    rows, cols = max(8, int(round(944 * scale))), max(8, int(round(972 * scale)))
    pix = 500.0 / cols  # coronal: 500 mm left-right and as much head-foot
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([0.0, 0.0, -1.0])
    top = np.array([-(cols - 1) / 2 * pix, 0.0, Z_TOP + 90.0])
    jj = np.arange(rows) * pix
    ii = np.arange(cols) * pix
    # a projection-like picture: the mean HU along y through the phantom
    ys = np.linspace(-130.0, 130.0, 27)
    x = top[0] + ii[None, :, None]
    z = top[2] - jj[:, None, None]
    hu = phantom_hu(x, ys[None, None, :], z).mean(axis=2)
    stored = np.clip(np.rint(hu + 1024.0), -2000, 4000).astype(np.int16)
    ds = _base_dataset(study, _uid("series", 1, scale), 1)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.SOPInstanceUID = _uid("sop", 1, scale, "scout")
    ds.SeriesDescription = "Scout"
    ds.SeriesTime = "101042"
    ds.AcquisitionTime = "101045"
    ds.ContentTime = "101045"
    ds.InstanceCreationDate = "20260315"
    ds.InstanceCreationTime = "101045"
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = 1
    ds.ConvolutionKernel = "STANDARD"
    ds.SliceThickness = "1"
    ds.ImagePositionPatient = [f"{v:.6g}" for v in top]
    ds.ImageOrientationPatient = [f"{v:g}" for v in (*row, *col)]
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [f"{pix:.6g}", f"{pix:.6g}"]
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.PixelData = stored.tobytes()
    path = out / name
    _save(ds, path)
    return path


def write_study(out: str | os.PathLike[str], *, scale: float = 1.0, seed: int = 0) -> list[Path]:
    """Write the synthetic CT study into ``out`` (created if needed); return the files.

    The files are written in a flat folder with random (but deterministic) names.
    At ``scale=1`` the study has 645 files: 1 scout, 2 x 65 slices of 5 mm and
    2 x 257 slices of 1.25 mm.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study = _study_uids()
    rng = random.Random(seed)
    counts = [int(round(Z_EXTENT / (s.thickness / scale))) + 1 for s in STUDY_SERIES]
    names = _names(rng, 1 + sum(counts))
    paths = [_write_scout(out, study, scale, names[0])]
    start = 1
    for spec, n in zip(STUDY_SERIES, counts, strict=True):
        paths += write_series(out, spec, scale=scale, study=study, names=names[start : start + n], seed=seed)
        start += n
    return paths

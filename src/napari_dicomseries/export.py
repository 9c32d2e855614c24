"""Export volumes to NIfTI-1 (``.nii`` / ``.nii.gz``) with a JSON sidecar, geometry as dcm2niix writes it.

The image is written by SimpleITK from the volume's LPS geometry, so the
file's qform and sform (both ``NIFTI_XFORM_SCANNER_ANAT``) are the RAS
(``diag(-1, -1, 1)`` times LPS) transform of the DICOM geometry. Voxel values
are the loaded values (rescale slope and intercept applied: int16 Hounsfield
units for CT), so ``scl_slope`` stays unset and nothing needs rescaling on
reading. A 4-D volume becomes one 4-D NIfTI (x, y, z, t) whose fourth pixel
dimension is the RepetitionTime in seconds when the series has one, as
dcm2niix writes it.

A gantry-tilted volume has a sheared voxel grid, which ITK cannot store: its
sform is then set to the exact (sheared) transform, its qform to the nearest
rigid one (slice normal and distance between slices, as ITK reads DICOM),
and the sidecar says so.

The sidecar holds every DICOM tag whose value is the same in all files of the
volume, under its keyword, renamed and converted where BIDS / dcm2niix have a
convention (``ManufacturersModelName``, ``BodyPart``, times in seconds,
``AcquisitionTime`` as ``HH:MM:SS.ffffff`` ...), plus the scan's own view of
the volume under ``"DicomSeries"`` (kind, classes, warnings, ...). Tags that
identify the patient (person names, IDs, birth date, address, accession
number) are left out unless asked for.

Writes are atomic: each file is written to a hidden temporary file in the
target folder and renamed into place; nothing is overwritten without
``force``, and a failure leaves neither a partial file nor a temporary one.
:func:`export_folder` checks every target before writing the first, so a
run without ``force`` writes all or nothing; it refuses an output folder that
is an input folder or lies inside one (``allow_inside_input`` lifts that), and
never writes over an input file, even with ``force``.
"""

from __future__ import annotations

import contextlib
import gzip as _gzip
import json
import math
import os
import re
import secrets
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.multival import MultiValue

from . import diffusion
from .errors import DicomSeriesError, HeaderError, OutputExistsError, SeriesNotFoundError
from .gaps import placed
from .scan import DicomFile
from .volume import Volume

__all__ = [
    "ExportResult",
    "DEFAULT_TEMPLATE",
    "SOFTWARE",
    "nifti_paths",
    "lps_affine_from_layer",
    "ras_affine",
    "itk_geometry",
    "write_nifti_array",
    "constant_tags",
    "sidecar",
    "sidecar_from_rows",
    "export_volume",
    "export_folder",
    "output_stems",
    "select_volumes",
]

SOFTWARE = "napari-dicomseries"
#: File name template of :func:`export_folder`; fields: series, key, description, kernel, modality, kind,
#: kernel_class, thickness_class, orientation, uid (last 8 characters of the SeriesInstanceUID).
DEFAULT_TEMPLATE = "{key}_{description}_{kernel}"
#: Above this many voxel bytes for the two largest volumes, :func:`export_folder` exports one volume at a time.
MAX_PARALLEL_BYTES = 2 * 2**30
#: Relative tolerance under which the voxel axes count as orthogonal (no shear).
SHEAR_TOLERANCE = 1e-4

# ----------------------------------------------------------------------------- results


@dataclass
class ExportResult:
    """What happened to one volume: the files written, or why it was skipped or failed."""

    key: str
    series_number: int | None
    series_description: str
    nifti: str | None = None
    sidecar: str | None = None
    shape: tuple[int, ...] = ()  # NIfTI order: (x, y, z) or (x, y, z, t)
    dtype: str = ""
    seconds: float = 0.0
    skipped: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    bval: str | None = None  # diffusion series: the .bval / .bvec written beside the image
    bvec: str | None = None

    @property
    def ok(self) -> bool:
        """True when the volume was written."""
        return self.nifti is not None and self.error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``export --json``)."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["ok"] = self.ok
        return d


# ----------------------------------------------------------------------------- geometry


def lps_affine_from_layer(affine_zyx: np.ndarray) -> np.ndarray:
    """Index (k, j, i) -> LPS (x, y, z) from a napari-style affine whose world axes are (z, y, x).

    Only the output rows are reversed; the index columns stay in array order.
    """
    a = np.asarray(affine_zyx, float)
    if a.shape != (4, 4):
        raise ValueError(f"expected a 4 x 4 affine, got shape {a.shape}")
    return a[[2, 1, 0, 3], :]


def ras_affine(affine_lps: np.ndarray) -> np.ndarray:
    """The NIfTI affine (voxel (i, j, k) -> RAS mm) of an index (k, j, i) -> LPS (x, y, z) affine."""
    a = np.asarray(affine_lps, float)[:, [2, 1, 0, 3]]
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ a


def itk_geometry(affine_lps: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], bool]:
    """ITK spacing (x, y, z), origin and row-major direction of an index (k, j, i) -> LPS affine.

    Returns ``(spacing, origin, direction, exact)``. ``exact`` is False when
    the voxel axes are not orthogonal (gantry-tilt shear): the slice axis is
    then replaced by the normal of the slice plane and the spacing by the
    distance between slices along it, as ITK does when it reads DICOM.

    Raises
    ------
    GeometryError
        If the affine is singular or not finite.
    """
    from .errors import GeometryError

    a = np.asarray(affine_lps, float)
    if not np.all(np.isfinite(a)):
        raise GeometryError("the image affine has non-finite values")
    cols = a[:3, [2, 1, 0]]  # column steps: i (along a row), j (down a column), k (between slices)
    sp = np.linalg.norm(cols, axis=0)
    if np.any(sp <= 0) or abs(np.linalg.det(cols)) < 1e-12 * float(np.prod(sp)):
        raise GeometryError(f"the image affine is singular (voxel steps {cols.T.round(6).tolist()})")
    d = cols / sp
    gram = d.T @ d
    exact = bool(np.max(np.abs(gram - np.eye(3))) <= SHEAR_TOLERANCE)
    if not exact:
        # keep the slice plane, put the third axis on its normal (same side as the slice step)
        r = d[:, 0]
        c = d[:, 1] - np.dot(d[:, 1], r) * r
        c /= np.linalg.norm(c)
        n = np.cross(r, c)
        step = cols[:, 2]
        if np.dot(n, step) < 0:
            n = -n
        d = np.column_stack([r, c, n])
        sp = np.array([sp[0], np.dot(cols[:, 1], c), abs(np.dot(step, n))])
    return (
        tuple(float(x) for x in sp),
        tuple(float(x) for x in a[:3, 3]),
        tuple(float(x) for x in d.reshape(-1)),
        exact,
    )


# ----------------------------------------------------------------------------- paths


def nifti_paths(path: str | os.PathLike[str], gzip: bool | None = None) -> tuple[Path, Path, bool]:
    """``(nifti, sidecar, gzip)`` for an output path given with or without ``.nii`` / ``.nii.gz``.

    Raises
    ------
    ValueError
        If ``gzip`` contradicts the extension of ``path``.
    """
    p = Path(path)
    name = p.name
    low = name.lower()
    if low.endswith(".nii.gz"):
        stem, ext_gz = name[:-7], True
    elif low.endswith(".nii"):
        stem, ext_gz = name[:-4], False
    else:
        stem, ext_gz = name, None
    if not stem:
        raise ValueError(f"{path}: no file name before the extension")
    if ext_gz is not None and gzip is not None and gzip != ext_gz:
        raise ValueError(f"{path}: the extension says {'gzip' if ext_gz else 'no gzip'} but gzip={gzip} was asked for")
    gz = ext_gz if ext_gz is not None else (True if gzip is None else gzip)
    return p.with_name(stem + (".nii.gz" if gz else ".nii")), p.with_name(stem + ".json"), gz


# ----------------------------------------------------------------------------- atomic writing


def _tmp_path(final: Path, suffix: str) -> Path:
    """A free hidden name beside ``final`` (created by the writer, so it gets the usual permissions)."""
    while True:
        tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")
        if not os.path.lexists(tmp):
            return tmp


def _write_image(image: Any, path: Path, compress: bool) -> None:
    """Write a SimpleITK image (a seam for tests)."""
    import SimpleITK as sitk

    writer = sitk.ImageFileWriter()
    writer.SetImageIO("NiftiImageIO")
    writer.SetFileName(str(path))
    writer.SetUseCompression(compress)
    writer.Execute(image)


def _patch_sform(path: Path, affine_ras: np.ndarray) -> None:
    """Put ``affine_ras`` into the sform rows of an uncompressed NIfTI-1 file (sform_code kept)."""
    with open(path, "r+b") as fh:
        head = fh.read(348)
        endian = "<" if struct.unpack("<i", head[:4])[0] == 348 else ">"
        if struct.unpack(endian + "i", head[:4])[0] != 348:
            raise DicomSeriesError(f"{path}: not a NIfTI-1 header, cannot set the sheared sform")
        fh.seek(254)
        fh.write(struct.pack(endian + "h", 1))  # sform_code NIFTI_XFORM_SCANNER_ANAT
        fh.seek(280)
        fh.write(struct.pack(endian + "12f", *np.asarray(affine_ras, float)[:3, :4].reshape(-1)))


def _patch_rgb24(path: Path, colour: np.ndarray) -> None:
    """Turn an uncompressed one-sample NIfTI-1 file into RGB24 (datatype 128) holding ``colour`` (..., 3) uint8."""
    with open(path, "r+b") as fh:
        head = fh.read(348)
        endian = "<" if struct.unpack("<i", head[:4])[0] == 348 else ">"
        vox_offset = int(struct.unpack(endian + "f", head[108:112])[0])
        fh.seek(70)
        fh.write(struct.pack(endian + "hh", 128, 24))  # datatype DT_RGB24, bitpix
        fh.seek(vox_offset)
        fh.truncate()
        fh.write(np.ascontiguousarray(colour, dtype=np.uint8).tobytes())  # x fastest, R G B per voxel


def _gzip_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as fi, _gzip.open(dst, "wb", compresslevel=6) as fo:
        shutil.copyfileobj(fi, fo, 16 * 2**20)


def _native(array: Any) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind not in "iuf":
        raise ValueError(f"cannot write voxels of type {arr.dtype} to NIfTI (numbers only)")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def write_nifti_array(
    array: Any,
    geometry: Volume | np.ndarray,
    path: str | os.PathLike[str],
    sidecar: Mapping[str, Any] | None = None,
    *,
    gzip: bool | None = None,
    force: bool = False,
    time_spacing: float | None = None,
    description: str = "",
    rgb: bool = False,
) -> list[Path]:
    """Write ``array`` (k, j, i) or (t, k, j, i) as NIfTI with the geometry ``geometry``, and its sidecar.

    Parameters
    ----------
    array : array-like
        Voxels in array order (numpy, dask, ...); a 2-D array is one slice.
    geometry : Volume or (4, 4) array
        A :class:`Volume`, or the matrix mapping array index (k, j, i, 1) to
        DICOM patient LPS (x, y, z, 1) in mm (as :meth:`Volume.affine_lps`).
        For a napari layer affine with world axes (z, y, x) use
        :func:`lps_affine_from_layer` first.
    path : path
        Output file, ``.nii.gz`` or ``.nii`` (added when missing, see ``gzip``).
    sidecar : mapping, optional
        Written as JSON beside the image (``name.json``); none when None.
    gzip : bool, optional
        Compress; default from the extension of ``path``, else True.
    force : bool
        Replace existing files; otherwise :class:`OutputExistsError`.
    time_spacing : float, optional
        Fourth pixel dimension of a 4-D image (seconds), default 1.
    description : str
        NIfTI ``descrip`` field (80 characters at most).
    rgb : bool
        ``array`` has a trailing axis of 3 colour samples: written as NIfTI RGB24 (as dcm2niix writes colour),
        16-bit samples reduced to their high byte.

    Returns
    -------
    list of Path
        The image and (when written) the sidecar.

    Raises
    ------
    OutputExistsError
        If a target exists and ``force`` is False (nothing is written).
    GeometryError
        If the affine is singular.
    DicomSeriesError
        If writing fails; no partial or temporary file is left.
    """
    import SimpleITK as sitk

    nii, js, gz = nifti_paths(path, gzip)
    affine = geometry.affine_lps() if isinstance(geometry, Volume) else np.asarray(geometry, float)
    arr = _native(array)
    colour = None
    if rgb:
        if arr.shape[-1] != 3:
            raise ValueError(f"an RGB array needs a trailing axis of 3 samples, not shape {arr.shape}")
        colour = arr if arr.dtype == np.uint8 else (arr >> 8).astype(np.uint8) if arr.dtype == np.uint16 else arr.astype(np.uint8)
        arr = colour[..., 0]  # the geometry header is written for one sample, then turned into RGB24
    if arr.ndim == 2:
        arr = arr[None]
        colour = colour[None] if colour is not None else None
    if arr.ndim not in (3, 4):
        raise ValueError(f"cannot write a {arr.ndim}-D array as a volume (3-D or 4-D only), shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"cannot write an empty array of shape {arr.shape}")
    targets = [nii] + ([js] if sidecar is not None else [])
    if not force:
        existing = [str(t) for t in targets if os.path.lexists(t)]
        if existing:
            raise OutputExistsError(f"{existing[0]} exists already (use --force / force=True to replace it)")
    for t in targets:
        if t.is_dir():
            raise OutputExistsError(f"{t} is a folder")
    spacing, origin, direction, exact = itk_geometry(affine)
    img = sitk.GetImageFromArray(arr, isVector=False)
    if arr.ndim == 3:
        img.SetSpacing(spacing)
        img.SetOrigin(origin)
        img.SetDirection(direction)
    else:
        ts = float(time_spacing) if time_spacing and time_spacing > 0 and math.isfinite(time_spacing) else 1.0
        img.SetSpacing((*spacing, ts))
        img.SetOrigin((*origin, 0.0))
        d4 = np.eye(4)
        d4[:3, :3] = np.asarray(direction).reshape(3, 3)
        img.SetDirection(tuple(d4.reshape(-1)))
    if description:
        img.SetMetaData("ITK_FileNotes", description[:79])
    nii.parent.mkdir(parents=True, exist_ok=True)
    tmps: list[Path] = []
    try:
        direct = exact and colour is None  # else the header is patched in an uncompressed file first
        tmp_nii = _tmp_path(nii, ".nii.gz" if gz and direct else ".nii")
        tmps.append(tmp_nii)
        try:
            _write_image(img, tmp_nii, gz and direct)
            if not exact:
                _patch_sform(tmp_nii, ras_affine(affine))
            if colour is not None:
                _patch_rgb24(tmp_nii, colour)
            if not direct:
                if gz:
                    tmp_gz = _tmp_path(nii, ".nii.gz")
                    tmps.append(tmp_gz)
                    _gzip_file(tmp_nii, tmp_gz)
                    tmp_nii = tmp_gz
        except RuntimeError as exc:  # SimpleITK
            raise DicomSeriesError(f"{nii}: cannot write NIfTI ({str(exc).strip().splitlines()[-1]})") from exc
        except OSError as exc:
            raise DicomSeriesError(f"{nii}: cannot write NIfTI ({exc.strerror or exc})") from exc
        tmp_js = None
        if sidecar is not None:
            tmp_js = _tmp_path(js, ".json")
            tmps.append(tmp_js)
            try:
                text = json.dumps(sidecar, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
                with open(tmp_js, "x", encoding="utf-8") as fh:
                    fh.write(text + "\n")
            except (OSError, ValueError, TypeError) as exc:
                raise DicomSeriesError(f"{js}: cannot write the JSON sidecar ({exc})") from exc
        try:
            os.replace(tmp_nii, nii)
            if tmp_js is not None:
                os.replace(tmp_js, js)
        except OSError as exc:
            raise DicomSeriesError(f"cannot move the written files into place as {nii} ({exc.strerror or exc})") from exc
    finally:
        for t in tmps:
            with contextlib.suppress(OSError):
                if t.exists():
                    t.unlink()
    return targets


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


# ----------------------------------------------------------------------------- sidecar

#: DICOM keyword -> BIDS / dcm2niix name.
BIDS_NAMES = {
    "ManufacturerModelName": "ManufacturersModelName",
    "BodyPartExamined": "BodyPart",
    "ImageOrientationPatient": "ImageOrientationPatientDICOM",
    "PerformedProcedureStepDescription": "ProcedureStepDescription",
    "EchoNumbers": "EchoNumber",
    "PercentPhaseFieldOfView": "PercentPhaseFOV",
    "NumberOfPhaseEncodingSteps": "PhaseEncodingSteps",
    "InPlanePhaseEncodingDirection": "InPlanePhaseEncodingDirectionDICOM",
    "EffectiveEchoTime": "EchoTime",
    "TransmitterFrequency": "ImagingFrequency",
}
#: Tags in milliseconds in DICOM, in seconds in BIDS.
MS_TO_S = {"EchoTime", "RepetitionTime", "InversionTime", "ExposureTime", "EffectiveEchoTime"}
#: Sidecar keys dcm2niix puts first, in its order; the other tags follow in tag order.
LEADING = (
    "Modality", "MagneticFieldStrength", "ImagingFrequency", "Manufacturer", "ManufacturersModelName",
    "InstitutionName", "InstitutionalDepartmentName", "InstitutionAddress", "DeviceSerialNumber", "StationName",
    "BodyPart", "PatientPosition", "ProcedureStepDescription", "SoftwareVersions", "MRAcquisitionType",
    "StudyDescription", "SeriesDescription", "ProtocolName", "ScanningSequence", "SequenceVariant", "ScanOptions",
    "SequenceName", "ImageType", "SeriesNumber", "AcquisitionTime", "AcquisitionNumber", "ConvolutionKernel",
    "SliceThickness", "SpacingBetweenSlices", "EchoTime", "RepetitionTime", "InversionTime", "FlipAngle",
    "ExposureTime", "XRayTubeCurrent", "XRayExposure", "ImageOrientationPatientDICOM",
)  # fmt: skip
#: Tags of one image, not of the volume, or describing stored values the export has already converted.
PER_IMAGE = {
    "SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation", "RescaleSlope",
    "RescaleIntercept", "LargestImagePixelValue", "SmallestImagePixelValue", "PixelPaddingValue",
    "PixelPaddingRangeLimit", "NumberOfFrames", "DimensionIndexValues", "InStackPositionNumber", "TemporalPositionIndex",
    "FrameAcquisitionNumber", "PixelData", "FloatPixelData", "DoubleFloatPixelData", "InConcatenationNumber",
    "ConcatenationFrameOffsetNumber", "FrameReferenceDateTime", "FrameAcquisitionDateTime", "FrameAcquisitionDuration",
    "FrameContentSequence", "StackID", "ImagePositionVolume", "DataSetTrailingPadding", "PixelValueTransformationSequence",
    "SpecificCharacterSet",
}  # fmt: skip
#: Tags that identify the patient (left out unless patient tags are asked for); every PN value too.
PATIENT_TAGS = {
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
    "PatientBirthDate", "PatientBirthTime", "PatientBirthName", "PatientAddress", "PatientTelephoneNumbers",
    "PatientMotherBirthName", "MedicalRecordLocator", "AccessionNumber", "PatientComments", "EthnicGroup",
    "PatientReligiousPreference", "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "PatientInsurancePlanCodeSequence",
}  # fmt: skip
#: Time tags that may change from slice to slice: the sidecar gives the earliest (when acquisition started).
EARLIEST = {"AcquisitionTime", "AcquisitionDate", "AcquisitionDateTime", "ContentTime", "ContentDate"}
_BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"}
_MISSING = object()


def _row_value(elem: Any) -> Any:
    """A data element's value as JSON-friendly Python (str, number or list); _MISSING for binary or unreadable."""
    vr = str(elem.VR)
    if vr in _BINARY_VRS:
        return _MISSING
    try:
        v = elem.value
    except Exception:  # noqa: BLE001 - an unreadable value is left out
        return _MISSING
    if v is None or v == "":
        return _MISSING
    if isinstance(v, (bytes, bytearray)):
        return _MISSING
    multi = isinstance(v, (list, tuple, MultiValue))
    items = list(v) if multi else [v]
    out: list[Any] = []
    for x in items:
        if isinstance(x, (bytes, bytearray)) or hasattr(x, "VR"):  # binary, or a nested data set
            return _MISSING
        if vr in ("DS", "FL", "FD", "IS", "US", "SS", "UL", "SL", "UV", "SV"):
            try:
                x = float(x) if vr in ("DS", "FL", "FD") else int(x)
            except (TypeError, ValueError):
                x = str(x).strip()
        else:
            x = str(x).strip()
        out.append(x)
    return out if multi else out[0]


def _leaves(item: Any, row: dict[str, Any]) -> None:
    """Add the non-sequence elements of the functional-group macros of ``item`` (not already in ``row``)."""
    for elem in item:
        if elem.VR == "SQ" and elem.value and elem.keyword and not elem.keyword.startswith("Referenced"):
            for e in elem.value[0]:
                if e.VR != "SQ" and e.keyword and e.tag.group % 2 == 0 and e.keyword not in row:
                    v = _row_value(e)
                    if v is not _MISSING:
                        row[e.keyword] = v


def _read_fresh(path: str) -> Any:
    """The header of ``path`` read again by pydicom, elements left raw (unconverted)."""
    import warnings

    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:  # any failure to re-read is the file's
        raise HeaderError(f"{path}: cannot read the header again for the sidecar ({type(exc).__name__}: {exc})") from exc


def _value_of(ds: Any, tag: Any) -> Any:
    """The value of ``ds[tag]`` as :func:`_row_value` gives it; _MISSING when pydicom cannot decode it."""
    try:
        elem = ds[tag]
    except Exception:  # noqa: BLE001 - an undecodable element (bad VR, bad value) is left out
        return _MISSING
    return _row_value(elem)


def _groups_row(ds: Any) -> dict[str, Any]:
    """Elements of an enhanced file's shared functional groups and the per-frame ones equal in every frame."""
    try:
        return _groups_row_unsafe(ds)
    except Exception:  # noqa: BLE001 - functional groups pydicom cannot decode add nothing
        return {}


def _groups_row_unsafe(ds: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        _leaves(shared[0], row)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        frame_rows = []
        for item in per_frame:
            r: dict[str, Any] = {}
            _leaves(item, r)
            frame_rows.append(r)
        for k, v in _constant(frame_rows).items():
            row.setdefault(k, v)
    return row


def constant_tags(files: Volume | Iterable[DicomFile | str | os.PathLike[str]]) -> dict[str, Any]:
    """Public top-level tags with the same value in every file: keyword -> value (numbers, text or lists).

    Headers are read again (no pixels) and compared as stored bytes, so only
    the constant values are decoded. Tags of :data:`EARLIEST` that change from
    file to file give their earliest value. Enhanced multi-frame files add the
    elements of their shared functional groups and the per-frame ones that are
    the same in every frame (EchoTime, RepetitionTime, FlipAngle,
    SliceThickness ...).

    Raises
    ------
    HeaderError
        If a header cannot be read again (the message names the file).
    """
    from pydicom.datadict import keyword_for_tag
    from pydicom.dataelem import RawDataElement

    items = files.files if isinstance(files, Volume) else list(files)
    paths = [x.path if isinstance(x, DicomFile) else os.fspath(x) for x in items]
    if not paths:
        return {}

    def raw_items(ds: Any) -> dict[Any, Any]:
        out = {}
        for e in ds.elements():
            tag = e.tag
            if tag.group % 2 == 1 or tag.group <= 0x0002 or e.VR == "SQ":
                continue
            out[tag] = (e.VR, bytes(e.value or b"")) if isinstance(e, RawDataElement) else ("=", repr(e.value))
        return out

    first = _read_fresh(paths[0])
    ref = raw_items(first)
    keep = set(ref)
    varying: dict[Any, list[Any]] = {}
    earliest_tags = {t for t in ref if keyword_for_tag(t) in EARLIEST}
    groups = [_groups_row(first)] if "PerFrameFunctionalGroupsSequence" in first else []
    for path in paths[1:]:
        ds = _read_fresh(path)
        cur = raw_items(ds)
        for t in list(keep):
            if cur.get(t) != ref[t]:
                keep.discard(t)
        for t in earliest_tags:
            if t in cur:
                varying.setdefault(t, []).append(_value_of(ds, t))
        if groups:
            groups.append(_groups_row(ds))
    out: dict[str, Any] = {}
    for t in ref:  # tag order
        kw = keyword_for_tag(t)
        if not kw:
            continue
        if t in keep:
            v = _value_of(first, t)
        elif t in earliest_tags and len(varying.get(t, [])) == len(paths) - 1:
            vals = [v for v in [_value_of(first, t), *varying[t]] if v is not _MISSING]
            v = min(vals, key=str) if len(vals) == len(paths) else _MISSING
        else:
            continue
        if v is not _MISSING:
            out[kw] = v
    for k, v in _constant(groups).items():
        out.setdefault(k, v)
    return out


def _constant(rows: Sequence[Mapping[str, Any]], earliest: Iterable[str] = ()) -> dict[str, Any]:
    """Keys with the same value in every row (first row's order); keys in ``earliest`` take their smallest value."""
    if not rows:
        return {}
    earliest = set(earliest)
    out: dict[str, Any] = {}
    for k, v in rows[0].items():
        same = True
        vals = [v]
        for r in rows[1:]:
            w = r.get(k, _MISSING)
            if w is _MISSING:
                same = False
                break
            if w != v:
                same = False
                vals.append(w)
        if same:
            out[k] = v
        elif k in earliest and all(k in r for r in rows):
            vals = [r[k] for r in rows]
            try:
                out[k] = min(vals, key=lambda x: str(x))
            except TypeError:
                pass
    return out


def _vr(keyword: str) -> str:
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(keyword))
    except (KeyError, ValueError):  # not a dictionary keyword
        return ""


def _time(v: str) -> str:
    """DICOM TM (HHMMSS.ffffff) as HH:MM:SS.ffffff."""
    s = str(v).strip().replace(":", "")
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", s)
    if not m:
        return str(v)
    hh, mm, ss, frac = m.group(1), m.group(2) or "00", m.group(3) or "00", m.group(4) or ""
    return f"{hh}:{mm}:{ss}.{frac.ljust(6, '0')}"


def _date(v: str) -> str:
    s = str(v).strip()
    if re.fullmatch(r"\d{8}", s):
        return f"{s[:4]}-{s[4:6]}-{s[6:]}"
    return s


def _datetime(v: str) -> str:
    s = str(v).strip()
    m = re.fullmatch(r"(\d{8})(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?", s)
    if not m:
        return s
    out = _date(m.group(1))
    if m.group(2):
        out += "T" + _time(m.group(2))
    return out + (m.group(3) or "")


def _number(x: Any) -> Any:
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


def _ms_to_s(x: Any) -> Any:
    return _number(round(x / 1000.0, 9)) if isinstance(x, (int, float)) else x


def _convert(keyword: str, value: Any) -> Any:
    vr = _vr(keyword)
    if keyword in MS_TO_S:
        return [_ms_to_s(x) for x in value] if isinstance(value, list) else _ms_to_s(value)
    conv = {"TM": _time, "DA": _date, "DT": _datetime}.get(vr)
    if conv is not None:
        return [conv(x) for x in value] if isinstance(value, list) else conv(value)
    if isinstance(value, list):
        return [_number(x) for x in value]
    return _number(value)


def sidecar_from_rows(
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None = None,
    *,
    patient_tags: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar dict from per-file (or per-slice) header rows and a :meth:`Volume.summary` dict.

    Parameters
    ----------
    rows : sequence of mapping
        Keyword -> value (:func:`constant_tags`) or per slice (the
        reader's ``metadata["dicom"]["slices"]`` table); keys that are not DICOM
        keywords (``file``, ``frame``, private tags) are ignored, and so are
        rows without any keyword (files that could not be read).
    summary : mapping, optional
        :meth:`Volume.summary` of the volume: becomes the ``"DicomSeries"`` entry.
    patient_tags : bool
        Keep tags that identify the patient (names, IDs, birth date, ...).
    extra : mapping, optional
        Added to the ``"DicomSeries"`` entry (e.g. export warnings).
    """
    clean = [{k: v for k, v in r.items() if k and k[0].isalpha() and _vr(k)} for r in rows]
    unread = sum(not c for c in clean)
    clean = [c for c in clean if c]  # rows of files that could not be read hold no tag at all
    const = _constant(clean, EARLIEST)
    tags: dict[str, Any] = {}
    for k, v in const.items():
        if k in PER_IMAGE or k.startswith("Referenced"):
            continue
        if not patient_tags and (k in PATIENT_TAGS or _vr(k) == "PN"):
            continue
        name = BIDS_NAMES.get(k, k)
        if name in tags and name != k:  # e.g. EffectiveEchoTime when EchoTime is there
            continue
        tags[name] = _convert(k, v)
    if "AcquisitionTime" not in tags and "T" in str(tags.get("AcquisitionDateTime", "")):
        tags["AcquisitionTime"] = str(tags["AcquisitionDateTime"]).split("T", 1)[1][:15]
    out: dict[str, Any] = {k: tags[k] for k in LEADING if k in tags}
    out.update((k, v) for k, v in tags.items() if k not in out)
    if summary:
        out.setdefault("Modality", summary.get("modality") or None)
        out.setdefault("SeriesNumber", summary.get("series_number"))
        out.setdefault("SeriesDescription", summary.get("series_description") or None)
        out.setdefault("Manufacturer", summary.get("manufacturer") or None)
        out.setdefault("SeriesInstanceUID", summary.get("series_instance_uid") or None)
        if summary.get("convolution_kernel"):
            out.setdefault("ConvolutionKernel", summary["convolution_kernel"])
        if summary.get("slice_thickness"):
            out.setdefault("SliceThickness", _number(float(summary["slice_thickness"])))
        out = {k: v for k, v in out.items() if v is not None}
    out["ConversionSoftware"] = SOFTWARE
    from . import __version__

    out["ConversionSoftwareVersion"] = __version__
    ds_block: dict[str, Any] = {}
    if summary:
        for k in (
            "key", "kind", "kernel_class", "thickness_class", "orientation", "acquisition_group", "split_reason",
            "warnings", "reasons", "confidence", "shape", "spacing", "slice_step", "gantry_tilt", "time_tag",
            "time_values", "n_files", "series_instance_uid", "transfer_syntax_uid",
        ):  # fmt: skip
            if k in summary:
                ds_block[k] = summary[k]
        slope, inter = summary.get("rescale_slope"), summary.get("rescale_intercept")
        if slope is not None:
            ds_block["values"] = (
                f"rescaled: RescaleSlope {_number(float(slope))} and RescaleIntercept {_number(float(inter or 0))} "
                "already applied (NIfTI scl_slope unset)"
            )
    if unread:
        ds_block["tags_from"] = f"{len(clean)} of {len(clean) + unread} slices (the others could not be read)"
    if extra:
        for k, v in extra.items():
            if k == "warnings":
                ds_block["warnings"] = list(ds_block.get("warnings", [])) + list(v)
            else:
                ds_block[k] = v
    out["DicomSeries"] = ds_block
    return out


def sidecar(volume: Volume, *, patient_tags: bool = False, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON sidecar of ``volume``: its constant DICOM tags (BIDS names) and ``"DicomSeries"``.

    Reads the full headers of the volume's files (no pixels).
    """
    return sidecar_from_rows([constant_tags(volume)], volume.summary(), patient_tags=patient_tags, extra=extra)


# ----------------------------------------------------------------------------- one volume


def _repetition_time_s(side: Mapping[str, Any]) -> float | None:
    tr = side.get("RepetitionTime")
    return float(tr) if isinstance(tr, (int, float)) and tr > 0 else None


def _result_for(volume: Volume) -> ExportResult:
    return ExportResult(key=volume.key, series_number=volume.series_number, series_description=volume.series_description)


def export_volume(
    volume: Volume,
    out_path: str | os.PathLike[str],
    *,
    array: Any = None,
    gzip: bool | None = None,
    force: bool = False,
    patient_tags: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Write one volume as NIfTI (``out_path``, ``.nii.gz`` added unless given) with its JSON sidecar.

    Parameters
    ----------
    volume : Volume
        A loadable image volume.
    out_path : path
        Target file, with or without ``.nii`` / ``.nii.gz``.
    array : array-like, optional
        The voxels (default: :func:`load.load_volume`), of ``volume.shape``.
    gzip : bool, optional
        Compress (default: from the extension, else True).
    force : bool
        Replace existing files.
    patient_tags : bool
        Keep the tags that identify the patient in the sidecar.
    progress : callable, optional
        ``progress(done, total)`` while frames are read.

    Raises
    ------
    OutputExistsError, DecodeError, GeometryError, DicomSeriesError
        The message names the file or series.
    """
    from . import load

    t0 = time.perf_counter()
    res = _result_for(volume)
    nii, js, gz = nifti_paths(out_path, gzip)
    if not force:
        for t in (nii, js):
            if os.path.lexists(t):
                raise OutputExistsError(f"{t} exists already (use --force / force=True to replace it)")
    if array is None:
        array = load.load_volume(volume, progress=progress)
    elif tuple(np.shape(array)) != tuple(volume.array_shape):
        raise ValueError(f"array of shape {np.shape(array)} does not match series {volume.key} of shape {volume.array_shape}")
    array, geometry = placed(volume, array)
    affine = geometry.affine_lps()
    spacing, _, _, exact = itk_geometry(affine)
    notes = []
    if not exact:
        notes.append(
            "sheared voxel grid (gantry tilt): sform holds the exact sheared transform, qform the nearest rigid one "
            f"(slice normal, {spacing[2]:.4g} mm between slices); readers that use the qform misplace slices"
        )
    side = sidecar(volume, patient_tags=patient_tags, extra={"warnings": notes} if notes else None)
    desc = f"{SOFTWARE} series {volume.key} {volume.series_description}".strip()
    if volume.gap_policy == "resample" and geometry.shape != tuple(volume.shape):
        notes.append(
            f"resampled linearly from {volume.n_slices} to {geometry.shape[-3]} slices of {geometry.spacing[0]:.4g} mm "
            "(gaps=resample): slices in the gaps are interpolated"
        )
    # diffusion series: dcm2niix's voxel order (rows reversed) and .bval/.bvec beside the image
    gradients = diffusion.gradient_table(volume) if volume.ndim == 4 else None
    if gradients:
        if not force:
            for t in diffusion.bval_bvec_paths(nii):
                if os.path.lexists(t):
                    raise OutputExistsError(f"{t} exists already (use --force / force=True to replace it)")
        array, affine = diffusion.dcm2niix_layout(array, affine)
    written = write_nifti_array(
        array, affine, nii, side, gzip=gz, force=force, time_spacing=_repetition_time_s(side), description=desc,
        rgb=volume.samples_per_pixel == 3,
    )
    res.nifti, res.sidecar = str(written[0]), str(written[1])
    if gradients:
        res.bval, res.bvec = (str(p) for p in diffusion.write_bval_bvec(gradients, affine, written[0]))
    shape = tuple(int(x) for x in np.shape(array))[: len(geometry.shape)]  # without a colour axis
    res.shape = shape[::-1] if len(shape) == 3 else (shape[3], shape[2], shape[1], shape[0])
    res.dtype = str(getattr(array, "dtype", ""))
    res.warnings = list(volume.warnings) + notes
    res.seconds = time.perf_counter() - t0
    return res


# ----------------------------------------------------------------------------- a folder

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(text: str) -> str:
    s = _SAFE.sub("_", text.strip())
    s = re.sub(r"_{2,}", "_", s)
    return s.strip("._-")


_FIELDS = ("key", "series", "description", "kernel", "modality", "kind", "kernel_class", "thickness_class", "orientation", "uid")


def _fields(v: Volume) -> dict[str, str]:
    return {
        "series": str(v.series_number) if v.series_number is not None else v.key,
        "key": v.key.replace(".", "-") if v.series_number is not None else v.key,
        "description": v.series_description,
        "kernel": v.convolution_kernel,
        "modality": v.modality,
        "kind": v.kind,
        "kernel_class": v.kernel_class,
        "thickness_class": v.thickness_class,
        "orientation": v.orientation,
        "uid": v.series_instance_uid[-8:],
    }


def output_stems(volumes: Sequence[Volume], template: str = DEFAULT_TEMPLATE, max_length: int = 120) -> list[str]:
    """File names (without extension) for ``volumes`` from ``template``, safe and without collisions.

    Each field is reduced to ``A-Z a-z 0-9 . _ -`` (other runs become ``_``);
    an empty field disappears with its separator; ``{kernel}`` is dropped when
    the description already names the kernel (``5mm LUNG`` + ``LUNG``); names
    that collide (also case-insensitively) get ``_2``, ``_3`` ...

    Raises
    ------
    ValueError
        If the template names an unknown field.
    """
    try:
        template.format(**dict.fromkeys(_FIELDS, "x"))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad file name template {template!r} ({exc}); fields: {', '.join(_FIELDS)}") from exc
    stems: list[str] = []
    taken: set[str] = set()
    for v in volumes:
        f = {k: _safe(x) for k, x in _fields(v).items()}
        if f["kernel"] and re.search(rf"(^|[^A-Za-z0-9]){re.escape(f['kernel'].lower())}($|[^A-Za-z0-9])", f["description"].lower()):
            f["kernel"] = ""
        name = _safe(template.format(**f))[:max_length].strip("._-") or _safe(v.key) or "volume"
        base, n = name, 2
        while name.lower() in taken:
            name = f"{base}_{n}"
            n += 1
        taken.add(name.lower())
        stems.append(name)
    return stems


def select_volumes(
    volumes: Sequence[Volume], series: Sequence[int | str] | None = None, *, skip_localizers: bool = False
) -> tuple[list[Volume], list[ExportResult]]:
    """The volumes to export and an :class:`ExportResult` (with ``skipped``) for each one left out.

    ``series`` holds series numbers (every volume of that series) or volume
    keys such as ``"3.2"``.

    Raises
    ------
    SeriesNotFoundError
        If an entry of ``series`` matches no volume.
    """
    chosen: list[Volume] = []
    skipped: list[ExportResult] = []
    wanted = None
    if series:
        wanted = {str(s).strip() for s in series}
        known = {v.key for v in volumes} | {str(v.series_number) for v in volumes if v.series_number is not None}
        missing = sorted(wanted - known)
        if missing:
            raise SeriesNotFoundError(
                f"no series {', '.join(missing)} in the input; it has "
                + (", ".join(v.key for v in volumes) if volumes else "no DICOM series")
            )
    for v in volumes:
        if wanted is not None and v.key not in wanted and str(v.series_number) not in wanted:
            continue
        reason = None
        if not v.is_image or v.kind == "non-image":
            reason = (v.warnings[0] if v.warnings else "no pixel data")
        elif skip_localizers and v.kind == "localizer":
            reason = "localizer (--skip-localizers)"
        if reason:
            r = _result_for(v)
            r.skipped = reason
            skipped.append(r)
        else:
            chosen.append(v)
    return chosen, skipped


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def export_folder(
    src: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    series: Sequence[int | str] | None = None,
    skip_localizers: bool = False,
    gzip: bool = True,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    template: str = DEFAULT_TEMPLATE,
    patient_tags: bool = False,
    allow_inside_input: bool = False,
    recursive: bool = True,
    workers: int | None = None,
    gaps: str | None = None,
) -> list[ExportResult]:
    """Export every volume under ``src`` (or those of ``series``) to ``out_dir``: NIfTI + JSON each.

    Parameters
    ----------
    src : path or iterable of paths
        Folder(s) or file(s) to scan.
    out_dir : path
        Output folder (created). It may not be an input folder or lie inside
        one unless ``allow_inside_input`` (an export must not mix its files
        with the DICOM files it reads).
    series : sequence of int or str, optional
        Series numbers or volume keys to export (default: every image volume,
        localizers included, as dcm2niix does).
    skip_localizers : bool
        Leave out scouts / localizers.
    gzip : bool
        ``.nii.gz`` (default) or ``.nii``.
    force : bool
        Replace existing files. Without it, the run stops before writing
        anything if one target exists.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"scanning"`` (files) and
        ``"exporting"`` (two units per frame: read, written).
    template : str
        File name template (see :func:`output_stems`).
    patient_tags : bool
        Keep the tags that identify the patient in the sidecars.
    allow_inside_input : bool
        Allow ``out_dir`` to be an input folder or inside one.
    recursive : bool
        Walk the sub-folders of ``src``.
    workers : int, optional
        Volumes exported at once (default 2, or 1 when the two largest
        volumes take more than :data:`MAX_PARALLEL_BYTES` together).
    gaps : {"split", "resample", "keep"}, optional
        Volumes with missing slices or irregular spacing (default ``split``, see
        :func:`gaps.apply_gap_policy`): as the reader and ``ls`` show them.

    Returns
    -------
    list of ExportResult
        One per volume, in series order: written, skipped (with the reason)
        or failed (with the error; the other volumes are still written).

    Raises
    ------
    OutputExistsError
        If a target exists and ``force`` is False (nothing written).
    SeriesNotFoundError
        If a requested series is not in the input.
    DicomSeriesError
        If ``out_dir`` lies inside an input folder, or the input holds no DICOM.
    """
    from . import load, open_folder

    output_stems([], template)  # a bad template fails before the scan
    srcs = [src] if isinstance(src, (str, os.PathLike)) else list(src)
    out = Path(out_dir).expanduser().resolve()
    if not allow_inside_input:
        for s in srcs:
            sp = Path(s).expanduser().resolve()
            folder = sp if sp.is_dir() else sp.parent
            if _inside(out, folder):
                raise DicomSeriesError(
                    f"output folder {out} is {'the' if out == folder else 'inside the'} input folder {folder}: "
                    "choose another folder (or allow it explicitly with --allow-inside-input)"
                )
    if out.exists() and not out.is_dir():
        raise DicomSeriesError(f"output {out} exists and is not a folder")
    scan_cb = (lambda d, t: progress("scanning", d, t)) if progress else False
    volumes, result = open_folder(src, recursive=recursive, progress=scan_cb, gaps=gaps)
    if not result.files:
        why = f" ({len(result.skipped)} file(s) skipped, e.g. {result.skipped[0].path}: {result.skipped[0].reason})" if result.skipped else ""
        raise DicomSeriesError(f"no DICOM files in {result.root or src}{why}")
    chosen, skipped = select_volumes(volumes, series, skip_localizers=skip_localizers)
    stems = output_stems(chosen, template)
    ext = ".nii.gz" if gzip else ".nii"
    targets = [(out / (s + ext), out / (s + ".json")) for s in stems]
    inputs = {os.path.realpath(f.path) for f in result.files}
    for pair in targets:
        for t in pair:
            if os.path.realpath(t) in inputs:
                raise DicomSeriesError(f"{t} is one of the input DICOM files: refusing to write over it")
    if not force:
        existing = [str(t) for pair in targets for t in pair if os.path.lexists(t)]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise OutputExistsError(f"{existing[0]} exists already{more}: nothing written (use --force to replace)")
    out.mkdir(parents=True, exist_ok=True)
    total = 2 * sum(len(v.frames) for v in chosen) or 1  # each frame: read, then written
    lock = threading.Lock()
    state = {"done": 0}

    def report(n: int) -> None:
        if progress:
            with lock:
                state["done"] += n
                progress("exporting", state["done"], total)

    def one(v: Volume, nii: Path) -> ExportResult:
        reported = [0]

        def cb(d: int, t: int) -> None:  # frames read; the write counts as much again
            report(d - reported[0])
            reported[0] = d

        try:
            arr = load.load_volume(v, progress=cb if progress else None, workers=2)
            r = export_volume(v, nii, array=arr, gzip=gzip, force=force, patient_tags=patient_tags)
            del arr
        except DicomSeriesError as exc:
            r = _result_for(v)
            msg = str(exc)
            r.error = msg if msg.startswith(f"series {v.key} ") else f"series {v.key} ({v.series_description!r}): {msg}"
        report(2 * len(v.frames) - reported[0])
        return r

    if workers is None:
        sizes = sorted((load.voxel_bytes(v) if v.loadable else 0 for v in chosen), reverse=True)
        workers = 1 if len(chosen) < 2 or sum(sizes[:2]) > MAX_PARALLEL_BYTES else min(2, os.cpu_count() or 1)
    if workers <= 1:
        results = [one(v, nii) for v, (nii, _js) in zip(chosen, targets, strict=True)]
    else:
        # two volumes at a time: one is read and its headers compared while the other is compressed
        # (SimpleITK releases the GIL while it writes)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, chosen, [nii for nii, _js in targets]))
    by_key = {r.key: r for r in results + skipped}
    return [by_key[v.key] for v in volumes if v.key in by_key]

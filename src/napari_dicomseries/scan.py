"""Scan: find the DICOM files under a path and read their headers, never their pixels.

:func:`scan` walks a folder (or takes one file or a list of files), reads the
header of every DICOM file with pydicom (``stop_before_pixels``) and returns a
:class:`ScanResult`: one :class:`DicomFile` per readable file, each holding
one :class:`Frame` per 2-D image (one for a classic file, one per frame for an
enhanced multi-frame file, whose geometry comes from its functional groups),
and a :class:`Skipped` entry with a reason for everything else.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from . import enhanced, rawheader
from .errors import NotDicomError
from .siemens import CSA_CREATOR, MR_HEADER_CREATOR, Mosaic, mosaic_layout, parse_csa

__all__ = [
    "DicomFile",
    "Frame",
    "ScanResult",
    "Skipped",
    "scan",
    "read_header",
    "iter_paths",
    "is_dicom",
    "decoder_for",
    "is_multivalue",
    "pixel_element",
    "NON_IMAGE_SOP_CLASSES",
]

PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
#: Transfer syntaxes pydicom decodes with numpy alone.
PYDICOM_NATIVE = UNCOMPRESSED | {"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5"}
#: Transfer syntaxes SimpleITK's GDCM decodes.
GDCM_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.5",
}
#: SOP classes that hold no image (structured reports, RT structures, presentation states, ...).
NON_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.481.3": "RT Structure Set",
    "1.2.840.10008.5.1.4.1.1.481.5": "RT Plan",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF",
    "1.2.840.10008.5.1.4.1.1.66": "Raw Data",
    "1.2.840.10008.5.1.4.1.1.88.59": "Key Object Selection",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
}
ENHANCED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.3": "Enhanced MR Color Image Storage",
    "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR Image Storage",
}
#: Largest |cos| between the row and column directions of ImageOrientationPatient still taken as perpendicular.
ORTHOGONALITY_TOLERANCE = 0.01
DEFLATE = "1.2.840.10008.1.2.1.99"
_NATIVE_LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"}
_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD",
    b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
    b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Frame:
    """One 2-D image: a classic single-frame file, or one frame of a multi-frame file.

    Positions and orientations are in the DICOM patient coordinate system
    (LPS, mm). ``pixel_spacing`` is (row spacing, column spacing) as in the
    PixelSpacing tag: the distance between rows, then between columns.
    """

    path: str
    index: int
    sop_instance_uid: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    instance_number: int | None
    acquisition_number: int | None
    echo_number: int | None
    echo_time: float | None
    temporal_position: int | None
    trigger_time: float | None
    b_value: float | None
    diffusion_direction: tuple[float, float, float] | None
    image_type: tuple[str, ...]
    rescale_slope: float
    rescale_intercept: float
    window_center: float | None
    window_width: float | None
    rows: int
    columns: int
    # enhanced multi-frame files (see :mod:`enhanced`): DimensionIndexValues, the dimension names (keyword, label
    # or tag) and the values the indices point to; the MR diffusion directionality (ISOTROPIC for a trace image)
    dimension_index: tuple[int, ...] = ()
    dimension_names: tuple[str, ...] = ()
    dimension_values: tuple[Any, ...] = ()
    diffusion_directionality: str | None = None


@dataclass(eq=False, slots=True)
class DicomFile:
    """The header of one DICOM file and the 2-D frames it holds.

    ``dataset`` (the pydicom header without pixel data) is read on first use
    when the scan took the fast path, which reads only the tags it needs.
    """

    path: str
    size: int
    transfer_syntax_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    frame_of_reference_uid: str
    modality: str
    rows: int | None
    columns: int | None
    number_of_frames: int
    bits_allocated: int
    pixel_representation: int
    samples_per_pixel: int
    has_pixel_data: bool
    pixel_offset: int | None
    frames: tuple[Frame, ...]
    enhanced: bool
    warnings: list[str] = field(default_factory=list)
    series_number: str = ""
    bits_stored: int | None = None
    photometric_interpretation: str = ""
    #: tile layout of a Siemens mosaic (its frames are the tiles), else None
    mosaic: Mosaic | None = None
    #: a vendor-private pixel compression declared in a private tag (e.g. ELSCINT1 "PMSCT_RLE1"), else ""
    vendor_compression: str = ""
    _dataset: Dataset | None = None

    @property
    def dataset(self) -> Dataset:
        """The full header (pydicom data set without pixel data), read on first use."""
        if self._dataset is None:
            try:
                self._dataset = _read_dataset(self.path)
                self.warnings.extend(_tame(self._dataset, self.path))
            except NotDicomError as exc:  # changed since the scan, or beyond pydicom: keep going without its tags
                self.warnings.append(f"{exc}; its descriptive tags are missing")
                self._dataset = Dataset()
        return self._dataset

    @property
    def is_image(self) -> bool:
        """True for a file with pixel data that forms 2-D images."""
        return self.has_pixel_data and bool(self.rows) and bool(self.columns) and bool(self.frames)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path that the scan did not take, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class ScanResult:
    """Everything a scan found: the DICOM files read and the paths skipped."""

    root: str
    files: list[DicomFile]
    skipped: list[Skipped]


# ----------------------------------------------------------------------------- paths


def iter_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], recursive: bool = True) -> Iterator[tuple[str, str | None]]:
    """Yield ``(path, problem)`` for every file under ``paths``, sorted; ``problem`` is None when readable.

    Directories are walked (recursively by default) without following links
    to directories already seen, so a symlink loop ends. Hidden files are kept.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            yield from _walk(p, recursive)
        elif os.path.lexists(p):
            yield p, None if os.path.exists(p) else _link_problem(p)
        else:
            yield p, "no such file or directory"


def _link_problem(path: str) -> str:
    """Why a symbolic link cannot be followed: a loop, or a missing target."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link points back to itself)"
    return "broken symbolic link (its target does not exist)"


def _not_regular(path: str) -> str | None:
    """Why ``path`` is not a regular file (a named pipe, socket or device would block or never end), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # reported when the file is opened
    if stat.S_ISREG(mode):
        return None
    kind = "named pipe (FIFO)" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device" if (
        stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) else "special file"  # fmt: skip
    return f"not a regular file but a {kind}: not read"


def _walk(root: str, recursive: bool) -> Iterator[tuple[str, str | None]]:
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
        except OSError as exc:
            yield d, f"cannot open folder: {exc.strerror or exc}"
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            yield d, "folder already visited (symbolic link loop)"
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            yield d, f"cannot list folder: {exc.strerror or exc}"
            continue
        subdirs = []
        for e in entries:
            try:
                if e.is_dir():
                    if recursive:
                        subdirs.append(e.path)
                    continue
            except OSError:
                pass
            if e.is_symlink() and not os.path.exists(e.path):
                yield e.path, _link_problem(e.path)
            else:
                yield e.path, None
        stack.extend(reversed(subdirs))


# ----------------------------------------------------------------------------- sniffing


def _looks_like_raw_dataset(head: bytes) -> bool:
    """True if ``head`` starts like a DICOM data set written without preamble and meta header."""
    if len(head) < 8:
        return False
    group, elem = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008):
        return False
    if head[4:6] in _VRS:  # explicit VR
        return True
    (length,) = struct.unpack("<I", head[4:8])  # implicit VR: a plausible length
    return length < 0x10000


def is_dicom(path: str | os.PathLike[str]) -> bool:
    """Cheap test: does the file start like DICOM (preamble + ``DICM``, or a raw data set)?"""
    if _not_regular(os.fspath(path)):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or _looks_like_raw_dataset(head)


def decoder_for(transfer_syntax_uid: str) -> str | None:
    """Name the installed engine that decodes ``transfer_syntax_uid`` ('numpy', 'gdcm', 'pydicom'), or None."""
    if transfer_syntax_uid in UNCOMPRESSED:
        return "numpy"
    if transfer_syntax_uid in PYDICOM_NATIVE:
        return "pydicom"
    if transfer_syntax_uid in GDCM_SYNTAXES:
        return "gdcm"
    try:
        from pydicom.pixels import get_decoder

        if get_decoder(transfer_syntax_uid).is_available:
            return "pydicom"
    except Exception:  # noqa: BLE001 - unknown UID or plugin trouble: no decoder
        pass
    return None


# ----------------------------------------------------------------------------- values


def is_multivalue(v: Any) -> bool:
    """True for a multi-valued element value (pydicom MultiValue, list, tuple), not for text or a PersonName."""
    return isinstance(v, (list, tuple, MultiValue))


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def _int(v: Any) -> int | None:
    try:
        return int(float(v))
    except (TypeError, ValueError, OverflowError):
        return None


def _floats(v: Any, n: int) -> tuple[float, ...] | None:
    if v is None:
        return None
    try:
        vals = [float(x) for x in (v if is_multivalue(v) else [v])]
    except (TypeError, ValueError):
        return None
    if len(vals) != n or any(x != x or abs(x) == float("inf") for x in vals):
        return None
    return tuple(vals)


def _first(v: Any) -> Any:
    if v is None:
        return None
    if is_multivalue(v):
        v = list(v)
        return v[0] if v else None
    return v


def _get(ds: Dataset | None, keyword: str) -> Any:
    if ds is None:
        return None
    try:
        elem = ds.get(keyword)
    except Exception:  # noqa: BLE001 - a value pydicom cannot convert counts as missing
        return None
    return elem


def _seq_item(ds: Dataset | None, keyword: str) -> Dataset | None:
    seq = _get(ds, keyword)
    try:
        return seq[0] if seq else None
    except (TypeError, IndexError):
        return None


def _orientation(v: Any) -> tuple[float, float, float, float, float, float] | None:
    o = _floats(v, 6)
    if o is None:
        return None
    r = sum(x * x for x in o[:3]) ** 0.5
    c = sum(x * x for x in o[3:]) ** 0.5
    if r < 1e-6 or c < 1e-6:
        return None
    if abs(sum(a * b for a, b in zip(o[:3], o[3:], strict=True))) / (r * c) > ORTHOGONALITY_TOLERANCE:
        return None  # row and column not perpendicular: no usable plane
    return tuple([x / r for x in o[:3]] + [x / c for x in o[3:]])  # type: ignore[return-value]


def _spacing(v: Any) -> tuple[float, float] | None:
    """PixelSpacing-like pair of positive numbers, or None."""
    s = _floats(v, 2)
    return s if s is not None and s[0] > 0 and s[1] > 0 else None  # type: ignore[return-value]


#: Numeric tags checked for unusable values: (keyword, number of values, what happens then).
_CHECKED_NUMBERS = (
    ("ImagePositionPatient", 3, "the slice cannot be placed in space"),
    ("ImageOrientationPatient", 6, "the slice orientation is unknown"),
    ("PixelSpacing", 2, "it is ignored"),
    ("SliceThickness", 1, "it is ignored"),
    ("SpacingBetweenSlices", 1, "it is ignored"),
    ("RescaleSlope", 1, "a slope of 1 is used"),
    ("RescaleIntercept", 1, "an intercept of 0 is used"),
    ("WindowCenter", 0, "it is ignored"),
    ("WindowWidth", 0, "it is ignored"),
    ("InstanceNumber", 1, "it is ignored"),
)


def _value_warnings(path: str, text: Callable[[str], str | None]) -> list[str]:
    """Warnings for numeric tags that are present but unusable (text, NaN, wrong count, impossible values).

    ``text(keyword)`` gives the raw value as text (values separated by backslashes), or None when absent.
    """
    out = []
    for keyword, n, then in _CHECKED_NUMBERS:
        t = text(keyword)
        if t is None or not t.strip("\x00 "):
            continue
        parts = [x.strip("\x00 ") for x in t.split("\\")]
        nums = [_float(x) for x in parts]
        shown = t.strip("\x00 ")
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        problem = None
        if any(x is None for x in nums):
            problem = "is not a valid number" if len(parts) == 1 else "holds values that are not valid numbers"
        elif n and len(nums) != n:
            problem = f"has {len(nums)} values instead of {n}"
        elif keyword == "PixelSpacing" and min(nums) <= 0:  # type: ignore[type-var]
            problem = "is not a positive distance"
        elif keyword == "ImageOrientationPatient" and _orientation(nums) is None:
            problem = "does not give two perpendicular directions"
        elif keyword == "RescaleSlope" and nums[0] == 0:
            problem = "is zero"
            then = "a slope of 1 is used"
        if problem:
            out.append(f"{path}: {keyword} '{shown}' {problem}; {then}")
    return out


def _spacing_fallback(path: str, text: Callable[[str], str | None], warns: list[str]) -> tuple[float, float] | None:
    """PixelSpacing, else the standard fallback ImagerPixelSpacing (projection images), with a warning."""
    ps = _spacing(_split(text("PixelSpacing")))
    if ps is not None:
        return ps
    ips = _spacing(_split(text("ImagerPixelSpacing")))
    if ips is not None:
        warns.append(
            f"{path}: no usable PixelSpacing; ImagerPixelSpacing {ips[0]:g}\\{ips[1]:g} used "
            "(spacing at the detector, not corrected for geometric magnification)"
        )
    return ips


def _split(t: str | None) -> list[str] | None:
    return None if t is None else [x.strip("\x00 ") for x in t.split("\\")]


def _ds_text(ds: Dataset) -> Callable[[str], str | None]:
    """``text(keyword)`` for a pydicom data set: the raw value as text, without pydicom's conversion."""

    def text(keyword: str) -> str | None:
        try:
            elem = ds.get_item(keyword)
        except Exception:  # noqa: BLE001 - unreadable element: treat as absent
            return None
        if elem is None:
            return None
        v = elem.value
        if isinstance(v, bytes):
            return v.decode("latin-1")
        if v is None:
            return None
        if is_multivalue(v):
            return "\\".join(str(x) for x in v)
        return str(v)

    return text


# ----------------------------------------------------------------------------- headers


def _open(path: str) -> BinaryIO:
    return open(path, "rb")


def read_header(path: str | os.PathLike[str]) -> DicomFile:
    """Read the header of one DICOM file (no pixel data) into a :class:`DicomFile`.

    Raises
    ------
    NotDicomError
        If the file is not DICOM, is empty, is a DICOMDIR or its header is
        unreadable; the message names the file and says why.
    """
    path = os.fspath(path)
    try:
        problem = _not_regular(path)
        if problem:
            raise NotDicomError(f"{path}: {problem}")
        size = os.path.getsize(path)
        if size == 0:
            raise NotDicomError(f"{path}: empty file (0 bytes)")
        with _open(path) as fh:
            head = fh.read(132)
            if head[128:132] != b"DICM" and not _looks_like_raw_dataset(head):
                raise NotDicomError(f"{path}: not a DICOM file (no 'DICM' marker and no DICOM data set at its start)")
            raw = rawheader.parse(fh, _FAST_TAGS, enhanced.SEQUENCES)
            if raw is not None and not (raw.present & _NEEDS_PYDICOM - enhanced.GROUP_TAGS):
                fast = _make_file_fast(path, size, raw)
                if fast is not None and raw.present & enhanced.GROUP_TAGS:
                    fast = _enhanced_fast(fast, raw)
                if fast is not None:
                    elem = b""
                    if fast.pixel_offset is not None:
                        fh.seek(fast.pixel_offset)
                        elem = fh.read(12)
                    problem = _pixel_problem(fast, elem)
                    if problem:
                        raise NotDicomError(f"{path}: {problem}")
                    return fast
            fh.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
                pixel_offset = fh.tell()
                nxt = fh.read(12)
    except NotDicomError:
        raise
    except PermissionError as exc:
        raise NotDicomError(f"{path}: permission denied") from exc
    except OSError as exc:
        if exc.errno is None:  # raised by pydicom's parser, not by the file system
            raise NotDicomError(f"{path}: truncated or damaged DICOM header ({exc})") from exc
        raise NotDicomError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except Exception as exc:  # pydicom on damaged bytes raises many kinds (BytesLengthException, struct.error, ...)
        raise NotDicomError(f"{path}: unreadable or damaged DICOM header ({type(exc).__name__}: {exc})") from exc
    try:
        return _make_file(path, size, ds, pixel_offset, nxt)
    except NotDicomError:
        raise
    except Exception as exc:
        raise NotDicomError(f"{path}: DICOM header with unusable values ({type(exc).__name__}: {exc})") from exc


def _make_file(path: str, size: int, ds: Dataset, pixel_offset: int, nxt: bytes) -> DicomFile:
    tamed = _tame(ds, path)
    meta = getattr(ds, "file_meta", None)
    sop_class = str(_get(ds, "SOPClassUID") or _get(meta, "MediaStorageSOPClassUID") or "")
    if sop_class == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        raise NotDicomError(f"{path}: DICOMDIR (a media index, not an image)")
    if len(ds) == 0 or not any(t.group >= 0x0008 for t in ds.keys()):
        if meta:
            raise NotDicomError(f"{path}: truncated DICOM file (it ends after the file meta header, with no data set)")
        raise NotDicomError(f"{path}: not a DICOM file (no data elements)")
    ts = str(_get(meta, "TransferSyntaxUID") or "")
    if not ts:  # no meta header: the encoding pydicom found while reading
        implicit, little = getattr(ds, "original_encoding", (True, True))
        ts = "1.2.840.10008.1.2" if implicit else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    has_pixels = False
    if ts == DEFLATE:  # the data set is compressed as a whole: the file position says nothing
        has_pixels = _deflated_has_pixels(path)
    elif len(nxt) >= 4:
        g, e = struct.unpack(">HH" if ts == "1.2.840.10008.1.2.2" else "<HH", nxt[:4])
        has_pixels = (g, e) in PIXEL_TAGS
    series_uid = str(_get(ds, "SeriesInstanceUID") or "")
    if not series_uid:
        if not has_pixels and len(nxt) < 4 and _is_image_class(sop_class):
            raise NotDicomError(
                f"{path}: truncated or damaged header: it runs to the end of the file ({size} bytes) without a SeriesInstanceUID "
                "or pixel data (the file is cut short, or a length in its header is wrong)"
            )
        if not any(k in ds for k in ("SOPClassUID", "StudyInstanceUID", "SOPInstanceUID")):
            raise NotDicomError(f"{path}: no DICOM identifiers (SOPClassUID, StudyInstanceUID, SeriesInstanceUID): damaged or not an image file")
        raise NotDicomError(f"{path}: no SeriesInstanceUID, so it cannot be put in a series")
    rows = _int(_get(ds, "Rows"))
    cols = _int(_get(ds, "Columns"))
    nframes = _int(_get(ds, "NumberOfFrames")) or 1
    warns: list[str] = list(tamed)
    enhanced = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    frames: tuple[Frame, ...] = ()
    mosaic: Mosaic | None = None
    sop_uid = str(_get(ds, "SOPInstanceUID") or _get(meta, "MediaStorageSOPInstanceUID") or path)
    if rows and cols and has_pixels and sop_class not in NON_IMAGE_SOP_CLASSES:
        if rows <= 0 or cols <= 0 or nframes <= 0:
            raise NotDicomError(f"{path}: impossible image size {rows} x {cols} x {nframes} frames")
        if enhanced:
            frames = _enhanced_frames(path, ds, sop_uid, nframes, rows, cols, warns)
        else:
            text = _ds_text(ds)
            warns.extend(_value_warnings(path, text))
            _spacing_fallback(path, text, warns)
            frames = tuple(_classic_frame(path, ds, sop_uid, i, rows, cols) for i in range(nframes))
            if nframes == 1 and "MOSAIC" in frames[0].image_type:
                mosaic = _mosaic_of(path, rows, cols, lambda group, creator, elem: _ds_private(ds, group, creator, elem), warns)
                if mosaic is not None:
                    frames = _mosaic_frames(frames[0], mosaic, warns)
    f = DicomFile(
        path=path,
        size=size,
        _dataset=ds,
        series_number=str(_get(ds, "SeriesNumber") or "").strip(),
        bits_stored=_int(_get(ds, "BitsStored")),
        photometric_interpretation=str(_get(ds, "PhotometricInterpretation") or "").strip().upper(),
        mosaic=mosaic,
        vendor_compression=_vendor_compression(_ds_private(ds, 0x07A1, ELSCINT_CREATOR, 0x11)),
        transfer_syntax_uid=ts,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_uid,
        series_instance_uid=series_uid,
        study_instance_uid=str(_get(ds, "StudyInstanceUID") or ""),
        frame_of_reference_uid=str(_get(ds, "FrameOfReferenceUID") or ""),
        modality=str(_get(ds, "Modality") or ""),
        rows=rows,
        columns=cols,
        number_of_frames=nframes,
        bits_allocated=_int(_get(ds, "BitsAllocated")) or 16,
        pixel_representation=_int(_get(ds, "PixelRepresentation")) or 0,
        samples_per_pixel=_int(_get(ds, "SamplesPerPixel")) or 1,
        has_pixel_data=has_pixels,
        pixel_offset=pixel_offset if has_pixels and ts != DEFLATE else None,
        frames=frames,
        enhanced=enhanced,
        warnings=warns,
    )
    problem = _pixel_problem(f, nxt)
    if problem:
        raise NotDicomError(f"{path}: {problem}")
    return f


def _deflated_has_pixels(path: str) -> bool:
    """Whether a deflated file holds pixel data (its data set must be inflated as a whole to know)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = pydicom.dcmread(path, force=True)
    return any(k in full for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _is_image_class(sop_class: str) -> bool:
    """True for an image storage SOP class (CT Image Storage, Enhanced MR Image Storage, ...)."""
    if not sop_class or sop_class in NON_IMAGE_SOP_CLASSES:
        return False
    try:
        from pydicom.uid import UID

        return "Image Storage" in UID(sop_class).name
    except Exception:  # noqa: BLE001 - not a UID pydicom can name
        return False


def pixel_element(transfer_syntax_uid: str, pixel_offset: int, elem: bytes) -> tuple[int, int] | None:
    """``(start, length)`` of the pixel data value from the first 12 bytes of its element, or None if cut short.

    ``length`` is 0xFFFFFFFF for encapsulated (compressed) data.
    """
    endian = ">" if transfer_syntax_uid == "1.2.840.10008.1.2.2" else "<"
    if len(elem) < 8:
        return None
    if transfer_syntax_uid == "1.2.840.10008.1.2":
        return pixel_offset + 8, struct.unpack("<I", elem[4:8])[0]
    if elem[4:6] in _NATIVE_LONG_VRS:
        if len(elem) < 12:
            return None
        return pixel_offset + 12, struct.unpack(endian + "I", elem[8:12])[0]
    return pixel_offset + 8, struct.unpack(endian + "H", elem[6:8])[0]


def _pixel_problem(f: DicomFile, elem: bytes) -> str | None:
    """Why the pixel data of ``f`` cannot hold its image (checked from sizes only, without reading it), or None.

    ``elem`` is the first 12 bytes of the pixel data element. Catches truncated
    files and headers that declare far more pixels than the file holds (so a
    wrong Rows x Columns x NumberOfFrames never leads to a huge allocation).
    """
    ts = f.transfer_syntax_uid
    if ts == DEFLATE:
        return None
    if not f.has_pixel_data:
        if _is_image_class(f.sop_class_uid) or (f.rows and f.columns and f.sop_class_uid not in NON_IMAGE_SOP_CLASSES):
            return (
                f"truncated or damaged: the header runs to the end of the file ({f.size} bytes) without reaching the pixel data "
                "(the file is cut short, or a length in its header is wrong)"
            )
        return None
    if not (f.rows and f.columns) or f.pixel_offset is None:
        return None
    if f.vendor_compression:
        return (
            f"pixel data compressed with the vendor-private scheme {f.vendor_compression} (not a DICOM transfer syntax; "
            "no standard decoder reads it)"
        )
    found = pixel_element(ts, f.pixel_offset, elem)
    if found is None:
        return "truncated: the file ends inside the pixel data element"
    start, length = found
    available = max(f.size - start, 0)
    n = max(f.number_of_frames, 1)
    if length == 0xFFFFFFFF:  # encapsulated: an offset table item and at least one 8-byte item per frame
        if (n + 1) * 8 > available:
            return f"truncated: {n} frame(s) of compressed pixel data cannot fit in the {available} bytes left in the file"
        return None
    if ts in UNCOMPRESSED:
        # YBR_FULL_422 / YBR_PARTIAL_422 native data hold two samples per pixel (chroma shared by pixel pairs)
        samples = 2 if f.samples_per_pixel == 3 and f.photometric_interpretation.endswith("_422") else f.samples_per_pixel
        need = -(-f.rows * f.columns * n * samples * f.bits_allocated // 8)
        if length < need:
            return (
                f"pixel data holds {length} bytes but {f.rows} x {f.columns} pixels x {n} frame(s) of {f.bits_allocated} bits "
                f"need {need}: the header does not describe this image"
            )
        if available < need:
            return f"truncated: the pixel data needs {need} bytes but the file holds only {available} after the header"
    elif available < length:
        return f"truncated: the pixel data element declares {length} bytes but the file holds only {available}"
    return None


def _read_dataset(path: str) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise NotDicomError(f"{path}: cannot read the header again ({type(exc).__name__}: {exc})") from exc


def _tame(ds: Dataset, path: str) -> list[str]:
    """Convert the top-level values of ``ds`` now; keep those pydicom cannot convert as raw bytes (VR OB).

    pydicom converts values on first access, so a damaged element (unknown VR
    code, a binary value of the wrong length) would raise in whatever code
    touches it later (``for elem in ds``, ``ds.get(...)``). After this, every
    top-level element can be read. Conversion warnings are silenced here once.
    Sequences are left alone (their items are converted when used). Returns
    warnings naming the elements read with the dictionary's VR or kept as bytes.
    """
    from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
    from pydicom.dataelem import RawDataElement

    bad: list[str] = []
    fixed: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag in list(ds.keys()):
            raw = ds.get_item(tag)
            if not isinstance(raw, RawDataElement) or raw.length == 0xFFFFFFFF or raw.VR == "SQ":
                continue
            if raw.VR is None and dictionary_has_tag(tag) and dictionary_VR(tag) == "SQ":
                continue
            try:
                ds[tag]
                continue
            except Exception:  # noqa: BLE001 - whatever pydicom raises, the value is unusable as it is
                pass
            value = raw.value if isinstance(raw.value, bytes) else b""
            # as UN, pydicom reads the bytes with the dictionary's VR (this rescues an unknown VR code) ...
            ds[tag] = RawDataElement(tag, "UN", len(value), value, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian)
            try:
                ds[tag]
                fixed.append(f"{keyword_for_tag(tag) or 'private tag'} {tag}")
                continue
            except Exception:  # noqa: BLE001 - ... or the value stays raw bytes
                ds[tag] = RawDataElement(tag, "OB", len(value), value, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian)
                bad.append(f"{keyword_for_tag(tag) or 'private tag'} {tag}")
    out = []
    if fixed:
        out.append(f"{path}: {len(fixed)} element(s) with an invalid VR read with the dictionary's VR: {', '.join(fixed[:5])}")
    if bad:
        out.append(f"{path}: {len(bad)} element(s) with a malformed value kept as raw bytes: {', '.join(bad[:5])}")
    return out


# ----------------------------------------------------------------------------- fast path

_T = {
    "SOPClassUID": 0x00080016, "SOPInstanceUID": 0x00080018, "Modality": 0x00080060, "ImageType": 0x00080008,
    "SeriesInstanceUID": 0x0020000E, "StudyInstanceUID": 0x0020000D, "FrameOfReferenceUID": 0x00200052,
    "SeriesNumber": 0x00200011, "InstanceNumber": 0x00200013, "AcquisitionNumber": 0x00200012,
    "ImagePositionPatient": 0x00200032, "ImageOrientationPatient": 0x00200037,
    "TemporalPositionIdentifier": 0x00200100, "Rows": 0x00280010, "Columns": 0x00280011,
    "NumberOfFrames": 0x00280008, "PixelSpacing": 0x00280030, "BitsAllocated": 0x00280100, "BitsStored": 0x00280101,
    "PixelRepresentation": 0x00280103, "SamplesPerPixel": 0x00280002, "RescaleSlope": 0x00281053,
    "RescaleIntercept": 0x00281052, "WindowCenter": 0x00281050, "WindowWidth": 0x00281051,
    "SliceThickness": 0x00180050, "SpacingBetweenSlices": 0x00180088, "EchoNumbers": 0x00180086, "EchoTime": 0x00180081,
    "TriggerTime": 0x00181060, "DiffusionBValue": 0x00189087, "DiffusionGradientOrientation": 0x00189089,
    "ImagerPixelSpacing": 0x00181164, "PhotometricInterpretation": 0x00280004,
}  # fmt: skip
#: Siemens private blocks: creators of groups 0019 and 0029, and the elements of the first three blocks that matter
_PRIVATE_TAGS = {(g << 16) | b for g in (0x0019, 0x0029, 0x07A1) for b in (0x10, 0x11, 0x12)} | {
    (g << 16) | (b << 8) | e for g, e in ((0x0019, 0x0A), (0x0029, 0x10), (0x07A1, 0x11)) for b in (0x10, 0x11, 0x12)
}
#: Private creator and element (xx11) of the Elscint / Philips CT "Tamar compression type" (PMSCT_RLE1, PMSCT_RGB1)
ELSCINT_CREATOR = "ELSCINT1"
_FAST_TAGS = set(_T.values()) | _PRIVATE_TAGS
_BINARY = {0x00280010: "H", 0x00280011: "H", 0x00280100: "H", 0x00280101: "H", 0x00280103: "H", 0x00280002: "H",
           0x00189087: "d", 0x00189089: "d"}  # fmt: skip
#: Tags whose presence sends a file to pydicom: DICOMDIR records, enhanced multi-frame functional groups.
_NEEDS_PYDICOM = {0x00041220, 0x52009229, 0x52009230}


def _raw_strings(raw: rawheader.RawHeader, name: str) -> list[str]:
    item = raw.values.get(_T[name])
    if item is None:
        return []
    text = item[1].decode("latin-1").strip("\x00 ")
    return [x.strip("\x00 ") for x in text.split("\\")] if text else []


def _raw_value(raw: rawheader.RawHeader, name: str) -> Any:
    """The value of a wanted tag: a number for binary VRs, else text (multi-valued text joined by backslashes)."""
    tag = _T[name]
    item = raw.values.get(tag)
    if item is None:
        return None
    vr, b = item
    fmt = _BINARY.get(tag)
    if fmt and vr not in (b"IS", b"DS"):
        size = struct.calcsize(fmt)
        if len(b) < size:
            return None
        vals = struct.unpack(f"<{len(b) // size}{fmt}", b[: len(b) // size * size])
        return vals[0] if len(vals) == 1 else list(vals)
    vals = _raw_strings(raw, name)
    return vals if len(vals) > 1 else (vals[0] if vals else None)


def _make_file_fast(path: str, size: int, raw: rawheader.RawHeader) -> DicomFile | None:
    def v(name: str) -> Any:
        return _raw_value(raw, name)

    sop_class = str(v("SOPClassUID") or "")
    series_uid = str(v("SeriesInstanceUID") or "")
    if not sop_class or not series_uid or sop_class == DICOMDIR_SOP_CLASS:
        return None  # the careful path gives the precise reason
    rows, cols = _int(v("Rows")), _int(v("Columns"))
    nframes = _int(v("NumberOfFrames")) or 1
    has_pixels = raw.pixel_offset is not None
    sop_uid = str(v("SOPInstanceUID") or path)
    frames: tuple[Frame, ...] = ()
    mosaic: Mosaic | None = None
    warns: list[str] = []
    if rows and cols and has_pixels and sop_class not in NON_IMAGE_SOP_CLASSES:
        if rows <= 0 or cols <= 0 or nframes <= 0:
            raise NotDicomError(f"{path}: impossible image size {rows} x {cols} x {nframes} frames")

        def text(name: str) -> str | None:
            return "\\".join(_raw_strings(raw, name)) if _T[name] in raw.values else None

        warns.extend(_value_warnings(path, text))
        frame = Frame(
            path=path,
            index=0,
            sop_instance_uid=sop_uid,
            position=_floats(v("ImagePositionPatient"), 3),  # type: ignore[arg-type]
            orientation=_orientation(v("ImageOrientationPatient")),
            pixel_spacing=_spacing_fallback(path, text, warns),
            slice_thickness=_float(v("SliceThickness")),
            spacing_between_slices=_float(v("SpacingBetweenSlices")),
            instance_number=_int(v("InstanceNumber")),
            acquisition_number=_int(v("AcquisitionNumber")),
            echo_number=_int(_first(v("EchoNumbers"))),
            echo_time=_float(v("EchoTime")),
            temporal_position=_int(v("TemporalPositionIdentifier")),
            trigger_time=_float(v("TriggerTime")),
            b_value=_float(v("DiffusionBValue")),
            diffusion_direction=_floats(v("DiffusionGradientOrientation"), 3),  # type: ignore[arg-type]
            image_type=tuple(x.upper() for x in _raw_strings(raw, "ImageType")),
            rescale_slope=_float(_first(v("RescaleSlope"))) or 1.0,
            rescale_intercept=_float(_first(v("RescaleIntercept"))) or 0.0,
            window_center=_float(_first(v("WindowCenter"))),
            window_width=_float(_first(v("WindowWidth"))),
            rows=rows,
            columns=cols,
        )
        frames = tuple(frame if i == 0 else _replace_index(frame, i) for i in range(nframes))
        if nframes == 1 and "MOSAIC" in frame.image_type:
            mosaic = _mosaic_of(path, rows, cols, lambda group, creator, elem: _raw_private(raw, group, creator, elem), warns)
            if mosaic is not None:
                frames = _mosaic_frames(frame, mosaic, warns)
    return DicomFile(
        path=path,
        size=size,
        transfer_syntax_uid=raw.transfer_syntax_uid,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_uid,
        series_instance_uid=series_uid,
        study_instance_uid=str(v("StudyInstanceUID") or ""),
        frame_of_reference_uid=str(v("FrameOfReferenceUID") or ""),
        modality=str(v("Modality") or ""),
        rows=rows,
        columns=cols,
        number_of_frames=nframes,
        bits_allocated=_int(v("BitsAllocated")) or 16,
        pixel_representation=_int(v("PixelRepresentation")) or 0,
        samples_per_pixel=_int(v("SamplesPerPixel")) or 1,
        has_pixel_data=has_pixels,
        pixel_offset=raw.pixel_offset,
        frames=frames,
        enhanced=False,
        series_number=str(v("SeriesNumber") or "").strip(),
        bits_stored=_int(v("BitsStored")),
        photometric_interpretation=str(v("PhotometricInterpretation") or "").strip().upper(),
        mosaic=mosaic,
        vendor_compression=_vendor_compression(_raw_private(raw, 0x07A1, ELSCINT_CREATOR, 0x11)),
        warnings=warns,
    )


def _raw_private(raw: rawheader.RawHeader, group: int, creator: str, elem: int) -> bytes | None:
    """The bytes of private element ``(group, xx elem)`` of the block reserved by ``creator``, from the fast parser."""
    for block in (0x10, 0x11, 0x12):
        item = raw.values.get((group << 16) | block)
        if item is not None and item[1].decode("latin-1").strip("\x00 ") == creator:
            found = raw.values.get((group << 16) | (block << 8) | elem)
            return found[1] if found is not None else None
    return None


def _ds_private(ds: Dataset, group: int, creator: str, elem: int) -> bytes | None:
    """The raw bytes of private element ``(group, xx elem)`` of the block reserved by ``creator``, from pydicom."""
    try:
        value = ds.get_private_item(group, elem, creator).value
    except (KeyError, ValueError, TypeError):
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):  # a US value pydicom already converted
        return struct.pack("<H", value)
    if isinstance(value, str):  # a text value pydicom's private dictionary already converted
        return value.encode("latin-1", "replace")
    return None


def _vendor_compression(value: bytes | None) -> str:
    """``ELSCINT1 PMSCT_RLE1`` style name of a vendor-private pixel compression, or "" when none is declared."""
    text = value.decode("latin-1").strip("\x00 ") if value else ""
    return f"{ELSCINT_CREATOR} {text}" if text and text.upper() != "NONE" else ""


def _mosaic_of(path: str, rows: int, cols: int, private: Callable[[int, str, int], bytes | None], warns: list[str]) -> Mosaic | None:
    """The tile layout of a Siemens mosaic, from NumberOfImagesInMosaic and the CSA image header; None (warned) if unknown."""
    n_raw = private(0x0019, MR_HEADER_CREATOR, 0x0A)
    n = struct.unpack("<H", n_raw[:2])[0] if n_raw and len(n_raw) >= 2 else None
    csa_raw = private(0x0029, CSA_CREATOR, 0x10)
    csa = parse_csa(csa_raw) if csa_raw else {}
    mosaic = mosaic_layout(n, csa, rows, cols)
    if mosaic is None:
        warns.append(
            f"{path}: ImageType says MOSAIC but NumberOfImagesInMosaic is missing or does not fit {rows} x {cols} pixels: "
            "shown as one 2-D image (tiles not separated)"
        )
    elif mosaic.normal is None:
        warns.append(f"{path}: mosaic without a CSA SliceNormalVector: slices assumed along row x column")
    return mosaic


def _mosaic_frames(frame: Frame, mosaic: Mosaic, warns: list[str]) -> tuple[Frame, ...]:
    """One frame per tile of a mosaic, each at its own position (``index`` is the tile number)."""
    from dataclasses import replace

    if frame.position is None or frame.orientation is None or frame.pixel_spacing is None:
        positions: list[Any] = [None] * mosaic.n
    else:
        step = frame.spacing_between_slices or frame.slice_thickness
        if not step:
            step = 1.0
            warns.append(f"{frame.path}: mosaic without SpacingBetweenSlices or SliceThickness: slices set 1 mm apart")
        positions = mosaic.slice_positions(frame.position, frame.orientation, frame.pixel_spacing, frame.rows, frame.columns, step)
    return tuple(
        replace(frame, index=k, position=positions[k], rows=mosaic.rows, columns=mosaic.columns) for k in range(mosaic.n)
    )


def _replace_index(frame: Frame, index: int) -> Frame:
    from dataclasses import replace

    return replace(frame, index=index)


def _image_type(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return tuple(x.strip().upper() for x in v.split("\\"))
    try:
        return tuple(str(x).strip().upper() for x in v)
    except TypeError:
        return (str(v).upper(),)


def _classic_frame(path: str, ds: Dataset, sop_uid: str, index: int, rows: int, cols: int) -> Frame:
    spacing = _spacing(_get(ds, "PixelSpacing")) or _spacing(_get(ds, "ImagerPixelSpacing"))
    diff_dir = _floats(_get(ds, "DiffusionGradientOrientation"), 3)
    return Frame(
        path=path,
        index=index,
        sop_instance_uid=sop_uid,
        position=_floats(_get(ds, "ImagePositionPatient"), 3),  # type: ignore[arg-type]
        orientation=_orientation(_get(ds, "ImageOrientationPatient")),
        pixel_spacing=spacing,  # type: ignore[arg-type]
        slice_thickness=_float(_get(ds, "SliceThickness")),
        spacing_between_slices=_float(_get(ds, "SpacingBetweenSlices")),
        instance_number=_int(_get(ds, "InstanceNumber")),
        acquisition_number=_int(_get(ds, "AcquisitionNumber")),
        echo_number=_int(_first(_get(ds, "EchoNumbers"))),
        echo_time=_float(_get(ds, "EchoTime")),
        temporal_position=_int(_get(ds, "TemporalPositionIdentifier")),
        trigger_time=_float(_get(ds, "TriggerTime")),
        b_value=_float(_get(ds, "DiffusionBValue")),
        diffusion_direction=diff_dir,  # type: ignore[arg-type]
        image_type=_image_type(_get(ds, "ImageType")),
        rescale_slope=_float(_get(ds, "RescaleSlope")) or 1.0,
        rescale_intercept=_float(_get(ds, "RescaleIntercept")) or 0.0,
        window_center=_float(_first(_get(ds, "WindowCenter"))),
        window_width=_float(_first(_get(ds, "WindowWidth"))),
        rows=rows,
        columns=cols,
    )


def _enhanced_frames(path: str, ds: Dataset, sop_uid: str, nframes: int, rows: int, cols: int, warns: list[str]) -> tuple[Frame, ...]:
    """The frames of an enhanced multi-frame file from its pydicom data set (see :mod:`enhanced`)."""
    return enhanced.frames_from_dataset(path, ds, sop_uid, nframes, rows, cols, warns)


def _enhanced_fast(f: DicomFile, raw: rawheader.RawHeader) -> DicomFile:
    """``f`` (read by the fast parser) with its frames from the functional groups the parser read into items."""
    from dataclasses import replace

    warns: list[str] = []
    frames: tuple[Frame, ...] = ()
    if f.frames:
        frames = enhanced.frames_from_raw(f.path, raw, f.sop_instance_uid, f.number_of_frames, f.rows or 0, f.columns or 0, warns)
    return replace(f, frames=frames, enhanced=True, warnings=warns)


# ----------------------------------------------------------------------------- scan


def _read_one(path: str) -> DicomFile | Skipped:
    try:
        return read_header(path)
    except NotDicomError as exc:
        msg = str(exc)
        prefix = f"{path}: "
        return Skipped(path, msg[len(prefix):] if msg.startswith(prefix) else msg)


def _read_chunk(paths: Sequence[str]) -> list[DicomFile | Skipped]:
    return [_read_one(p) for p in paths]


class _Progress:
    """A minimal progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int, label: str = "scanning", enabled: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.label = label
        self.enabled = (sys.stderr.isatty() if enabled is None else enabled) and total >= 50
        self._last = -1

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        pct = int(100 * self.done / max(self.total, 1))
        if pct != self._last:
            self._last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r{self.label} {bar:<25} {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def scan(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: bool | Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Read the headers of every DICOM file under ``paths``.

    Parameters
    ----------
    paths : path or iterable of paths
        A folder, one file, or a list of files and folders.
    recursive : bool
        Walk sub-folders too (default True).
    workers : int, optional
        Number of processes that parse headers. Default: one process below
        5,000 files (the fast parser reads ~10,000 headers a second, so starting
        workers and pickling results costs more than it saves on small folders;
        on 10,320 files two workers took 0.95 s against 1.08 s), else up to the
        number of CPUs.
    progress : bool or callable, optional
        True/False to force the stderr bar on or off (default: on when stderr is
        a terminal), or a callable ``progress(done, total)``.

    Returns
    -------
    ScanResult
        The files read (sorted by path) and the paths skipped, each with a reason.
    """
    if isinstance(paths, (str, os.PathLike)):
        root = os.fspath(paths)
        path_list = [paths]
    else:
        path_list = list(paths)
        root = os.path.commonpath([os.path.abspath(p) for p in path_list]) if path_list else ""
    files: list[DicomFile] = []
    skipped: list[Skipped] = []
    todo: list[str] = []
    for p, problem in iter_paths(path_list, recursive=recursive):
        if problem:
            skipped.append(Skipped(p, problem))
        else:
            todo.append(p)
    callback = progress if callable(progress) else None
    bar = _Progress(len(todo), enabled=progress if isinstance(progress, bool) else (False if callback else None))
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(todo) >= 5000 else 1
    results: list[DicomFile | Skipped] = []
    if workers > 1:
        chunk = max(50, len(todo) // (workers * 8))
        chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_read_chunk, chunks):
                results.extend(part)
                bar.update(len(part))
                if callback:
                    callback(len(results), len(todo))
    else:
        for p in todo:
            results.append(_read_one(p))
            bar.update()
            if callback:
                callback(len(results), len(todo))
    bar.close()
    for r in results:
        (skipped if isinstance(r, Skipped) else files).append(r)  # type: ignore[arg-type]
    return ScanResult(root=root, files=files, skipped=skipped)

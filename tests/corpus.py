"""A corpus of bad (and awkward but valid) inputs, each with its expected outcome.

:func:`build_corpus` writes every case into its own sub-folder of a root
folder and returns the :class:`Case` records that say what a correct scan
must make of it. The images are tiny (8 x 8, int16, RescaleIntercept -1000)
and their stored values are known (:func:`stored_pixels`), so a test can check
what is loaded against what was written, independently of the code under test.

Outcomes
--------
``load``
    The case's series loads; ``expect`` says the shape and, where it matters,
    other facts (orientation, description, patient name, ...).
``warn``
    The case's series is listed (and loads, unless ``unloadable``) with a
    warning containing ``match``.
``skip``
    Every file in ``bad`` is in ``ScanResult.skipped`` with a reason
    containing ``match``; no volume is built from it.
``split``
    The series becomes several volumes, ``split_reason`` containing ``match``.
``non-image``
    A volume of kind ``non-image`` (listed, not loadable).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from .data import SHARED_DATA

__all__ = [
    "Case",
    "Sources",
    "CASES",
    "build_corpus",
    "stored_pixels",
    "expected_hu",
    "tiny_series",
    "image_ds",
    "save",
    "GOOD_SHAPES",
    "RUNNING_AS_ROOT",
    "digest",
    "sources",
]

UID_PREFIX = "1.2.826.0.1.3680043.10.1505.77."
STUDY_UID = UID_PREFIX + "1"
FOR_UID = UID_PREFIX + "2"
ROWS = COLS = 8
INTERCEPT = -1000
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def uid(*parts: object) -> str:
    """A deterministic UID for ``parts``."""
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=[str(p) for p in parts])


def stored_pixels(k: int, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """Stored values of slice ``k`` of a tiny series: a ramp plus 100 per slice (int16)."""
    return (np.arange(rows * cols, dtype=np.int32).reshape(rows, cols) % 997 + 100 * k).astype(np.int16)


def expected_hu(ks: Sequence[int], rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """What loading slices ``ks`` must give (rescale applied by hand)."""
    return np.stack([stored_pixels(k, rows, cols).astype(np.int32) + INTERCEPT for k in ks]).astype(np.int16)


@dataclass
class Case:
    """One kind of input and what a correct pipeline makes of it."""

    name: str
    what: str
    outcome: str  # load | warn | skip | split | non-image
    match: str = ""
    bad: list[str] = field(default_factory=list)  # paths (relative to the corpus root) that must be skipped
    expect: dict[str, Any] = field(default_factory=dict)
    needs: str = ""  # "shared" when built from ../shared/data

    @property
    def folder(self) -> str:
        return self.name


@dataclass
class Sources:
    """Where cases copy real files from: the synthetic study and (optionally) ../shared/data."""

    synthetic: Path
    shared: Path | None = None

    def synthetic_file(self, i: int = 3) -> Path:
        return sorted(p for p in self.synthetic.iterdir() if p.is_file())[i]


# ----------------------------------------------------------------------------- writing


def image_ds(
    series_uid: str,
    number: int,
    k: int,
    *,
    rows: int = ROWS,
    cols: int = COLS,
    description: str = "corpus",
    position: Sequence[float] | None = None,
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    spacing: Sequence[float] = (0.5, 0.5),
    step: float = 2.0,
    sop_uid: str | None = None,
    instance: int | None = None,
) -> Dataset:
    """One tiny CT slice: slice ``k`` of a series, stacked along the orientation's normal."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid or uid("sop", series_uid, k)
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.StudyID = "77"
    ds.Modality = "CT"
    ds.Manufacturer = "CORPUS"
    ds.PatientName = "CORPUS^CASE"
    ds.PatientID = "CORPUS"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FOR_UID
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = instance if instance is not None else k + 1
    ds.ConvolutionKernel = "STANDARD"
    ds.SliceThickness = f"{step:g}"
    o = np.asarray(orientation, float)
    normal = np.cross(o[:3], o[3:])
    pos = np.asarray(position, float) if position is not None else np.array([-2.0, -2.0, 10.0]) + k * step * normal
    ds.ImagePositionPatient = [f"{v:.6g}" for v in pos]
    ds.ImageOrientationPatient = [f"{v:.6g}" for v in orientation]
    ds.PixelSpacing = [f"{v:g}" for v in spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = str(INTERCEPT)
    ds.RescaleSlope = "1"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.PixelData = stored_pixels(k, rows, cols).tobytes()
    return ds


def save(
    ds: Dataset, path: Path, *, preamble: bool = True, meta: bool = True, implicit: bool = False, ts: str | None = None
) -> Path:
    """Write ``ds``: a normal Part 10 file, or without preamble and/or file meta header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if meta:
        fm = FileMetaDataset()
        fm.MediaStorageSOPClassUID = ds.SOPClassUID
        fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        fm.TransferSyntaxUID = ts or (ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian)
        fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = fm
    ds.preamble = b"\0" * 128 if preamble else None
    if meta and preamble:
        ds.save_as(path, enforce_file_format=True, implicit_vr=implicit, little_endian=True)
    else:
        with open(path, "wb") as fh:
            if meta:
                from pydicom.filewriter import write_file_meta_info

                bio = pydicom.filebase.DicomBytesIO()
                write_file_meta_info(bio, ds.file_meta, enforce_standard=True)
                fh.write(bio.getvalue())
            bio = pydicom.filebase.DicomBytesIO()
            bio.is_little_endian = True
            bio.is_implicit_VR = implicit
            pydicom.filewriter.write_dataset(bio, ds)
            fh.write(bio.getvalue())
    return path


def tiny_series(
    out: Path,
    number: int,
    n: int = 5,
    *,
    prefix: str = "im",
    edit: Callable[[int, Dataset], Dataset | None] | None = None,
    **kw: Any,
) -> list[Path]:
    """Write an ``n``-slice tiny series into ``out``; ``edit(k, ds)`` may change (or drop: return None) slices."""
    series_uid = uid("series", out.name, number)
    paths = []
    for k in range(n):
        ds = image_ds(series_uid, number, k, **kw)
        if edit is not None:
            ds = edit(k, ds)
            if ds is None:
                continue
        paths.append(save(ds, out / f"{prefix}{k:03d}.dcm"))
    return paths


def raw(ds: Dataset, keyword: str, value: bytes) -> None:
    """Store ``value`` as the undecoded bytes of ``keyword`` (so invalid numbers reach the file as they are)."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement

    tag = tag_for_keyword(keyword)
    if len(value) % 2:
        value += b" "
    ds[tag] = RawDataElement(pydicom.tag.Tag(tag), dictionary_VR(tag), len(value), value, 0, False, True)


def _rel(root: Path, *paths: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in paths]


# ----------------------------------------------------------------------------- cases

Builder = Callable[[Path, Path, Sources, int], Case]
_BUILDERS: list[Builder] = []


def case(fn: Builder) -> Builder:
    _BUILDERS.append(fn)
    return fn


@case
def zero_byte(root: Path, d: Path, src: Sources, n: int) -> Case:
    p = d / "empty.dcm"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"")
    return Case("zero_byte", "a file of 0 bytes named .dcm", "skip", "empty", _rel(root, p))


@case
def truncated_header(root: Path, d: Path, src: Sources, n: int) -> Case:
    d.mkdir()
    data = src.synthetic_file().read_bytes()
    paths = []
    for cut in (200, 600, 1000):  # inside the meta header, after the patient module, before the pixels
        p = d / f"cut{cut}.dcm"
        p.write_bytes(data[:cut])
        paths.append(p)
    return Case("truncated_header", "synthetic CT files cut inside their header", "skip", "truncated", _rel(root, *paths))


@case
def truncated_pixels(root: Path, d: Path, src: Sources, n: int) -> Case:
    paths = tiny_series(d, n, 5)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 40])
    return Case(
        "truncated_pixels",
        "slice 3 of 5 lost the last 40 bytes of its pixel data",
        "warn",
        "missing 1 slice",
        _rel(root, paths[2]),
        {"shape": (4, ROWS, COLS), "slices": [0, 1, 3, 4], "skip_match": "truncated"},
    )


@case
def junk_text(root: Path, d: Path, src: Sources, n: int) -> Case:
    d.mkdir()
    p = d / "notes.dcm"
    p.write_text("Patient is a 54 year old male.\nThis is not DICOM at all.\n" * 20)
    return Case("junk_text", "a text file named .dcm", "skip", "not a dicom", _rel(root, p))


@case
def junk_binary(root: Path, d: Path, src: Sources, n: int) -> Case:
    d.mkdir()
    rng = np.random.default_rng(7)
    p1 = d / "random.dcm"
    p1.write_bytes(b"\x89PNG" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    p2 = d / "zeros.dcm"
    p2.write_bytes(b"\0" * 4096)
    p3 = d / "image.jpg.dcm"
    p3.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    return Case("junk_binary", "binary junk (PNG/JPEG-like, zeros) named .dcm", "skip", "", _rel(root, p1, p2, p3))


@case
def dicm_garbage(root: Path, d: Path, src: Sources, n: int) -> Case:
    d.mkdir()
    rng = np.random.default_rng(11)
    paths = []
    for i in range(3):
        p = d / f"dicm{i}.dcm"
        p.write_bytes(b"\0" * 128 + b"DICM" + rng.integers(0, 256, 500 * (i + 1), dtype=np.uint8).tobytes())
        paths.append(p)
    p = d / "dicm_text.dcm"
    p.write_bytes(b"\0" * 128 + b"DICM" + b"garbage " * 100)
    paths.append(p)
    return Case("dicm_garbage", "a preamble and 'DICM' followed by garbage", "skip", "", _rel(root, *paths))


@case
def no_preamble_raw(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 4, edit=lambda k, ds: _save_raw(ds, d / f"raw{k}.dcm"))
    return Case("no_preamble_raw", "implicit VR data set without preamble or meta header (ACR-NEMA style)", "load",
                expect={"shape": (4, ROWS, COLS)})  # fmt: skip


def _save_raw(ds: Dataset, p: Path) -> None:
    save(ds, p, preamble=False, meta=False, implicit=True)


@case
def no_preamble_meta(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 4, edit=lambda k, ds: save(ds, d / f"nopre{k}.dcm", preamble=False) and None)
    return Case("no_preamble_meta", "file meta header and data set, but no 128-byte preamble and no 'DICM'", "load",
                expect={"shape": (4, ROWS, COLS)})  # fmt: skip


@case
def dicomdir(root: Path, d: Path, src: Sources, n: int) -> Case:
    from pydicom.fileset import FileSet

    staging = root / ".." / f"{root.name}_staging"
    files = tiny_series(staging, n, 3)
    fs = FileSet()
    for p in files:
        fs.add(pydicom.dcmread(p))
    d.mkdir()
    fs.write(d)
    shutil.rmtree(staging)
    return Case("dicomdir", "a DICOMDIR media index next to the images it lists", "load", "",
                _rel(root, d / "DICOMDIR"), {"shape": (3, ROWS, COLS), "skip_match": "dicomdir"})  # fmt: skip


def _drop(keyword: str, which: Callable[[int], bool] = lambda k: True) -> Callable[[int, Dataset], Dataset]:
    def edit(k: int, ds: Dataset) -> Dataset:
        if which(k) and keyword in ds:
            del ds[keyword]
        return ds

    return edit


@case
def missing_position_one(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 5, edit=_drop("ImagePositionPatient", lambda k: k == 2))
    return Case("missing_position_one", "one slice of five lacks ImagePositionPatient", "split", "ImagePositionPatient",
                expect={"volumes": 3, "warn": ["missing 1 slice", "lack ImagePositionPatient"]})  # fmt: skip


@case
def missing_position_all(root: Path, d: Path, src: Sources, n: int) -> Case:
    # instance numbers run against the file names, so the order must come from InstanceNumber
    def edit(k: int, ds: Dataset) -> Dataset:
        del ds.ImagePositionPatient
        ds.InstanceNumber = 5 - k
        return ds

    tiny_series(d, n, 5, edit=edit)
    return Case("missing_position_all", "no slice has ImagePositionPatient", "warn", "lack ImagePositionPatient",
                expect={"shape": (5, ROWS, COLS), "slices": [4, 3, 2, 1, 0]})  # fmt: skip


@case
def missing_orientation(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 5, edit=_drop("ImageOrientationPatient"))
    return Case("missing_orientation", "no slice has ImageOrientationPatient", "warn", "ImageOrientationPatient",
                expect={"shape": (5, ROWS, COLS)})  # fmt: skip


@case
def missing_pixel_spacing(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 5, edit=_drop("PixelSpacing"))
    return Case("missing_pixel_spacing", "no PixelSpacing and no other spacing tag", "warn", "no PixelSpacing",
                expect={"shape": (5, ROWS, COLS), "spacing": (2.0, 1.0, 1.0)})  # fmt: skip


@case
def imager_pixel_spacing(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        del ds.PixelSpacing
        ds.ImagerPixelSpacing = ["0.7", "0.6"]
        return ds

    tiny_series(d, n, 5, edit=edit)
    return Case("imager_pixel_spacing", "no PixelSpacing, but ImagerPixelSpacing (the standard fallback)", "warn",
                "ImagerPixelSpacing", expect={"shape": (5, ROWS, COLS), "spacing": (2.0, 0.7, 0.6)})  # fmt: skip


@case
def nan_position(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        if k == 1:
            raw(ds, "ImagePositionPatient", b"NaN\\0\\12 ")
        return ds

    tiny_series(d, n, 5, edit=edit)
    return Case("nan_position", "one slice's ImagePositionPatient holds NaN", "split", "ImagePositionPatient",
                expect={"volumes": 3, "warn": ["missing 1 slice", "ImagePositionPatient"]})  # fmt: skip


@case
def text_in_numbers(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        raw(ds, "SliceThickness", b"thick ")
        raw(ds, "RescaleSlope", b"one ")
        raw(ds, "WindowCenter", b"soft")
        raw(ds, "InstanceNumber", b"seven ")
        raw(ds, "SpacingBetweenSlices", b"nan ")
        return ds

    tiny_series(d, n, 5, edit=edit)
    return Case("text_in_numbers", "text and NaN in SliceThickness, RescaleSlope, WindowCenter, InstanceNumber", "warn",
                "RescaleSlope", expect={"shape": (5, ROWS, COLS), "slices": [0, 1, 2, 3, 4]})  # fmt: skip


@case
def rows_differ(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        if k >= 3:
            ds.Rows = ds.Columns = 4
            ds.PixelData = stored_pixels(k, 4, 4).tobytes()
        return ds

    tiny_series(d, n, 5, edit=edit)
    return Case("rows_differ", "two of five slices are 4 x 4 instead of 8 x 8", "split", "Rows/Columns",
                expect={"volumes": 2, "shapes": [(3, ROWS, COLS), (2, 4, 4)]})  # fmt: skip


@case
def duplicate_sop(root: Path, d: Path, src: Sources, n: int) -> Case:
    paths = tiny_series(d, n, 5)
    shutil.copyfile(paths[1], d / "copy_of_im001.dcm")
    return Case("duplicate_sop", "one file copied under another name (same SOPInstanceUID)", "warn", "duplicate",
                expect={"shape": (5, ROWS, COLS), "slices": [0, 1, 2, 3, 4]})  # fmt: skip


@case
def duplicate_position(root: Path, d: Path, src: Sources, n: int) -> Case:
    series_uid = uid("series", d.name, n)

    def edit(k: int, ds: Dataset) -> Dataset:
        return ds

    tiny_series(d, n, 5, edit=edit)
    extra = image_ds(series_uid, n, 2, sop_uid=uid("extra", d.name), instance=99)
    extra.PixelData = stored_pixels(50).tobytes()
    save(extra, d / "extra.dcm")
    return Case("duplicate_position", "two different images at one slice position", "warn", "same position",
                expect={"shape": (5, ROWS, COLS), "slices": [0, 1, 2, 3, 4]})  # fmt: skip


@case
def missing_slice(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 6, edit=lambda k, ds: None if k == 3 else ds)
    return Case("missing_slice", "slice 4 of 6 is not there", "warn", "missing 1 slice",
                expect={"shape": (5, ROWS, COLS), "slices": [0, 1, 2, 4, 5]})  # fmt: skip


@case
def gantry_tilt(root: Path, d: Path, src: Sources, n: int) -> Case:
    tilt = 15.0

    def edit(k: int, ds: Dataset) -> Dataset:
        ds.GantryDetectorTilt = f"{tilt:g}"
        y = -2.0 + k * 2.0 * np.tan(np.radians(tilt))
        ds.ImagePositionPatient = [f"{v:.6g}" for v in (-2.0, y, 10.0 + 2.0 * k)]
        return ds

    tiny_series(d, n, 5, edit=edit)
    return Case("gantry_tilt", "axial slices sheared by a 15 degree gantry tilt", "warn", "gantry tilt",
                expect={"shape": (5, ROWS, COLS), "slices": [0, 1, 2, 3, 4], "tilt": tilt})  # fmt: skip


@case
def sagittal(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 5, orientation=(0, 1, 0, 0, 0, -1), spacing=(0.7, 0.6), step=1.5)
    return Case("sagittal", "a sagittal series", "load",
                expect={"shape": (5, ROWS, COLS), "slices": [0, 1, 2, 3, 4], "orientation": "sagittal", "sitk": True})  # fmt: skip


@case
def oblique(root: Path, d: Path, src: Sources, n: int) -> Case:
    a = np.radians(30)
    iop = (np.cos(a), np.sin(a), 0.0, 0.0, 0.0, -1.0)
    tiny_series(d, n, 5, orientation=iop, spacing=(0.8, 0.8), step=3.0)
    return Case("oblique", "a series tilted 30 degrees from sagittal", "load",
                expect={"shape": (5, ROWS, COLS), "slices": [0, 1, 2, 3, 4], "orientation": "oblique", "sitk": True})  # fmt: skip


@case
def one_slice(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 1)
    return Case("one_slice", "a series of one image", "load", expect={"shape": (1, ROWS, COLS), "slices": [0]})


@case
def huge_declared(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        ds.Rows = ds.Columns = 65535
        ds.NumberOfFrames = 2000
        return ds

    paths = tiny_series(d, n, 1, edit=edit)
    return Case("huge_declared", "declares 65535 x 65535 x 2000 frames (16 TB) in a file of a few hundred bytes", "skip",
                "pixel data", _rel(root, *paths))  # fmt: skip


@case
def unknown_transfer_syntax(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 3, edit=lambda k, ds: save(ds, d / f"ts{k}.dcm", ts="1.2.826.0.1.3680043.10.1505.77.999") and None)
    return Case("unknown_transfer_syntax", "a transfer syntax UID no decoder knows", "warn", "no installed decoder",
                expect={"unloadable": True})  # fmt: skip


@case
def permission_denied(root: Path, d: Path, src: Sources, n: int) -> Case:
    paths = tiny_series(d, n, 5)
    paths[2].chmod(0)
    return Case("permission_denied", "a file without read permission (chmod 000)", "warn", "missing 1 slice",
                _rel(root, paths[2]), {"shape": (4, ROWS, COLS), "slices": [0, 1, 3, 4], "skip_match": "permission denied"})  # fmt: skip


@case
def symlink_loop(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 3)
    (d / "loop").symlink_to(".", target_is_directory=True)
    (d / "sub").mkdir()
    (d / "sub" / "back").symlink_to("..", target_is_directory=True)
    (d / "self.dcm").symlink_to("self.dcm")
    return Case("symlink_loop", "folder links to itself and its parent; a link to itself", "load", "",
                _rel(root, d / "self.dcm"), {"shape": (3, ROWS, COLS), "slices": [0, 1, 2], "skip_match": "link"})  # fmt: skip


@case
def broken_symlink(root: Path, d: Path, src: Sources, n: int) -> Case:
    d.mkdir()
    (d / "gone.dcm").symlink_to(d / "does-not-exist.dcm")
    return Case("broken_symlink", "a symbolic link to a file that does not exist", "skip", "broken symbolic link",
                _rel(root, d / "gone.dcm"))  # fmt: skip


@case
def fifo(root: Path, d: Path, src: Sources, n: int) -> Case:
    d.mkdir()
    p = d / "pipe.dcm"
    os.mkfifo(p)
    return Case("fifo", "a named pipe called .dcm (opening it would block)", "skip", "not a regular file", _rel(root, p))


@case
def non_ascii_paths(root: Path, d: Path, src: Sources, n: int) -> Case:
    sub = d / "Ünïcødé 患者 Ñandú"
    for k, p in enumerate(tiny_series(sub, n, 4)):
        p.rename(sub / f"图像 é {k:02d} ☃.dcm")
    return Case("non_ascii_paths", "non-ASCII folder and file names (Latin, CJK, symbols, spaces)", "load",
                expect={"shape": (4, ROWS, COLS), "slices": [0, 1, 2, 3]})  # fmt: skip


def _charset_case(name: str, charset: str | list[str], patient: str, description: str) -> Builder:
    def build(root: Path, d: Path, src: Sources, n: int) -> Case:
        def edit(k: int, ds: Dataset) -> Dataset:
            ds.SpecificCharacterSet = charset
            ds.PatientName = patient
            ds.SeriesDescription = description
            return ds

        tiny_series(d, n, 3, edit=edit)
        return Case(name, f"SpecificCharacterSet {charset!r}", "load",
                    expect={"shape": (3, ROWS, COLS), "description": description, "patient": patient})  # fmt: skip

    build.__name__ = name
    return build


case(_charset_case("charset_gb18030", "GB18030", "王^小明", "胸部 CT 肺窗 ₠"))
case(_charset_case("charset_utf8", "ISO_IR 192", "Müller^Jürgen", "Thorax ünd Lüngé 肺 ✓"))
case(_charset_case("charset_iso2022_ir87", ["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう", "胸部単純"))


@case
def charset_wrong_bytes(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.add_new("SeriesDescription", "LO", b"Th\xf6rax \xe9tude")  # Latin-1 bytes, not UTF-8
        return ds

    tiny_series(d, n, 3, edit=edit)
    return Case("charset_wrong_bytes", "declares UTF-8 but holds Latin-1 bytes", "load",
                expect={"shape": (3, ROWS, COLS), "description_startswith": "Th"})  # fmt: skip


@case
def private_unknown_creator(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        block = ds.private_block(0x0029, "ACME UNKNOWN VENDOR 1.0", create=True)
        block.add_new(0x10, "OB", bytes(range(256)) * 4)
        block.add_new(0x11, "UN", b"\x01\x02\x03\x04")
        block.add_new(0x12, "LO", "secret")
        ds.add_new(0x00431099, "UN", b"orphan private tag without a creator")
        ds.add_new(0x00091001, "LO", "creatorless")
        return ds

    tiny_series(d, n, 3, edit=edit)
    return Case("private_unknown_creator", "private tags of an unknown creator, and private tags without a creator", "load",
                expect={"shape": (3, ROWS, COLS), "slices": [0, 1, 2], "private": True})  # fmt: skip


@case
def no_series_uid(root: Path, d: Path, src: Sources, n: int) -> Case:
    paths = tiny_series(d, n, 2, edit=_drop("SeriesInstanceUID"))
    return Case("no_series_uid", "images without SeriesInstanceUID", "skip", "SeriesInstanceUID", _rel(root, *paths))


@case
def structured_report(root: Path, d: Path, src: Sources, n: int) -> Case:
    ds = Dataset()
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = uid("sr", n)
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = uid("sr-series", n)
    ds.SeriesNumber = n
    ds.Modality = "SR"
    ds.SeriesDescription = "dose report"
    save(ds, d / "sr.dcm")
    return Case("structured_report", "a structured report (no pixel data)", "non-image", "without pixel data")


@case
def parallel_orientation(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        ds.ImageOrientationPatient = ["1", "0", "0", "1", "0", "0"]
        return ds

    tiny_series(d, n, 4, edit=edit)
    return Case("parallel_orientation", "ImageOrientationPatient whose row and column are the same direction", "warn",
                "ImageOrientationPatient", expect={"shape": (4, ROWS, COLS)})  # fmt: skip


@case
def zero_pixel_spacing(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        ds.PixelSpacing = ["0", "-0.5"]
        return ds

    tiny_series(d, n, 4, edit=edit)
    return Case("zero_pixel_spacing", "PixelSpacing of 0 and -0.5 mm", "warn", "PixelSpacing",
                expect={"shape": (4, ROWS, COLS), "spacing": (2.0, 1.0, 1.0)})  # fmt: skip


@case
def same_position(root: Path, d: Path, src: Sources, n: int) -> Case:
    tiny_series(d, n, 4, position=(0.0, 0.0, 0.0))
    return Case("same_position", "every image at the same position, no time tag: read as time points", "warn", "no tag tells them apart",
                expect={"shape": (4, 1, ROWS, COLS)})  # fmt: skip


@case
def bad_bits_allocated(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        ds.BitsAllocated = 12
        ds.BitsStored = 12
        ds.HighBit = 11
        return ds

    tiny_series(d, n, 3, edit=edit)
    return Case("bad_bits_allocated", "BitsAllocated 12 (packed pixels, not supported)", "warn", "BitsAllocated",
                expect={"unloadable": True})  # fmt: skip


@case
def damaged_vr(root: Path, d: Path, src: Sources, n: int) -> Case:
    def edit(k: int, ds: Dataset) -> Dataset:
        ds.CTDIvol = 1.5
        return ds

    paths = tiny_series(d, n, 3, edit=edit)
    for p in paths:  # VR codes no dictionary knows: SeriesNumber 'Is', SeriesDescription 'Lo'
        data = p.read_bytes()
        fd = b"\x18\x00\x45\x93FD\x08\x00" + struct.pack("<d", 1.5)
        assert data.count(fd) == 1
        data = data.replace(fd, b"\x18\x00\x45\x93FD\x04\x00abcd")  # an FD (8 bytes) of 4 bytes
        for tag, vr, bad in ((b"\x20\x00\x11\x00", b"IS", b"Is"), (b"\x08\x00\x3e\x10", b"LO", b"Lo")):
            assert data.count(tag + vr) == 1
            data = data.replace(tag + vr, tag + bad)
        p.write_bytes(data)
    return Case("damaged_vr", "elements with an unknown VR code ('Is', 'Lo') and an FD value of 4 bytes", "warn", "invalid VR",
                expect={"shape": (3, ROWS, COLS), "slices": [0, 1, 2], "description": "corpus",
                        "warn": ["SeriesNumber", "kept as raw bytes: CTDIvol"]})  # fmt: skip


@case
def real_truncated(root: Path, d: Path, src: Sources, n: int) -> Case:
    assert src.shared is not None
    d.mkdir()
    files = sorted((src.shared / "ct_ge_lightspeed_lung").glob("*.dcm"))[:3]
    paths = []
    for f in files[:2]:
        data = f.read_bytes()
        p = d / f"half_{f.name}"
        p.write_bytes(data[: len(data) // 2])
        paths.append(p)
    data = files[2].read_bytes()
    p = d / f"head_{files[2].name}"
    p.write_bytes(data[:2000])
    paths.append(p)
    return Case(
        "real_truncated", "real GE CT files cut in half / after 2 KB", "skip", "truncated", _rel(root, *paths), needs="shared"
    )


@case
def real_unknown_transfer_syntax(root: Path, d: Path, src: Sources, n: int) -> Case:
    assert src.shared is not None
    d.mkdir()
    f = sorted((src.shared / "ct_ge_lightspeed_lung").glob("*.dcm"))[0]
    ds = pydicom.dcmread(f)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no image decoder here
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.SeriesInstanceUID = uid("real-ts", n)
    ds.SeriesNumber = n
    ds.save_as(d / "mpeg2.dcm", enforce_file_format=True)
    return Case("real_unknown_transfer_syntax", "a real CT slice labelled with a video transfer syntax", "warn",
                "no installed decoder", expect={"unloadable": True}, needs="shared")  # fmt: skip


@case
def real_enhanced_missing_items(root: Path, d: Path, src: Sources, n: int) -> Case:
    assert src.shared is not None
    d.mkdir()
    f = sorted((src.shared / "enhanced_siemens_xa10").glob("*.dcm"))[0]
    ds = pydicom.dcmread(f)
    del ds.PerFrameFunctionalGroupsSequence[3:]
    ds.SeriesInstanceUID = uid("real-enh", n)
    ds.SeriesNumber = n
    ds.save_as(d / "enhanced.dcm", enforce_file_format=True)
    return Case("real_enhanced_missing_items", "enhanced MR with 3 per-frame items for 6 frames", "warn",
                "PerFrameFunctionalGroupsSequence", needs="shared")  # fmt: skip


CASES: tuple[str, ...] = tuple(b.__name__ for b in _BUILDERS)
FIRST_NUMBER = 100


def build_corpus(root: Path, src: Sources, names: Sequence[str] | None = None) -> list[Case]:
    """Write the cases (all, or ``names``) into ``root/<case name>/``; return their records.

    Each case gets its own SeriesNumber (100, 101, ...) so it never collides
    with a good study copied next to it. Cases built from ../shared/data are
    left out when ``src.shared`` is None.
    """
    root.mkdir(parents=True, exist_ok=True)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's complaints about the invalid values written on purpose
        for i, build in enumerate(_BUILDERS):
            if names is not None and build.__name__ not in names:
                continue
            if build.__name__.startswith("real_") and src.shared is None:
                continue
            out.append(build(root, root / build.__name__, src, FIRST_NUMBER + i))
    return out


def restore_permissions(root: Path) -> None:
    """Give back read permission to files a case took it from (so the folder can be deleted and hashed)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink() and p.is_file() and not p.stat().st_mode & stat.S_IRUSR:
                p.chmod(0o644)


def split_pixel_offset(path: Path) -> int:
    """Byte offset of the PixelData element of an explicit-VR little-endian file (for tests that cut pixel data)."""
    data = path.read_bytes()
    i = data.rfind(struct.pack("<HH", 0x7FE0, 0x0010))
    if i < 0:
        raise ValueError(f"{path}: no PixelData element")
    return i


def many_tiny_files(out: Path, n: int, *, number: int = 900, per_series: int = 1000) -> list[Path]:
    """Write ``n`` tiny (2 x 2) CT files fast: ``n // per_series`` series of ``per_series`` slices.

    One file is written with pydicom as a template; the others are byte copies
    with fixed-width fields (SOPInstanceUID, SeriesInstanceUID, InstanceNumber,
    z position, pixel values) replaced, so 10,000 files take about a second.
    """
    out.mkdir(parents=True, exist_ok=True)
    sop_mark, ser_mark = "9" * 12, "8" * 12
    ds = image_ds(
        UID_PREFIX + "5." + ser_mark, number, 0, rows=2, cols=2, sop_uid=UID_PREFIX + "6." + sop_mark, description="many"
    )
    ds.InstanceNumber = "777777"  # fixed width: 6 digits
    ds.ImagePositionPatient = ["-0.5", "-0.5", "55555.5"]  # z: 7 characters
    ds.PixelData = b"\x11\x11\x22\x22\x33\x33\x44\x44"
    template = save(ds, out / "template.tmp").read_bytes()
    (out / "template.tmp").unlink()
    for mark in (sop_mark.encode(), ser_mark.encode(), b"777777", b"55555.5", b"\x11\x11\x22\x22\x33\x33\x44\x44"):
        assert template.count(mark) >= 1, mark
    paths = []
    for i in range(n):
        s, k = divmod(i, per_series)
        data = (
            template.replace(sop_mark.encode(), f"{i:012d}".encode())
            .replace(ser_mark.encode(), f"{s:012d}".encode())
            .replace(b"777777", f"{k + 1:06d}".encode())
            .replace(b"55555.5", f"{k * 0.5:07.1f}".encode())
            .replace(b"\x11\x11\x22\x22\x33\x33\x44\x44", np.array([k, k + 1, k + 2, i % 30000], "<i2").tobytes())
        )
        p = out / f"{(i * 7919) % 1000003:07d}_{i}.dcm"  # names in no particular order
        p.write_bytes(data)
        paths.append(p)
    return paths


# ----------------------------------------------------------------------------- shared by the corpus tests of every tier

#: The synthetic study (scale 0.125): series number -> shape.
GOOD_SHAPES = {1: (1, 118, 122), 2: (9, 64, 64), 3: (9, 64, 64), 4: (33, 64, 64), 5: (33, 64, 64)}
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def digest(root: Path) -> dict[str, tuple[int, str]]:
    """(mode, SHA-256) of every regular file under ``root`` (links and special files not followed)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):  # os.walk does not follow directory links: loops end
        for name in files:
            p = Path(dirpath) / name
            st = p.lstat()
            if not p.is_symlink() and p.is_file():
                try:
                    h = hashlib.sha256(p.read_bytes()).hexdigest()
                except PermissionError:
                    h = "unreadable"
                out[str(p.relative_to(root))] = (st.st_mode, h)
    return out


def sources(synthetic_study: Path) -> Sources:
    """The corpus sources: the synthetic study, and ../shared/data when present."""
    return Sources(synthetic_study, SHARED_DATA if SHARED_DATA.is_dir() else None)

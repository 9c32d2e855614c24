"""Scan: find the DICOM files under a path and read their headers, never their pixels.

:func:`scan` walks a folder (or takes one file or a list of files; see
:mod:`files`), reads the header of every DICOM file (:func:`read_header`) and
returns a :class:`ScanResult`: one :class:`DicomFile` per readable file, each
holding one :class:`~frame.Frame` per 2-D image (one for a classic file, one
per frame of an enhanced multi-frame file, whose geometry comes from its
functional groups, one per tile of a Siemens mosaic), and a :class:`Skipped`
entry with a reason for everything else.

Headers of little-endian files are read by the fast parser (:mod:`rawheader`),
which never imports pydicom; big endian, deflate and odd files go through
pydicom (``stop_before_pixels``). Both readers are seen through the accessors
of :mod:`elements`, so one function (``_describe``) makes the
:class:`DicomFile` and one (:func:`frame.build_frame`) every frame. The checks
of header values are in :mod:`checks`, the pydicom path in :mod:`dataset`.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, BinaryIO

from . import enhanced, rawheader, siemens, tags, uids
from .checks import (
    ELSCINT_CREATOR,
    NON_IMAGE_SOP_CLASSES,
    is_image_class,
    pixel_problem,
    raw_spacing_fallback,
    raw_value_warnings,
    spacing_fallback,
    value_warnings,
    vendor_compression,
)
from .dataset import deflated_has_pixels, read_dataset, tame
from .elements import DsItem, Item, RawItem, is_multivalue, memo_lookup, remember, to_float, to_int
from .errors import Cancelled, NotDicomError
from .files import is_dicom, iter_paths, looks_like_raw_dataset, not_regular
from .frame import Frame, build_frame, build_raw_frame
from .siemens import Mosaic
from .syntax import DEFLATE, decoder_for, pixel_element

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "DicomFile",
    "Frame",
    "ScanResult",
    "Skipped",
    "scan",
    "read_header",
    "read_path",
    "NON_IMAGE_SOP_CLASSES",
    "DESCRIPTIVE",
    # re-exported from files, syntax and elements (their home) for existing imports
    "iter_paths",
    "is_dicom",
    "decoder_for",
    "pixel_element",
    "is_multivalue",
]

#: Descriptive text tags every file keeps in ``DicomFile.tags`` (what the volume summary shows).
DESCRIPTIVE = (
    "SeriesDescription",
    "Manufacturer",
    "ConvolutionKernel",
    "SeriesNumber",
    "AcquisitionDateTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentTime",
    "InstanceCreationTime",
    "GantryDetectorTilt",
)
#: ``DESCRIPTIVE`` with each keyword's tag, and whether its VR is IS.
_DESCRIPTIVE_TAGS = tuple((k, getattr(tags, k), tags.VR.get(getattr(tags, k)) == "IS") for k in DESCRIPTIVE)
_PIXEL_TAGS = frozenset({tags.PixelData, tags.FloatPixelData, tags.DoubleFloatPixelData})


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
    #: descriptive text values read with the header (SeriesDescription, Manufacturer, ... see ``DESCRIPTIVE``),
    #: so grouping and classifying need no pydicom data set
    tags: dict[str, str] = field(default_factory=dict)
    _dataset: Dataset | None = None

    @property
    def dataset(self) -> Dataset:
        """The full header (pydicom data set without pixel data), read on first use."""
        if self._dataset is None:
            try:
                self._dataset = read_dataset(self.path)
                self.warnings.extend(tame(self._dataset, self.path))
            except NotDicomError as exc:  # changed since the scan, or beyond pydicom: keep going without its tags
                from pydicom.dataset import Dataset

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


def _descriptive(src: Item) -> dict[str, str]:
    """The :data:`DESCRIPTIVE` text values of a file, as pydicom shows them (an IS value as an integer)."""
    if isinstance(src, RawItem):
        return _raw_descriptive(src)
    out = {}
    for keyword, tag, is_is in _DESCRIPTIVE_TAGS:
        text = _descriptive_value(src, tag, is_is)
        if text:
            out[keyword] = text
    return out


def _descriptive_value(src: Item, tag: int, is_is: bool) -> str:
    text = src.string(tag)
    if text and is_is:
        try:
            int(text)
        except ValueError:
            number = to_float(text)  # pydicom reads "5.0" as 5
            text = str(int(number)) if number is not None else text
    return text


#: SpecificCharacterSet -> per tag of ``_DESCRIPTIVE_TAGS``: (tag, raw element -> its descriptive text, "") as
#: :func:`elements.memo_lookup` reads them (see :func:`_raw_descriptive`).
_DESCRIPTIVE_MEMO: dict[str, tuple[tuple[int, dict[tuple[bytes, Any], str], str], ...]] = {}


def _raw_descriptive(src: RawItem) -> dict[str, str]:
    """:func:`_descriptive` of a header read by :mod:`rawheader`, each text repeated across files decoded once.

    A text depends on its raw element and the character set alone, so it is memoized by both (description,
    manufacturer, kernel ... repeat in every file of a series).
    """
    specs = _DESCRIPTIVE_MEMO.get(src.charset)
    if specs is None:
        specs = remember(_DESCRIPTIVE_MEMO, src.charset, tuple((tag, {}, "") for _, tag, _ in _DESCRIPTIVE_TAGS))
    d = src.d
    texts, missed = memo_lookup(d, specs)  # "" for an absent tag
    for i in missed:
        _, tag, is_is = _DESCRIPTIVE_TAGS[i]
        texts[i] = remember(specs[i][1], d[tag], _descriptive_value(src, tag, is_is))
    return {keyword: text for keyword, text in zip(DESCRIPTIVE, texts, strict=True) if text}


# ----------------------------------------------------------------------------- headers

#: Tags the fast parser keeps: those the scan and the frame builder read, and the private blocks it looks into
#: (Siemens MR header and CSA header in groups 0019 / 0029, the Elscint compression type in 07A1).
_FAST_TAGS = frozenset(
    {getattr(tags, name) for name in tags.__all__ if name != "VR"}
    | {(g << 16) | b for g in (0x0019, 0x0029, 0x07A1) for b in (0x10, 0x11, 0x12)}
    | {(g << 16) | (b << 8) | e for g, e in ((0x0019, 0x0A), (0x0029, 0x10), (0x07A1, 0x11)) for b in (0x10, 0x11, 0x12)}
)
#: Tags whose presence sends a file to pydicom: DICOMDIR records.
_NEEDS_PYDICOM = {tags.DirectoryRecordSequence}
_MEDIA_STORAGE_SOP_CLASS, _MEDIA_STORAGE_SOP_INSTANCE = 0x00020002, 0x00020003


def _open(path: str) -> BinaryIO:
    """The file, unbuffered.

    The header is read in a few large reads (:func:`_read_at_most`, :mod:`rawheader`); the pydicom path buffers it
    (:func:`_buffered`).
    """
    return open(path, "rb", buffering=0)


def _read_at_most(fh: BinaryIO, n: int) -> bytes:
    """``n`` bytes of the (unbuffered) file from its position, fewer only at its end.

    A read may return fewer bytes than asked before the end (network and FUSE file systems do): read on.
    """
    data = fh.read(n)
    while len(data) < n:
        more = fh.read(n - len(data))
        if not more:
            break
        data += more
    return data


@contextmanager
def _buffered(fh: BinaryIO) -> Iterator[BinaryIO]:
    """``fh`` buffered for pydicom (which reads a header element by element), from its start; ``fh`` stays open."""
    fh.seek(0)
    if not isinstance(fh, io.RawIOBase):
        yield fh
        return
    buffered = io.BufferedReader(fh)
    try:
        yield buffered
    finally:
        buffered.detach()


def read_header(path: str | os.PathLike[str], st: os.stat_result | None = None) -> DicomFile:
    """Read the header of one DICOM file (no pixel data) into a :class:`DicomFile`.

    Parameters
    ----------
    path : path
        The file.
    st : os.stat_result, optional
        ``os.stat(path)`` when the caller has just made it (the index records it): not made again.

    Returns
    -------
    DicomFile
        Its identifiers, image description and frames.

    Raises
    ------
    NotDicomError
        If the file is not DICOM, is empty, is a DICOMDIR or its header is
        unreadable; the message names the file and says why.
    """
    path = os.fspath(path)
    try:
        if st is None:
            st = os.stat(path)  # one stat: the kind of file and its size
        if not S_ISREG(st.st_mode):
            problem = not_regular(path)
            if problem:
                raise NotDicomError(f"{path}: {problem}")
        size = st.st_size
        if size == 0:
            raise NotDicomError(f"{path}: empty file (0 bytes)")
        with _open(path) as fh:
            head = _read_at_most(fh, rawheader.CHUNK)  # (the sniff's and the parser's: read once)
            if head[128:132] != b"DICM" and not looks_like_raw_dataset(head):
                raise NotDicomError(f"{path}: not a DICOM file (no 'DICM' marker and no DICOM data set at its start)")
            raw = rawheader.parse(fh, _FAST_TAGS, enhanced.SEQUENCES, first=head)
            if raw is not None and raw.present.isdisjoint(_NEEDS_PYDICOM):
                fast = _make_file_fast(path, size, raw)
                if fast is not None:
                    elem = raw.pixel_element or b""
                    if fast.pixel_offset is not None and raw.pixel_element is None:
                        fh.seek(fast.pixel_offset)
                        elem = _read_at_most(fh, 12)
                    problem = pixel_problem(fast, elem)
                    if problem:
                        raise NotDicomError(f"{path}: {problem}")
                    return fast
            import pydicom

            with warnings.catch_warnings(), _buffered(fh) as bfh:
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(bfh, stop_before_pixels=True, force=True)
                pixel_offset = bfh.tell()
                nxt = bfh.read(12)
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


#: transfer syntax UID -> the same text, one object for all files (their headers' JSON is remembered by identity,
#: see :func:`index_shards.encode_file`)
_TS_TEXT: dict[str, str] = {}


#: Raw VRs read as a UI element is (its own, implicit, UN: the dictionary VR of the UIDs :func:`_raw_uid` reads).
_UI_VRS = (b"UI", b"", b"UN")


def _raw_uid(src: RawItem, tag: int) -> str:
    """``str(src.get(tag) or "")`` for a UID tag, straight from its raw element when it holds one value.

    The usual case: no trip through ``convert_bytes``' cache, which an instance UID would only fill.
    """
    e = src.d.get(tag)
    if e is None:
        return ""
    if e[0] in _UI_VRS:
        text: str = e[1].decode("latin-1").strip("\x00 ")
        if "\\" not in text:
            return text
    return str(src.get(tag) or "")


#: raw element -> :func:`_raw_uid` of the UIDs a series repeats (SOP class, series): one text object per series, so
#: that the JSON of its files' shared fields is remembered (see :func:`index_shards.encode_file`)
_SERIES_UID_TEXT: dict[tuple[bytes, bytes], str] = {}


def _series_uid(src: RawItem, tag: int) -> str:
    """:func:`_raw_uid` of a UID that repeats across the files of a series, remembered by its raw element."""
    e = src.d.get(tag)
    if e is None:
        return ""
    text = _SERIES_UID_TEXT.get(e)
    return text if text is not None else remember(_SERIES_UID_TEXT, e, _raw_uid(src, tag))


def _make_file_fast(path: str, size: int, raw: rawheader.RawHeader) -> DicomFile | None:
    """The file read by the fast parser; None when the careful (pydicom) path should give the precise reason."""
    is_enhanced = not raw.present.isdisjoint(enhanced.GROUP_TAGS)
    src = enhanced.raw_top(raw) if is_enhanced else RawItem(raw.values)
    src.charset = src.text(tags.SpecificCharacterSet) or ""
    sop_class = _series_uid(src, tags.SOPClassUID)
    series_uid = _series_uid(src, tags.SeriesInstanceUID)
    if not sop_class or not series_uid or sop_class == uids.MediaStorageDirectoryStorage:
        return None
    ts = _TS_TEXT.get(raw.transfer_syntax_uid) or remember(_TS_TEXT, raw.transfer_syntax_uid, raw.transfer_syntax_uid)
    return _describe(
        path,
        size,
        src,
        transfer_syntax_uid=ts,
        sop_class=sop_class,
        sop_uid=_raw_uid(src, tags.SOPInstanceUID) or path,
        series_uid=series_uid,
        has_pixels=raw.pixel_offset is not None,
        pixel_offset=raw.pixel_offset,
        is_enhanced=is_enhanced,
        warns=[],
    )


def _make_file(path: str, size: int, ds: Dataset, pixel_offset: int, nxt: bytes) -> DicomFile:
    """The file read by pydicom, or the precise reason why it is of no use."""
    tamed = tame(ds, path)
    src = DsItem(ds)
    meta = getattr(ds, "file_meta", None)
    msrc = DsItem(meta) if meta is not None else None

    def from_meta(tag: int) -> str:
        return str(msrc.get(tag) or "") if msrc is not None else ""

    sop_class = str(src.get(tags.SOPClassUID) or from_meta(_MEDIA_STORAGE_SOP_CLASS))
    if sop_class == uids.MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        raise NotDicomError(f"{path}: DICOMDIR (a media index, not an image)")
    if len(ds) == 0 or not any(t.group >= 0x0008 for t in ds.keys()):
        if meta:
            raise NotDicomError(f"{path}: truncated DICOM file (it ends after the file meta header, with no data set)")
        raise NotDicomError(f"{path}: not a DICOM file (no data elements)")
    ts = from_meta(tags.TransferSyntaxUID)
    if not ts:  # no meta header: the encoding pydicom found while reading
        implicit, little = getattr(ds, "original_encoding", (True, True))
        ts = uids.ImplicitVRLittleEndian if implicit else (uids.ExplicitVRLittleEndian if little else uids.ExplicitVRBigEndian)
    has_pixels = False
    if ts == DEFLATE:  # the data set is compressed as a whole: the file position says nothing
        has_pixels = deflated_has_pixels(path)
    elif len(nxt) >= 4:
        g, e = struct.unpack(">HH" if ts == uids.ExplicitVRBigEndian else "<HH", nxt[:4])
        has_pixels = (g << 16) | e in _PIXEL_TAGS
    series_uid = str(src.get(tags.SeriesInstanceUID) or "")
    if not series_uid:
        if not has_pixels and len(nxt) < 4 and is_image_class(sop_class):
            raise NotDicomError(
                f"{path}: truncated or damaged header: it runs to the end of the file ({size} bytes) without a SeriesInstanceUID "
                "or pixel data (the file is cut short, or a length in its header is wrong)"
            )
        if not any(k in ds for k in ("SOPClassUID", "StudyInstanceUID", "SOPInstanceUID")):
            raise NotDicomError(
                f"{path}: no DICOM identifiers (SOPClassUID, StudyInstanceUID, SeriesInstanceUID): damaged or not an image file"
            )
        raise NotDicomError(f"{path}: no SeriesInstanceUID, so it cannot be put in a series")
    f = _describe(
        path,
        size,
        src,
        transfer_syntax_uid=ts,
        sop_class=sop_class,
        sop_uid=str(src.get(tags.SOPInstanceUID) or from_meta(_MEDIA_STORAGE_SOP_INSTANCE) or path),
        series_uid=series_uid,
        has_pixels=has_pixels,
        pixel_offset=pixel_offset if has_pixels and ts != DEFLATE else None,
        is_enhanced="PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds,
        warns=list(tamed),
    )
    f._dataset = ds
    problem = pixel_problem(f, nxt)
    if problem:
        raise NotDicomError(f"{path}: {problem}")
    return f


def _describe(
    path: str,
    size: int,
    src: Item,
    *,
    transfer_syntax_uid: str,
    sop_class: str,
    sop_uid: str,
    series_uid: str,
    has_pixels: bool,
    pixel_offset: int | None,
    is_enhanced: bool,
    warns: list[str],
) -> DicomFile:
    """The :class:`DicomFile` of a header read by either reader (``src``), its frames included."""
    rows, cols, nframes, bits, representation, samples, stored, photometric, modality, number, study, frame_of_reference = (
        _raw_image_values(src) if isinstance(src, RawItem) else _image_values(src)
    )
    frames: tuple[Frame, ...] = ()
    mosaic: Mosaic | None = None
    if rows and cols and has_pixels and sop_class not in NON_IMAGE_SOP_CLASSES:
        if rows <= 0 or cols <= 0 or nframes <= 0:
            raise NotDicomError(f"{path}: impossible image size {rows} x {cols} x {nframes} frames")
        if is_enhanced:
            frames = enhanced.frames(path, src, sop_uid, nframes, rows, cols, warns)
        else:
            if isinstance(src, RawItem):  # the fast reader's bytes: values repeated across files converted once
                warns.extend(raw_value_warnings(path, src))
                frame = build_raw_frame(src, path, 0, sop_uid, rows, cols, raw_spacing_fallback(path, src, warns))
            else:
                warns.extend(value_warnings(path, src.text))
                frame = build_frame(src, path, 0, sop_uid, rows, cols, pixel_spacing=spacing_fallback(path, src.text, warns))
            frames = (frame,) if nframes == 1 else (frame, *(replace(frame, index=i) for i in range(1, nframes)))
            if nframes == 1 and "MOSAIC" in frame.image_type:
                mosaic = siemens.mosaic_of(path, rows, cols, src.private, warns)
                if mosaic is not None:
                    frames = siemens.mosaic_frames(frame, mosaic, warns)
    return DicomFile(
        path=path,
        size=size,
        transfer_syntax_uid=transfer_syntax_uid,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_uid,
        series_instance_uid=series_uid,
        study_instance_uid=study,
        frame_of_reference_uid=frame_of_reference,
        modality=modality,
        rows=rows,
        columns=cols,
        number_of_frames=nframes,
        bits_allocated=bits,
        pixel_representation=representation,
        samples_per_pixel=samples,
        has_pixel_data=has_pixels,
        pixel_offset=pixel_offset,
        frames=frames,
        enhanced=is_enhanced,
        warnings=warns,
        series_number=number,
        bits_stored=stored,
        photometric_interpretation=photometric,
        mosaic=mosaic,
        vendor_compression=vendor_compression(src.private(0x07A1, ELSCINT_CREATOR, 0x11)),
        tags=_descriptive(src),
    )


#: The tags :func:`_image_values` reads.
_IMAGE_TAGS = (
    tags.Rows,
    tags.Columns,
    tags.NumberOfFrames,
    tags.BitsAllocated,
    tags.PixelRepresentation,
    tags.SamplesPerPixel,
    tags.BitsStored,
    tags.PhotometricInterpretation,
    tags.Modality,
    tags.SeriesNumber,
    tags.StudyInstanceUID,
    tags.FrameOfReferenceUID,
)
_ImageValues = tuple[int | None, int | None, int, int, int, int, int | None, str, str, str, str, str]


def _image_values(src: Item) -> _ImageValues:
    """The image description of a file as its DicomFile holds it.

    Rows, columns, frames, bits allocated, pixel representation, samples per pixel, bits stored, photometric
    interpretation, modality, series number, study and frame of reference UIDs.
    """
    get = src.get
    return (
        to_int(get(tags.Rows)),
        to_int(get(tags.Columns)),
        to_int(get(tags.NumberOfFrames)) or 1,
        to_int(get(tags.BitsAllocated)) or 16,
        to_int(get(tags.PixelRepresentation)) or 0,
        to_int(get(tags.SamplesPerPixel)) or 1,
        to_int(get(tags.BitsStored)),
        str(get(tags.PhotometricInterpretation) or "").strip().upper(),
        str(get(tags.Modality) or ""),
        str(get(tags.SeriesNumber) or "").strip(),
        str(get(tags.StudyInstanceUID) or ""),
        str(get(tags.FrameOfReferenceUID) or ""),
    )


#: The raw elements of ``_IMAGE_TAGS`` -> :func:`_image_values` (the same in every file of a series).
_IMAGE_MEMO: dict[tuple[Any, ...], _ImageValues] = {}


def _raw_image_values(src: RawItem) -> _ImageValues:
    """:func:`_image_values` of a header read by :mod:`rawheader`, memoized by the raw elements it reads.

    The values are an immutable tuple: files share nothing mutable.
    """
    key = tuple(map(src.d.get, _IMAGE_TAGS))
    try:
        found = _IMAGE_MEMO.get(key)
    except TypeError:  # a sequence's items among them (not hashable): no memo
        return _image_values(src)
    if found is None:
        found = remember(_IMAGE_MEMO, key, _image_values(src))
    return found


# ----------------------------------------------------------------------------- scan


def read_path(path: str, st: os.stat_result | None = None) -> DicomFile | Skipped:
    """Read the header of one path as the scan does: a :class:`DicomFile`, or a :class:`Skipped` with the reason.

    Never raises for a file that is not DICOM or cannot be read (the reason is on the ``Skipped``). ``st``: the
    path's ``os.stat`` when the caller has it (see :func:`read_header`).
    """
    try:
        return read_header(path, st)
    except NotDicomError as exc:
        msg = str(exc)
        prefix = f"{path}: "
        return Skipped(path, msg[len(prefix) :] if msg.startswith(prefix) else msg)


def _read_chunk(paths: Sequence[str]) -> list[DicomFile | Skipped]:
    return [read_path(p) for p in paths]


def scan(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
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
    progress : callable, optional
        ``progress(done, total)``, called as files are read (after each file, or
        each chunk of files with several workers). The command line passes a
        terminal bar (``commands._progress.TerminalBar``).
    cancel : callable, optional
        ``cancel()`` is asked between files (between chunks with several
        workers); when it returns True the scan stops and raises :class:`Cancelled`.

    Returns
    -------
    ScanResult
        The files read (sorted by path) and the paths skipped, each with a reason.

    Raises
    ------
    Cancelled
        When ``cancel()`` returned True; nothing of the scan is kept.
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
        if cancel is not None and len(todo) % 1000 == 999 and cancel():
            raise Cancelled(f"scan of {root} cancelled while listing files ({len(todo)} found)")
    total = len(todo)

    def check(done: int) -> None:
        if cancel is not None and cancel():
            raise Cancelled(f"scan of {root} cancelled after {done} of {total} files")

    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if total >= 5000 else 1
    results: list[DicomFile | Skipped] = []
    if workers > 1:
        chunk = max(50, total // (workers * 8))
        chunks = [todo[i : i + chunk] for i in range(0, total, chunk)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_read_chunk, c) for c in chunks]
            try:
                for fut in futures:
                    check(len(results))
                    results.extend(fut.result())
                    if progress is not None:
                        progress(len(results), total)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    else:
        for p in todo:
            check(len(results))
            results.append(read_path(p))
            if progress is not None:
                progress(len(results), total)
    for r in results:
        if isinstance(r, Skipped):
            skipped.append(r)
        else:
            files.append(r)
    return ScanResult(root=root, files=files, skipped=skipped)

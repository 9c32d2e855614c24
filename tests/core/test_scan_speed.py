"""The fast header path (``rawheader`` + ``scan._make_file_fast``) gives what pydicom gives, reading only the header.

The scan reads little-endian files with its own top-level parser: it reads the
first 4 KB of a file and more only when the header is longer, walks the
elements with one ``struct`` unpack each, and converts only the values it keeps.
These tests hold it to pydicom: every :class:`DicomFile` field (frames, warnings,
descriptive tags included) equals the one read through pydicom, on every real
file and on headers built so that elements, sequences and the pixel data
element straddle the end of the first 4 KB read.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from napari_dicomseries import rawheader
from napari_dicomseries import scan as scan_module
from napari_dicomseries.scan import DicomFile, Skipped, read_path
from napari_dicomseries.synthetic import STUDY_SERIES, write_series

FIELDS = [f.name for f in dataclasses.fields(DicomFile) if f.name != "_dataset"]


def _pydicom_path(monkeypatch: pytest.MonkeyPatch, paths: list[Path]) -> dict[Path, DicomFile | Skipped]:
    """``read_path`` with the fast parser switched off: pydicom reads every header."""
    with monkeypatch.context() as m:
        m.setattr(rawheader, "parse", lambda fh, wanted, sequences=frozenset(): None)
        return {p: read_path(str(p)) for p in paths}


def _assert_same(fast: DicomFile | Skipped, slow: DicomFile | Skipped, where: Any) -> None:
    assert type(fast) is type(slow), (where, fast, slow)
    if isinstance(fast, Skipped):
        assert fast == slow, where
        return
    assert isinstance(slow, DicomFile)
    for name in FIELDS:
        assert getattr(fast, name) == getattr(slow, name), (where, name)


def _pixel_offset(path: Path) -> int:
    """Where pydicom finds the pixel data element (the file position after the header)."""
    with open(path, "rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmread(fh, stop_before_pixels=True)
        return fh.tell()


@pytest.mark.slow
def test_every_field_equals_the_pydicom_path_on_real_files(
    shared_data: Path, synthetic_study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All DicomFile fields, not only the frames: on every file of ../shared/data and of the synthetic study."""
    paths = sorted(p for p in shared_data.rglob("*") if p.is_file() and p.name != "README.md")
    paths += sorted(synthetic_study.iterdir())
    fast = {p: read_path(str(p)) for p in paths}
    slow = _pydicom_path(monkeypatch, paths)
    n_fast = 0
    for p in paths:
        f = fast[p]
        if isinstance(f, DicomFile) and f._dataset is None:  # read by the fast parser
            n_fast += 1
            _assert_same(f, slow[p], p)
            if f.pixel_offset is not None:
                assert f.pixel_offset == _pixel_offset(p), p
    assert n_fast >= 0.9 * len(paths)  # big endian, deflate and odd files only go to pydicom


def _padded(src: Path, out: Path, pad: int, *, nested: bool, implicit: bool) -> Path:
    """``src`` with ``pad`` more bytes of header: an ImageComments value, at the top level or inside an
    undefined-length sequence item (ReferencedImageSequence, before the wanted group 0020 and 0028 tags)."""
    ds = pydicom.dcmread(src)
    text = "x" * pad
    if nested:
        item = Dataset()
        item.ReferencedSOPClassUID = ds.SOPClassUID
        item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        item.ImageComments = text
        item.is_undefined_length_sequence_item = True
        ds.ReferencedImageSequence = Sequence([item])
        ds["ReferencedImageSequence"].is_undefined_length = True
    else:
        ds.ImageComments = text
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("nested", [False, True], ids=["top", "in_sequence"])
def test_headers_straddling_the_first_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nested: bool, implicit: bool) -> None:
    """Headers whose elements, sequence items and pixel data element cross the end of the first 4 KB read.

    The padding moves the wanted tags of groups 0020/0028 and the pixel data element across the 4,096th byte
    one even step at a time; every file must be read by the fast parser and equal pydicom's reading.
    """
    (src, *_) = write_series(tmp_path / "src", STUDY_SERIES[0], scale=0.125)
    base = _pixel_offset(_padded(src, tmp_path / "probe.dcm", 2, nested=nested, implicit=implicit)) - 2
    paths = []
    for offset in range(4096 - 200, 4096 + 24, 2):  # the pixel data element before, across and after the 4,096th byte
        pad = offset - base
        p = _padded(src, tmp_path / f"pad{pad:05d}.dcm", pad, nested=nested, implicit=implicit)
        assert _pixel_offset(p) == offset
        paths.append(p)
    fast = {p: read_path(str(p)) for p in paths}
    slow = _pydicom_path(monkeypatch, paths)
    for p in paths:
        f = fast[p]
        assert isinstance(f, DicomFile) and f._dataset is None, p  # the fast parser read it
        assert f.pixel_offset == _pixel_offset(p)
        _assert_same(f, slow[p], p)


def test_reads_the_header_only_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One open per file, and bytes read: the first 4 KB when the header fits, twice that when it does not."""
    (src, *_) = write_series(tmp_path / "src", STUDY_SERIES[0], scale=0.25)
    files = {
        "short": src,  # a header of about 1.4 KB
        "long": _padded(src, tmp_path / "long.dcm", 4000, nested=False, implicit=False),  # about 5.4 KB
    }
    opened: list[str] = []
    read_bytes: dict[str, int] = {}

    class Counting:
        def __init__(self, path: str) -> None:
            opened.append(path)
            self._fh = open(path, "rb")  # closed by __exit__

        def read(self, n: int = -1) -> bytes:
            b = self._fh.read(n)
            read_bytes[self._fh.name] = read_bytes.get(self._fh.name, 0) + len(b)
            return b

        def __getattr__(self, name: str) -> Any:  # seek, tell, ...
            return getattr(self._fh, name)

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()

    monkeypatch.setattr(scan_module, "_open", Counting)
    for name, p in files.items():
        f = read_path(str(p))
        assert isinstance(f, DicomFile) and f._dataset is None
        header = _pixel_offset(p)
        assert f.pixel_offset == header
        size = p.stat().st_size
        got = read_bytes[str(p)]
        assert opened.count(str(p)) == 1, name
        # the 132-byte sniff, then the first 4 KB; a longer header doubles what is at hand (never the pixel data)
        limit = 132 + (4096 if header + 12 <= 4096 else 8192)
        assert got <= limit < size, (name, got, header, size)


def _varied(src: Path, out: Path, k: int) -> Path:
    """``src`` as file ``k`` of a series whose values repeat (the same in every file, or alternating between two),
    some of them unusable, so warnings and conversions come from the memo after the first files."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.2.1143.{k + 1}"
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [0, 0, 2.5 * k]
    ds.ImageOrientationPatient = ["1", "0", "0", "1", "0", "0"] if k % 2 else ["1", "0", "0", "0", "1", "0"]
    thickness = b"thick " if k % 3 == 0 else b"2.5 "  # written as they are (pydicom would refuse the text)
    ds[0x00180050] = RawDataElement(Tag(0x00180050), "DS", len(thickness), thickness, 0, False, True)
    ds.WindowCenter = ["40", "400"] if k % 2 else "40"
    ds.RescaleSlope = "0" if k % 4 == 1 else "1"
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.7, 0.6] if k % 2 else [0.5, 0.5]
    ds.SpecificCharacterSet = "ISO_IR 100" if k % 2 else "ISO_IR 192"
    ds.SeriesDescription = "Thorax \u00e9" if k % 3 else "Abdomen"
    ds.SeriesNumber = "5.0"
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.parametrize("limit", [None, 2], ids=["memo", "memo_emptied_every_2"])
def test_memoized_values_give_what_pydicom_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None) -> None:
    """Values converted and checked once per distinct raw value (scan memos) give each file exactly pydicom's
    reading: warnings naming that file, frames, descriptive tags; no mutable object shared between files; memos bounded."""
    from napari_dicomseries import checks, elements, frame

    memos = [m for *_, m in checks._RAW_CHECKS if m is not None] + [m for *_, m in frame._RAW_CONVERTERS if m is not None]
    memos += [checks._SPACING_MEMO, scan_module._IMAGE_MEMO, scan_module._DESCRIPTIVE_MEMO]
    for m in memos:  # what earlier tests left: this test starts afresh
        m.clear()
    if limit is not None:
        monkeypatch.setattr(elements, "MEMO_LIMIT", limit)
    (src, *_) = write_series(tmp_path / "src", STUDY_SERIES[0], scale=0.125)
    paths = [_varied(src, tmp_path / f"im{k:03d}.dcm", k) for k in range(12)]
    fast = {p: read_path(str(p)) for p in paths}
    slow = _pydicom_path(monkeypatch, paths)
    for p in paths:
        f = fast[p]
        assert isinstance(f, DicomFile) and f._dataset is None, p
        _assert_same(f, slow[p], p)
        assert f.warnings and all(w.startswith(f"{p}: ") for w in f.warnings), f.warnings
    files = [f for f in fast.values() if isinstance(f, DicomFile)]
    assert len({id(f.warnings) for f in files}) == len({id(f.tags) for f in files}) == len(files)
    k1, k3 = files[1], files[3]  # the same orientation, spacing and window; not the same slope and thickness
    assert [w.split(": ", 1)[1] for w in k1.warnings] != [w.split(": ", 1)[1] for w in k3.warnings]  # slope 0 in k1 only
    assert "ImageOrientationPatient '1\\0\\0\\1\\0\\0'" in " ".join(k3.warnings)
    assert files[2].tags["SeriesDescription"] == "Thorax \u00e9" and files[3].tags["SeriesDescription"] == "Abdomen"
    memos += [memo for specs in scan_module._DESCRIPTIVE_MEMO.values() for _, memo, _ in specs]
    assert all(len(m) <= elements.MEMO_LIMIT for m in memos)
    if limit is None:  # the memos were used: several distinct values of a tag kept at once
        assert any(len(m) > 1 for m in memos)

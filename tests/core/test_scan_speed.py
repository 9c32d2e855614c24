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

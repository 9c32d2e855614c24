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
        m.setattr(rawheader, "parse", lambda fh, wanted, sequences=frozenset(), first=None: None)
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
    """One open per file, and bytes read: the first 4 KB when the header fits (read once: the DICM sniff and the parser
    share it), twice that when it does not."""
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
        # the first 4 KB, sniffed and parsed (never read twice); a longer header doubles what is at hand (never the
        # pixel data)
        limit = 4096 if header + 12 <= 4096 else 8192
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


# ----------------------------------------------------------------------------- per-file values straight from the bytes

#: Raw texts for the per-file fast paths: padding (space, NUL), several values, empty, not numbers, not finite,
#: what ``float`` accepts beyond DICOM (underscores, tabs, a no-break space), Latin-1 bytes.
_TRICKY = [
    b"1\\2\\3", b"1\\2\\3 ", b" 1\\ 2 \\3\x00", b"-174.375\\-174.375\\-278.75", b"1\\2", b"1\\2\\3\\4", b"", b" ", b"\x00",
    b"\x00\x00", b"nan\\1\\2", b"inf\\1\\2", b"1e999\\0\\0", b"1\\\\2", b"1\\2\\", b"\\1\\2", b"\\\\", b"abc", b"1_0\\2\\3",
    b"\t1\\2\\3\n", b"-0\\+5\\.5", b"1\x00\\2\\3", b"1 \x00\\2\\3", b"\x00 1\\2\\3", b"12", b"12 ", b"1.5", b"-3", b"3.0",
    b"1e3", b"2\\3", b"\xff\\1\\2", b"\xa01\\2\\3", b"1.2.840.10008.5.1.4.1.1.2\x00", b"1.2.3\\4.5", b" 1.2 ", b"0", b"0\\0\\0",
]  # fmt: skip


def _raw_values(seed: int = 7, n: int = 3000) -> list[bytes]:
    """:data:`_TRICKY` and random short texts of number characters, separators and padding."""
    import random

    rng = random.Random(seed)
    alphabet = "0123456789.-+eE \x00\\\tnaifNI_"
    return _TRICKY + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))).encode("latin-1") for _ in range(n)]


#: VRs an element may come with: the dictionary's (DS, IS, UI), implicit (b""), UN, another text VR, a binary VR.
_VRS = (b"DS", b"IS", b"UI", b"", b"UN", b"LO", b"FD")


def test_per_file_values_read_straight_from_the_bytes_equal_their_definitions() -> None:
    """ImagePositionPatient, InstanceNumber and the UIDs, converted from the raw bytes without ``convert_bytes``
    (values different in every file), give what the general accessors give, for every VR and tricky text."""
    from napari_dicomseries import elements, frame
    from napari_dicomseries import tags as t

    seen = set()
    for b in _raw_values():
        for vr in _VRS:
            e = (vr, b)
            item = elements.RawItem({t.ImagePositionPatient: e, t.InstanceNumber: e, t.SOPInstanceUID: e})
            position = frame._raw_position(item, e)
            assert position == frame._three(item.get(t.ImagePositionPatient)), e
            assert frame._raw_instance(item, e) == elements.to_int(item.get(t.InstanceNumber)), e
            assert scan_module._raw_uid(item, t.SOPInstanceUID) == str(item.get(t.SOPInstanceUID) or ""), e
            seen.add(position is None)
    assert seen == {True, False}  # both outcomes met
    assert scan_module._raw_uid(elements.RawItem({}), t.SOPInstanceUID) == ""


def test_raw_value_checks_equal_the_checks_of_the_text() -> None:
    """:func:`checks.raw_value_warnings` (a value of plain numbers passed without the careful check) gives what
    :func:`checks.value_warnings` gives from the text, for every checked tag, VR and tricky text (memos emptied)."""
    from napari_dicomseries import checks, elements

    for *_, memo in checks._RAW_CHECKS:
        if memo is not None:
            memo.clear()
    warned = passed = 0
    for b in _raw_values(seed=11, n=1500):
        for vr in (b"DS", b"", b"UN", b"FD"):
            item = elements.RawItem({tag: (vr, b) for _, tag, *_ in checks._CHECKS})
            expected = checks.value_warnings("f.dcm", item.text)
            assert checks.raw_value_warnings("f.dcm", item) == expected, (vr, b)
            warned += bool(expected)
            passed += not expected
    assert warned and passed


def test_frames_made_in_one_call_equal_frames_made_by_their_class() -> None:
    """``frame.new_frame`` (the fields set in C where the extension is built) makes the frame ``Frame(*values)``
    makes: equal, the same hash and repr, still frozen."""
    from napari_dicomseries import frame

    values = (
        "a.dcm", 0, "1.2.3", (1.0, 2.0, 3.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.5, 0.5), 1.25, None, 7, 1, None, None,
        None, None, None, None, ("ORIGINAL", "PRIMARY"), 1.0, -1024.0, 40.0, 400.0, 32, 32, (), (), (), None,
    )  # fmt: skip
    a, b = frame.new_frame(values), frame.Frame(*values)
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert dataclasses.astuple(a) == values and dataclasses.replace(a, index=1) == dataclasses.replace(b, index=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.index = 1  # type: ignore[misc]
    assert frame._new_frame_py(values) == a
    # the fields are set past __init__: nothing else may happen there (a __post_init__ would be skipped)
    assert not hasattr(frame.Frame, "__post_init__")
    if frame._fill_c is not None:  # a wrong number of values is refused, not half filled
        with pytest.raises(ValueError):
            frame._fill_c(object.__new__(frame.Frame), frame._FIELD_NAMES, values[:-1])

"""The element walk in C (``_walk.c``) gives what the same loop gives in Python, on real, generated and broken files.

``rawheader._parse`` lets the C walk step over the plain top-level elements and handles every other element
(pixel data, sequences, undefined lengths, values past the bytes read, bytes that are no element) in Python. These
tests run :func:`rawheader.parse` both ways on the same bytes and require the same :class:`RawHeader`, field for
field: every file of ``../shared/data``, of the synthetic study and of a generated multi-vendor archive, headers
whose elements straddle the first 4 KB read, and thousands of cut and damaged copies (a damaged header must give
the same answer, never a crash). The memo lookups of the scan in C (``elements.memo_lookup``) are checked the same
way against their Python loop, down to the files read and ``ls --json``.
"""

from __future__ import annotations

import dataclasses
import io
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from napari_dicomseries import checks, elements, enhanced, frame, rawheader, scan
from napari_dicomseries.synthetic_archive import write_archive

WALK_C = rawheader._walk_c

needs_walk = pytest.mark.skipif(WALK_C is None, reason="the C walk is not built (no C compiler at install time)")


def _both(data: bytes) -> tuple[object, object]:
    """``parse`` of ``data`` with the C walk and with the Python loop alone (the scan's tags and sequences)."""
    wanted, sequences = scan._FAST_TAGS, enhanced.SEQUENCES
    fast = rawheader.parse(io.BytesIO(data), wanted, sequences)
    try:
        rawheader._walk_c = None
        slow = rawheader.parse(io.BytesIO(data), wanted, sequences)
    finally:
        rawheader._walk_c = WALK_C
    return fast, slow


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "README.md")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated archive: GE, Siemens and Philips-like layouts and headers, a few non-DICOM files."""
    out = tmp_path_factory.mktemp("walk") / "archive"
    write_archive(out, 600, seed=3, extent_scale=0.2)
    return out


def test_the_walk_is_built_where_a_compiler_is() -> None:  # (not skipped without the walk: that is what it checks)
    """The install builds the C walk when a C compiler is at hand (``setup.py``; optional otherwise)."""
    assert shutil.which("cc") is None or WALK_C is not None
    assert rawheader._walk_c is WALK_C


@needs_walk
@pytest.mark.slow
def test_same_header_on_every_real_and_generated_file(shared_data: Path, synthetic_study: Path, archive: Path) -> None:
    paths = _files(shared_data) + _files(synthetic_study) + _files(archive)
    parsed = 0
    for p in paths:
        fast, slow = _both(p.read_bytes())
        assert fast == slow, p
        parsed += fast is not None
    assert parsed >= 0.9 * len(paths)  # big endian, deflate and non-DICOM files give None both ways


@needs_walk
def test_same_header_on_cut_and_damaged_files(shared_data: Path, archive: Path) -> None:
    """Headers cut anywhere and with bytes overwritten (lengths, VRs, tags): the same result or None both ways.

    The positions are drawn in the header (before the pixel data), where the walk reads; a fixed seed.
    """
    rng = random.Random(14)
    sources = [p for p in _files(archive) if p.suffix != ".txt"][::40]
    sources += [p for p in _files(shared_data) if p.stat().st_size < 2_000_000][::25]
    checked = 0
    for src in sources:
        data = src.read_bytes()
        good, _ = _both(data)
        if good is None:
            continue
        end = good.pixel_offset or len(data)  # type: ignore[attr-defined]
        for _ in range(60):
            cut = bytearray(data[: rng.randrange(132, end + 16)])
            for _ in range(rng.randrange(0, 4)):
                at = rng.randrange(132, max(133, len(cut)))
                cut[at : at + 1] = bytes([rng.choice((0x00, 0xFF, 0x41, 0x5A, 0xFE, rng.randrange(256)))])
            fast, slow = _both(bytes(cut))
            assert fast == slow, (src, len(cut))
            checked += 1
    assert checked > 1000


@needs_walk
def test_straddling_headers_both_ways(tmp_path: Path) -> None:
    """An element header or value across the end of the first 4 KB read, and the pixel element across it."""
    from napari_dicomseries.synthetic import STUDY_SERIES, write_series

    from .test_scan_speed import _padded

    (src, *_) = write_series(tmp_path / "src", STUDY_SERIES[0], scale=0.125)
    for implicit in (False, True):
        for pad in range(2400, 2700, 2):
            p = _padded(src, tmp_path / "pad.dcm", pad, nested=False, implicit=implicit)
            fast, slow = _both(p.read_bytes())
            assert fast is not None and fast == slow, (pad, implicit)


def _clear_memos() -> None:
    """Empty the scan's memos of converted values (each test way starts afresh)."""
    memos = [m for *_, m in checks._RAW_CHECKS if m is not None] + [m for *_, m in frame._RAW_CONVERTERS if m is not None]
    memos += [checks._SPACING_MEMO, scan._IMAGE_MEMO, scan._DESCRIPTIVE_MEMO, scan._SERIES_UID_TEXT, scan._TS_TEXT]
    for m in memos:
        m.clear()


def _python_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's memo lookups and frame making in Python (as without the extension)."""
    for module in (frame, checks, scan):
        monkeypatch.setattr(module, "memo_lookup", elements._memo_lookup_py)
    monkeypatch.setattr(frame, "new_frame", frame._new_frame_py)


@needs_walk
def test_memo_lookup_in_c_is_the_python_loop() -> None:
    """``elements.memo_lookup`` in C and in Python: the same values and misses on random elements and memos
    (absent tags, memos of None, a memo holding None, unhashable elements, the memo of another tag)."""
    rng = random.Random(5)
    elems = [(b"DS", b"1.5"), (b"DS", b"-0"), (b"IS", b"3"), (b"", b"x"), (b"SQ", b""), [1, 2]]
    for _ in range(3000):
        tags = rng.sample(range(20), rng.randrange(0, 12))
        d = {t: rng.choice(elems) for t in tags}
        specs = []
        for tag in rng.sample(range(24), rng.randrange(0, 16)):
            memo = (
                None
                if rng.random() < 0.2
                else {e: rng.choice((None, 0.0, "", "v", (1.0,))) for e in elems[:5] if rng.random() < 0.5}
            )
            specs.append((tag, memo, rng.choice((None, "", 1.0, "absent"))))
        fast = elements._memo_lookup_c(d, tuple(specs))
        slow = elements._memo_lookup_py(d, tuple(specs))
        assert fast == slow and [type(v) for v in fast[0]] == [type(v) for v in slow[0]], (d, specs)
    with pytest.raises(TypeError):
        elements._memo_lookup_c({}, ((1, [], None),))  # a memo that is no dict


@needs_walk
def test_same_files_with_the_python_lookups(
    shared_data: Path, synthetic_study: Path, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file read with the memo lookups and frame fill in C and in Python: the same DicomFile, field for field
    (compared by ``repr``, so that -0.0 is not 0.0 and 1 is not 1.0), each way from empty memos."""
    names = [f.name for f in dataclasses.fields(scan.DicomFile) if f.name != "_dataset"]
    paths = [str(p) for p in _files(shared_data) + _files(synthetic_study) + _files(archive)]
    _clear_memos()
    fast = [scan.read_path(p) for p in paths]
    _python_lookups(monkeypatch)
    _clear_memos()
    slow = [scan.read_path(p) for p in paths]
    read = 0
    for p, a, b in zip(paths, fast, slow, strict=True):
        assert type(a) is type(b), p
        if isinstance(a, scan.DicomFile):
            assert [repr(getattr(a, n)) for n in names] == [repr(getattr(b, n)) for n in names], p
            read += 1
        else:
            assert a == b, p
    assert read >= 0.9 * len(paths)


@needs_walk
def test_scan_without_the_c_walk_lists_the_same(archive: Path, tmp_path: Path) -> None:
    """``ls --json`` of the archive with the C walk, lookups and frame fill and with the Python loops (a subprocess
    each): the same bytes."""
    code = (
        "import sys; from napari_dicomseries import rawheader, elements, frame, checks, scan; rawheader._walk_c = None; "
        "frame.memo_lookup = checks.memo_lookup = scan.memo_lookup = elements._memo_lookup_py; frame.new_frame = frame._new_frame_py; "
        "from napari_dicomseries.cli import main; main(sys.argv[1:])"
    )
    with_c = subprocess.run([sys.executable, "-m", "napari_dicomseries.cli", "ls", str(archive), "--json"], capture_output=True)
    without = subprocess.run([sys.executable, "-c", code, "ls", str(archive), "--json"], capture_output=True)
    assert with_c.returncode == 0 and without.returncode == 0, (with_c.stderr, without.stderr)
    assert with_c.stdout == without.stdout and len(with_c.stdout) > 1000

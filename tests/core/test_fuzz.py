"""Fuzzing: mutated headers of real and synthetic files never crash the scan -> volumes -> load pipeline.

Bytes in the first few KB of real files (../shared/data) and synthetic ones
are flipped, inserted, deleted, overwritten with awkward lengths or cut off.
Whatever comes out, :func:`scan.read_header` returns a DicomFile or raises
the project's own error, :func:`build_volumes` and :func:`classify` do not
raise, and :func:`load.read_stored` returns an image of the declared size or
raises :class:`DecodeError`. A longer run is ``benchmarks/fuzz_headers.py``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_dicomseries import load
from napari_dicomseries.build import build_volumes
from napari_dicomseries.classify import classify
from napari_dicomseries.errors import DecodeError, DicomSeriesError
from napari_dicomseries.scan import DicomFile, read_header

from ..corpus import image_ds, save
from ..data import SHARED_DATA

pytestmark = pytest.mark.timeout(60)

HEAD = 4096  # mutations land in the first 4 KB: the header
#: Values that make length fields interesting: undefined, zero, odd, huge, just past the end.
LENGTHS = [0xFFFFFFFF, 0, 1, 3, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFE, 0x10000, 12]


def _seed_files(synthetic: Path, scratch: Path) -> list[bytes]:
    seeds = [sorted(synthetic.iterdir())[i].read_bytes() for i in (0, 7)]  # the scout and an axial slice
    ds = image_ds("1.2.3.4", 7, 0)
    seeds.append(save(ds, scratch / "raw.dcm", preamble=False, meta=False, implicit=True).read_bytes())
    if SHARED_DATA.is_dir():
        seeds.append((SHARED_DATA / "ct_ge_lightspeed_lung" / "1-031.dcm").read_bytes())
        for n in (2, 3, 4, 5, 9):  # implicit, big endian, RLE, JPEG lossless, JPEG 2000
            seeds.append((SHARED_DATA / "transfer_syntaxes" / f"{n}.dcm").read_bytes())
        seeds.append((SHARED_DATA / "enhanced_siemens_xa10" / "6_1.dcm").read_bytes())
    return seeds


@pytest.fixture(scope="module")
def seeds(synthetic_study: Path, tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return _seed_files(synthetic_study, tmp_path_factory.mktemp("fuzz_seeds"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    """Apply ``ops`` (kind, position, value) to ``data``; positions wrap into the first :data:`HEAD` bytes."""
    buf = bytearray(data)
    for kind, pos, val in ops:
        if not buf:
            break
        p = pos % min(len(buf), HEAD)
        if kind == "flip":
            buf[p] ^= 1 << (val % 8)
        elif kind == "byte":
            buf[p] = val % 256
        elif kind == "insert":
            buf[p:p] = bytes([val % 256]) * (1 + val % 7)
        elif kind == "delete":
            del buf[p : p + 1 + val % 16]
        elif kind == "length":  # a 16- or 32-bit little-endian length field with an awkward value
            v = LENGTHS[val % len(LENGTHS)]
            if val % 2:
                buf[p : p + 4] = v.to_bytes(4, "little")
            else:
                buf[p : p + 2] = (v & 0xFFFF).to_bytes(2, "little")
        elif kind == "truncate":
            del buf[p:]
    return bytes(buf)


def check_file(path: Path) -> str:
    """Run the pipeline on one file; return the outcome; raise AssertionError on any foreign exception."""
    try:
        f = read_header(path)
    except DicomSeriesError:
        return "rejected"
    assert isinstance(f, DicomFile)
    volumes = classify(build_volumes([f]))
    for v in volumes:
        json.dumps(v.summary())  # what ls --json prints
    if not f.is_image:
        return "no image"
    for frame in f.frames[:2]:  # a mosaic's frames are its tiles
        try:
            arr = load.read_stored(f, frame.index)
        except DecodeError:
            return "decode error"
        assert arr.shape == (frame.rows, frame.columns) + ((3,) if load.is_colour(f) else ())
    for v in volumes:
        if v.loadable and int(np.prod(v.shape)) <= 4_000_000:
            try:
                arr = load.load_volume(v)
            except DecodeError:
                return "decode error"
            assert arr.shape == v.array_shape
    return "loaded"


OPS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "byte", "insert", "delete", "length", "truncate"]),
        st.integers(0, HEAD - 1),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(which=st.integers(0, 100), ops=OPS)
def test_mutated_headers(seeds: list[bytes], scratch: Path, which: int, ops: list[tuple[str, int, int]]) -> None:
    path = scratch / "mutant.dcm"
    path.write_bytes(mutate(seeds[which % len(seeds)], ops))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values: that is the point
        check_file(path)


def test_mutator_changes_bytes(seeds: list[bytes]) -> None:
    data = seeds[0]
    assert mutate(data, [("flip", 200, 3)])[200] == data[200] ^ 8
    assert len(mutate(data, [("truncate", 1000, 0)])) == 1000
    assert len(mutate(data, [("delete", 10, 4)])) == len(data) - 5
    assert mutate(data, [("length", 300, 1)])[300:304] == b"\0\0\0\0"
    assert mutate(data, [("length", 300, 0)])[300:302] == b"\xff\xff"


@pytest.mark.parametrize("cut", [0, 1, 131, 132, 140, 200, 700, 1500])
def test_every_cut_of_a_real_file(seeds: list[bytes], scratch: Path, cut: int) -> None:
    """Cutting a file anywhere in its header gives a reason, not a crash (checked on every seed)."""
    for i, data in enumerate(seeds):
        path = scratch / f"cut{i}.dcm"
        path.write_bytes(data[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert check_file(path) in ("rejected", "no image", "decode error", "loaded")

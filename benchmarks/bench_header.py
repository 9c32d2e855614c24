"""Benchmark: the fast header reader (``rawheader.parse``) against ``pydicom.dcmread(stop_before_pixels=True)``.

Usage: python benchmarks/bench_header.py [DIR ...] [--repeat N]

Without DIR, two folders are timed: the synthetic study written by
``synthetic.write_study(tmp, scale=0.5)`` (325 files) and
``../shared/data/ct_ge_lightspeed_lung`` (a real GE CT series, when present).
Both readers read every file of a folder (opening it included), alternately,
after one warm-up each so both see a warm page cache; the best of N runs is
reported as the time per file, with the ratio. ``rawheader.parse`` is given
the tags and sequences the scan asks for. pydicom converts values lazily, so
the whole header step of the scan is timed too: ``scan.read_header`` (values
converted, frames built) with the fast parser, and with it switched off.

The same run also times ``scan.read_path`` (what each scan worker, and each
worker of the archive index, does per file: the header step plus the
``Skipped`` handling) and the 4-KB read floor (open each file and read its first
4,096 bytes, nothing parsed), in ms per file: the cost of reading headers in
pure Python against the cost of the I/O alone. Times are process CPU time
(``time.process_time``), so other processes on a shared machine disturb the
figures less than wall-clock time would.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pydicom

from napari_dicomseries import enhanced, rawheader, scan
from napari_dicomseries.synthetic import write_study

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def read_raw(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        with open(p, "rb") as fh:
            n += rawheader.parse(fh, scan._FAST_TAGS, enhanced.SEQUENCES) is not None
    return n


def read_pydicom(paths: list[Path]) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in paths:
            pydicom.dcmread(p, stop_before_pixels=True)
    return len(paths)


def read_floor(paths: list[Path]) -> int:
    """The 4-KB read floor: open each file and read its first 4,096 bytes."""
    n = 0
    for p in paths:
        with open(p, "rb") as fh:
            n += len(fh.read(4096))
    return n


def read_paths(paths: list[Path]) -> int:
    """``scan.read_path`` on every file, as a scan (or index) worker calls it."""
    for p in paths:
        scan.read_path(str(p))
    return len(paths)


def header_fast(paths: list[Path]) -> int:
    for p in paths:
        scan.read_header(p)
    return len(paths)


def header_pydicom(paths: list[Path]) -> int:
    """``scan.read_header`` with the fast parser switched off: pydicom reads and converts the same tags."""
    real = rawheader.parse
    rawheader.parse = lambda fh, wanted, sequences=frozenset(): None
    try:
        return header_fast(paths)
    finally:
        rawheader.parse = real


def best(fn: Callable[[list[Path]], int], paths: list[Path], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn(paths)
        times.append(time.process_time() - t)
    return min(times)


def bench(folder: Path, repeat: int) -> None:
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    fast = read_raw(paths)
    read_pydicom(paths)  # warm-up (and pydicom's own imports)
    header_fast(paths), header_pydicom(paths), read_paths(paths), read_floor(paths)
    t_raw, t_pyd, t_hf, t_hp, t_rp, t_fl = [], [], [], [], [], []
    for _ in range(repeat):  # alternately, so all see the same machine load
        t_raw.append(best(read_raw, paths, 1))
        t_pyd.append(best(read_pydicom, paths, 1))
        t_hf.append(best(header_fast, paths, 1))
        t_hp.append(best(header_pydicom, paths, 1))
        t_rp.append(best(read_paths, paths, 1))
        t_fl.append(best(read_floor, paths, 1))
    raw, pyd = min(t_raw) / len(paths), min(t_pyd) / len(paths)
    hf, hp = min(t_hf) / len(paths), min(t_hp) / len(paths)
    rp, fl = min(t_rp) / len(paths), min(t_fl) / len(paths)
    print(f"{folder} ({len(paths)} files, {fast} read by rawheader)")
    print(f"  rawheader.parse                           : {raw * 1e6:8.1f} us/file")
    print(f"  pydicom.dcmread(stop_before_pixels=True)  : {pyd * 1e6:8.1f} us/file")
    print(f"  ratio pydicom / rawheader                 : {pyd / raw:8.2f}x")
    print(f"  scan.read_header, fast path               : {hf * 1e6:8.1f} us/file  (values converted, frames built)")
    print(f"  scan.read_header, pydicom path            : {hp * 1e6:8.1f} us/file")
    print(f"  ratio pydicom path / fast path            : {hp / hf:8.2f}x")
    print(f"  scan.read_path                            : {rp * 1e3:8.4f} ms/file  ({1 / rp:,.0f} files/s)")
    print(f"  4-KB read floor (open + read 4096 bytes)  : {fl * 1e3:8.4f} ms/file  ({1 / fl:,.0f} files/s)")
    print(f"  ratio read_path / 4-KB floor              : {rp / fl:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.folders:
        for folder in args.folders:
            bench(folder, args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="bench-header-") as tmp:
        write_study(tmp, scale=0.5)
        bench(Path(tmp), args.repeat)
    if (SHARED / "ct_ge_lightspeed_lung").is_dir():
        bench(SHARED / "ct_ge_lightspeed_lung", args.repeat)


if __name__ == "__main__":
    main()

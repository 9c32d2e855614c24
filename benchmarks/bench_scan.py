"""Benchmark: ``ls`` (scan + group + classify) against SimpleITK/GDCM series discovery, same folder, same run.

Usage: python benchmarks/bench_scan.py [DIR] [--repeat N]

Without DIR, the full-size synthetic study (645 files) is written to a temporary
folder first. Both contenders run in this process, alternately, after one
warm-up each so both see a warm page cache; the best of N runs is reported.
GDCM's side is what a SimpleITK user writes to find series:
``GetGDCMSeriesIDs`` then ``GetGDCMSeriesFileNames`` per series.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

from napari_dicomseries import open_folder
from napari_dicomseries.synthetic import write_study


def run_ls(folder: str) -> int:
    volumes, _ = open_folder(folder, progress=False)
    return len(volumes)


def run_gdcm(folder: str) -> int:
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    for uid in ids:
        sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid)
    return len(ids)


def best(fn, folder: str, repeat: int) -> tuple[float, int]:
    times = []
    n = 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn(folder)
        times.append(time.perf_counter() - t)
    return min(times), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = None
    if args.dir:
        folder = args.dir
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-scan-")
        folder = tmp.name
        write_study(folder)
    nfiles = sum(1 for p in Path(folder).rglob("*") if p.is_file())
    run_ls(folder), run_gdcm(folder)  # warm-up: page cache, imports
    t_ls, n_ls = best(run_ls, folder, args.repeat)
    t_gdcm, n_gdcm = best(run_gdcm, folder, args.repeat)
    print(f"folder: {folder} ({nfiles} files)")
    print(f"napari-dicomseries ls      : {t_ls:8.3f} s  ({n_ls} volumes, classified)")
    print(f"SimpleITK GDCM series IDs  : {t_gdcm:8.3f} s  ({n_gdcm} series, file lists only)")
    print(f"ratio ls / GDCM            : {t_ls / t_gdcm:8.3f}  (target <= 0.2)")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()

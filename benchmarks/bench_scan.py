"""Benchmark: ``ls`` (scan + group + classify) against SimpleITK/GDCM series discovery, same folder, same run.

Usage: python benchmarks/bench_scan.py [DIR] [--repeat N] [--against gdcm|dcm2niix]

Without DIR, the full-size synthetic study (645 files) is written to a temporary
folder first. Both contenders run in this process, alternately, after one
warm-up each so both see a warm page cache; the best of N runs is reported.
GDCM's side is what a SimpleITK user writes to find series:
``GetGDCMSeriesIDs`` then ``GetGDCMSeriesFileNames`` per series.

``--against dcm2niix`` (for enhanced multi-frame folders such as
``../shared/data/siemens_xa30_dwi``, target ratio <= 2) times the whole
``napari-dicomseries ls DIR`` process (interpreter start and imports included)
against dcm2niix's full conversion of the same folder
(``dcm2niix -p n -z y -f %s_%d -o TMP DIR``, a fresh output folder each run),
alternately, best of N; the in-process ``ls`` time is printed too.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

from napari_dicomseries import open_folder
from napari_dicomseries.synthetic import write_study


def run_ls(folder: str) -> int:
    volumes, _ = open_folder(folder)
    return len(volumes)


def run_gdcm(folder: str) -> int:
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    for uid in ids:
        sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid)
    return len(ids)


def run_ls_process(folder: str) -> int:
    """The whole ``napari-dicomseries ls DIR`` command in a new interpreter."""
    subprocess.run([sys.executable, "-m", "napari_dicomseries.cli", "ls", folder], check=True, capture_output=True)
    return 1


def run_dcm2niix(folder: str) -> int:
    """dcm2niix converting the folder (gzip), into a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-d2n-") as out:
        subprocess.run(["dcm2niix", "-p", "n", "-z", "y", "-f", "%s_%d", "-o", out, folder], check=True, capture_output=True)
        return len(list(Path(out).glob("*.nii*")))


def against_dcm2niix(folder: str, repeat: int) -> None:
    if shutil.which("dcm2niix") is None:
        raise SystemExit("dcm2niix not found on PATH")
    run_ls(folder), run_ls_process(folder), run_dcm2niix(folder)  # warm-up
    t_proc, t_d2n = [], []
    for _ in range(repeat):  # alternately, so both see the same machine load
        for fn, times in ((run_ls_process, t_proc), (run_dcm2niix, t_d2n)):
            t = time.perf_counter()
            fn(folder)
            times.append(time.perf_counter() - t)
    t_in, n_ls = best(run_ls, folder, repeat)
    nfiles = sum(1 for p in Path(folder).rglob("*") if p.is_file())
    print(f"folder: {folder} ({nfiles} files)")
    print(f"napari-dicomseries ls (process)    : {min(t_proc):8.3f} s  (whole command, interpreter start and imports included)")
    print(f"napari-dicomseries ls (in process) : {t_in:8.3f} s  ({n_ls} volumes, classified)")
    print(f"dcm2niix -p n -z y (conversion)    : {min(t_d2n):8.3f} s")
    print(f"ratio ls process / dcm2niix        : {min(t_proc) / min(t_d2n):8.3f}  (target <= 2)")
    print(f"ratio ls in process / dcm2niix     : {t_in / min(t_d2n):8.3f}")


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
    ap.add_argument("--against", choices=("gdcm", "dcm2niix"), default="gdcm")
    args = ap.parse_args()
    if args.against == "dcm2niix":
        if not args.dir:
            raise SystemExit("--against dcm2niix needs a DIR (e.g. ../shared/data/siemens_xa30_dwi)")
        against_dcm2niix(args.dir, args.repeat)
        return
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

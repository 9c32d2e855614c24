"""Benchmark: open every volume of a study through the napari reader, against dcm2niix and SimpleITK, same run.

Usage: python benchmarks/bench_load.py [--repeat N] [--keep DIR]

1. Writes the full-size synthetic study (``write_study(scale=1)``: 645 files,
   scout + 2 x 65 + 2 x 257 slices of 512 x 512) into a temporary folder and
   reads every file once, so all contenders see a warm page cache.
2. Wall time to get every volume into memory, each contender in a fresh
   subprocess (best of N runs; imports not counted for the Python ones):
   the reader (``read_volumes(..., include_localizers=True, lazy=False)``:
   scan, group, classify, decode, rescale, layer metadata), dcm2niix
   (``dcm2niix -z n``: converts the same folder to NIfTI) and a SimpleITK loop
   (``GetGDCMSeriesIDs`` then ``ImageSeriesReader`` per series, as a
   SimpleITK user would write it).
3. Peak memory of the reader above the interpreter's baseline (``VmHWM`` of
   /proc/self/status after imports; ``ru_maxrss`` would carry the parent's
   peak across fork), relative to the voxel bytes it returns.
4. Lazy loading: a 1,001-slice series of 512 x 512 is written; time to open
   it lazily (scan + layer data) and to add it to a ``ViewerModel`` (napari
   reads and shows the first slice), against opening it eagerly.
5. The lazy threshold: eager load time of each volume size against the
   lazy first-slice time.

Targets: reader / dcm2niix <= 1.0; peak memory <= 1.3 x voxel bytes; first
slice of the 1,001-slice series in < 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable

HWM = r"""
def hwm():  # peak resident memory of this process (bytes); reset by exec, unlike ru_maxrss
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""

READER_CHILD = (
    HWM
    + r"""
import json, sys, time
from napari_dicomseries._reader import read_volumes
import numpy as np, dask.array  # imported by the reader anyway
base = hwm()
t = time.perf_counter()
layers = read_volumes(sys.argv[1], include_localizers=True, lazy=False)
dt = time.perf_counter() - t
peak = hwm()
print(json.dumps({"time": dt, "n": len(layers), "voxel_bytes": int(sum(d.nbytes for d, _, _ in layers)),
                  "base": base, "peak": peak, "dtypes": sorted({str(d.dtype) for d, _, _ in layers})}))
"""
)

SITK_CHILD = (
    HWM
    + r"""
import json, sys, time
import SimpleITK as sitk
base = hwm()
t = time.perf_counter()
arrays = []
for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(sys.argv[1]):
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(sys.argv[1], uid)
    r = sitk.ImageSeriesReader()
    r.SetFileNames(files)
    arrays.append(sitk.GetArrayFromImage(r.Execute()))
dt = time.perf_counter() - t
peak = hwm()
print(json.dumps({"time": dt, "n": len(arrays), "voxel_bytes": int(sum(a.nbytes for a in arrays)), "base": base, "peak": peak,
                  "dtypes": sorted({str(a.dtype) for a in arrays})}))
"""
)

LAZY_CHILD = r"""
import json, os, sys, time
os.environ.pop("NAPARI_DICOMSERIES_LAZY", None)
import dask.array  # imports are not timed (napari's viewer imports dask too)
from napari.components import ViewerModel
from napari_dicomseries import load
from napari_dicomseries._reader import read_volumes
calls = []
real = load.read_frame
def counting(v, f, d=None):
    calls.append(1)
    return real(v, f, d)
load.read_frame = counting
ViewerModel()  # warm-up: napari's first viewer sets itself up
lazy = sys.argv[2] == "lazy"
t0 = time.perf_counter()
(data, kw, _), = read_volumes(sys.argv[1], lazy=lazy)
t1 = time.perf_counter()
viewer = ViewerModel()
layer = viewer.add_image(data, **kw)
t2 = time.perf_counter()
print(json.dumps({"open": t1 - t0, "add": t2 - t1, "total": t2 - t0, "shape": list(data.shape), "type": type(data).__name__,
                  "frames_read_lazy": len(calls) if lazy else None, "nbytes": int(data.nbytes)}))
"""

THRESHOLD_CHILD = r"""
import json, sys, time
import numpy as np
from napari.components import ViewerModel
from napari_dicomseries import open_folder
from napari_dicomseries._reader import volume_layer_data
vols, _ = open_folder(sys.argv[1])
ViewerModel()
out = []
seen = set()
for v in vols:
    if v.kind != "image" or v.shape in seen:
        continue
    seen.add(v.shape)
    row = {"shape": list(v.shape)}
    for lazy in (False, True):
        best = 1e9
        for _ in range(2):
            t = time.perf_counter()
            data, kw, _ = volume_layer_data(v, lazy=lazy)
            ViewerModel().add_image(data, **kw)
            best = min(best, time.perf_counter() - t)
        row["lazy" if lazy else "eager"] = best
        row["nbytes"] = int(np.prod(v.shape)) * 2
    out.append(row)
print(json.dumps(out))
"""


def child(code: str, *args: str) -> dict:
    res = subprocess.run([PY, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def warm(folder: Path) -> int:
    n = 0
    for p in folder.rglob("*"):
        if p.is_file():
            n += len(p.read_bytes())
    return n


def time_dcm2niix(folder: Path, out: Path) -> float:
    exe = shutil.which("dcm2niix")
    if exe is None:
        raise SystemExit("dcm2niix not found (pip install dcm2niix)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    t = time.perf_counter()
    subprocess.run([exe, "-z", "n", "-f", "%s_%d", "-o", str(out), str(folder)], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per contender; the best is reported (default 3)")
    ap.add_argument("--keep", type=Path, help="write the data here and keep it (default: a temporary folder)")
    args = ap.parse_args()

    from napari_dicomseries.synthetic import SeriesSpec, write_series, write_study

    tmp = tempfile.TemporaryDirectory(prefix="bench-load-")
    root = args.keep or Path(tmp.name)
    study, long_series, nii = root / "study", root / "long", root / "nii"
    if not study.exists():
        t = time.perf_counter()
        write_study(study, scale=1.0)
        print(f"wrote the synthetic study: {time.perf_counter() - t:.1f} s")
    nbytes = warm(study)
    nfiles = sum(1 for p in study.iterdir() if p.is_file())
    print(f"study: {nfiles} files, {nbytes / 2**20:.0f} MiB, page cache warm\n")

    reader = [child(READER_CHILD, str(study)) for _ in range(args.repeat)]
    sitk = [child(SITK_CHILD, str(study)) for _ in range(args.repeat)]
    d2n = [time_dcm2niix(study, nii) for _ in range(args.repeat)]
    n_nii = len(list(nii.glob("*.nii")))
    r_best = min(r["time"] for r in reader)
    s_best = min(s["time"] for s in sitk)
    d_best = min(d2n)
    r0 = reader[0]
    vb = r0["voxel_bytes"]
    print(f"== every volume into memory (best of {args.repeat}) ==")
    print(f"  napari-dicomseries reader : {r_best:6.3f} s  ({r0['n']} layers, {vb / 2**20:.0f} MiB, {', '.join(r0['dtypes'])})")
    print(f"  dcm2niix -z n             : {d_best:6.3f} s  ({n_nii} NIfTI files written)")
    print(
        f"  SimpleITK series loop     : {s_best:6.3f} s  ({sitk[0]['n']} volumes, {sitk[0]['voxel_bytes'] / 2**20:.0f} MiB, {', '.join(sitk[0]['dtypes'])})"
    )
    print(f"  ratio reader / dcm2niix   : {r_best / d_best:6.2f}   (target <= 1.0)")
    print(f"  ratio reader / SimpleITK  : {r_best / s_best:6.2f}")
    above = r0["peak"] - r0["base"]
    print("\n== peak memory of the reader ==")
    print(
        f"  baseline {r0['base'] / 2**20:.0f} MiB, peak {r0['peak'] / 2**20:.0f} MiB: {above / 2**20:.0f} MiB above baseline "
        f"for {vb / 2**20:.0f} MiB of voxels = {above / vb:.2f} x   (target <= 1.3)"
    )
    s0 = sitk[0]
    print(f"  (SimpleITK loop: {(s0['peak'] - s0['base']) / s0['voxel_bytes']:.2f} x its voxel bytes)")

    if not long_series.exists():
        t = time.perf_counter()
        # 0.32 mm apart over the study's 320 mm: 1,001 slices of 512 x 512
        write_series(long_series, SeriesSpec(12, "0.32mm THIN", "STANDARD", 0.32, (40.0, 400.0), 10.0, "105000"), scale=1.0)
        print(f"\nwrote a 1,001-slice series: {time.perf_counter() - t:.1f} s")
    warm(long_series)
    lazy = min((child(LAZY_CHILD, str(long_series), "lazy") for _ in range(args.repeat)), key=lambda r: r["total"])
    eager = child(LAZY_CHILD, str(long_series), "eager")
    shape = "x".join(map(str, lazy["shape"]))
    print(f"\n== 1,001-slice series ({shape}), first slice on screen (ViewerModel) ==")
    print(
        f"  lazy : open (scan + layer data) {lazy['open']:.3f} s + add_image (first slice read and shown) {lazy['add']:.3f} s "
        f"= {lazy['total']:.3f} s; frames decoded: {lazy['frames_read_lazy']}   (target < 0.5 s)"
    )
    print(
        f"  eager: open {eager['open']:.3f} s + add_image {eager['add']:.3f} s = {eager['total']:.3f} s ({eager['nbytes'] / 2**20:.0f} MiB read)"
    )

    rows = child(THRESHOLD_CHILD, str(study))
    rows.append({"shape": lazy["shape"], "nbytes": eager["nbytes"], "eager": eager["total"], "lazy": lazy["total"]})
    print("\n== lazy threshold: layer data + add_image, eager vs lazy ==")
    for r in rows:
        print(
            f"  {'x'.join(map(str, r['shape'])):>14} {r['nbytes'] / 2**20:6.0f} MiB: eager {r['eager']:6.3f} s, lazy {r['lazy']:6.3f} s"
        )
    print("  (the 1,001-slice row includes the scan of its files, in both columns)")
    from napari_dicomseries.display import LAZY_THRESHOLD_BYTES

    print(f"  threshold in use: {LAZY_THRESHOLD_BYTES / 2**20:.0f} MiB")
    tmp.cleanup()


if __name__ == "__main__":
    main()

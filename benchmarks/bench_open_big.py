"""Benchmark: time from ``viewer.open`` on a big flat folder (6,600 files, 160 image volumes) to the first image.

Usage: xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/bench_open_big.py [--folder DIR] [--repeat N]
       [--generator archive|own] [--studies 40] [--max-layers N] [--no-process]

1. Writes (once, into ``--folder`` or a folder under /tmp) a synthetic PACS export in one flat folder with random
   file names. ``--generator archive`` (default when :mod:`napari_dicomseries.synthetic_archive` is installed):
   ``write_archive(folder, 6600, layout="flat", volumes=160)``, CT exports with many reconstructions;
   ``--generator own``: ``--studies`` studies of one scout and four axial reconstructions of 41 slices of
   64 x 64 each (40 studies: 40 + 160 x 41 = 6,600 files, 200 volumes of which 160 are images). Every file is
   read once so all runs see a warm page cache.
2. In-process, in a real viewer (``napari.Viewer()`` under Xvfb): wall time from ``viewer.open(folder,
   plugin="napari-dicomseries")`` until the layers are added and the canvas has drawn the first image
   (events processed, ``viewer.screenshot(canvas_only=True)``), and the share of it spent in the scan
   (``open_folder``, timed on its own in the same process). A second ``viewer.open`` of the same folder shows
   the scan cache (:mod:`napari_dicomseries.catalog`).
3. Whole process, as a user runs it: ``python -c "napari.Viewer(); viewer.open(...)"``  until the first image
   is drawn, start-up (imports, Qt, OpenGL) included, measured from outside.

``--max-layers`` sets ``NAPARI_DICOMSERIES_MAX_LAYERS`` (``0``: no limit, the old behaviour: one layer per volume).
Goal (issue 14): first image <= 5 s on the 6,600-file folder (45-47 s before: one layer per volume).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN = "napari-dicomseries"
RECONS = (("STANDARD", "1.0 STD"), ("LUNG", "1.0 LUNG"), ("BONE", "1.0 BONE"), ("SOFT", "1.0 SOFT"))


def write_archive(out: Path, studies: int = 40, seed: int = 0) -> int:
    """Write ``studies`` synthetic CT studies (scout + 4 reconstructions of 41 slices of 64 x 64) flat into ``out``.

    Returns the number of files written. Series numbers are 1 (scout) and 2-5 in every study; UIDs differ.
    """
    import pydicom
    from pydicom.uid import generate_uid

    from napari_dicomseries import synthetic

    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    n = 0
    for s in range(studies):
        study = {"study": synthetic._uid("study", seed, s), "for": synthetic._uid("frame-of-reference", seed, s)}
        # write_series derives the series and SOP UIDs from the series number: write into a scratch folder, then
        # give each file UIDs of its own study and a random name in the flat folder
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            scratch = Path(tmp)
            files = [synthetic._write_scout(scratch, study, 0.125, "scout.dcm")]
            for i, (kernel, desc) in enumerate(RECONS):
                spec = synthetic.SeriesSpec(2 + i, desc, kernel, 1.0, (40.0, 400.0), 6.0, f"1015{10 + i:02d}")
                files += synthetic.write_series(scratch / f"s{i}", spec, scale=0.125, study=study, seed=s)
            for f in files:
                ds = pydicom.dcmread(f)
                ds.SeriesInstanceUID = generate_uid(prefix=synthetic.UID_ROOT, entropy_srcs=[str(ds.SeriesInstanceUID), str(s)])
                ds.SOPInstanceUID = generate_uid(prefix=synthetic.UID_ROOT, entropy_srcs=[str(ds.SOPInstanceUID), str(s)])
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.PatientID = f"SYN-{s:04d}"
                ds.AccessionNumber = f"SYN{s:05d}"
                name = "".join(rng.choice("0123456789ABCDEF") for _ in range(16)) + ".dcm"
                ds.save_as(out / name, enforce_file_format=True)
                n += 1
    return n


def warm(folder: Path) -> int:
    n = 0
    for entry in os.scandir(folder):
        with open(entry.path, "rb") as f:
            while f.read(1 << 20):
                pass
        n += 1
    return n


CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import napari
viewer = napari.Viewer()
t1 = time.perf_counter()
layers = viewer.open(sys.argv[1], plugin="napari-dicomseries")
from qtpy.QtWidgets import QApplication
QApplication.processEvents()
viewer.screenshot(canvas_only=True)
t2 = time.perf_counter()
print(json.dumps({"startup": t1 - t0, "open_to_first_image": t2 - t1, "layers": len(viewer.layers)}))
viewer.close()
"""


def whole_process(folder: Path) -> dict:
    """Run napari in a fresh process: start-up + open + first draw, measured from outside."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise SystemExit(f"child failed:\n{p.stderr[-3000:]}")
    return {"wall": wall, **json.loads(line)}


def in_process(folder: Path, repeat: int) -> dict:
    from qtpy.QtWidgets import QApplication

    import napari
    from napari_dicomseries import catalog, open_folder

    viewer = napari.Viewer()
    QApplication.processEvents()
    out: dict = {"open": [], "open_again": [], "scan": []}
    for _ in range(repeat):
        catalog.clear()
        t = time.perf_counter()
        open_folder(folder)
        out["scan"].append(time.perf_counter() - t)
    for _ in range(repeat):
        viewer.layers.clear()
        catalog.clear()
        QApplication.processEvents()
        t = time.perf_counter()
        viewer.open(str(folder), plugin=PLUGIN)
        QApplication.processEvents()
        viewer.screenshot(canvas_only=True)
        out["open"].append(time.perf_counter() - t)
        out["layers"] = len(viewer.layers)
        viewer.layers.clear()
        QApplication.processEvents()
        t = time.perf_counter()
        viewer.open(str(folder), plugin=PLUGIN)  # the catalog knows the folder: no rescan
        QApplication.processEvents()
        viewer.screenshot(canvas_only=True)
        out["open_again"].append(time.perf_counter() - t)
    shown = [ly for ly in viewer.layers if ly.visible]
    meta = shown[0].metadata.get("dicom", {}) if shown else {}
    out["shown"] = shown[0].name if shown else None
    out["folder_meta"] = {k: v for k, v in (meta.get("folder") or {}).items() if k != "paths"}
    viewer.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    try:
        import napari_dicomseries.synthetic_archive  # noqa: F401

        default_generator = "archive"
    except ImportError:
        default_generator = "own"
    ap.add_argument("--folder", type=Path, default=None, help="default: /tmp/bench_open_big[_archive]")
    ap.add_argument("--generator", choices=("archive", "own"), default=default_generator)
    ap.add_argument("--studies", type=int, default=40, help="--generator own: studies of 4 reconstructions each")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-layers", type=int, default=None, help="NAPARI_DICOMSERIES_MAX_LAYERS for this run")
    ap.add_argument("--no-process", action="store_true", help="skip the whole-process run")
    args = ap.parse_args()
    suffix = "_archive" if args.generator == "archive" else ""
    folder: Path = args.folder or Path(tempfile.gettempdir()) / f"bench_open_big{suffix}"
    if args.max_layers is not None:
        os.environ["NAPARI_DICOMSERIES_MAX_LAYERS"] = str(args.max_layers)
    if not folder.is_dir() or not any(folder.iterdir()):
        t = time.perf_counter()
        if args.generator == "archive":
            from napari_dicomseries.synthetic_archive import write_archive as write_synthetic_archive

            write_synthetic_archive(folder, 6600, layout="flat", volumes=160)
            n = sum(1 for _ in os.scandir(folder))
        else:
            n = write_archive(folder, args.studies)
        print(f"wrote {n} files to {folder} in {time.perf_counter() - t:.1f} s")
    n = warm(folder)
    print(f"folder: {folder} ({n} files)")
    r = in_process(folder, args.repeat)
    med = sorted(r["open"])[len(r["open"]) // 2]
    scan = sorted(r["scan"])[len(r["scan"]) // 2]
    print(
        f"in-process viewer.open -> first image drawn: median {med:.2f} s (runs {', '.join(f'{x:.2f}' for x in r['open'])}); "
        f"layers {r['layers']}, shown {r['shown']!r}"
    )
    print(f"  scan (open_folder alone): median {scan:.2f} s = {scan / med:.0%} of it")
    print(f"  second open of the same folder (scan cache): {', '.join(f'{x:.2f}' for x in r['open_again'])} s")
    print(f"  folder metadata: {r['folder_meta']}")
    if not args.no_process:
        w = whole_process(folder)
        print(
            f"whole process: {w['wall']:.2f} s wall (start-up {w['startup']:.2f} s, open -> first image "
            f"{w['open_to_first_image']:.2f} s, {w['layers']} layer(s))"
        )


if __name__ == "__main__":
    main()

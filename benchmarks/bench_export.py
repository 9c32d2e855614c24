"""Export time against dcm2niix on the full synthetic study (645 files, 1 scout + 4 reconstructions of 512 x 512).

Writes ``synthetic.write_study(scale=1)`` into a temporary folder, then times,
in the same run and on the same (page-cached) files:

* ``dcm2niix -z y -f %s_%d -o OUT IN`` (the reference converter, a C program);
* ``napari-dicomseries export IN OUT`` as a command (Python start-up included);
* :func:`napari_dicomseries.export.export_folder` in-process.

Prints each time, the ratio to dcm2niix (target <= 1.5) and the output sizes.
Usage: ``python benchmarks/bench_export.py [--repeat N] [--scale S]`` (best of N runs).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from napari_dicomseries.export import export_folder
from napari_dicomseries.synthetic import write_study


def _size(folder: Path, pattern: str) -> tuple[int, int]:
    files = sorted(folder.glob(pattern))
    return len(files), sum(f.stat().st_size for f in files)


def _twins(ref_dir: Path, our_dir: Path) -> str:
    """Full-size check: each dcm2niix volume has a twin (same voxels, affine within 1e-3 mm, canonical orientation)."""
    import json

    try:
        import nibabel as nib
        import numpy as np
    except ImportError:
        return "twin check skipped (nibabel not installed)"

    def by_series(d: Path) -> dict[int, Path]:
        return {json.loads(j.read_text())["SeriesNumber"]: j.with_name(j.stem + ".nii.gz") for j in d.glob("*.json")}

    ref, ours = by_series(ref_dir), by_series(our_dir)
    bad = []
    for n, p in sorted(ref.items()):
        if n not in ours:
            bad.append(f"series {n}: no twin")
            continue
        a, b = nib.as_closest_canonical(nib.load(p)), nib.as_closest_canonical(nib.load(ours[n]))
        if a.shape != b.shape or np.abs(a.affine - b.affine).max() > 1e-3 or not np.array_equal(a.get_fdata(), b.get_fdata()):
            bad.append(f"series {n}: differs")
    return f"twins of dcm2niix's {len(ref)} volumes: " + (
        "all identical (voxels, affine within 1e-3 mm)" if not bad else "; ".join(bad)
    )


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; the best is reported (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="study scale (default 1: 645 files)")
    args = parser.parse_args(argv)
    exe = shutil.which("dcm2niix")
    if exe is None:
        print("dcm2niix not found (pip install dcm2niix)", file=sys.stderr)
        return 2
    cli = shutil.which("napari-dicomseries")
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        root = Path(tmp)
        src = root / "study"
        t0 = time.perf_counter()
        files = write_study(src, scale=args.scale)
        print(
            f"synthetic study: {len(files)} files, {sum(f.stat().st_size for f in files) / 2**20:.0f} MiB (written in {time.perf_counter() - t0:.1f} s)"
        )

        def run_dcm2niix() -> None:
            out = root / "dcm2niix"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            subprocess.run([exe, "-z", "y", "-f", "%s_%d", "-o", str(out), str(src)], check=True, capture_output=True)

        def run_cli() -> None:
            out = root / "cli"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [cli] if cli else [sys.executable, "-m", "napari_dicomseries.cli"]
            subprocess.run([*cmd, "export", str(src), str(out)], check=True, capture_output=True)

        def run_inprocess() -> None:
            out = root / "inprocess"
            shutil.rmtree(out, ignore_errors=True)
            results = export_folder(src, out)
            assert all(r.ok for r in results), [r.error for r in results if r.error]

        t_ref = _best(run_dcm2niix, args.repeat)
        t_cli = _best(run_cli, args.repeat)
        t_in = _best(run_inprocess, args.repeat)
        n_ref, b_ref = _size(root / "dcm2niix", "*.nii.gz")
        n_cli, b_cli = _size(root / "cli", "*.nii.gz")
        print(f"{'tool':<38} {'seconds':>8} {'ratio':>6} {'files':>6} {'MiB':>7}")
        print(f"{'dcm2niix -z y':<38} {t_ref:8.2f} {1.0:6.2f} {n_ref:6d} {b_ref / 2**20:7.1f}")
        print(f"{'napari-dicomseries export (command)':<38} {t_cli:8.2f} {t_cli / t_ref:6.2f} {n_cli:6d} {b_cli / 2**20:7.1f}")
        print(f"{'export_folder() in-process':<38} {t_in:8.2f} {t_in / t_ref:6.2f}")
        print(_twins(root / "dcm2niix", root / "cli"))
        verdict = "meets" if t_cli / t_ref <= 1.5 else "MISSES"
        print(f"command / dcm2niix = {t_cli / t_ref:.2f} ({verdict} the <= 1.5 target); best of {args.repeat} run(s) each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

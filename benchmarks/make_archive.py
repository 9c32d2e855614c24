"""Write a synthetic DICOM archive (many studies, three vendors' layouts) for the archive-scale benchmarks.

Usage::

    python benchmarks/make_archive.py --out /tmp/bench_archive_100k --files 100000
    python benchmarks/make_archive.py --out /tmp/bench_archive_flat --files 6600 --volumes 160 --flat
    python benchmarks/make_archive.py --out /tmp/bench_archive_10k --quick --check 200

``--files`` is approximate (whole studies are written). ``--flat`` puts every file in one folder with random
names (the issue's "6,600-file folder with 160 volumes": ``--files 6600 --volumes 160 --flat``). ``--check K``
reads K files spread over the archive back with pydicom (pixels included). The generator itself is
:func:`napari_dicomseries.synthetic_archive.write_archive` (see its module docstring for what it writes).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

from napari_dicomseries.synthetic_archive import ArchiveSummary, write_archive


def check_sample(summary: ArchiveSummary, k: int) -> int:
    """Read ``k`` files spread over the archive with pydicom (header and pixels); return how many were read."""
    import pydicom

    files = sorted(p for p in summary.root.rglob("*") if p.is_file() and p.suffix not in (".log", ".TXT"))
    step = max(1, len(files) // max(k, 1))
    n = 0
    for p in files[::step][:k]:
        ds = pydicom.dcmread(p)
        ds.pixel_array  # noqa: B018 - decodes the pixels
        if ds.file_meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
            raise SystemExit(f"{p}: MediaStorageSOPInstanceUID differs from SOPInstanceUID")
        n += 1
    return n


def main(argv: list[str] | None = None) -> ArchiveSummary:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="new folder to write (must be empty or absent)")
    ap.add_argument("--files", type=int, default=100_000, help="approximate number of files (default 100000)")
    ap.add_argument("--quick", action="store_true", help="10,000 files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flat", action="store_true", help="every file in one folder with random names")
    ap.add_argument("--volumes", type=int, help="CT exports with many reconstructions: exactly this many volumes")
    ap.add_argument("--no-junk", action="store_true", help="no non-DICOM files (export logs, READMEs)")
    ap.add_argument("--check", type=int, default=0, metavar="K", help="read K files back with pydicom")
    args = ap.parse_args(argv)
    files = 10_000 if args.quick else args.files
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 2 or done == total:
            last[0] = now
            print(f"\r  {done:,}/{total:,} files", end="", file=sys.stderr, flush=True)

    summary = write_archive(
        args.out, files, seed=args.seed, layout="flat" if args.flat else "mixed", volumes=args.volumes,
        junk=not args.no_junk, progress=progress,
    )  # fmt: skip
    print(file=sys.stderr)
    by_vendor = collections.Counter(s.vendor for s in summary.series)
    by_kind = collections.Counter(s.kind for s in summary.series)
    print(f"archive   : {Path(summary.root).resolve()}")
    print(f"files     : {summary.files:,} ({summary.junk_files} non-DICOM), {summary.bytes_written / 2**20:,.0f} MiB")
    print(f"studies   : {summary.studies:,}; series: {len(summary.series):,} ({dict(by_kind)}; {dict(by_vendor)})")
    print(f"generated : {summary.seconds:.1f} s ({summary.dicom_files / summary.seconds:,.0f} files/s)")
    if args.check:
        t = time.perf_counter()
        n = check_sample(summary, args.check)
        print(f"pydicom   : read {n} files back (pixels included) in {time.perf_counter() - t:.1f} s")
    return summary


if __name__ == "__main__":
    main()

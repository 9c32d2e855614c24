"""Per real-data folder: how many dcm2niix volumes our export matches, why the others do not, and both run times.

Usage::

    python benchmarks/real_data_report.py [DATA_DIR] [--verbose]

``DATA_DIR`` defaults to ``../shared/data`` beside the project. dcm2niix (``-p n -z y``) and ``export_folder`` write
into temporary folders (removed at exit); nothing is written into the data. The matching rules are those of
``tests/core/test_real_data.py`` (``tests/oracle.py``): same shape, identical voxels, affine within 1e-3 mm, bval/bvec
where dcm2niix writes them; derived ``_Eq``/``_Tilt``/``_ROI``/``_ADC`` copies are not counted; volumes listed in
``KNOWN_DCM2NIIX_WRONG`` are checked against the DICOM headers instead. Run times are wall seconds of one cold run
of each tool (dcm2niix: the subprocess; ours: ``export_folder``, gzip on, default workers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import oracle  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print the report; exit code 0 when every folder matches fully, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data"), help="folder of data folders")
    ap.add_argument("--verbose", "-v", action="store_true", help="also list the matched volumes")
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"no data folder at {data}", file=sys.stderr)
        return 2
    if oracle.dcm2niix_exe() is None:
        print("dcm2niix not on PATH (pip install dcm2niix)", file=sys.stderr)
        return 2
    folders = sorted(p for p in data.iterdir() if p.is_dir())
    total_m = total_n = 0
    t_ref = t_ours = 0.0
    rows = []
    for folder in folders:
        try:
            outcomes = oracle.match_folder(folder)
        except Exception as exc:  # noqa: BLE001 - a report line, not a traceback
            print(f"{folder.name}: ERROR {type(exc).__name__}: {exc}")
            continue
        ref, ours = oracle.dcm2niix_volumes(folder), oracle.our_volumes(folder)
        m = sum(o.matched for o in outcomes)
        n = len(outcomes)
        derived = sum(v.derived for v in ref.volumes)
        total_m, total_n = total_m + m, total_n + n
        t_ref, t_ours = t_ref + ref.seconds, t_ours + ours.seconds
        extra = f", {derived} derived not counted" if derived else ""
        print(f"{folder.name}: {m}/{n}  (dcm2niix {ref.seconds:.2f} s, ours {ours.seconds:.2f} s{extra})")
        for o in outcomes:
            if not o.matched:
                print(f"    UNMATCHED {o.line()}")
            elif args.verbose or o.note.startswith("dcm2niix wrong"):
                note = o.note.split(":")[0] if o.note.startswith("dcm2niix wrong") and not args.verbose else o.note
                print(f"    matched   {o.name} = ours {o.ours}" + (f" [{note}]" if note else ""))
        rows.append((folder.name, m, n))
    print(f"TOTAL: {total_m}/{total_n} dcm2niix volumes matched in {len(rows)} folders; "
          f"{sum(m == n for _, m, n in rows)}/{len(rows)} folders fully matched; "
          f"run time dcm2niix {t_ref:.2f} s, ours {t_ours:.2f} s")  # fmt: skip
    return 0 if total_m == total_n else 1


if __name__ == "__main__":
    raise SystemExit(main())

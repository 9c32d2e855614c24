"""``compare DIR A B``: voxel difference of two volumes (B resampled onto A's grid when they differ) and mask overlap."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from .. import open_folder
from ..compare import select_volume
from ..metrics import HU_PRESETS, compare_volumes
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="difference statistics and Dice of two volumes", description=__doc__)
    p.add_argument("path", metavar="DIR", help="folder (or file) to scan")
    p.add_argument("a", metavar="A", help="first (reference) volume: series number, key or SeriesInstanceUID")
    p.add_argument("b", metavar="B", help="second volume, resampled onto A's grid if needed")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--hu-range", nargs=2, type=float, metavar=("LO", "HI"), help="masks LO <= HU <= HI of both for Dice etc.")
    g.add_argument("--preset", choices=sorted(HU_PRESETS), help="an HU range by name: " + ", ".join(
        f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in HU_PRESETS.items()))  # fmt: skip
    p.add_argument("--interpolation", choices=("linear", "nearest"), default="linear", help="how B is resampled (default linear)")
    p.add_argument("--tolerance", type=float, default=0.0, help="a voxel differs when |B - A| > this (default 0)")
    p.add_argument("--allow-different-frame", action="store_true", help="compare even if the FrameOfReferenceUIDs differ")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    volumes, _ = open_folder(args.path, progress=False if args.json else None)
    a = select_volume(volumes, args.a)
    b = select_volume(volumes, args.b)
    hu = tuple(args.hu_range) if args.hu_range else (HU_PRESETS[args.preset] if args.preset else None)
    res = compare_volumes(
        a, b, interpolation=args.interpolation, hu_range=hu, tolerance=args.tolerance, allow_different_frame=args.allow_different_frame
    )
    if args.json:
        d = res.to_dict()
        d["a"] = {"key": a.key, "description": a.series_description}
        d["b"] = {"key": b.key, "description": b.series_description}
        d["hu_range"] = None if hu is None else [hu[0], hu[1] if math.isfinite(hu[1]) else None]
        print(json.dumps(d, indent=2))
        return 0
    print(f"A = {a.key} {a.series_description!r}   B = {b.key} {b.series_description!r}")
    print(format_table(["section", "measure", "value"], [r for r in res.rows() if r[0] != "note"], max_width=100))
    for m in res.messages:
        print(f"note: {m}")
    return 0

"""``compare DIR A B``: voxel difference of two volumes (B resampled onto A's grid when they differ) and mask overlap."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..errors import GeometryError
from ..metrics import HU_PRESETS, compare_volumes
from ..volume import Volume
from ._options import RangeAction, add_gaps_option, hu_value, non_negative_float, open_selected
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "compare", help="difference statistics and Dice of two volumes", description=__doc__
    )
    p.add_argument("path", metavar="DIR", help="folder (or file) to scan")
    p.add_argument("a", metavar="A", help="first (reference) volume: series number, key or SeriesInstanceUID")
    p.add_argument("b", metavar="B", help="second volume, resampled onto A's grid if needed")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--hu-range", nargs=2, type=hu_value, action=RangeAction, metavar=("LO", "HI"),
        help="masks LO <= HU <= HI of both for Dice etc. (LO <= HI; HI may be inf)",
    )  # fmt: skip
    g.add_argument("--preset", choices=sorted(HU_PRESETS), help="an HU range by name: " + ", ".join(
        f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in HU_PRESETS.items()))  # fmt: skip
    p.add_argument("--interpolation", choices=("linear", "nearest"), default="linear", help="how B is resampled (default linear)")
    p.add_argument("--tolerance", type=non_negative_float, default=0.0, help="a voxel differs when |B - A| > this (default 0)")
    p.add_argument("--allow-different-frame", action="store_true", help="compare even if the FrameOfReferenceUIDs differ")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_gaps_option(p)
    return p


def _check_frames(a: Volume, b: Volume) -> None:
    """Refuse, before any pixel is read, two volumes whose FrameOfReferenceUIDs differ (naming the option to insist)."""
    fa, fb = a.frame_of_reference_uid, b.frame_of_reference_uid
    if fa and fa == fb:
        return
    if not fa and not fb:
        why = "neither has a FrameOfReferenceUID, so it is unknown whether their patient coordinates agree"
    elif not fa or not fb:
        why = (
            f"series {(b if fa else a).key} has no FrameOfReferenceUID, so it is unknown whether their patient coordinates agree"
        )
    else:
        why = f"their FrameOfReferenceUIDs differ ({fa} and {fb}), so their patient coordinates may not agree"
    raise GeometryError(
        f"series {a.key} ({a.series_description!r}) and {b.key} ({b.series_description!r}): {why}; "
        "add --allow-different-frame to compare them anyway (only if you know they are registered)"
    )


def run(args: argparse.Namespace) -> int:
    a, b = open_selected(args, args.path, args.a, args.b)
    if not args.allow_different_frame:
        _check_frames(a, b)
    hu = tuple(args.hu_range) if args.hu_range else (HU_PRESETS[args.preset] if args.preset else None)
    res = compare_volumes(
        a,
        b,
        interpolation=args.interpolation,
        hu_range=hu,
        tolerance=args.tolerance,
        allow_different_frame=args.allow_different_frame,
    )
    if args.json:
        d = res.to_dict()
        d["a"] = {"key": a.key, "description": a.series_description}
        d["b"] = {"key": b.key, "description": b.series_description}
        d["hu_range"] = None if hu is None else [x if math.isfinite(x) else None for x in hu]
        print(json.dumps(d, indent=2))
        return 0
    print(f"A = {a.key} {a.series_description!r}   B = {b.key} {b.series_description!r}")
    print(format_table(["section", "measure", "value"], [r for r in res.rows() if r[0] != "note"], max_width=100))
    for m in res.messages:
        print(f"note: {m}")
    return 0

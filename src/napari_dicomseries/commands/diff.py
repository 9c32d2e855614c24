"""``diff DIR A B``: the tags in which two volumes differ (per-instance identifiers left out unless asked)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import open_folder
from ..compare import DEFAULT_TOLERANCE, diff_volumes, select_volume
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("diff", help="compare the tags of two volumes", description=__doc__)
    p.add_argument("path", metavar="DIR", help="folder (or file) to scan")
    p.add_argument("a", metavar="A", help="series number, volume key (3.2) or SeriesInstanceUID")
    p.add_argument("b", metavar="B", help="series number, volume key (3.2) or SeriesInstanceUID")
    p.add_argument("--all", action="store_true", help="show every tag, equal ones and per-instance identifiers too")
    p.add_argument("--identifiers", action="store_true", help="show per-instance identifiers (SOPInstanceUID, positions, ...)")
    p.add_argument("--search", metavar="TEXT", default="", help="only tags whose keyword, name or number matches")
    p.add_argument("--private", action="store_true", help="include private tags, with their private creator")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help=f"numbers closer than this are equal (default {DEFAULT_TOLERANCE:g})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    volumes, _ = open_folder(args.path, progress=False if args.json else None)
    a = select_volume(volumes, args.a)
    b = select_volume(volumes, args.b)
    d = diff_volumes(a, b, private=args.private, tolerance=args.tolerance)
    opts = {"show_all": args.all, "identifiers": args.all or args.identifiers, "query": args.search}
    if args.json:
        print(json.dumps(d.to_dict(**opts), indent=2))
        return 0
    rows = d.filtered(**opts)
    n_diff = len(d.filtered(identifiers=opts["identifiers"]))
    print(f"A = {a.key} {a.series_description!r}   B = {b.key} {b.series_description!r}: {n_diff} differing tag(s)")
    table = [[r.info.category, r.info.tag, r.info.keyword or r.info.key, r.info.vr, r.status, r.value_a, r.value_b] for r in rows]
    print(format_table(["group", "tag", "keyword", "VR", "status", "A", "B"], table, max_width=50))
    return 0

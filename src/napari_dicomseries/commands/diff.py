"""``diff DIR A B``: the tags in which two volumes differ (per-instance identifiers left out unless asked)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..compare import diff_volumes
from ._options import VOLUME_HELP, add_tag_options, open_selected
from ._progress import Interrupt, StageBar, add_quiet_option, run_cancellable
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("diff", help="compare the tags of two volumes", description=__doc__)
    p.add_argument("path", metavar="DIR", help="folder (or file) to scan")
    p.add_argument("a", metavar="A", help=VOLUME_HELP)
    p.add_argument("b", metavar="B", help=VOLUME_HELP)
    p.add_argument("--all", action="store_true", help="show every tag, equal ones and per-instance identifiers too")
    p.add_argument("--identifiers", action="store_true", help="show per-instance identifiers (SOPInstanceUID, positions, ...)")
    add_tag_options(p)
    add_quiet_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    return run_cancellable(args, lambda intr: _run(args, intr))


def _run(args: argparse.Namespace, intr: Interrupt) -> int:
    a, b = open_selected(args, args.path, args.a, args.b)
    bar = StageBar(f"tags of {a.key} and {b.key}")
    with intr.cooperating() as cancel:
        d = diff_volumes(a, b, private=args.private, tolerance=args.tolerance, progress=bar, cancel=cancel)
    bar.close()
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

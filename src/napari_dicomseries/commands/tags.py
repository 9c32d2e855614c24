"""``tags DIR --series N``: which tags are constant over the slices of one volume and which vary."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..compare import iter_text_rows, volume_tags
from ._options import VOLUME_HELP, add_tag_options, open_selected
from ._progress import Interrupt, StageBar, add_quiet_option, run_cancellable
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "tags",
        help="tags of one volume: constant ones with their value, varying ones with their range",
        description=__doc__,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folder(s) or file(s) to scan")
    p.add_argument("--series", "-s", required=True, metavar="N", help=VOLUME_HELP)
    p.add_argument("--varying", action="store_true", help="show only the tags that vary between slices")
    p.add_argument("--tag", metavar="KEYWORD", help="print this tag's value for every slice (keyword, key or (gggg,eeee))")
    add_tag_options(p)
    add_quiet_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    return run_cancellable(args, lambda intr: _run(args, intr))


def _run(args: argparse.Namespace, intr: Interrupt) -> int:
    (vol,) = open_selected(args, args.paths, args.series)
    bar = StageBar(f"tags of {vol.key}")
    with intr.cooperating() as cancel:
        vt = volume_tags(vol, private=args.private, tolerance=args.tolerance, progress=bar, cancel=cancel)
    bar.close()
    rows = vt.varying if args.varying else vt.rows
    if args.search:
        rows = [r for r in rows if r.info.matches(args.search)]
    if args.tag:
        try:
            row = vt.row(args.tag)
        except KeyError as exc:
            from ..errors import DicomSeriesError

            raise DicomSeriesError(f"volume {vol.key} has no tag {args.tag!r}") from exc
        values = vt.per_frame_values(row.info.key)
        if args.json:
            print(json.dumps({"volume": vol.key, "tag": row.to_dict(), "frames": [
                {"file": f, "frame": i, "value": v} for (f, i), v in zip(vt.frames.frames, values, strict=True)
            ]}, indent=2))  # fmt: skip
            return 0
        print(f"{row.info.key} {row.info.tag} ({row.info.name}) in volume {vol.key} {vol.series_description!r}:")
        table = [[n + 1, v, f, i + 1] for n, ((f, i), v) in enumerate(zip(vt.frames.frames, values, strict=True))]
        print(format_table(["slice", "value", "file", "frame"], table, max_width=80))
        return 0
    if args.json:
        d = vt.to_dict()
        d["tags"] = [r.to_dict() for r in rows]
        print(json.dumps(d, indent=2))
        return 0
    n_var = len(vt.varying)
    print(
        f"volume {vol.key} {vol.series_description!r}: {vt.n_frames} frame(s), {len(vt.rows)} tags, {n_var} vary between frames"
    )
    print(
        format_table(["tag", "keyword", "name", "VR", "status", "value", "min", "max"], list(iter_text_rows(rows)), max_width=60)
    )
    return 0

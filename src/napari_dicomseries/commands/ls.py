"""``ls DIR``: the table of volumes in a folder, with classes and warnings."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..volume import Volume
from ._options import add_gaps_option, open_inputs
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("ls", help="list the volumes of a folder", description=__doc__)
    p.add_argument("paths", nargs="+", metavar="PATH", help="folder(s) or file(s) to scan")
    p.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    p.add_argument("--no-recursive", action="store_true", help="do not walk sub-folders")
    add_gaps_option(p)
    return p


def ls_json(volumes: list[Volume], root: str, skipped: list[Any]) -> dict[str, Any]:
    """The ``ls --json`` object."""
    return {
        "root": root,
        "series": [v.summary() for v in volumes],
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
    }


def _fmt_spacing(v: Volume) -> str:
    if not v.is_image or not v.shape:  # no grid: objects without pixels, an RTSTRUCT without its series
        return ""
    return "x".join(f"{s:.3g}" for s in v.spacing)


def format_volumes(volumes: list[Volume]) -> str:
    headers = ["key", "series", "description", "mod", "kernel", "class", "kind", "orient", "shape", "spacing mm", "thick", "acq", "warn"]  # fmt: skip
    rows = []
    for v in volumes:
        rows.append([
            v.key,
            "" if v.series_number is None else v.series_number,
            v.series_description,
            v.modality,
            v.convolution_kernel,
            v.kernel_class,
            v.kind,
            v.orientation,
            "x".join(str(s) for s in v.shape),
            _fmt_spacing(v),
            v.thickness_class,
            v.acquisition_group,
            len(v.warnings) or "",
        ])  # fmt: skip
    return format_table(headers, rows)


def run(args: argparse.Namespace) -> int:
    volumes, result = open_inputs(args, args.paths, recursive=not args.no_recursive, require=False)
    if args.json:
        print(json.dumps(ls_json(volumes, result.root, result.skipped), indent=2))
        return 0
    if volumes:
        print(format_volumes(volumes))
    else:
        print(f"no DICOM images found in {result.root}")
    keys = {v.series_instance_uid: v.key for v in volumes if v.kind != "segmentation"}
    for v in volumes:
        if v.kind == "segmentation":
            refs = ", ".join(f"series {keys[u]}" if u in keys else f"series {u} (not in this folder)" for u in v.references)
            names = ", ".join(s.label for s in v.segments)
            print(f"  [{v.key}] segmentation of {refs or 'no referenced series'}: {len(v.segments)} segment(s) ({names})")
        for w in v.warnings:
            print(f"  [{v.key}] warning: {w}")
        if v.split_reason:
            print(f"  [{v.key}] split off by {v.split_reason}")
    if result.skipped:
        print(f"{len(result.skipped)} file(s) skipped:")
        for s in result.skipped[:20]:
            print(f"  {s.path}: {s.reason}")
        if len(result.skipped) > 20:
            print(f"  ... and {len(result.skipped) - 20} more (see --json)")
    return 0

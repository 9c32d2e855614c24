"""``seg DIR``: every segmentation (DICOM SEG; RTSTRUCT on its series' grid), its segments, their volume and centroid.

For each segmentation volume: the series it segments (by key, when that series
was scanned too), then one row per segment: number, label, category, type,
display colour, voxels, volume (voxels x the voxel volume of the
segmentation's grid, mL) and centroid (mean patient position of the voxel
centres, LPS mm). Exit code 1 when a segmentation could not be decoded (it is
reported, the others still are).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import DicomSeriesError, SeriesNotFoundError
from ..volume import Volume
from ._options import VOLUME_HELP, add_gaps_option, open_inputs
from ._progress import TerminalBar
from ._table import format_table

COLUMNS = ("#", "label", "category", "type", "colour", "voxels", "volume mL", "centroid LPS mm")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "seg", help="segmentations: segments, volume (mL) and centroid (LPS mm)", description=__doc__
    )
    p.add_argument("path", metavar="DIR", help="folder (or file) to scan")
    p.add_argument(
        "--series", action="append", metavar="SEG", default=None, help=f"only this segmentation ({VOLUME_HELP}); repeatable"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_gaps_option(p)
    return p


def _references(seg: Volume, volumes: list[Volume]) -> list[dict[str, Any]]:
    """The series ``seg`` references: UID, and the keys and description of the scanned volumes of that series."""
    out = []
    for uid in seg.references:
        found = [v for v in volumes if v.series_instance_uid == uid and v.kind != "segmentation"]
        out.append(
            {
                "series_instance_uid": uid,
                "keys": [v.key for v in found],
                "series_number": found[0].series_number if found else None,
                "series_description": found[0].series_description if found else None,
            }
        )
    return out


def _describe_refs(refs: list[dict[str, Any]]) -> str:
    if not refs:
        return "references no series"
    parts = []
    for r in refs:
        if r["keys"]:
            desc = f" {r['series_description']!r}" if r["series_description"] else ""
            parts.append(f"series {', '.join(r['keys'])}{desc}")
        else:
            parts.append(f"series {r['series_instance_uid']} (not in this folder)")
    return "of " + "; ".join(parts)


def run(args: argparse.Namespace) -> int:
    from ..masks import segment_statistics
    from ..selection import select_series

    volumes, result = open_inputs(args, args.path)
    segs = [v for v in volumes if v.kind == "segmentation"]
    if args.series:
        chosen = select_series(volumes, args.series)
        for v in chosen:
            if v.kind != "segmentation":
                raise SeriesNotFoundError(f"series {v.key} ({v.series_description!r}) is not a segmentation (kind {v.kind})")
        segs = [v for v in segs if v in chosen]
    if not segs:
        listing = ", ".join(f"{v.key} ({v.kind})" for v in volumes)
        raise SeriesNotFoundError(f"{result.root or args.path}: no segmentation (DICOM SEG or RTSTRUCT) among: {listing}")
    bar = None if args.json else TerminalBar("reading segmentations")
    entries: list[dict[str, Any]] = []
    tables: list[list[list[str]]] = []
    failed = 0
    for i, v in enumerate(segs):
        entry: dict[str, Any] = {
            "key": v.key,
            "series_number": v.series_number,
            "series_description": v.series_description,
            "sop_class_uid": v.sop_class_uid,
            "modality": v.modality,
            "frame_of_reference_uid": v.frame_of_reference_uid,
            "shape": list(v.shape),
            "spacing": [round(s, 6) for s in v.spacing],
            "voxel_volume_mm3": round(v.geometry.voxel_volume_mm3, 9),
            "files": v.paths,
            "references": _references(v, volumes),
            "warnings": v.warning_messages,
            "segments": [],
            "error": None,
        }
        stats = []
        try:
            stats = segment_statistics(v)
        except DicomSeriesError as exc:
            entry["error"] = str(exc)
            failed += 1
        entry["segments"] = [s.to_dict() for s in stats]
        entries.append(entry)
        tables.append([s.row() for s in stats])
        if bar is not None:
            bar(i + 1, len(segs))
    if args.json:
        print(json.dumps({"root": result.root, "segmentations": entries}, indent=2))
        return 1 if failed else 0
    for n, (e, rows) in enumerate(zip(entries, tables, strict=True)):
        if n:
            print()
        shape = "x".join(map(str, e["shape"]))
        spacing = "x".join(f"{s:.3g}" for s in e["spacing"])
        print(f"segmentation {e['key']} {e['series_description']!r} ({e['modality'] or 'no modality'}, {shape} voxels of "
              f"{spacing} mm) {_describe_refs(e['references'])}")  # fmt: skip
        if e["error"]:
            print(f"  error: {e['error']}")
            continue
        print(format_table(COLUMNS, rows))
        for w in e["warnings"]:
            print(f"  warning: {w}")
    return 1 if failed else 0

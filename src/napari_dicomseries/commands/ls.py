"""``ls DIR``: the table of volumes in a folder, with classes and warnings (``ls INDEX``: the same, from an index)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..index import single_index
from ._options import add_gaps_option, open_inputs
from ._table import format_table

if TYPE_CHECKING:
    from ..volume import Volume


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("ls", help="list the volumes of a folder (or an index)", description=__doc__)
    p.add_argument("paths", nargs="+", metavar="PATH", help="folder(s) or file(s) to scan, or one index folder")
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


def _fmt_spacing(s: dict[str, Any], is_image: bool) -> str:
    if not is_image or not s["shape"]:  # no grid: objects without pixels, an RTSTRUCT without its series
        return ""
    return "x".join(f"{x:.3g}" for x in s["spacing"])


def format_summaries(series: list[dict[str, Any]], is_image: list[bool]) -> str:
    """The ``ls`` table of volumes given as their ``ls --json`` summaries (and whether each is an image)."""
    headers = ["key", "series", "description", "mod", "kernel", "class", "kind", "orient", "shape", "spacing mm", "thick", "acq", "warn"]  # fmt: skip
    rows = []
    for s, image in zip(series, is_image, strict=True):
        rows.append([
            s["key"],
            "" if s["series_number"] is None else s["series_number"],
            s["series_description"],
            s["modality"],
            s["convolution_kernel"],
            s["kernel_class"],
            s["kind"],
            s["orientation"],
            "x".join(str(n) for n in s["shape"]),
            _fmt_spacing(s, image),
            s["thickness_class"],
            s["acquisition_group"],
            len(s["warnings"]) or "",
        ])  # fmt: skip
    return format_table(headers, rows)


def format_volumes(volumes: list[Volume]) -> str:
    """The ``ls`` table of ``volumes``."""
    return format_summaries([v.summary() for v in volumes], [v.is_image for v in volumes])


def print_notes(series: list[dict[str, Any]], root: str, skipped: list[Any], *, empty: bool = True) -> None:
    """What ``ls`` prints below the table: segmentations, warnings, split reasons, skipped files.

    ``empty``: say "no DICOM images found" when ``series`` is empty (not for an index whose volumes are not built yet).
    """
    if not series and empty:
        print(f"no DICOM images found in {root}")
    keys = {s["series_instance_uid"]: s["key"] for s in series if s["kind"] != "segmentation"}
    for s in series:
        if s["kind"] == "segmentation":
            refs = ", ".join(f"series {keys[u]}" if u in keys else f"series {u} (not in this folder)" for u in s["references"])
            names = ", ".join(seg["label"] for seg in s["segments"])
            print(f"  [{s['key']}] segmentation of {refs or 'no referenced series'}: {len(s['segments'])} segment(s) ({names})")
        for w in s["warnings"]:
            print(f"  [{s['key']}] warning: {w}")
        if s["split_reason"]:
            print(f"  [{s['key']}] split off by {s['split_reason']}")
    if skipped:
        print(f"{len(skipped)} file(s) skipped:")
        for sk in skipped[:20]:
            print(f"  {sk.path}: {sk.reason}")
        if len(skipped) > 20:
            print(f"  ... and {len(skipped) - 20} more (see --json)")


def run(args: argparse.Namespace) -> int:
    index = single_index(args.paths)
    if index is not None and args.gaps == "split":  # the stored table; another gap policy rebuilds (open_inputs)
        import sys

        from ..index_query import list_index

        listing = list_index(index)
        if listing.pending_studies:
            print(
                f"napari-dicomseries ls: warning: {index}: the last index run was interrupted; the volumes of "
                f"{len(listing.pending_studies)} study(ies) are out of date (run `napari-dicomseries index` again)",
                file=sys.stderr,
            )
        if args.json:
            print(json.dumps(listing.to_json(), indent=2))
            return 0
        table = listing.table()  # the fields printed, from the table's columns (no summary parsed)
        if table:
            print(format_summaries(table, listing.is_image))
        elif listing.pending_studies:  # an interrupted first run: the archive's volumes are not built yet
            print(f"no volumes in the index {index} yet: its first run was interrupted")
        print_notes(table, listing.root, listing.skipped, empty=not listing.pending_studies)
        return 0
    volumes, result = open_inputs(args, args.paths, recursive=not args.no_recursive, require=False)
    if args.json:
        print(json.dumps(ls_json(volumes, result.root, result.skipped), indent=2))
        return 0
    if volumes:
        print(format_volumes(volumes))
    print_notes([v.summary() for v in volumes], result.root, result.skipped)
    return 0

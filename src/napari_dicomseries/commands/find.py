"""``find INDEX [filters]``: the volumes of an archive index that match every filter (a DuckDB query; the archive
is not read). Their keys work with the other commands on the index (``tags INDEX --series KEY``, ...)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("find", help="query the volumes of an index", description=__doc__)
    p.add_argument("index", metavar="INDEX", help="an index folder written by `napari-dicomseries index`")
    p.add_argument("--modality", metavar="MOD", help="CT, MR, ... (case-insensitive)")
    p.add_argument("--kernel-class", metavar="CLASS", help="standard, lung, bone or other")
    p.add_argument("--thin", action="store_true", help="only thin volumes (slice thickness <= 1.5 mm)")
    p.add_argument("--orientation", metavar="ORIENT", help="axial, coronal, sagittal or oblique")
    p.add_argument("--kind", metavar="KIND", help="image, localizer, secondary, segmentation or non-image")
    p.add_argument(
        "--description", metavar="REGEX", help="regular expression searched in the series description (case-insensitive)"
    )
    p.add_argument("--study", metavar="UID", help="StudyInstanceUID")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    from ..index_query import find

    rows = find(
        args.index,
        modality=args.modality,
        kernel_class=args.kernel_class,
        thin=True if args.thin else None,
        orientation=args.orientation,
        kind=args.kind,
        description=args.description,
        study=args.study,
    )
    if args.json:
        print(json.dumps({"index": args.index, "volumes": [r.to_dict() for r in rows]}, indent=2))
        return 0
    if not rows:
        print(f"no volume of {args.index} matches")
        return 0
    headers = ["key", "series", "description", "mod", "kernel", "class", "kind", "orient", "shape", "spacing mm", "thick", "files", "study"]  # fmt: skip
    table = [
        [
            r.key,
            "" if r.series_number is None else r.series_number,
            r.series_description,
            r.modality,
            r.convolution_kernel,
            r.kernel_class,
            r.kind,
            r.orientation,
            "x".join(str(s) for s in r.shape),
            "x".join(f"{s:.3g}" for s in r.spacing) if r.spacing else "",
            r.thickness_class,
            r.n_files,
            r.study_instance_uid,
        ]
        for r in rows
    ]
    print(format_table(headers, table))
    print(f"{len(rows)} volume(s)")
    return 0

"""``inspect FILE``: every tag of one file (keyword, name, VR, value) and its geometry; no pixels read."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..errors import NotDicomError
from ..header import inspect_file
from ._options import check_inputs, quoted, show_path
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("inspect", help="show the tags and geometry of one file", description=__doc__)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--private", action="store_true", help="include private tags, with their private creator")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    check_inputs(args.file)
    if os.path.isdir(args.file):
        raise NotDicomError(
            f"{show_path(args.file)}: is a folder, and inspect reads one file; "
            f"list the folder's volumes with: napari-dicomseries ls {quoted(args.file)}"
        )
    rep = inspect_file(args.file, private=args.private)
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2))
        return 0
    print(f"file            {rep.path} ({rep.size_bytes} bytes)")
    print(f"transfer syntax {rep.transfer_syntax_uid}")
    print(f"SOP class       {rep.sop_class_uid}")
    if rep.image_shape:
        print(f"shape           {rep.image_shape} ({rep.pixel_type})")
        print(f"spacing (mm)    {rep.spacing}")
        print(f"origin (LPS mm) {rep.origin}")
        print(f"direction       {rep.direction}")
    for w in rep.warnings:
        print(f"warning: {w}")
    rows = [[t.tag, t.vr, t.keyword or "-", t.name, t.value, t.private_creator] for t in rep.tags]
    print(format_table(["tag", "VR", "keyword", "name", "value", "private creator"], rows, max_width=60))
    return 0

"""``demo [DIR]``: write the synthetic sample CT study (scout + 4 reconstructions) and list it."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .. import open_folder
from ..errors import DicomSeriesError, OutputExistsError
from ..synthetic import write_study
from ._options import float_between, show_path
from ._progress import TerminalBar
from .ls import format_volumes, ls_json

#: Smallest and largest --scale: 0.05 still gives every series a few 26 x 26 slices; 2 already writes
#: 2.6 GB (2,565 files of 1024 x 1024) and needs 3 GB of memory to list.
MIN_SCALE, MAX_SCALE = 0.05, 2.0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="write the synthetic sample study and list its volumes", description=__doc__
    )
    p.add_argument(
        "dir", nargs="?", metavar="DIR", help="where to write it: a new or empty folder (default: a new temporary folder)"
    )
    p.add_argument(
        "--scale",
        type=float_between(MIN_SCALE, MAX_SCALE, " (1 = 645 files of 512x512, 2 = 2.6 GB)"),
        default=1.0,
        help=f"matrix/slice scale from {MIN_SCALE:g} to {MAX_SCALE:g}: 1 = 645 files of 512x512 (default), 0.25 = small",
    )
    p.add_argument(
        "--json", action="store_true", help='print the ls --json object of the study written, with its folder as "out"'
    )
    return p


def _check_output(out: Path, shown: str) -> None:
    """Refuse an output that is a file or a folder with something in it."""
    if os.path.lexists(out) and not out.is_dir():
        raise OutputExistsError(f"{shown}: exists and is not a folder; give an empty or new folder")
    if out.is_dir():
        try:
            busy = any(out.iterdir())
        except OSError as exc:
            raise DicomSeriesError(f"{shown}: cannot read the folder ({exc.strerror or exc})") from exc
        if busy:
            raise OutputExistsError(f"{shown}: folder is not empty; give an empty or new folder")


def run(args: argparse.Namespace) -> int:
    if args.dir is not None and not args.dir.strip():
        raise DicomSeriesError(f"{show_path(args.dir)}: an empty folder name; give a folder, or no DIR for a temporary one")
    out = Path(args.dir) if args.dir is not None else Path(tempfile.mkdtemp(prefix="dicomseries-demo-"))
    shown = args.dir if args.dir is not None else os.fspath(out)
    _check_output(out, shown)
    try:
        paths = write_study(out, scale=args.scale)
    except OSError as exc:
        where = f"{os.fsdecode(exc.filename)}: " if exc.filename is not None and os.fsdecode(exc.filename) != shown else ""
        raise DicomSeriesError(f"{shown}: cannot write the study there ({where}{exc.strerror or exc})") from exc
    volumes, result = open_folder(out, progress=None if args.json else TerminalBar("scanning"))
    if args.json:
        d = ls_json(volumes, result.root, result.skipped)
        d["out"] = os.fspath(out)
        d["files_written"] = len(paths)
        print(json.dumps(d, indent=2))
        return 0
    print(f"wrote {len(paths)} DICOM files to {os.fspath(out)}")
    print(format_volumes(volumes))
    return 0

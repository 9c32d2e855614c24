"""``demo [DIR]``: write the synthetic sample CT study (scout + 4 reconstructions) and list it."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from .. import open_folder
from ..synthetic import write_study
from .ls import format_volumes


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="write the synthetic sample study and list its volumes", description=__doc__)
    p.add_argument("dir", nargs="?", metavar="DIR", help="where to write it (default: a new temporary folder)")
    p.add_argument("--scale", type=float, default=1.0, help="matrix/slice scale: 1 = 645 files of 512x512 (default), 0.25 = small")
    return p


def run(args: argparse.Namespace) -> int:
    out = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="dicomseries-demo-"))
    if out.exists() and any(out.iterdir()):
        from ..errors import OutputExistsError

        raise OutputExistsError(f"{out}: folder is not empty; give an empty or new folder")
    paths = write_study(out, scale=args.scale)
    print(f"wrote {len(paths)} DICOM files to {os.fspath(out)}")
    volumes, _ = open_folder(out)
    print(format_volumes(volumes))
    return 0

"""Command-line interface: ``napari-dicomseries COMMAND ...`` (no napari, no display needed).

Each command lives in its own module of :mod:`napari_dicomseries.commands`
with two functions, ``add_parser(subparsers)`` and ``run(args) -> int``; this
module finds them, parses the arguments and turns the project's errors into
one clear line on stderr (exit code 2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__, commands
from .errors import DicomSeriesError

__all__ = ["main", "build_parser"]

#: Order in which commands are listed in ``--help``; modules not named here follow.
ORDER = ("ls", "inspect", "tags", "diff", "compare", "export", "demo")


def _command_modules() -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    return sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of :mod:`napari_dicomseries.commands`."""
    parser = argparse.ArgumentParser(
        prog="napari-dicomseries",
        description="List, inspect, compare and convert the DICOM series of a folder (headless).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _command_modules():
        module = importlib.import_module(f"{commands.__name__}.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 problems found, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DicomSeriesError as exc:
        print(f"napari-dicomseries {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Command-line interface: ``napari-dicomseries COMMAND ...`` (no napari, no display needed).

Each command lives in its own module of :mod:`napari_dicomseries.commands`
with two functions, ``add_parser(subparsers)`` and ``run(args) -> int``; this
module finds them, parses the arguments and turns every error into one clear
line on stderr instead of a traceback. Only the module of the command typed is
imported (all of them for ``--help`` and an unknown command; none for
``--version``), so the CLI starts fast:

* a usage error (bad option or value) and any :class:`DicomSeriesError`
  (a problem with the input or output) -> exit code 2;
* an operating-system error that escaped a command (disk full, ...) -> exit 2;
* anything else is a bug: "internal error: ... (please report)" -> exit 3, or
  the traceback when the environment variable ``NAPARI_DICOMSERIES_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import pkgutil
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__, commands
from .errors import DicomSeriesError

__all__ = ["main", "build_parser"]

#: Order in which commands are listed in ``--help``; modules not named here follow.
ORDER = ("ls", "index", "find", "inspect", "tags", "diff", "compare", "seg", "export", "demo")


def _command_modules() -> list[str]:
    """The names of the command modules in ``--help`` order (found on disk, none imported)."""
    found = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    return sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def _needed_commands(argv: Sequence[str], names: Sequence[str]) -> list[str]:
    """The commands whose modules parsing ``argv`` needs.

    None for ``--version`` before any command, the one command typed, else all (the top-level ``--help`` lists
    them all, an unknown command's error names them).
    """
    for arg in argv:
        if arg == "--":
            break
        if arg == "--version":
            return []
        if arg in ("-h", "--help"):  # the top-level help, listing every command
            return list(names)
        if not arg.startswith("-"):
            return [arg] if arg in names else list(names)
    return list(names)


#: Set to 1 to get the traceback of an unexpected error instead of one line.
DEBUG_ENV = "NAPARI_DICOMSERIES_DEBUG"


def _one_line(text: str) -> str:
    """``text`` without line breaks (other white space, e.g. in a path, is kept)."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(text)).strip()


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit code 2); sub-commands inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with the commands of :mod:`napari_dicomseries.commands` (each imported here).

    Parameters
    ----------
    only : sequence of str, optional
        Import and add only these commands (names of modules of :mod:`napari_dicomseries.commands`), in
        ``--help`` order; default all.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each command's sub-parser sets ``_run`` to its ``run`` function.
    """
    names = _command_modules()
    if only is not None:
        names = [n for n in names if n in only]
    parser = _Parser(
        prog="napari-dicomseries",
        description="List, inspect, compare and convert the DICOM series of a folder (headless).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in names:
        module = importlib.import_module(f"{commands.__name__}.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def _os_error(exc: OSError) -> str:
    """An operating-system error as "path: what is wrong"."""
    what = exc.strerror or str(exc) or type(exc).__name__
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(map(os.fsdecode, names))}: {what}" if names else what


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; default ``sys.argv[1:]``, as the program is run (``napari-dicomseries ...``,
        ``python -m napari_dicomseries.cli ...``): then the process is about to exit when the command returns, and
        the objects left are frozen out of the garbage collector (:func:`gc.freeze`): Python's last collections at
        exit would walk them all only to free them (0.2-0.3 s after a local cluster's ``index``), and the
        operating system frees them anyway. Objects are still freed as their last reference goes.

    Returns
    -------
    int
        0 ok, 1 some results failed (reported), 2 a usage error or a problem with the input or output,
        3 an internal error (a bug; ``NAPARI_DICOMSERIES_DEBUG=1`` shows its traceback), 130 cancelled (Ctrl-C).
    """
    if argv is not None:
        return _main(list(argv))
    try:
        return _main(sys.argv[1:])
    finally:
        gc.freeze()


def _main(argv: list[str]) -> int:
    parser = build_parser(_needed_commands(argv, _command_modules()))
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")

    def say(message: str) -> None:
        print(f"{prog}: error: {_one_line(message)}", file=sys.stderr)

    try:
        return int(args._run(args) or 0)
    except DicomSeriesError as exc:
        say(str(exc))
        return 2
    except KeyboardInterrupt:  # Ctrl-C in a command without Cancel of its own: the same word and code as those
        print("cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        try:  # Python flushes stdout at exit and would complain about the closed pipe again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # pragma: no cover - stdout without a file descriptor
            pass
        return 0
    except MemoryError:
        if debug:
            raise
        say("not enough memory for this command (try a smaller series, or fewer at once)")
        return 2
    except OSError as exc:
        if debug:
            raise
        say(_os_error(exc))
        return 2
    except Exception as exc:
        if debug:
            raise
        say(f"internal error: {type(exc).__name__}: {exc} (please report; {DEBUG_ENV}=1 shows the traceback)")
        return 3


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Arguments shared by several commands, their checks, and the checks of input paths."""

from __future__ import annotations

import argparse
import math
import os
import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import open_folder
from ..errors import NotDicomError, PathNotFoundError
from ..index import single_index
from ._progress import TerminalBar

if TYPE_CHECKING:  # imported where used: `ls INDEX` needs neither the scan nor numpy
    from ..scan import ScanResult
    from ..volume import Volume

VOLUME_HELP = "series number, volume key (3.2) or SeriesInstanceUID"


def add_tag_options(p: argparse.ArgumentParser) -> None:
    """--search, --private, --tolerance, --json and --gaps, as ``tags`` and ``diff`` take them."""
    from ..frametags import DEFAULT_TOLERANCE

    p.add_argument("--search", metavar="TEXT", default="", help="only tags whose keyword, name or number matches")
    p.add_argument("--private", action="store_true", help="include private tags, with their private creator")
    p.add_argument(
        "--tolerance",
        type=non_negative_float,
        default=DEFAULT_TOLERANCE,
        help=f"numbers closer than this are equal (default {DEFAULT_TOLERANCE:g})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_gaps_option(p)


def add_gaps_option(p: argparse.ArgumentParser) -> None:
    """--gaps: the one gap policy of the reader, ``ls``, ``export`` and the comparisons."""
    from ..gaps import DEFAULT_GAP_POLICY, GAP_POLICIES

    p.add_argument(
        "--gaps",
        choices=GAP_POLICIES,
        default=DEFAULT_GAP_POLICY,
        help="volumes with missing slices or irregular spacing: split into regular parts (default: every voxel stays "
        "where its header puts it), resample linearly to uniform spacing, or keep the usual spacing (slices after a "
        "gap misplaced, with a warning)",
    )


# ----------------------------------------------------------------------------- argument types


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (a tolerance)."""
    x = _number(text)
    if not math.isfinite(x) or x < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, not {text!r}")
    return x


def hu_value(text: str) -> float:
    """An argparse type: a Hounsfield value; ``inf`` and ``-inf`` allowed (an open range), NaN not."""
    x = _number(text)
    if math.isnan(x):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    return x


def float_between(lo: float, hi: float, what: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number in ``[lo, hi]`` (``what`` explains the bounds in the message)."""

    def parse(text: str) -> float:
        x = _number(text)
        if not (math.isfinite(x) and lo <= x <= hi):
            raise argparse.ArgumentTypeError(f"must be a number from {lo:g} to {hi:g}{what}, not {text!r}")
        return x

    parse.__name__ = "number"  # argparse names the type in "invalid number value"
    return parse


class RangeAction(argparse.Action):
    """``nargs=2`` option LO HI: refused (a usage error naming the option) when LO > HI."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None
    ) -> None:
        lo, hi = values
        if lo > hi:
            raise argparse.ArgumentError(self, f"LO {lo:g} is above HI {hi:g}: give the lower bound first")
        setattr(namespace, self.dest, [lo, hi])


# ----------------------------------------------------------------------------- input paths


def show_path(path: str | os.PathLike[str]) -> str:
    """A path as the user typed it (an empty or blank one quoted, so it is visible)."""
    p = os.fspath(path)
    return p if p.strip() else repr(p)


def check_inputs(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> None:
    """Refuse input paths that do not exist before anything is scanned.

    Raises
    ------
    PathNotFoundError
        Naming the first path that does not exist or is a broken symbolic link.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for p in paths:
        if os.path.exists(p):
            continue
        if os.path.lexists(p):
            raise PathNotFoundError(f"{show_path(p)}: broken symbolic link (its target does not exist)")
        raise PathNotFoundError(f"{show_path(p)}: no such file or folder")


def require_volumes(volumes: Sequence[Volume], result: ScanResult, paths: str | os.PathLike[str] | Sequence[Any]) -> None:
    """Refuse a scan that found no DICOM image at all, saying why (empty folder, files that are not DICOM).

    Raises
    ------
    NotDicomError
        When ``volumes`` is empty.
    """
    if volumes:
        return
    where = result.root or show_path(paths if isinstance(paths, (str, os.PathLike)) else ", ".join(map(str, paths)))
    if result.skipped:
        s = result.skipped[0]
        raise NotDicomError(f"{where}: no DICOM images; {len(result.skipped)} file(s) skipped, e.g. {s.path}: {s.reason}")
    if result.files:
        raise NotDicomError(f"{where}: no DICOM images ({len(result.files)} DICOM file(s) without image data)")
    raise NotDicomError(f"{where}: no files in this folder" if os.path.isdir(where) else f"{where}: no DICOM images")


def open_inputs(
    args: argparse.Namespace,
    paths: str | Sequence[str],
    *,
    recursive: bool = True,
    require: bool = True,
    keys: Sequence[str] | None = None,
) -> tuple[list[Volume], ScanResult]:
    """The volumes of the input ``paths``, checked first, as every command that reads a folder opens them.

    :func:`napari_dicomseries.open_folder` with the gap policy of ``args.gaps`` and a progress bar on a terminal
    unless ``args.json``; a single path is scanned as the root. A single index folder (``napari-dicomseries index``)
    is opened with :func:`index_query.open_index` instead: its volumes, nothing scanned again (with ``keys``, only
    the studies of those volume keys, series numbers or UIDs; ``keys`` is ignored for a folder).

    Raises
    ------
    PathNotFoundError
        When a path does not exist.
    NotDicomError
        With ``require``, when no DICOM image was found.
    """
    check_inputs(paths)
    index = single_index(paths)
    if index is not None:
        from ..index_query import open_index

        volumes, result = open_index(index, keys=list(keys) if keys else None, gaps=getattr(args, "gaps", None))
        if require:
            require_volumes(volumes, result, index)
        return volumes, result
    root = paths if isinstance(paths, str) or len(paths) != 1 else paths[0]
    progress = None if getattr(args, "json", False) else TerminalBar("scanning")
    volumes, result = open_folder(root, recursive=recursive, progress=progress, gaps=getattr(args, "gaps", None))
    if require:
        require_volumes(volumes, result, root)
    return volumes, result


def open_selected(args: argparse.Namespace, paths: str | Sequence[str], *keys: str) -> list[Volume]:
    """The volumes named by ``keys`` (:data:`VOLUME_HELP`), in that order, of the inputs opened by :func:`open_inputs`.

    Raises
    ------
    PathNotFoundError, NotDicomError
        As :func:`open_inputs`.
    SeriesNotFoundError
        When a key names no volume, or several (the message lists the available ones).
    """
    from ..selection import select_volume

    index = single_index(paths)
    if index is not None:  # only the studies of the volumes asked for are opened
        from ..index_query import open_index

        volumes, _ = open_index(index, keys=list(keys), gaps=getattr(args, "gaps", None))
    else:
        volumes, _ = open_inputs(args, paths)
    return [select_volume(volumes, key) for key in keys]


def quoted(path: str | os.PathLike[str]) -> str:
    """``path`` quoted for a shell command line the user can copy."""
    return shlex.quote(os.fspath(path))

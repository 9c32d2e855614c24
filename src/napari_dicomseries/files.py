"""Files: walk the paths given, and sniff which files start like DICOM.

:func:`iter_paths` yields every file under a folder (links to folders already
seen are not followed again, so a symbolic link loop ends), with a problem for
what cannot be read (broken link, loop, unreadable folder); :func:`walk_folders` is the same walk folder by folder,
with each file's ``os.DirEntry`` (the index's walk: no path joined and split again per file). :func:`is_dicom`
and :func:`looks_like_raw_dataset` tell DICOM files from others by their first
bytes (128-byte preamble + ``DICM``, or a data set written without them);
:func:`not_regular` names pipes, sockets and devices, which are never opened.
"""

from __future__ import annotations

import errno
import operator
import os
import stat
import struct
from collections.abc import Iterable, Iterator

__all__ = ["iter_paths", "walk_folders", "is_dicom", "looks_like_raw_dataset", "not_regular", "VRS"]

#: The two-letter VR codes of DICOM (``pydicom.valuerep.VR`` without the ambiguous ones; a test checks it).
VRS = frozenset({
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD",
    b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
    b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
})  # fmt: skip


def iter_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], recursive: bool = True
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(path, problem)`` for every file under ``paths``, sorted; ``problem`` is None when readable.

    Directories are walked (recursively by default) without following links
    to directories already seen, so a symlink loop ends. Hidden files are kept.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            yield from _walk(p, recursive)
        elif os.path.lexists(p):
            yield p, None if os.path.exists(p) else _link_problem(p)
        else:
            yield p, "no such file or directory"


def _link_problem(path: str) -> str:
    """Why a symbolic link cannot be followed: a loop, or a missing target."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link points back to itself)"
    return "broken symbolic link (its target does not exist)"


def not_regular(path: str) -> str | None:
    """Why ``path`` is not a regular file (a named pipe, socket or device would block or never end), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # reported when the file is opened
    if stat.S_ISREG(mode):
        return None
    kind = "named pipe (FIFO)" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device" if (
        stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) else "special file"  # fmt: skip
    return f"not a regular file but a {kind}: not read"


def walk_folders(root: str, recursive: bool = True) -> Iterator[tuple[str, list[tuple[os.DirEntry[str] | None, str | None]]]]:
    """Yield ``(folder, items)`` for every folder under the folder ``root`` (itself first), in :func:`iter_paths` order.

    ``items`` are the folder's files in name order, as ``(entry, problem)``: ``problem`` is None for a file that
    can be followed, else why a symbolic link cannot be. A folder that cannot be read (or was already visited
    through a link) has the one item ``(None, problem)``. The sub-folders come after their parent, each sorted by
    name, without following links to folders already seen (so a symbolic link loop ends).

    Joining the folder and the name of an item gives the path :func:`iter_paths` yields (``entry.path``); the
    ``os.DirEntry`` caches what is known of the file (``entry.stat()`` is one ``stat`` call, as ``os.stat`` is).
    """
    seen: set[tuple[int, int]] = set()
    stack = [root]
    by_name = operator.attrgetter("name")
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
        except OSError as exc:
            yield d, [(None, f"cannot open folder: {exc.strerror or exc}")]
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            yield d, [(None, "folder already visited (symbolic link loop)")]
            continue
        seen.add(key)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=by_name)
        except OSError as exc:
            yield d, [(None, f"cannot list folder: {exc.strerror or exc}")]
            continue
        subdirs = []
        items: list[tuple[os.DirEntry[str] | None, str | None]] = []
        for e in entries:
            try:
                if e.is_dir():
                    if recursive:
                        subdirs.append(e.path)
                    continue
            except OSError:
                pass
            # (the entry's type comes with the listing: only a symbolic link costs a call, to its target)
            items.append((e, _link_problem(e.path) if e.is_symlink() and not os.path.exists(e.path) else None))
        yield d, items
        stack.extend(reversed(subdirs))


def _walk(root: str, recursive: bool) -> Iterator[tuple[str, str | None]]:
    for folder, items in walk_folders(root, recursive):
        for e, problem in items:
            yield (folder if e is None else e.path), problem


def looks_like_raw_dataset(head: bytes) -> bool:
    """True if ``head`` starts like a DICOM data set written without preamble and meta header."""
    if len(head) < 8:
        return False
    group, elem = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008):
        return False
    if head[4:6] in VRS:  # explicit VR
        return True
    (length,) = struct.unpack("<I", head[4:8])  # implicit VR: a plausible length
    return int(length) < 0x10000


def is_dicom(path: str | os.PathLike[str]) -> bool:
    """Tell cheaply whether the file starts like DICOM (preamble + ``DICM``, or a raw data set)."""
    if not_regular(os.fspath(path)):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or looks_like_raw_dataset(head)

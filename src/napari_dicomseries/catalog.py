"""An in-process cache of :func:`napari_dicomseries.open_folder` results, so a folder is scanned once per session.

The napari reader, the series browser and a second ``viewer.open`` of the same folder all ask for the volumes
of one folder; reading every header again costs seconds on thousands of files. :func:`open_folder_cached`
returns the cached volumes while the folder is unchanged and rescans it otherwise.

* **Key:** the absolute input paths (in the order given), the gap policy and ``recursive``.
* **Validation:** a stat walk of the same files the scan reads (:func:`stamp`): a digest of every path's
  name, size, modification time (ns), inode and mode, so a file added, removed, rewritten, replaced or made
  unreadable changes the stamp.
  It costs a ``stat`` per file (~10 ms per 5,000 files on a warm cache) against ~0.2-0.5 ms per file to parse
  the headers again.
* **Bound:** the :data:`MAX_ENTRIES` folders used last (least recently used dropped first); results of more than
  :data:`MAX_FILES` files are not kept (an index is the tool for those).
* A second gap policy on an unchanged folder reuses the cached scan (only grouping and classification rerun).

Cached volumes and scan results are shared between callers: treat them as read-only. Thread-safe.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scan import ScanResult
    from .volume import Volume

__all__ = ["MAX_ENTRIES", "MAX_FILES", "Key", "stamp", "lookup", "remember", "open_folder_cached", "clear", "key_paths"]

#: How many folders (path lists x gap policies) the cache keeps, least recently used dropped first.
MAX_ENTRIES = 4
#: Scan results with more files than this are not cached (their headers take ~4 KB of memory per file).
MAX_FILES = 200_000

PathsLike = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
#: (absolute input paths, gap policy, recursive)
Key = tuple[tuple[str, ...], str, bool]


@dataclass
class _Entry:
    stamp: str
    volumes: list[Volume]
    result: ScanResult


_lock = threading.Lock()
_cache: OrderedDict[Key, _Entry] = OrderedDict()


def key_paths(paths: PathsLike) -> tuple[str, ...]:
    """The input paths as the cache keys them: absolute, normalised strings, in the order given."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return tuple(os.path.abspath(os.fspath(p)) for p in paths)


def _gaps(gaps: str | None) -> str:
    from .gaps import DEFAULT_GAP_POLICY

    return gaps or DEFAULT_GAP_POLICY


def stamp(paths: PathsLike, *, recursive: bool = True) -> str:
    """A digest of every file the scan of ``paths`` would read: path, size, modification time (ns), inode, mode.

    Parameters
    ----------
    paths : path or iterable of paths
        Folders and files, as given to :func:`napari_dicomseries.open_folder`.
    recursive : bool
        Walk sub-folders (as the scan does).

    Returns
    -------
    str
        Equal for two calls exactly when no file was added, removed, resized or modified in between
        (as far as modification times tell).
    """
    from .files import iter_paths

    h = hashlib.blake2b(digest_size=16)
    for p, problem in iter_paths(list(key_paths(paths)), recursive=recursive):
        try:
            st = os.stat(p)
            fields = (p, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, problem or "")
            h.update("\0".join(map(str, fields)).encode("utf-8", "surrogateescape") + b"\n")
        except OSError as exc:
            h.update(f"{p}\0!{exc.errno}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _get(key: Key, current: str) -> _Entry | None:
    with _lock:
        entry = _cache.get(key)
        if entry is None:
            return None
        if entry.stamp != current:
            del _cache[key]
            return None
        _cache.move_to_end(key)
        return entry


def _put(key: Key, entry: _Entry) -> None:
    if len(entry.result.files) > MAX_FILES:
        return
    with _lock:
        _cache[key] = entry
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)


def _same_scan(key: Key, current: str) -> ScanResult | None:
    """A cached scan of the same paths (another gap policy) that is still valid."""
    with _lock:
        for (paths, _, recursive), entry in _cache.items():
            if paths == key[0] and recursive == key[2] and entry.stamp == current:
                return entry.result
    return None


def lookup(paths: PathsLike, gaps: str | None = None, *, recursive: bool = True) -> tuple[list[Volume], ScanResult] | None:
    """The cached ``(volumes, result)`` of ``paths`` if they are cached and unchanged, else None.

    Parameters
    ----------
    paths : path or iterable of paths
        As given to :func:`napari_dicomseries.open_folder`.
    gaps : str, optional
        The gap policy (default :data:`gaps.DEFAULT_GAP_POLICY`).
    recursive : bool
        Whether sub-folders were walked.

    Returns
    -------
    (list of Volume, ScanResult) or None
        None when the folder was never cached, was dropped, or changed since (a stat walk tells).
    """
    key = (key_paths(paths), _gaps(gaps), recursive)
    with _lock:
        if key not in _cache:
            return None
    entry = _get(key, stamp(key[0], recursive=recursive))
    return (list(entry.volumes), entry.result) if entry else None


def remember(
    paths: PathsLike, volumes: list[Volume], result: ScanResult, gaps: str | None = None, *, recursive: bool = True
) -> None:
    """Cache the output of ``open_folder(paths, gaps=gaps, recursive=recursive)``.

    The folder is stamped now: a file changed between the scan and this call is not noticed (use
    :func:`open_folder_cached`, which stamps before scanning).
    """
    absolute = key_paths(paths)
    _put((absolute, _gaps(gaps), recursive), _Entry(stamp(absolute, recursive=recursive), list(volumes), result))


def open_folder_cached(
    paths: PathsLike,
    *,
    gaps: str | None = None,
    recursive: bool = True,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[list[Volume], ScanResult]:
    """:func:`napari_dicomseries.open_folder`, answered from the cache while the files are unchanged.

    Parameters
    ----------
    paths : path or iterable of paths
        A folder, a file, or a list of them.
    gaps : {"split", "resample", "keep"}, optional
        The gap policy (default ``split``).
    recursive : bool
        Walk sub-folders.
    progress, cancel : callable, optional
        As for :func:`napari_dicomseries.open_folder` (not called when the cache answers).

    Returns
    -------
    (list of Volume, ScanResult)
        The same objects as a previous call when nothing changed (shared: treat as read-only).

    Raises
    ------
    Cancelled
        When ``cancel()`` returned true.
    """
    from . import open_folder

    key = (key_paths(paths), _gaps(gaps), recursive)
    single = isinstance(paths, (str, os.PathLike))
    current = stamp(key[0], recursive=recursive)  # before the scan: a file changed during it shows next time
    entry = _get(key, current)
    if entry is not None:
        return list(entry.volumes), entry.result
    scanned = _same_scan(key, current)
    if scanned is not None:
        from .build import build_volumes
        from .classify import classify
        from .gaps import apply_gap_policy

        volumes, result = apply_gap_policy(classify(build_volumes(scanned)), key[1]), scanned
    else:
        volumes, result = open_folder(
            key[0][0] if single else list(key[0]), recursive=recursive, progress=progress, cancel=cancel, gaps=key[1]
        )
    _put(key, _Entry(current, list(volumes), result))
    return volumes, result


def clear() -> None:
    """Forget every cached folder."""
    with _lock:
        _cache.clear()

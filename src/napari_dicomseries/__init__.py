"""napari-dicomseries: DICOM series browsing, comparison and NIfTI export, in napari and headless.

The core (this package's public modules) imports no napari, Qt or magicgui:

>>> from napari_dicomseries import open_folder
>>> volumes, result = open_folder("study/")      # doctest: +SKIP

Importing the package is cheap: the modules behind :func:`open_folder`,
:class:`Volume`, :func:`build_volumes` and :class:`ScanResult` (numpy,
pydicom) are imported on first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import build_volumes
    from .errors import DicomSeriesError
    from .index import build_index
    from .index_query import open_index
    from .scan import ScanResult
    from .volume import Volume

__version__ = "0.1.0"

# the submodules scan, volume, classify, load, header ... keep their names (no function shadows a module)
__all__ = ["open_folder", "open_index", "build_index", "build_volumes", "Volume", "ScanResult", "DicomSeriesError", "__version__"]

#: public names defined in submodules, imported when first asked for (``napari_dicomseries.Volume``)
_LAZY = {
    "build_volumes": "build",
    "Volume": "volume",
    "ScanResult": "scan",
    "DicomSeriesError": "errors",
    # the archive index (``napari-dicomseries index``): the same volumes as open_folder, from Parquet shards
    "open_index": "index_query",
    "build_index": "index",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def open_folder(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = True,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
    gaps: str | None = None,
) -> tuple[list[Volume], ScanResult]:
    """Scan ``paths``, group the files into volumes, classify them and apply the gap policy: the one pipeline.

    The CLI, the napari reader, the series browser and the exporter all call
    this, so they list the same volumes.

    Parameters
    ----------
    paths : path or iterable of paths
        A folder, a file, or a list of them.
    recursive : bool
        Walk sub-folders.
    progress : callable, optional
        ``progress(done, total)`` after each file scanned (called in the calling thread).
        ``True``/``False`` are accepted for compatibility and mean no callback.
    cancel : callable, optional
        ``cancel()`` is asked between files and between the stages; when it
        returns true, :class:`errors.Cancelled` is raised and nothing is returned.
    gaps : {"split", "resample", "keep"}, optional
        What to do with volumes whose slices are unevenly spaced (default
        :data:`gaps.DEFAULT_GAP_POLICY`, ``split``: see :func:`gaps.apply_gap_policy`).

    Returns
    -------
    (list of Volume, ScanResult)
        The volumes in series order, and the scan (files read, paths skipped with reasons).

    Raises
    ------
    Cancelled
        When ``cancel()`` returned true.
    """
    from .build import build_volumes
    from .classify import classify
    from .errors import Cancelled
    from .gaps import DEFAULT_GAP_POLICY, apply_gap_policy
    from .scan import scan

    def check() -> None:
        if cancel is not None and cancel():
            raise Cancelled(
                f"cancelled while reading {os.fspath(paths) if isinstance(paths, (str, os.PathLike)) else 'the files'}"
            )

    check()
    result = scan(paths, recursive=recursive, progress=progress, cancel=cancel)
    check()
    volumes = build_volumes(result)
    check()
    volumes = classify(volumes)
    check()
    return apply_gap_policy(volumes, gaps or DEFAULT_GAP_POLICY), result

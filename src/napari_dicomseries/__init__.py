"""napari-dicomseries: DICOM series browsing, comparison and NIfTI export, in napari and headless.

The core (this package's public modules) imports no napari, Qt or magicgui:

>>> from napari_dicomseries import open_folder
>>> volumes, result = open_folder("study/")      # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from .classify import classify as _classify
from .errors import DicomSeriesError
from .scan import ScanResult
from .scan import scan as _scan
from .volume import Volume, build_volumes

__version__ = "0.1.0"

# the submodules scan, volume, classify, load, header ... keep their names (no function shadows a module)
__all__ = ["open_folder", "build_volumes", "Volume", "ScanResult", "DicomSeriesError", "__version__"]


def open_folder(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = True,
    progress: bool | Callable[[int, int], None] | None = None,
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
    progress : bool or callable, optional
        ``progress(done, total)`` over the files scanned, or True/False for the
        terminal bar (default: on when stderr is a terminal).
    gaps : {"split", "resample", "keep"}, optional
        What to do with volumes whose slices are unevenly spaced (default
        :data:`gaps.DEFAULT_GAP_POLICY`, ``split``: see :func:`gaps.apply_gap_policy`).

    Returns
    -------
    (list of Volume, ScanResult)
        The volumes in series order, and the scan (files read, paths skipped with reasons).
    """
    from .gaps import DEFAULT_GAP_POLICY, apply_gap_policy

    result = _scan(paths, recursive=recursive, progress=progress)
    volumes = apply_gap_policy(_classify(build_volumes(result)), gaps or DEFAULT_GAP_POLICY)
    return volumes, result

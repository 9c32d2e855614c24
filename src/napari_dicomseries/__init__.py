"""napari-dicomseries: DICOM series browsing, comparison and NIfTI export, in napari and headless.

The core (this package's public modules) imports no napari, Qt or magicgui:

>>> from napari_dicomseries import open_folder
>>> volumes, result = open_folder("study/")      # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .classify import classify as _classify
from .errors import DicomSeriesError
from .scan import ScanResult
from .scan import scan as _scan
from .volume import Volume, build_volumes

__version__ = "0.1.0"

# the submodules scan, volume, classify, load, header ... keep their names (no function shadows a module)
__all__ = ["open_folder", "build_volumes", "Volume", "ScanResult", "DicomSeriesError", "__version__"]


def open_folder(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, recursive: bool = True, progress: bool | None = None
) -> tuple[list[Volume], ScanResult]:
    """Scan ``paths``, group the files into volumes and classify them: the ``ls`` pipeline."""
    result = _scan(paths, recursive=recursive, progress=progress)
    return _classify(build_volumes(result)), result

"""napari sample data: the synthetic CT study, written once to a cache folder and opened by the reader.

The study (scout + 5 mm and 1.25 mm STANDARD and LUNG reconstructions of one
chest phantom, see :mod:`napari_dicomseries.synthetic`) is written at
``SAMPLE_SCALE`` = 0.5: 325 files of 256 x 256 (33 and 129 slices, 1.56 mm
pixels), 42 MB, written in about 2 s the first time and opened in about 0.4 s
after -- quick, and the anatomy still looks like a CT. Scale 1 (645 files of
512 x 512, 340 MB) takes several seconds to write for no visible gain.

Cache folder: ``$NAPARI_DICOMSERIES_CACHE`` or ``$XDG_CACHE_HOME/napari-dicomseries``
(default ``~/.cache/napari-dicomseries``), falling back to the system temporary
folder when that is not writable. The study goes into ``sample_v1/`` there; a
``complete.json`` next to it marks a finished write, so an interrupted write
is redone and a finished one is reused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._reader import read_volumes
from .synthetic import write_study

__all__ = ["make_sample_study", "sample_study_path", "SAMPLE_SCALE"]

SAMPLE_SCALE = 0.5
SAMPLE_VERSION = "sample_v1"


def _cache_roots() -> list[Path]:
    roots = []
    if os.environ.get("NAPARI_DICOMSERIES_CACHE"):
        roots.append(Path(os.environ["NAPARI_DICOMSERIES_CACHE"]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    roots.append(Path(base) / "napari-dicomseries")
    roots.append(Path(tempfile.gettempdir()) / "napari-dicomseries")
    return roots


def _complete(folder: Path) -> bool:
    marker = folder / "complete.json"
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    study = folder / "study"
    return info.get("scale") == SAMPLE_SCALE and study.is_dir() and sum(1 for _ in study.iterdir()) == info.get("n_files")


def sample_study_path() -> Path:
    """The folder holding the sample study, written on first use; returns the folder of DICOM files."""
    errors = []
    for root in _cache_roots():
        folder = root / SAMPLE_VERSION
        if _complete(folder):
            return folder / "study"
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
            try:
                paths = write_study(tmp / "study", scale=SAMPLE_SCALE)
                (tmp / "complete.json").write_text(json.dumps({"scale": SAMPLE_SCALE, "n_files": len(paths)}))
                if folder.exists() and not _complete(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                try:
                    tmp.rename(folder)
                except OSError:  # another process finished first
                    if not _complete(folder):
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return folder / "study"
        except OSError as exc:
            errors.append(f"{root}: {exc}")
    raise OSError("cannot write the sample study to any cache folder: " + "; ".join(errors))


def make_sample_study() -> list[tuple[Any, dict[str, Any], str]]:
    """napari sample data: the synthetic CT study (4 reconstructions; the scout left out), through the reader."""
    return read_volumes(sample_study_path())

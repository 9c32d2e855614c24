"""Shared fixtures: the small synthetic study, the real scanner exports in ../shared/data, the mixed corpus.

Plain helpers live in modules: :mod:`tests.data` (``SHARED_DATA``, ``tree_digest``), :mod:`tests.corpus`,
:mod:`tests.oracle`, :mod:`tests.dicom_cases`. The tests are arranged by what they need installed:
``tests/core`` (the core alone), ``tests/napari`` (napari and npe2, no display), ``tests/qt`` (a display).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from napari_dicomseries.synthetic import write_study

from .corpus import RUNNING_AS_ROOT, Case, build_corpus, digest, restore_permissions, sources
from .data import ROOT, SHARED_DATA, tree_digest

__all__ = ["ROOT", "SHARED_DATA", "tree_digest"]  # importable from here too, as before


@pytest.fixture(scope="session")
def synthetic_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic CT study (scale 0.125: 85 files, 64 x 64); treat as read-only."""
    out = tmp_path_factory.mktemp("synthetic_study")
    write_study(out, scale=0.125)
    return out


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real scanner exports (read-only)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def read_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path whose header :func:`scan.read_path` (the one header parser of scans and indexes) parses in this
    process from now on."""
    from napari_dicomseries import scan

    calls: list[str] = []
    real = scan.read_path

    def counting(path: str, st=None):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path, st)

    monkeypatch.setattr(scan, "read_path", counting)
    return calls


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, synthetic_study: Path) -> Iterator[tuple[Path, list[Case], dict]]:
    """The corpus (:mod:`tests.corpus`) and the synthetic study (in ``good_study/``) in one folder, with its digest."""
    root = tmp_path_factory.mktemp("mixed") / "input"
    cases = build_corpus(root, sources(synthetic_study))
    shutil.copytree(synthetic_study, root / "good_study")
    yield root, cases, digest(root)
    restore_permissions(root)


@pytest.fixture
def deny_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make files without read permission unreadable even for root (who reads through chmod 000)."""
    from napari_dicomseries import scan

    real_open = scan._open

    def guarded(path: str):
        if RUNNING_AS_ROOT and os.path.isfile(path) and not os.stat(path).st_mode & 0o444:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path)

    monkeypatch.setattr(scan, "_open", guarded)

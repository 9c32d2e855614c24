"""Shared fixtures: the small synthetic study and the real scanner exports in ../shared/data."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from napari_dicomseries.synthetic import write_study

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DICOMSERIES_SHARED_DATA", ROOT.parent / "shared" / "data"))


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


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (relative path -> digest), to prove inputs are unchanged."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out

"""Where the tests find the real scanner exports, and a digest to prove inputs are left unchanged.

A plain helper module (the fixtures live in ``conftest.py``): ``from ..data import SHARED_DATA, tree_digest``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: The project root (the folder holding ``tests/``).
ROOT = Path(__file__).resolve().parents[1]
#: The real scanner exports: ``../shared/data`` next to the project, unless ``DICOMSERIES_SHARED_DATA`` says otherwise.
SHARED_DATA = Path(os.environ.get("DICOMSERIES_SHARED_DATA", ROOT.parent / "shared" / "data"))
#: Every folder of :data:`SHARED_DATA` (none when it is absent), read at collection time: tests parametrised over them
#: cover a new folder with no code.
SHARED_FOLDERS = sorted(p for p in SHARED_DATA.iterdir() if p.is_dir()) if SHARED_DATA.is_dir() else []


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (relative path -> digest), to prove inputs are unchanged."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out

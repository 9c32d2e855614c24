"""The Qt tier: a display (``xvfb-run``; Qt's offscreen platform has no OpenGL) for napari viewers and docks
(``make_napari_viewer`` comes from napari's pytest plugin, ``qtbot`` from pytest-qt)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/qt needs a display: mark it ``gui`` (``-m "not gui"`` deselects them), none forgotten."""
    for item in items:
        if Path(item.path).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.gui)

"""Every folder under ../shared/data opens in a real (shown) napari viewer through the plugin.

The folder list is ``tests/core/test_real_data.py``'s (:data:`tests.data.SHARED_FOLDERS`, read at collection time, so a new folder is covered with no code).
Run under ``xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest -q -p no:cacheprovider tests/qt``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..data import SHARED_FOLDERS as FOLDERS

IDS = [p.name for p in FOLDERS]

PLUGIN = "napari-dicomseries"


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_folder_opens_in_viewer(make_napari_viewer, qtbot, folder: Path) -> None:
    """The folder opens in a real (shown) napari viewer through the plugin: at least one layer, nothing raised."""
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(folder), plugin=PLUGIN)
    qtbot.wait(10)  # let the canvas draw the visible layer
    assert layers, f"{folder.name}: viewer.open returned no layer"
    assert len(viewer.layers) == len(layers)
    for layer in layers:
        assert layer.ndim >= 2, f"{folder.name}: layer {layer.name!r} has {layer.ndim} dimension(s)"
        assert all(n > 0 for n in layer.data.shape), f"{folder.name}: layer {layer.name!r} is empty {layer.data.shape}"

"""The napari tier: napari and npe2 installed, no display (npe2.read / npe2.write, ViewerModel, the adapters)."""

from __future__ import annotations

import npe2
import pytest


@pytest.fixture(scope="session", autouse=True)
def _discover() -> None:
    """npe2 finds the plugin's manifest (napari.yaml) as napari does at start-up."""
    npe2.PluginManager.instance().discover()

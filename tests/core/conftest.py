"""The core tier: the headless core alone (numpy, pydicom, SimpleITK, dask, nibabel, dcm2niix): no adapter, napari,
npe2, magicgui or Qt. Run it as the core is used without napari::

    python -m pytest tests/core -p no:pytest-qt -p no:napari -p no:napari-plugin-engine -p no:npe2

When run that way (only tests of this folder, napari's and pytest-qt's plugins off), the run fails if anything loaded a
GUI package. The subprocess checks of ``test_boundary.py`` guard the same contract in every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
#: pytest plugins (entry point names) that import napari or Qt when pytest starts
GUI_PLUGINS = ("pytest-qt", "napari", "napari-plugin-engine", "npe2")
#: top-level packages the core tier must not load
GUI_PACKAGES = ("napari", "napari_plugin_engine", "npe2", "magicgui", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a core-only run (GUI plugins off, only tests/core collected) that loaded a GUI package."""
    config = session.config
    if any(config.pluginmanager.has_plugin(name) for name in GUI_PLUGINS):
        return
    items = getattr(session, "items", [])
    if not items or not all(Path(item.path).resolve().is_relative_to(HERE) for item in items):
        return
    loaded = sorted({name.split(".")[0] for name in sys.modules} & set(GUI_PACKAGES))
    if loaded:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"tests/core loaded GUI packages: {', '.join(loaded)}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

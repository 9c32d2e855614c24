"""The reader in a real napari window (Qt, OpenGL): run under ``xvfb-run -a python -m pytest -m gui``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def test_open_folder_in_viewer(make_napari_viewer, synthetic_study: Path) -> None:
    viewer = make_napari_viewer(show=True)  # a hidden window renders black under Xvfb
    layers = viewer.open(str(synthetic_study), plugin="napari-dicomseries")
    assert [layer.name for layer in viewer.layers] == ["S2 5mm STANDARD", "S3 5mm LUNG", "S4 1.25mm STANDARD", "S5 1.25mm LUNG"]
    assert [layer.visible for layer in layers] == [False, False, True, False]
    assert tuple(viewer.dims.axis_labels) == ("z", "y", "x")
    shown = viewer.layers["S4 1.25mm STANDARD"]
    assert shown.data.dtype == np.int16
    # the slider runs over patient z (mm): from the bottom slice (-320) to the top one (0)
    lo, hi, step = viewer.dims.range[0]
    assert (lo, hi, step) == pytest.approx((-320.0, 0.0, 10.0))
    # the canvas shows the CT slice: body (bright) inside air (dark), in the gray window 40/400
    shot = viewer.screenshot(canvas_only=True, flash=False)
    gray = shot[..., :3].mean(axis=2)
    assert gray.max() - gray.min() > 100
    assert (gray < 20).mean() > 0.2 and (gray > 60).mean() > 0.1


def test_sample_data_opens(make_napari_viewer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAPARI_DICOMSERIES_CACHE", str(tmp_path / "cache"))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-dicomseries", "synthetic_ct_study")
    assert len(viewer.layers) == 4
    assert [layer.visible for layer in viewer.layers].count(True) == 1
    assert viewer.layers["S4 1.25mm STANDARD"].data.shape == (129, 256, 256)
    assert (tmp_path / "cache" / "sample_v1" / "complete.json").is_file()
    # a second call reuses the written study
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "sample_v1" / "study").iterdir()}
    viewer.open_sample("napari-dicomseries", "synthetic_ct_study")
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "sample_v1" / "study").iterdir()}
    assert before == after

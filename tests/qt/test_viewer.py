"""The reader in a real napari window (Qt, OpenGL): run under ``xvfb-run -a python -m pytest -m gui``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_dicomseries import _reader

pytestmark = pytest.mark.gui
PLUGIN = "napari-dicomseries"


def test_open_folder_in_viewer(make_napari_viewer, synthetic_study: Path) -> None:
    viewer = make_napari_viewer(show=True)  # a hidden window renders black under Xvfb
    layers = viewer.open(str(synthetic_study), plugin="napari-dicomseries")
    # the one visible layer (the thinnest axial volume) is added last, so it is the selected (active) layer
    assert [layer.name for layer in viewer.layers] == ["S2 5mm STANDARD", "S3 5mm LUNG", "S5 1.25mm LUNG", "S4 1.25mm STANDARD"]
    assert [layer.visible for layer in layers] == [False, False, False, True]
    assert viewer.layers.selection.active is viewer.layers["S4 1.25mm STANDARD"]
    assert list(viewer.layers.selection) == [viewer.layers["S4 1.25mm STANDARD"]]
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


@pytest.mark.slow
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


def test_sagittal_4slice_opens_grey_not_rgb(make_napari_viewer, shared_data: Path) -> None:
    """Sagittal volumes 4 slices deep end in an axis of 4 once transposed: napari must not take them for RGBA."""
    folder = shared_data / "sagittal_4slice"
    viewer = make_napari_viewer()
    layers = viewer.open(str(folder), plugin=PLUGIN)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    n_per_folder = len([p for p in files if p.parent == files[0].parent])
    assert len(layers) == 2 == len({p.parent for p in files})
    for layer in layers:
        assert not layer.rgb and layer.ndim == 3
        assert layer.colormap.name == "gray"
        # (rows, columns, slices) after the sagittal transpose: the slices are the last axis, not colour channels
        assert sorted(layer.data.shape) == sorted((n_per_folder, int(ds.Rows), int(ds.Columns)))
        assert layer.data.shape[-1] == n_per_folder == 4
    assert viewer.layers.selection.active.visible


def test_monochrome1_is_shown_inverted(make_napari_viewer, shared_data: Path, synthetic_study: Path) -> None:
    folder = shared_data / "cr_monochrome1"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert {str(pydicom.dcmread(p, stop_before_pixels=True).PhotometricInterpretation) for p in files} == {"MONOCHROME1"}
    viewer = make_napari_viewer()
    layers = viewer.open(str(folder), plugin=PLUGIN)
    assert layers and len(layers) == len(files)
    for layer in layers:
        assert layer.colormap.name == "gray_r" and not layer.rgb
    # the same data would be shown darkest where the stored value is lowest under "gray": gray_r maps 0 to white
    lo_rgba = layers[0].colormap.map(np.array([0.0]))[0]
    assert lo_rgba[:3].min() > 0.99
    # MONOCHROME2 stays gray
    other = viewer.open(str(synthetic_study), plugin=PLUGIN)
    assert {layer.colormap.name for layer in other} == {"gray"}


def test_one_failing_volume_does_not_take_the_others_down(
    make_napari_viewer, synthetic_study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _reader.volume_layer_data

    def flaky(volume, **kw):
        if volume.series_number == 3:
            raise ValueError("could not broadcast input array from shape (3,) into shape (2,)")
        return real(volume, **kw)

    monkeypatch.setattr(_reader, "volume_layer_data", flaky)
    viewer = make_napari_viewer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = viewer.open(str(synthetic_study), plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["S2 5mm STANDARD", "S5 1.25mm LUNG", "S4 1.25mm STANDARD"]
    msgs = [str(w.message) for w in caught if issubclass(w.category, _reader.DicomReaderWarning)]
    assert any("S3 5mm LUNG" in m and "not opened" in m and "could not broadcast" in m for m in msgs), msgs


QUIT_AFTER_START = """
import json, os, sys, time
from napari.__main__ import main
from napari.qt import get_qapp
from qtpy.QtCore import QTimer

app = get_qapp()
start = time.monotonic()


def report():
    # napari processes events while it builds its window: wait until its own event loop runs (napari.run)
    import napari

    # napari asks which reader opens the folder (its builtin reader takes folders too): answer as a user would
    for w in app.topLevelWidgets():
        group = getattr(w, "reader_btn_group", None)
        if group is not None and w.isVisible():
            for button in group.buttons():
                if button.text() == "DICOM series":
                    button.setChecked(True)
                    print("READER-DIALOG answered", flush=True)
                    w.accept()
                    return
    viewer = napari.current_viewer()
    docks = list(viewer.window.dock_widgets) if viewer is not None else []
    if not (docks and app.thread().loopLevel() > 0):  # docks added and napari.run's loop (not a dialog's) runs
        if time.monotonic() - start > 180:
            print("REPORT-TIMEOUT", flush=True)
            os._exit(3)
        return
    timer.stop()
    layers = [layer.name for layer in viewer.layers]
    print("REPORT " + json.dumps({"docks": docks, "layers": layers}), flush=True)
    app.quit()


timer = QTimer()
timer.timeout.connect(report)
timer.start(200)
sys.argv = ["napari", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_napari_command_line_opens_the_series_browser(synthetic_study: Path, tmp_path: Path) -> None:
    """``napari DIR -w napari-dicomseries "Series browser"`` through napari's own entry point (``napari.__main__.main``).

    A timer started before napari builds its window answers napari's reader choice dialog (napari's builtin reader
    also takes folders) as a user would, reports the docks and layers once napari's event loop runs, then quits the
    application, so napari's ``main`` returns its own exit code.
    """
    script = tmp_path / "run_napari.py"
    script.write_text(QUIT_AFTER_START)
    env = dict(os.environ, NAPARI_CONFIG=str(tmp_path / "settings.yaml"))
    proc = subprocess.run(
        [sys.executable, str(script), str(synthetic_study), "-w", PLUGIN, "Series browser"],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TypeError" not in proc.stderr, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT "))
    report = json.loads(line[len("REPORT ") :])
    assert any("Series browser" in d for d in report["docks"]), report
    assert "S4 1.25mm STANDARD" in report["layers"], report

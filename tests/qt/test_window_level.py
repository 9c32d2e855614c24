"""Window/level presets and shortcuts, and the radiology display facts, in a real viewer (Xvfb).

Layers are opened as File > Open does (``viewer.open(path, plugin=...)``) and the presets are driven through the
"DICOM series" panel opened as Plugins > DICOM series does (``add_plugin_dock_widget``). Expected windows come
from pydicom's reading of the files; expected limits are ``center ± width / 2``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

pytestmark = pytest.mark.gui
napari = pytest.importorskip("napari")

from qtpy.QtCore import Qt  # noqa: E402

from napari_dicomseries import open_folder  # noqa: E402
from napari_dicomseries._widgets.window_level import SHORTCUTS, WindowLevel, bind_shortcuts  # noqa: E402
from napari_dicomseries.display import pick_visible  # noqa: E402

PLUGIN = "napari-dicomseries"
PANEL = "DICOM series"


def _panel_window_level(viewer) -> WindowLevel:
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, PANEL)
    wl = panel.window_level
    assert isinstance(wl, WindowLevel)
    return wl


def _first_file(folder: Path) -> pydicom.Dataset:
    return pydicom.dcmread(sorted(p for p in folder.rglob("*") if p.is_file())[0], stop_before_pixels=True)


def _canvas(viewer):
    return viewer.window._qt_viewer.canvas.native


def _press(qtbot, viewer, digit: int) -> None:
    """Alt+digit on the canvas, as a user types it (Qt key event through napari's key handling)."""
    canvas = _canvas(viewer)
    canvas.setFocus()
    qtbot.keyClick(canvas, getattr(Qt.Key, f"Key_{digit}"), Qt.KeyboardModifier.AltModifier)


def test_presets_set_contrast_limits_exactly(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    layer = viewer.layers.selection.active
    wl = _panel_window_level(viewer)
    ds = _first_file(folder)
    c0, w0 = float(ds.WindowCenter), float(ds.WindowWidth)
    # the series' own window comes first and is the file's value
    first = wl.presets[0]
    assert first.source == "series" and (first.center, first.width) == (c0, w0)
    names = [p.name for p in wl.presets]
    assert names[1:] == ["lung", "mediastinum", "bone", "brain", "abdomen", "full range"]
    expected = {"lung": (-600, 1500), "mediastinum": (40, 400), "bone": (400, 1800), "brain": (40, 80), "abdomen": (40, 350)}
    for name, (c, w) in expected.items():
        wl.preset_buttons[name].native.click()
        assert tuple(layer.contrast_limits) == (c - w / 2, c + w / 2), name
        assert wl.center_spin.value == c and wl.width_spin.value == w
    wl.preset_buttons[first.name].native.click()
    assert tuple(layer.contrast_limits) == (c0 - w0 / 2, c0 + w0 / 2)
    wl.preset_buttons["full range"].native.click()
    data = np.asarray(layer.data)
    assert tuple(layer.contrast_limits) == (float(data.min()), float(data.max()))
    # typing a window in the spin boxes sets it too
    wl.center_spin.value = 100.0
    wl.width_spin.value = 50.0
    assert tuple(layer.contrast_limits) == (75.0, 125.0)


def test_shortcuts_apply_presets_and_leave_napari_keys_alone(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    layer = viewer.layers.selection.active
    _panel_window_level(viewer)
    ds = _first_file(folder)
    assert SHORTCUTS == {
        "Alt-1": "series", "Alt-2": "lung", "Alt-3": "mediastinum", "Alt-4": "bone", "Alt-5": "brain", "Alt-6": "abdomen",
        "Alt-7": "full range",
    }  # fmt: skip
    _press(qtbot, viewer, 2)
    assert tuple(layer.contrast_limits) == (-1350.0, 150.0)
    _press(qtbot, viewer, 4)
    assert tuple(layer.contrast_limits) == (-500.0, 1300.0)
    _press(qtbot, viewer, 1)
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    assert tuple(layer.contrast_limits) == (c - w / 2, c + w / 2)
    _press(qtbot, viewer, 7)
    data = np.asarray(layer.data)
    assert tuple(layer.contrast_limits) == (float(data.min()), float(data.max()))
    # napari's own bindings are still there (the image layer's 1/2, the viewer's Ctrl+R ...) and a second
    # bind (another panel) neither fails nor doubles anything
    from napari.utils.shortcuts import default_shortcuts

    ours = {str(k) for k in viewer.keymap}
    napari_keys = {str(k) for keys in default_shortcuts.values() for k in keys}
    assert ours == {k.replace("-", "+") for k in SHORTCUTS} and not ours & napari_keys
    bind_shortcuts(viewer)
    assert {str(k) for k in viewer.keymap} == ours
    # a key the user bound is kept
    viewer.keymap.clear()

    @viewer.bind_key("Alt-3")
    def mine(v):
        v.status = "mine"

    bind_shortcuts(viewer)
    assert viewer.keymap[next(k for k in viewer.keymap if str(k) == "Alt+3")] is mine


def test_mr_has_no_hu_presets_and_its_own_window_with_explanation(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "siemens_mosaic_12bit"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    layer = viewer.layers.selection.active
    wl = _panel_window_level(viewer)
    ds = pydicom.dcmread(layer.metadata["dicom"]["files"][0], stop_before_pixels=True)
    assert [p.source for p in wl.presets] == ["series", "data"]
    own = wl.presets[0]
    assert (own.center, own.width, own.explanation) == (
        float(ds.WindowCenter),
        float(ds.WindowWidth),
        ds.WindowCenterWidthExplanation,
    )
    assert ds.WindowCenterWidthExplanation in wl.preset_buttons[own.name].tooltip
    before = tuple(layer.contrast_limits)
    _press(qtbot, viewer, 2)  # lung: CT only, nothing changes and the status line says why
    assert tuple(layer.contrast_limits) == before
    assert "lung" in viewer.status and "Hounsfield" in viewer.status


def test_monochrome1_is_inverted_and_stays_inverted(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "cr_monochrome1"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    for layer in viewer.layers:
        ds = pydicom.dcmread(layer.metadata["dicom"]["files"][0], stop_before_pixels=True)
        assert ds.PhotometricInterpretation == "MONOCHROME1"
        assert layer.colormap.name == "gray_r"
        c, w = float(ds.WindowCenter), float(ds.WindowWidth)
        assert tuple(layer.contrast_limits) == (c - w / 2, c + w / 2)
    layer = viewer.layers.selection.active
    # inverted: the lowest stored value maps to the top of the colour map, which is white
    lo_rgba = layer.colormap.map(np.array([0.0]))[0]
    hi_rgba = layer.colormap.map(np.array([1.0]))[0]
    assert lo_rgba[:3].tolist() == [1.0, 1.0, 1.0] and hi_rgba[:3].tolist() == [0.0, 0.0, 0.0]
    wl = _panel_window_level(viewer)
    assert "inverted" in wl.status.value
    wl.preset_buttons["full range"].native.click()
    _press(qtbot, viewer, 1)
    assert layer.colormap.name == "gray_r"
    data = np.asarray(layer.data)
    wl.apply("full range")
    assert tuple(layer.contrast_limits) == (float(data.min()), float(data.max()))
    assert layer.colormap.name == "gray_r"


def test_presets_apply_to_every_selected_layer(make_napari_viewer, qtbot, synthetic_study: Path) -> None:
    viewer = make_napari_viewer()
    viewer.open(str(synthetic_study), plugin=PLUGIN)
    wl = _panel_window_level(viewer)
    images = [la for la in viewer.layers if la.metadata["dicom"]["volume"]["modality"] == "CT"]
    assert len(images) >= 2
    viewer.layers.selection.active = images[0]
    viewer.layers.selection.add(images[1])
    assert viewer.layers.selection.active is None  # napari: no active layer when several are selected
    assert wl.presets and wl.preset_buttons  # the panel still offers the presets (of the first selected)
    untouched = [tuple(la.contrast_limits) for la in images[2:]]
    wl.preset_buttons["lung"].native.click()
    assert [tuple(la.contrast_limits) for la in images[:2]] == [(-1350.0, 150.0)] * 2
    assert [tuple(la.contrast_limits) for la in images[2:]] == untouched


def test_first_visible_layer_is_selected_and_localizers_never_thin(
    make_napari_viewer, monkeypatch: pytest.MonkeyPatch, synthetic_study: Path
) -> None:
    volumes, _ = open_folder(synthetic_study)
    wanted = pick_visible([v for v in volumes if v.kind == "image"])
    assert wanted is not None
    monkeypatch.setenv("NAPARI_DICOMSERIES_LOCALIZERS", "1")  # open the scout too
    viewer = make_napari_viewer()
    viewer.open(str(synthetic_study), plugin=PLUGIN)
    visible = [la for la in viewer.layers if la.visible]
    assert len(visible) == 1
    active = viewer.layers.selection.active
    assert active is visible[0]
    assert active.metadata["dicom"]["volume"]["key"] == wanted.key
    # the chosen one is the thinnest axial image: no other axial image is thinner (files' SliceThickness, by pydicom)
    thick = {}
    for la in viewer.layers:
        s = la.metadata["dicom"]["volume"]
        ds = pydicom.dcmread(la.metadata["dicom"]["files"][0], stop_before_pixels=True)
        thick[la.name] = (s["kind"], s["orientation"], float(ds.SliceThickness), ds.get("ImageType"))
    image_axial = [t for k, o, t, _ in thick.values() if k == "image" and o == "axial"]
    assert thick[active.name][2] == min(image_axial)
    localizers = [la for la in viewer.layers if la.metadata["dicom"]["volume"]["kind"] == "localizer"]
    assert localizers, "the synthetic study has a scout"
    for la in localizers:
        assert "LOCALIZER" in list(thick[la.name][3])
        assert la.metadata["dicom"]["volume"]["thickness_class"] not in ("thin", "thick")
        assert not la.visible

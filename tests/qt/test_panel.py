"""The DICOM series panel driven through napari's plugin docks (``viewer.window.add_plugin_dock_widget``) in a real viewer.

Run under ``xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest tests/qt/test_panel.py``. Expected values
come from the core run directly (open_folder, export_folder as the CLI calls it) and from the files.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.gui
napari = pytest.importorskip("napari")

import napari_dicomseries  # noqa: E402
from napari_dicomseries import open_folder  # noqa: E402
from napari_dicomseries._widgets.panel import TABS, DicomPanel  # noqa: E402
from napari_dicomseries.export import export_folder  # noqa: E402

from ..data import tree_digest  # noqa: E402

PLUGIN = "napari-dicomseries"
TIMEOUT_MS = 120_000
MANIFEST = Path(napari_dicomseries.__file__).with_name("napari.yaml")
WIDGETS = {w["display_name"]: w["command"] for w in yaml.safe_load(MANIFEST.read_text())["contributions"]["widgets"]}
#: the tab each menu entry opens (None: the tab the panel shows)
TAB_OF = {"DICOM series": None, "Series browser": "Series", "Tag comparison": "Tags",
          "Image difference and overlap": "Compare", "Export to NIfTI": "Export"}  # fmt: skip


def _panels(viewer) -> list[DicomPanel]:
    return [w for w in viewer.window.dock_widgets.values() if isinstance(w, DicomPanel)]


def _open(viewer, name: str) -> DicomPanel:
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    assert isinstance(panel, DicomPanel)
    return panel


def _wait(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT_MS)


def _window(viewer):
    return viewer.window._qt_window


def test_every_menu_entry_opens_the_one_panel_at_its_tab(make_napari_viewer, qtbot) -> None:
    assert set(TAB_OF) == set(WIDGETS)  # every widget of napari.yaml is covered here
    viewer = make_napari_viewer(show=True)
    _window(viewer).resize(1280, 800)
    qtbot.wait(50)
    first = None
    for name in ["Series browser", "Tag comparison", "Image difference and overlap", "Export to NIfTI", "DICOM series",
                 "Series browser"]:  # fmt: skip
        panel = _open(viewer, name)
        qtbot.wait(50)
        first = first or panel
        assert panel is first  # never a second panel
        assert _panels(viewer) == [panel] and f"{name} ({PLUGIN})" in viewer.window.dock_widgets
        assert panel.native.isVisible()
        if TAB_OF[name]:
            assert panel.current_tab == TAB_OF[name]
        # fits a 1280 x 800 window beside the canvas, on every tab
        for tab in TABS:
            panel.show_tab(tab)
            qtbot.wait(20)
            size = _window(viewer).size()
            assert size.height() <= 800 and size.width() <= 1280, (tab, size)
            hint = panel.native.minimumSizeHint()
            assert hint.height() <= 600 and hint.width() <= 600, (tab, hint)
        panel.show_tab(TAB_OF[name] or "Series")
    # the Plugins menu path (napari's own command for the entry) reuses the panel too
    from napari._app_model import get_app_model

    get_app_model().commands.execute_command(WIDGETS["Tag comparison"]).result()
    qtbot.wait(50)
    assert _panels(viewer) == [first] and first.current_tab == "Tags"
    assert _window(viewer).size().height() <= 800


def test_series_tree_thumbnails_double_click_and_active_layer(make_napari_viewer, qtbot, synthetic_study: Path) -> None:
    before = tree_digest(synthetic_study)
    viewer = make_napari_viewer(show=True)
    panel = _open(viewer, "Series browser")
    b = panel.browser
    b.hide_localizers.value = False
    b.scan(synthetic_study)
    _wait(qtbot, b)
    volumes, _ = open_folder(synthetic_study)
    assert sorted(v.key for v in b.volumes) == sorted(v.key for v in volumes)
    # one study row (no patient name in it), one child per volume
    tree = b.table.tree
    assert tree.topLevelItemCount() == 1
    study = tree.topLevelItem(0)
    assert study.childCount() == len(volumes)
    import pydicom

    ds = pydicom.dcmread(next(iter(synthetic_study.iterdir())), stop_before_pixels=True)
    label = study.text(0)
    assert str(ds.StudyDescription) in label and f"{ds.StudyDate[:4]}-{ds.StudyDate[4:6]}-{ds.StudyDate[6:]}" in label
    assert str(ds.PatientName) not in label and str(ds.PatientID) not in label
    # thumbnails: the middle slice of every image row, decoded in a worker
    qtbot.waitUntil(lambda: not b.thumbnails_busy, timeout=TIMEOUT_MS)
    for v in b.table.payloads:
        assert b.table.has_thumbnail(v), v.key
        icon = b.table.item_of(v).icon(0)
        assert not icon.isNull()
    from napari_dicomseries.load import read_frame
    from napari_dicomseries.thumbnail import cached_thumbnail, middle_frame_index

    thin = next(v for v in b.volumes if v.key == "5")
    pic = cached_thumbnail(thin)
    frame = read_frame(thin, thin.frames[middle_frame_index(thin)])
    c, w = thin.window
    expect = np.clip((frame.astype(float) - (c - w / 2)) * 255 / w, 0, 255)
    assert pic.shape == (48, 48) and abs(float(pic.mean()) - float(expect.mean())) < 8  # the same picture, shrunk
    # double-click loads
    item = b.table.item_of(thin)
    b.table.tree.itemDoubleClicked.emit(item, 0)
    _wait(qtbot, b)
    assert [lyr.metadata["dicom"]["volume"]["key"] for lyr in viewer.layers] == ["5"]
    thin_layer = viewer.layers[0]
    # active layer -> row highlighted (and selected)
    assert b.table.highlighted is thin and b.table.item_of(thin).font(0).bold()  # (rows are rebuilt after a load)
    b.table.select_payloads(lambda v: v.key == "2")
    b.load_selected()
    _wait(qtbot, b)
    layer2 = next(lyr for lyr in viewer.layers if lyr.metadata["dicom"]["volume"]["key"] == "2")
    viewer.layers.selection.active = layer2
    assert b.table.highlighted.key == "2" and [v.key for v in b.table.selected_payloads()] == ["2"]
    assert not b.table.item_of(thin).font(0).bold()
    # row -> active layer
    b.table.tree.setCurrentItem(b.table.item_of(thin))
    assert (
        viewer.layers.selection.active is thin_layer or getattr(viewer.layers.selection.active, "__wrapped__", None) is thin_layer
    )
    assert b.table.highlighted is thin
    # a row whose volume is not loaded leaves the active layer alone
    b.table.tree.setCurrentItem(b.table.item_of(next(v for v in b.volumes if v.key == "3")))
    assert viewer.layers.selection.active is thin_layer
    # columns: the important ones shown, the rest on demand
    assert b.table.visible_columns[:6] == ["volume", "kernel class", "thickness mm", "size", "orientation", "kind"]
    b.table.set_column_visible("kernel", True)
    assert "kernel" in b.table.visible_columns and not tree.isColumnHidden(b.table.headers.index("kernel"))
    # compare tags of selected: the Tags tab shows the comparison
    b.table.select_payloads(lambda v: v.key in ("2", "3"))
    tc = b.compare_tags()
    assert tc is panel.tag_compare and panel.current_tab == "Tags"
    _wait(qtbot, tc)
    assert "ConvolutionKernel" in [r[tc.table.headers.index("keyword")] for r in tc.table.rows]
    assert tree_digest(synthetic_study) == before


def test_export_from_the_panel_equals_the_cli_export(make_napari_viewer, qtbot, synthetic_study: Path, tmp_path: Path) -> None:
    import nibabel as nib

    before = tree_digest(synthetic_study)
    viewer = make_napari_viewer()
    panel = _open(viewer, "Export to NIfTI")
    assert panel.current_tab == "Export"
    b, ex = panel.browser, panel.export
    b.scan(synthetic_study)
    _wait(qtbot, b)
    b.table.select_payloads(lambda v: v.key in ("3", "5"))
    assert "2 selected" in ex.selection.value
    # into the input folder: the core refuses, the panel shows its message and writes nothing
    ex.export(synthetic_study / "out")
    _wait(qtbot, ex)
    assert "input folder" in ex.status.message.value and not (synthetic_study / "out").exists()
    ex.gzip.value = False
    ex.export(tmp_path / "panel")
    _wait(qtbot, ex)
    written = sorted(p.name for p in (tmp_path / "panel").iterdir())
    assert len([n for n in written if n.endswith(".nii")]) == 2 and len([n for n in written if n.endswith(".json")]) == 2
    # the CLI's call on the same series
    cli = export_folder(synthetic_study, tmp_path / "cli", series=["3", "5"], gzip=False)
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == written
    for r in cli:
        ours = nib.load(tmp_path / "panel" / Path(r.nifti).name)
        theirs = nib.load(r.nifti)
        assert ours.shape == theirs.shape and np.allclose(ours.affine, theirs.affine, atol=1e-6)
        assert np.array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))
    # again without "Replace existing files": refused, nothing changed
    ex.export(tmp_path / "panel")
    _wait(qtbot, ex)
    assert "exists" in ex.status.message.value
    assert tree_digest(synthetic_study) == before


@pytest.mark.slow
def test_cancel_export_from_the_panel(make_napari_viewer, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel while the export is writing (held after its first progress step): the core's own cancel check stops it,
    the panel is idle, no NIfTI is left."""
    from napari_dicomseries import export as core_export
    from napari_dicomseries.synthetic import write_study

    folder = tmp_path / "study"
    write_study(folder, scale=0.25)
    viewer = make_napari_viewer()
    panel = _open(viewer, "Export to NIfTI")
    b, ex = panel.browser, panel.export
    b.scan(folder)
    _wait(qtbot, b)
    b.table.select_payloads(lambda v: v.key in ("4", "5"))
    held = threading.Event()
    real = core_export.export_volumes

    def export_volumes_held(volumes, out, *args, progress=None, **kw):
        def hold(stage: str, done: int, total: int) -> None:
            if progress:
                progress(stage, done, total)
            if done > 0 and not held.is_set():
                held.set()
                deadline = time.monotonic() + 60
                while not ex._cancel.is_set() and time.monotonic() < deadline:
                    time.sleep(0.01)

        return real(volumes, out, *args, progress=hold, **kw)

    monkeypatch.setattr(core_export, "export_volumes", export_volumes_held)
    assert ex.export(tmp_path / "out") is not None
    assert ex.busy and ex.cancel_button.enabled
    qtbot.waitUntil(held.is_set, timeout=TIMEOUT_MS)
    t0 = time.monotonic()
    ex.cancel_button.native.click()
    _wait(qtbot, ex)
    assert time.monotonic() - t0 < 5
    assert ex.status.message.value == "cancelled" and not ex.cancel_button.enabled and ex.export_button.enabled
    assert not list((tmp_path / "out").glob("*.nii*")) if (tmp_path / "out").exists() else True


def test_panel_cancel_scan(make_napari_viewer, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel of a scan started from the panel's Series tab: no rows, idle, the next scan works."""
    from napari_dicomseries.errors import Cancelled
    from napari_dicomseries.synthetic import write_study

    folder = tmp_path / "study"
    write_study(folder, scale=0.125)
    viewer = make_napari_viewer()
    b = _open(viewer, "DICOM series").browser
    real = napari_dicomseries.open_folder
    held = threading.Event()

    def open_folder_held(paths, *, progress=None, cancel=None, **kw):
        def hold(done: int, total: int) -> None:
            progress(done, total)
            held.set()
            deadline = time.monotonic() + 60
            while not cancel() and time.monotonic() < deadline:
                time.sleep(0.01)

        return real(paths, progress=hold, cancel=cancel, **kw)

    monkeypatch.setattr(napari_dicomseries, "open_folder", open_folder_held)
    b.scan(folder)
    qtbot.waitUntil(held.is_set, timeout=TIMEOUT_MS)
    b.cancel_button.native.click()
    _wait(qtbot, b)
    assert b.volumes == [] and b.table.rows == [] and b.status.message.value == "cancelled"
    monkeypatch.setattr(napari_dicomseries, "open_folder", real)
    b.scan(folder)
    _wait(qtbot, b)
    assert len(b.volumes) == 5
    assert Cancelled  # the core's error the held scan ended with


def test_series_tab_adopts_the_folder_the_reader_opened(
    make_napari_viewer, qtbot, synthetic_study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder opened by the reader is listed from its cached scan (catalog), never scanned again."""
    pytest.importorskip("napari_dicomseries.catalog")
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "1")  # a "big" folder: one layer opens, the rest is listed
    expected = sorted(v.key for v in open_folder(synthetic_study)[0])
    viewer = make_napari_viewer()
    b = _open(viewer, "Series browser").browser
    viewer.open(str(synthetic_study), plugin=PLUGIN)
    layer = viewer.layers.selection.active
    if "folder" not in layer.metadata["dicom"]:
        pytest.skip("the reader does not record its folder (metadata['dicom']['folder'])")
    calls = []
    monkeypatch.setattr(napari_dicomseries, "open_folder", lambda *a, **k: calls.append(a) or pytest.fail("scanned again"))
    # listed as soon as the layer was added
    assert sorted(v.key for v in b.volumes) == expected and "not repeated" in b.status.message.value
    # and again on request (Folder of selected layer), still without a scan
    b.volumes = []
    b.refresh()
    assert b.use_selected_layer() == str(synthetic_study)
    assert sorted(v.key for v in b.volumes) == expected and not b.busy and calls == []
    assert b.table.highlighted is not None and b.table.highlighted.key == layer.metadata["dicom"]["volume"]["key"]

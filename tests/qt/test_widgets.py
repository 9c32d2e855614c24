"""Dock widgets driven end to end in a real viewer (run under ``xvfb-run -a python -m pytest tests/qt/test_widgets.py``).

Expected values come from the core run directly and from the files (pydicom),
not from the widgets' own code.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytestmark = pytest.mark.gui
napari = pytest.importorskip("napari")

from napari_dicomseries import open_folder  # noqa: E402
from napari_dicomseries._reader import read_volumes  # noqa: E402
from napari_dicomseries._widgets._common import layer_grid  # noqa: E402
from napari_dicomseries._widgets.image_compare import HUPreset, ImageCompare, Interpolation, MaskSource  # noqa: E402
from napari_dicomseries._widgets.series_browser import KernelFilter, SeriesBrowser  # noqa: E402
from napari_dicomseries._widgets.tag_compare import TagCompare, TagMode  # noqa: E402
from napari_dicomseries.metrics import range_mask  # noqa: E402

from ..data import tree_digest  # noqa: E402

TIMEOUT_MS = 120_000
PLUGIN = "napari-dicomseries"
#: display names of the docks in napari.yaml (Plugins > DICOM series > ...)
BROWSER, TAGS, IMAGES = "Series browser", "Tag comparison", "Image difference and overlap"


def _dock(viewer, name: str):
    """Open a dock as Plugins > DICOM series > ``name`` does: napari builds the DICOM panel at the entry's tab;
    return the tab's widget."""
    from napari_dicomseries._widgets.panel import DicomPanel

    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    assert f"{name} ({PLUGIN})" in viewer.window.dock_widgets and isinstance(panel, DicomPanel)
    tab, widget = {
        BROWSER: ("Series", panel.browser),
        TAGS: ("Tags", panel.tag_compare),
        IMAGES: ("Compare", panel.image_compare),
    }[name]
    assert panel.current_tab == tab
    return widget


def _wait(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT_MS)


def _add_study_layers(viewer, folder: Path, numbers: tuple[int, ...]) -> dict[int, object]:
    """Add the volumes of ``numbers`` with the plugin's reader (as File > Open would)."""
    out = {}
    for data, kwargs, kind in read_volumes(folder, lazy=False):
        n = kwargs["metadata"]["dicom"]["volume"]["series_number"]
        if n in numbers:
            kwargs = dict(kwargs, visible=True)
            out[n] = viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
    return out


def _by_keyword(table) -> dict[str, dict[str, str]]:
    i = table.headers.index("keyword")
    return {r[i]: dict(zip(table.headers, r, strict=True)) for r in table.rows}


def _column(table, name: str) -> list[str]:
    i = table.headers.index(name)
    return [str(r[i]) for r in table.rows]


# ----------------------------------------------------------------------------- series browser


def test_series_browser_scan_filter_sort_load(make_napari_viewer, qtbot, synthetic_study: Path) -> None:
    before = tree_digest(synthetic_study)
    viewer = make_napari_viewer()
    w = _dock(viewer, BROWSER)
    assert isinstance(w, SeriesBrowser)
    w.folder.value = synthetic_study
    assert w.scan() is not None
    _wait(qtbot, w)
    volumes, _ = open_folder(synthetic_study)
    by_key = {v.key: v for v in volumes}
    # localizers hidden by default
    assert _column(w.table, "key") == ["2", "3", "4", "5"]
    for row in w.table.rows:
        cells = dict(zip(w.table.headers, row, strict=True))
        v = by_key[cells["key"]]
        assert cells["description"] == v.series_description and cells["kernel"] == v.convolution_kernel
        assert cells["kernel class"] == v.kernel_class and cells["kind"] == "image" and cells["orientation"] == "axial"
        assert cells["size"] == "x".join(map(str, v.shape))
    w.hide_localizers.value = False
    assert _column(w.table, "kind") == ["localizer", "image", "image", "image", "image"]
    w.only_thin.value = True
    assert _column(w.table, "key") == ["4", "5"]  # the scout has SliceThickness 1, but a localizer is never "thin"
    w.hide_localizers.value = True
    assert _column(w.table, "key") == ["4", "5"]
    w.hide_localizers.value = False
    w.kernel.value = KernelFilter.lung
    assert _column(w.table, "key") == ["5"]
    w.only_thin.value = False
    assert _column(w.table, "key") == ["3", "5"]
    w.kernel.value = KernelFilter.all
    # sort by thickness (numbers as numbers), then descending by a click on the same header
    w.table.sort_by("thickness mm")
    assert _column(w.table, "thickness mm")[:2] == ["1", "1.25"]  # the scout's SliceThickness 1, then the thin ones
    col = w.table.headers.index("series")
    w.table._header_clicked(col)
    w.table._header_clicked(col)
    assert _column(w.table, "series") == ["5", "4", "3", "2", "1"]
    # load two volumes
    w.table.select_payloads(lambda v: v.key in ("2", "5"))
    assert sorted(v.key for v in w.table.selected_payloads()) == ["2", "5"]
    assert w.load_selected() is not None
    _wait(qtbot, w)
    assert len(viewer.layers) == 2
    for layer in viewer.layers:
        s = layer.metadata["dicom"]["volume"]
        v = by_key[s["key"]]
        assert layer.data.shape == v.shape and layer.data.dtype == np.int16
        files = {
            str(p)
            for p in synthetic_study.iterdir()
            if int(pydicom.dcmread(p, stop_before_pixels=True).SeriesNumber) == v.series_number
        }
        assert set(layer.metadata["dicom"]["files"]) == files
    layers = {layer.metadata["dicom"]["volume"]["key"]: layer for layer in viewer.layers}
    assert dict(zip(_column(w.table, "key"), _column(w.table, "layer"), strict=True))["2"] == layers["2"].name
    # selecting a layer selects its row
    viewer.layers.selection.active = layers["2"]
    assert [v.key for v in w.table.selected_payloads()] == ["2"]
    viewer.layers.selection.active = layers["5"]
    assert [v.key for v in w.table.selected_payloads()] == ["5"]
    # loading it again adds nothing
    w.load_selected()
    _wait(qtbot, w)
    assert len(viewer.layers) == 2
    # the localizer, on request: a coronal slice, its axes ordered like the world's so napari can draw it
    w.table.select_payloads(lambda v: v.kind == "localizer")
    w.load_selected()
    _wait(qtbot, w)
    assert len(viewer.layers) == 3
    scout = viewer.layers[-1]
    assert scout.metadata["dicom"]["volume"]["kind"] == "localizer" and scout.data.shape == (118, 1, 122)
    viewer.layers.remove(scout)
    # the folder of a loaded layer
    w.folder.value = "."
    w.volumes = []
    w.refresh()
    viewer.layers.selection.active = layers["5"]
    assert w.use_selected_layer() == str(synthetic_study)
    _wait(qtbot, w)
    assert len(w.volumes) == 5 and [v.key for v in w.table.selected_payloads()] == ["5"]
    # two rows -> the panel's tag comparison with their differences
    w.table.select_payloads(lambda v: v.key in ("2", "3"))
    tc = w.compare_tags()
    _wait(qtbot, tc)
    assert tc.mode.value is TagMode.between
    assert {"ConvolutionKernel", "WindowCenter", "WindowWidth", "SeriesDescription"} <= set(_column(tc.table, "keyword"))
    assert tree_digest(synthetic_study) == before


def test_series_browser_shows_localizer(make_napari_viewer, qtbot, synthetic_study: Path) -> None:
    viewer = make_napari_viewer()
    w = _dock(viewer, BROWSER)
    w.hide_localizers.value = False
    w.scan(synthetic_study)
    _wait(qtbot, w)
    w.load_selected([v for v in w.volumes if v.key in ("2", "1")])
    _wait(qtbot, w)
    kinds = sorted(layer.metadata["dicom"]["volume"]["kind"] for layer in viewer.layers)
    assert kinds == ["image", "localizer"], w.status.message.value


def test_series_browser_errors(make_napari_viewer, qtbot, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    w = _dock(viewer, BROWSER)
    assert w.scan(tmp_path / "missing") is None and "not a folder" in w.status.message.value
    (tmp_path / "notes.txt").write_text("not dicom")
    w.scan(tmp_path)
    _wait(qtbot, w)
    assert w.table.rows == [] and "no DICOM images" in w.status.message.value
    assert w.load_selected() is None and "select" in w.status.message.value


@pytest.mark.slow
def test_series_browser_cancel_stops_the_scan(make_napari_viewer, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel during a scan: the worker ends through the core's Cancelled, no row and no layer appear, the UI is idle.

    The real pipeline runs on a 325-file study; its progress callback holds the worker after the first file until
    Cancel has been clicked, so the click lands mid-scan however fast the machine is (the scan then takes > 1 s).
    """
    import threading
    import time

    import napari_dicomseries
    from napari_dicomseries.errors import Cancelled
    from napari_dicomseries.synthetic import write_study

    folder = tmp_path / "study"
    n_files = len(write_study(folder, scale=0.5))
    viewer = make_napari_viewer()
    w = _dock(viewer, BROWSER)
    real = napari_dicomseries.open_folder
    held, outcome = threading.Event(), []

    def open_folder_held(paths, *, progress=None, cancel=None, **kw):
        def hold(done: int, total: int) -> None:
            progress(done, total)
            if done == 1:
                held.set()
                deadline = time.monotonic() + 60
                while not cancel() and time.monotonic() < deadline:
                    time.sleep(0.01)

        try:
            return real(paths, progress=hold, cancel=cancel, **kw)
        except Cancelled as exc:
            outcome.append(exc)
            raise

    monkeypatch.setattr(napari_dicomseries, "open_folder", open_folder_held)
    w.folder.value = folder
    assert not w.cancel_button.enabled
    started = time.monotonic()
    assert w.scan() is not None
    assert w.busy and w.cancel_button.enabled and not w.status.progress.native.isHidden()
    qtbot.waitUntil(held.is_set, timeout=TIMEOUT_MS)
    # the progress of the worker thread reaches the bar in the main thread: 1 file of n_files
    qtbot.waitUntil(lambda: w.status.progress.value == 1 and w.status.progress.max == n_files, timeout=TIMEOUT_MS)
    time.sleep(1.0)
    assert w.busy  # still scanning, held
    w.cancel_button.native.click()
    _wait(qtbot, w)
    assert time.monotonic() - started > 1.0
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert w.volumes == [] and w.table.rows == [] and len(viewer.layers) == 0
    assert w.status.message.value == "cancelled"
    assert not w.busy and not w.cancel_button.enabled and w.status.progress.native.isHidden()
    # the next scan is not cancelled by the old click, and lists the study
    monkeypatch.setattr(napari_dicomseries, "open_folder", real)
    w.scan()
    _wait(qtbot, w)
    assert _column(w.table, "key") == ["2", "3", "4", "5"] and not w.cancel_button.enabled
    assert sum(len(v.files) for v in w.volumes) == n_files


# ----------------------------------------------------------------------------- tag comparison


def test_tag_compare_two_layers_and_one(make_napari_viewer, qtbot, synthetic_study: Path, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    layers = _add_study_layers(viewer, synthetic_study, (2, 3, 4))
    w = _dock(viewer, TAGS)
    assert isinstance(w, TagCompare)
    headers = {
        int(pydicom.dcmread(p, stop_before_pixels=True).SeriesNumber): pydicom.dcmread(p, stop_before_pixels=True)
        for p in sorted(synthetic_study.iterdir())
    }
    w.mode.value = TagMode.between
    w.source_a.value, w.source_b.value = layers[2], layers[3]
    w.compare()
    _wait(qtbot, w)
    rows = _by_keyword(w.table)
    assert {"ConvolutionKernel", "WindowCenter", "WindowWidth", "SeriesDescription", "SeriesNumber", "SeriesInstanceUID"} <= set(
        rows
    )
    assert "SOPInstanceUID" not in rows and "ImagePositionPatient" not in rows
    assert (rows["ConvolutionKernel"]["A"], rows["ConvolutionKernel"]["B"]) == (
        headers[2].ConvolutionKernel,
        headers[3].ConvolutionKernel,
    )
    assert rows["ConvolutionKernel"]["tag"] == "(0018,1210)" and rows["ConvolutionKernel"]["name"] == "Convolution Kernel"
    n_diff = len(w.table.rows)
    w.identifiers.value = True
    assert "SOPInstanceUID" in _column(w.table, "keyword")
    w.show_all.value = True
    assert len(w.table.rows) > n_diff and "Modality" in _column(w.table, "keyword")
    w.search.value = "kernel"
    assert _column(w.table, "keyword") == ["ConvolutionKernel"]
    # click the row: per-slice values of both volumes
    w.table.select_rows([0])
    assert w.slices.headers == ["slice", "A", "B"] and len(w.slices.rows) == layers[2].data.shape[0]
    assert {r[1] for r in w.slices.rows} == {"STANDARD"} and {r[2] for r in w.slices.rows} == {"LUNG"}
    # CSV and clipboard
    w.search.value = ""
    w.show_all.value = False
    out = w.table.save_csv(tmp_path / "diff.csv")
    parsed = list(csv.reader(io.StringIO(Path(out).read_text())))
    assert parsed[0] == list(w.table.headers) and len(parsed) == 1 + len(w.table.rows)
    assert w.table.copy() == napari.qt.get_qapp().clipboard().text()
    # thick vs thin: thickness and slice count
    w.identifiers.value = False
    w.source_b.value = layers[4]
    w.compare()
    _wait(qtbot, w)
    rows = _by_keyword(w.table)
    assert (float(rows["SliceThickness"]["A"]), float(rows["SliceThickness"]["B"])) == (
        float(headers[2].SliceThickness),
        float(headers[4].SliceThickness),
    )
    assert (int(rows["(volume) slices"]["A"]), int(rows["(volume) slices"]["B"])) == (
        layers[2].data.shape[0],
        layers[4].data.shape[0],
    )
    assert "ConvolutionKernel" not in rows
    # one volume: constant and varying tags; click a varying tag to see it per slice
    w.mode.value = TagMode.within
    w.source_a.value = layers[4]
    w.compare()
    _wait(qtbot, w)
    rows = _by_keyword(w.table)
    assert rows["ConvolutionKernel"]["status"] == "constant" and rows["ConvolutionKernel"]["value"] == "STANDARD"
    assert (
        rows["ImagePositionPatient"]["status"] == "varies"
        and int(rows["ImagePositionPatient"]["distinct"]) == layers[4].data.shape[0]
    )
    w.only_varying.value = True
    assert set(_column(w.table, "status")) == {"varies"}
    w.table.select_payloads(lambda s: s.info.key == "SliceLocation")
    z = [float(r[1]) for r in w.slices.rows]
    assert z == sorted(z) and len(z) == layers[4].data.shape[0]
    # the slice order of the table is the layer's: world z of slice k is its SliceLocation
    grid = layer_grid(layers[4])
    assert [grid.affine[2] @ [k, 0, 0, 1] for k in range(len(z))] == pytest.approx(z, abs=1e-3)


def test_tag_compare_enhanced_per_frame(make_napari_viewer, qtbot, shared_data: Path) -> None:
    viewer = make_napari_viewer()
    ((data, kwargs, kind),) = read_volumes(shared_data / "enhanced_siemens_xa10", lazy=False)
    layer = viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
    w = _dock(viewer, TAGS)
    w.mode.value = TagMode.within
    w.source_a.value = layer
    w.only_varying.value = True
    w.compare()
    _wait(qtbot, w)
    keys = _column(w.table, "keyword")
    assert "PerFrameFunctionalGroupsSequence.PlanePositionSequence[0].ImagePositionPatient" in keys
    w.table.select_payloads(lambda s: s.info.key.endswith("TemporalPositionIndex"))
    assert len(w.slices.rows) == 24 and {r[1] for r in w.slices.rows} == {"1", "2", "3", "4"}


# ----------------------------------------------------------------------------- image comparison


def test_image_compare_same_grid_and_resampled(make_napari_viewer, qtbot, synthetic_study: Path) -> None:
    viewer = make_napari_viewer()
    layers = _add_study_layers(viewer, synthetic_study, (2, 3, 4))
    w = _dock(viewer, IMAGES)
    assert isinstance(w, ImageCompare)
    w.layer_a.value, w.layer_b.value = layers[2], layers[3]
    w.mask_source.value = MaskSource.hu
    w.preset.value = HUPreset.soft_tissue
    w.add_masks.value = True
    assert w.compute() is not None
    _wait(qtbot, w)
    a, b = np.asarray(layers[2].data), np.asarray(layers[3].data)
    diff_layer = viewer.layers[f"{layers[3].name} - {layers[2].name}"]
    # the dock gets a proxy of the viewer (napari's PublicOnlyProxy): its own difference layer is still no choice
    assert all(c is not diff_layer for c in w.layer_a.choices) and layers[2] in w.layer_a.choices
    assert diff_layer.data.dtype == np.int32
    assert np.array_equal(diff_layer.data, b.astype(np.int32) - a.astype(np.int32))
    lo, hi = diff_layer.contrast_limits
    assert lo == -hi and hi > 0 and diff_layer.colormap.name == "PiYG"
    assert layer_grid(diff_layer).same_as(layer_grid(layers[2]))
    table = {r[1]: r[2] for r in w.table.rows}
    d = (b.astype(float) - a.astype(float)).ravel()
    assert float(table["RMSE"]) == pytest.approx(np.sqrt(np.mean(d**2)), rel=1e-5)
    assert float(table["max |difference|"]) == np.abs(d).max()
    ma, mb = range_mask(a, -100, 200), range_mask(b, -100, 200)
    assert float(table["Dice"]) == pytest.approx(2 * (ma & mb).sum() / (ma.sum() + mb.sum()), rel=1e-5)
    assert w.histogram.image is not None and w.histogram.image.width() > 100
    masks = [lyr for lyr in viewer.layers if isinstance(lyr, napari.layers.Labels)]
    assert len(masks) == 2 and int((masks[0].data > 0).sum()) == int(ma.sum()) and int((masks[1].data > 0).sum()) == int(mb.sum())
    # different grids: 1.25 mm resampled onto 5 mm
    w.layer_b.value = layers[4]
    w.interpolation.value = Interpolation.linear
    w.compute()
    _wait(qtbot, w)
    assert w.result.resampled and any("resampled" in r[2] for r in w.table.rows)
    thin = np.asarray(layers[4].data)
    assert np.allclose(w.result.second, thin[::4], atol=1e-3)  # every 5 mm slice lies on a 1.25 mm slice
    assert viewer.layers[f"{layers[4].name} - {layers[2].name}"].data.shape == a.shape
    assert "resampled" in w.status.message.value


def test_image_compare_refusals(make_napari_viewer, qtbot, synthetic_study: Path) -> None:
    viewer = make_napari_viewer()
    layers = _add_study_layers(viewer, synthetic_study, (2,))
    a = layers[2]
    # a plain layer: no FrameOfReferenceUID -> an explicit choice is required
    plain = viewer.add_image(np.asarray(a.data), name="plain", scale=a.scale, affine=a.affine, translate=(0, 0, 0))
    w = _dock(viewer, IMAGES)
    w.layer_a.value, w.layer_b.value = a, plain
    n_layers = len(viewer.layers)
    assert w.compute() is None and "frames of reference" in w.status.message.value
    w.allow_frame.value = True
    w.compute()
    _wait(qtbot, w)
    assert w.result.stats.max_abs_difference == 0 and not w.result.resampled
    assert float({r[1]: r[2] for r in w.table.rows}["Dice"]) == 1.0
    assert len(viewer.layers) == n_layers + 1
    # far away in space: refused with a clear message
    far = viewer.add_image(np.asarray(a.data), name="far", scale=a.scale, affine=a.affine, translate=(5000, 0, 0))
    w.layer_b.value = far
    w.compute()
    _wait(qtbot, w)
    assert "do not overlap" in w.status.message.value
    # label layers as mask source, on the image's grid
    mask = range_mask(np.asarray(a.data), 300).astype(np.uint8)
    la = viewer.add_labels(mask, name="bone A", scale=a.scale, affine=a.affine)
    lb = viewer.add_labels(mask.copy(), name="bone B", scale=a.scale, affine=a.affine)
    w.layer_b.value = plain
    w.mask_source.value = MaskSource.labels
    w.label_a.value, w.label_b.value = la, lb
    w.compute()
    _wait(qtbot, w)
    assert w.result.overlap.dice == 1.0 and w.result.overlap.voxels_a == int(mask.sum())


def test_layer_grid_is_the_volume_grid(make_napari_viewer, synthetic_study: Path) -> None:
    viewer = make_napari_viewer()
    layers = _add_study_layers(viewer, synthetic_study, (2, 4))
    vols = {v.series_number: v for v in open_folder(synthetic_study)[0]}
    for n in (2, 4):
        assert layer_grid(layers[n]).same_as(vols[n].geometry)


def test_image_compare_label_value_of_a_segmentation(make_napari_viewer, qtbot, shared_data: Path) -> None:
    """Segments as masks: a DICOM SEG opened by the reader, and one label value of a multi-label layer (README facts:
    Liver 107,098 voxels, ORANGE 11,888)."""
    from napari_dicomseries._widgets.image_compare import ANY_LABEL, label_values

    viewer = make_napari_viewer()
    layers = viewer.open(str(shared_data / "seg_ct_liver"), plugin=PLUGIN)
    (ct,) = [lyr for lyr in layers if isinstance(lyr, napari.layers.Image)]
    by_name = {lyr.name: lyr for lyr in layers if isinstance(lyr, napari.layers.Labels)}
    liver, orange = by_name["S1 Liver Segmentation"], by_name["S100 Segmentation ORANGE"]
    liver_data, orange_data = np.asarray(liver.data), np.asarray(orange.data)
    assert int((liver_data == 1).sum()) == 107_098 and int((orange_data == 2).sum()) == 11_888
    # one layer, two labels: ORANGE as 2 over the Liver's 1 (same grid)
    multi = viewer.add_labels(np.where(orange_data == 2, 2, liver_data).astype(np.uint8), name="two labels",
                              scale=liver.scale, affine=liver.affine)  # fmt: skip
    copy = viewer.add_image(np.asarray(ct.data), name="CT copy", scale=ct.scale, affine=ct.affine, metadata=ct.metadata)
    w = _dock(viewer, IMAGES)
    w.layer_a.value, w.layer_b.value = ct, copy
    w.mask_source.value = MaskSource.labels
    w.label_a.value, w.label_b.value = multi, orange
    assert list(w.value_a.choices) == [ANY_LABEL, 1, 2]  # from the data: the layer has no features
    assert list(w.value_b.choices) == [ANY_LABEL, 2]  # from the reader's features (segment number 2, ORANGE)
    assert label_values(orange) == [("any non-zero", ANY_LABEL), ("2 ORANGE", 2)]
    w.value_a.value, w.value_b.value = 2, 2
    assert w.compute() is not None
    _wait(qtbot, w)
    o = w.result.overlap
    assert o.dice == 1.0 and o.voxels_a == o.voxels_b == 11_888 and o.hausdorff_mm == 0
    # label 1 of the two-label layer is the Liver without ORANGE: its overlap with the Liver, counted here with numpy
    w.value_a.value, w.label_b.value = 1, liver
    w.value_b.value = 1
    w.compute()
    _wait(qtbot, w)
    liver_only = int(((liver_data == 1) & (orange_data != 2)).sum())
    o = w.result.overlap
    assert o.voxels_a == liver_only and o.voxels_b == 107_098 and o.voxels_both == liver_only
    assert o.dice == pytest.approx(2 * liver_only / (liver_only + 107_098), rel=1e-9)
    assert any("'two labels' = 1" in r[0] for r in w.table.rows)
    # any non-zero value: the Liver and ORANGE together
    w.value_a.value = ANY_LABEL
    w.compute()
    _wait(qtbot, w)
    assert w.result.overlap.voxels_a == int(((liver_data == 1) | (orange_data == 2)).sum())

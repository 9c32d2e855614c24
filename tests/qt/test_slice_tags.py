"""Live slice tags in a real viewer (Xvfb): the table follows the sliders and shows what pydicom reads in that file.

Layers are opened as File > Open does (``viewer.open(path, plugin=...)``); the table is the one of the "DICOM
series" panel opened as Plugins > DICOM series does. The expected slice under the slider is found from the
files' own ImagePositionPatient (pydicom), not from the widget's mapping.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytestmark = pytest.mark.gui
napari = pytest.importorskip("napari")

from napari_dicomseries._widgets.slice_tags import SliceTags  # noqa: E402

PLUGIN = "napari-dicomseries"
PANEL = "DICOM series"


def _panel_slice_tags(viewer) -> SliceTags:
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, PANEL)
    tags = panel.slice_tags
    assert isinstance(tags, SliceTags)
    return tags


def _wait_table(qtbot, tags: SliceTags, timeout: int = 60_000) -> None:
    """Wait until the slice headers of the active layer are read (in a worker thread) and the table shows them."""
    qtbot.waitUntil(lambda: not tags.busy and tags.value("file") != "", timeout=timeout)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split("\\")]


def _public_top_level(ds: pydicom.Dataset) -> dict[str, str]:
    return {
        e.keyword: str(e.value)
        for e in ds
        if e.keyword and e.VR != "SQ" and e.tag != 0x7FE00010 and e.tag.group % 2 == 0 and e.tag.group != 0x0002
    }


def test_ct_slice_tags_follow_the_slider(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    tags = _panel_slice_tags(viewer)
    layer = viewer.layers.selection.active
    assert tags.layer is layer
    _wait_table(qtbot, tags)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    headers = {str(p): pydicom.dcmread(p, stop_before_pixels=True) for p in files}
    z_axis = viewer.dims.ndim - 3  # world z, the axial slider
    n = viewer.dims.nsteps[z_axis]
    assert n == len(files)
    seen = set()
    start = time.perf_counter()
    for step in (0, 1, n // 2, n - 2, n - 1):
        viewer.dims.set_current_step(z_axis, step)
        z = viewer.dims.point[z_axis]
        # the file whose own position is at the slider's z (pydicom)
        path, ds = min(headers.items(), key=lambda kv: abs(float(kv[1].ImagePositionPatient[2]) - z))
        assert abs(float(ds.ImagePositionPatient[2]) - z) < 1e-3
        assert tags.value("file") == path
        assert int(tags.value("InstanceNumber")) == int(ds.InstanceNumber)
        assert _floats(tags.value("ImagePositionPatient")) == [float(v) for v in ds.ImagePositionPatient]
        assert float(tags.value("SliceLocation")) == float(ds.SliceLocation)
        assert f"InstanceNumber {int(ds.InstanceNumber)}" in tags.where.value
        seen.add(path)
    per_step = (time.perf_counter() - start) / 5
    assert len(seen) == 5
    assert per_step < 0.5, f"{per_step * 1000:.0f} ms per slider step"

    # varying tags first; varying exactly where pydicom's values differ between the files
    rows = tags.rows(visible_only=False)
    flags = [r.varies for r in rows]
    assert flags == sorted(flags, reverse=True)
    values = [_public_top_level(ds) for ds in headers.values()]
    keys = set().union(*values)
    expected = {k for k in keys if len({v.get(k, "<absent>") for v in values}) > 1}
    shown_varying = {r.keyword for r in rows if r.varies and r.keyword not in ("file", "frame")}
    assert {"InstanceNumber", "ImagePositionPatient", "SliceLocation", "SOPInstanceUID"} <= shown_varying
    assert shown_varying == expected
    constant = {r.keyword for r in rows if not r.varies}
    assert "SliceThickness" in constant and "Modality" in constant
    assert next(r.tag for r in rows if r.keyword == "InstanceNumber") == "(0020,0013)"
    # constant ones are folded until asked for
    assert not tags._constant_group.isExpanded()
    tags.show_constant.value = True
    assert tags._constant_group.isExpanded()

    # search: keyword, tag number, name and value, any case
    tags.search.value = "slicelocation"
    assert [r.keyword for r in tags.rows()] == ["SliceLocation"]
    tags.search.value = "(0018,0050)"
    assert [r.keyword for r in tags.rows()] == ["SliceThickness"]
    tags.search.value = "x-ray tube"
    assert [r.keyword for r in tags.rows()] == ["XRayTubeCurrent"]
    tags.search.value = str(headers[tags.value("file")].SOPInstanceUID)
    assert [r.keyword for r in tags.rows()] == ["SOPInstanceUID"]
    tags.search.value = ""
    assert len(tags.rows()) == len(rows)


def test_frame_axis_of_an_enhanced_4d_series(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "enhanced_siemens_xa10"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    layer = viewer.layers.selection.active
    assert layer.ndim == 4
    tags = _panel_slice_tags(viewer)
    _wait_table(qtbot, tags)
    z_axis = viewer.dims.ndim - 3
    for t in range(layer.data.shape[0]):
        for step in (0, viewer.dims.nsteps[z_axis] - 1):
            viewer.dims.set_current_step(0, t)
            viewer.dims.set_current_step(z_axis, step)
            z = viewer.dims.point[z_axis]
            ds = pydicom.dcmread(tags.value("file"), stop_before_pixels=True)
            frame = pydicom.dcmread(tags.value("file"), stop_before_pixels=True).PerFrameFunctionalGroupsSequence[
                int(tags.value("frame")) - 1
            ]
            assert int(frame.FrameContentSequence[0].TemporalPositionIndex) == t + 1
            ipp = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
            assert _floats(tags.value("ImagePositionPatient")) == ipp
            # the frame of that file nearest to the slider's z is the one shown
            zs = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in ds.PerFrameFunctionalGroupsSequence]
            assert int(np.argmin([abs(v - z) for v in zs])) == int(tags.value("frame")) - 1
            assert f"TemporalPositionIndex {t + 1}/4" in tags.where.value


@pytest.mark.slow  # opens the 641-file DTI series and reads its slice table
def test_diffusion_volumes_along_the_frame_axis(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "philips_dti"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    layer = next(la for la in viewer.layers if la.ndim == 4)
    viewer.layers.selection.active = layer
    tags = _panel_slice_tags(viewer)
    assert tags.layer is layer
    _wait_table(qtbot, tags)
    gradients = layer.metadata["dicom"]["volume"]["gradients"]
    z_axis = viewer.dims.ndim - 3
    viewer.dims.set_current_step(z_axis, viewer.dims.nsteps[z_axis] // 2)
    positions, uids = set(), set()
    for t in range(layer.data.shape[0]):
        viewer.dims.set_current_step(0, t)
        ds = pydicom.dcmread(tags.value("file"), stop_before_pixels=True)
        assert int(tags.value("InstanceNumber")) == int(ds.InstanceNumber)
        assert _floats(tags.value("ImagePositionPatient")) == [float(v) for v in ds.ImagePositionPatient]
        # the b-value of the file shown is the b-value of that volume of the gradient table
        b = ds.get("DiffusionBValue", ds.get((0x2001, 0x1003)))
        assert float(b.value if hasattr(b, "value") else b) == gradients[t]["b_value"]
        positions.add(tuple(float(v) for v in ds.ImagePositionPatient))
        uids.add(ds.SOPInstanceUID)
    assert len(positions) == 1  # one slice, through every volume
    assert len(uids) == layer.data.shape[0]


def test_follows_the_active_layer_and_ignores_other_layers(make_napari_viewer, qtbot, synthetic_study: Path) -> None:
    viewer = make_napari_viewer()
    viewer.open(str(synthetic_study), plugin=PLUGIN)
    tags = _panel_slice_tags(viewer)
    layers = list(viewer.layers)
    for la in layers[:2]:
        viewer.layers.selection.active = la
        assert tags.layer is la
        _wait_table(qtbot, tags)
        assert tags.value("file") in la.metadata["dicom"]["files"]
        assert tags.where.value.startswith(la.name)
    viewer.add_points(np.zeros((1, 3)))
    assert tags.layer is None and tags.rows() == []
    assert "Select a DICOM image layer" in tags.where.value


class _StallMeter:
    """The longest gap between the ticks of a 10 ms timer of the main thread: how long the GUI was blocked."""

    def __init__(self, on_tick=None) -> None:
        from qtpy.QtCore import QTimer

        self.max_gap = 0.0
        self.last = self.t0 = time.perf_counter()
        self.at = 0.0  # when the longest gap began, in seconds from start()
        self.on_tick = on_tick
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if now - self.last > self.max_gap:
            self.max_gap, self.at = now - self.last, self.last - self.t0
        self.last = now
        if self.on_tick is not None:
            self.on_tick()

    def start(self) -> None:
        self.max_gap, self.at, self.last = 0.0, 0.0, time.perf_counter()
        self.t0 = self.last
        self.timer.start()

    def stop(self) -> float:
        self._tick()  # a stall at the very end counts too
        self.timer.stop()
        return self.max_gap


def _idle(qtbot, tags: SliceTags) -> None:
    """No job in the dock and no thread left in the pool that napari's workers use."""
    from qtpy.QtCore import QThreadPool

    qtbot.waitUntil(lambda: not tags.busy and QThreadPool.globalInstance().activeThreadCount() == 0, timeout=20_000)


@pytest.mark.slow  # opens the 641-file DTI folder and reads the slice headers of its 640-file 4-D layer twice
def test_slice_headers_are_read_in_the_background(make_napari_viewer, qtbot, shared_data: Path) -> None:
    folder = shared_data / "philips_dti"
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)
    dti = next(la for la in viewer.layers if la.ndim == 4)
    other = next(la for la in viewer.layers if la is not dti and la.metadata.get("dicom"))
    viewer.layers.selection.active = other
    tags = _panel_slice_tags(viewer)
    _wait_table(qtbot, tags)
    _idle(qtbot, tags)
    n_files = len(set(dti.metadata["dicom"]["files"]))
    table = dti.metadata["dicom"]["slices"]
    assert n_files > 600 and not table.built

    # Cancel half-way: the table stays empty, the dock says so, no worker is left, nothing is kept
    viewer.layers.selection.active = dti
    assert tags.layer is dti and tags.busy and not tags.job_bar.native.isHidden()
    qtbot.waitUntil(lambda: tags.progress[0] >= 50, timeout=30_000)
    tags.job_bar.cancel_button.native.click()
    _idle(qtbot, tags)
    assert 50 <= tags.progress[0] < n_files == tags.progress[1]
    assert tags.rows(visible_only=False) == [] and tags.value("file") == ""
    assert "cancelled" in tags.status and tags.job_bar.native.isHidden()
    assert not table.built and not tags.read_button.native.isHidden()
    assert tags.cancel_to_idle is not None and tags.cancel_to_idle < 2.0

    # the DTI layer becomes active again: the GUI keeps running, the bar counts the files, the table fills
    viewer.layers.selection.active = other
    assert not tags.busy and tags.value("file") in other.metadata["dicom"]["files"]  # kept: no second read
    labels: set[str] = set()
    meter = _StallMeter(on_tick=lambda: labels.add(str(tags.job_bar.stage.value)))
    meter.start()
    t0 = time.perf_counter()
    viewer.layers.selection.active = dti
    assert tags.busy
    _wait_table(qtbot, tags)
    to_table = time.perf_counter() - t0
    stall = meter.stop()
    print(f"\nDTI {n_files} files: table after {to_table:.2f} s, longest GUI stall {stall * 1000:.0f} ms at {meter.at:.2f} s")
    assert tags.progress == (n_files, n_files)
    assert any(label.startswith("reading slice headers ") and label.endswith(f"/{n_files}") for label in labels)
    assert table.built
    ds = pydicom.dcmread(tags.value("file"), stop_before_pixels=True)
    assert int(tags.value("InstanceNumber")) == int(ds.InstanceNumber)
    assert {"InstanceNumber", "SOPInstanceUID"} <= {r.keyword for r in tags.rows() if r.varies}
    assert stall < 0.15, f"the GUI was blocked {stall * 1000:.0f} ms while the slice headers were read"

    # switching away and back is instant: each layer's table is kept
    for la in (other, dti):
        t0 = time.perf_counter()
        viewer.layers.selection.active = la
        assert not tags.busy and tags.value("file") in la.metadata["dicom"]["files"]
        assert time.perf_counter() - t0 < 0.1

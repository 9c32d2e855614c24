"""Progress and Cancel in the comparison docks, opened from the plugin menu in a real viewer (Xvfb).

A study at full size (scale 1: 512 x 512, 257 thin slices; its volumes open lazily) makes the jobs last seconds, so
Cancel is pressed while they run, at a known fraction of their progress.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from napari_dicomseries._reader import read_volumes  # noqa: E402
from napari_dicomseries._widgets.image_compare import HUPreset, ImageCompare, MaskSource  # noqa: E402
from napari_dicomseries._widgets.tag_compare import TagCompare, TagMode  # noqa: E402

PLUGIN = "napari-dicomseries"
TAGS, IMAGES = "Tag comparison", "Image difference and overlap"
TIMEOUT_MS = 180_000

pytestmark = pytest.mark.slow


def _dock(viewer, name: str, cls: type):
    """The dock as Plugins > DICOM series > ``name`` opens it: the widget itself, or the DICOM panel holding it."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    if isinstance(widget, cls):
        return widget
    inner = getattr(widget, {TagCompare: "tag_compare", ImageCompare: "image_compare"}[cls])
    assert isinstance(inner, cls)
    return inner


@pytest.fixture(scope="module")
def full_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from napari_dicomseries.synthetic import write_study

    out = tmp_path_factory.mktemp("full_study")
    write_study(out, scale=1.0)
    return out


def _add_layers(viewer, folder: Path, numbers: tuple[int, ...]) -> dict[int, object]:
    out = {}
    for data, kwargs, kind in read_volumes(folder):  # lazy above 128 MiB, as the reader opens them
        n = kwargs["metadata"]["dicom"]["volume"]["series_number"]
        if n in numbers:
            out[n] = viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
    return out


def _follow(qtbot, w, until: float | None) -> list[float]:
    """Sample the dock's progress bar until the job ends, pressing Cancel once the bar reaches ``until``."""
    seen: list[float] = []
    t_end = time.monotonic() + TIMEOUT_MS / 1000
    while w.busy and time.monotonic() < t_end:
        qtbot.wait(20)
        if w.job_bar.running:
            seen.append(w.job_bar.bar.value / w.job_bar.bar.max)
            if until is not None and seen[-1] >= until and w.job_bar.cancel_pressed_at is None:
                w.job_bar.cancel_button.native.click()
    return seen


def test_image_compare_progress_moves_and_cancel_adds_nothing(make_napari_viewer, qtbot, full_study: Path) -> None:
    viewer = make_napari_viewer()
    layers = _add_layers(viewer, full_study, (4, 5))
    assert not isinstance(layers[4].data, np.ndarray)  # lazy: the dock reads it slice by slice
    w = _dock(viewer, IMAGES, ImageCompare)
    w.layer_a.value, w.layer_b.value = layers[4], layers[5]
    w.mask_source.value = MaskSource.hu
    w.preset.value = HUPreset.soft_tissue
    assert w.job_bar.native.isHidden()
    # Cancel at 25 % and 50 %: no layer, no table row, the dock idle again within a second
    for until in (0.25, 0.5):
        n_layers, rows = len(viewer.layers), w.table.rows
        assert w.compute() is not None and not w.compute_button.enabled and not w.job_bar.native.isHidden()
        seen = _follow(qtbot, w, until)
        assert max(seen) >= until and max(seen) < 0.99
        assert w.status.message.value == "cancelled" and w.result is None
        assert len(viewer.layers) == n_layers and w.table.rows == rows and w.difference_layer is None
        assert w.compute_button.enabled and w.job_bar.native.isHidden() and w.job_bar.cancel_button.enabled
        assert w.cancel_to_idle is not None and w.cancel_to_idle < 1.0, w.cancel_to_idle
    # a whole run: the bar moves monotonically through the stages, then the results are added
    w.cancel_to_idle = None
    assert w.compute() is not None
    seen = _follow(qtbot, w, None)
    assert seen == sorted(seen) and len({round(x, 1) for x in seen}) >= 6  # it moves, in many steps
    assert w.result is not None and w.result.overlap is not None and w.cancel_to_idle is None
    assert w.difference_layer is not None and any(r[1] == "Dice" for r in w.table.rows)


def test_tag_compare_progress_and_cancel(make_napari_viewer, qtbot, full_study: Path) -> None:
    viewer = make_napari_viewer()
    layers = _add_layers(viewer, full_study, (4, 5))
    w = _dock(viewer, TAGS, TagCompare)
    w.mode.value = TagMode.between
    w.source_a.value, w.source_b.value = layers[4], layers[5]
    assert w.compare() is not None
    seen = _follow(qtbot, w, None)
    assert seen == sorted(seen) and w.result is not None
    rows = w.table.rows
    assert rows and {"ConvolutionKernel", "SeriesDescription"} <= {r[w.table.headers.index("keyword")] for r in rows}
    # Cancel halfway: the table keeps the last result
    assert w.compare() is not None
    seen = _follow(qtbot, w, 0.5)
    assert w.status.message.value == "cancelled" and w.table.rows == rows
    assert w.cancel_to_idle is not None and w.cancel_to_idle < 1.0, w.cancel_to_idle
    assert w.compare_button.enabled and w.job_bar.native.isHidden()


def test_tag_table_fits_a_narrow_dock(make_napari_viewer, qtbot, full_study: Path) -> None:
    """At ~400 px the keyword and both values are readable: they come first and are not cut to a few characters."""
    viewer = make_napari_viewer()
    layers = _add_layers(viewer, full_study, (2, 3))
    w = _dock(viewer, TAGS, TagCompare)
    w.source_a.value, w.source_b.value = layers[2], layers[3]
    w.native.resize(400, 700)
    w.compare()
    qtbot.waitUntil(lambda: not w.busy, timeout=TIMEOUT_MS)
    q = w.table.table.native
    assert w.table.headers[:4] == ["keyword", "A", "B", "status"]
    fm = q.fontMetrics()
    for col in (1, 2):  # the values of A and B, e.g. STANDARD and LUNG
        widest = max(fm.horizontalAdvance(str(r[col])) for r in w.table.rows if len(str(r[col])) <= 12)
        assert q.columnWidth(col) >= min(widest, 80), (w.table.headers[col], q.columnWidth(col))
    assert q.columnViewportPosition(2) + q.columnWidth(2) <= q.viewport().width() + 1  # B is on screen

"""Screenshots of the DICOM series panel for the README: ``xvfb-run -a python benchmarks/screenshot_widgets.py``.

Opens a napari window of 1280 x 800, the panel through the plugin's menu entry
(``add_plugin_dock_widget``) and saves the whole window for each tab, with the
synthetic sample study (``--scale``, default 0.5) and with
``../shared/data/ct_ge_lightspeed_lung`` (when present), to ``docs/images/``:

* ``panel_series_{sample,ct_ge}.png``: the folder scanned (localizers shown), the study -> series tree with
  thumbnails, the thin LUNG volume (sample) or the one volume (CT) loaded and active (its row highlighted);
* ``panel_tags_{sample,ct_ge}.png``: the tags of the current slice of the active (shown) layer, and the tag
  comparison of two volumes (sample: 5 mm STANDARD against 5 mm LUNG: kernel, description, window ...) or the
  varying tags of one (CT); the slice's SliceLocation (sample) or XRayTubeCurrent (CT) row selected;
* ``panel_compare_{sample,ct_ge}.png``: an image comparison run (sample: 5 mm LUNG against 5 mm STANDARD of the
  same acquisition, same grid: the difference is the kernel's; CT: the volume against a copy smoothed 3 x 3),
  with its statistics and histogram, the difference layer shown;
* ``panel_export_{sample,ct_ge}.png``: the selected series exported to a temporary folder.

The window must be shown: under Xvfb a hidden napari window renders black.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CT_GE = ROOT.parent / "shared" / "data" / "ct_ge_lightspeed_lung"
PLUGIN = "napari-dicomseries"


def _pump(seconds: float = 0.4) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def _wait(widget: Any, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while widget.busy or getattr(widget, "thumbnails_busy", False):
        _pump(0.05)
        if time.monotonic() > end:
            raise TimeoutError(f"{type(widget).__name__} still busy after {timeout} s")
    _pump(0.4)


def _viewer(title: str) -> Any:
    import napari

    viewer = napari.Viewer(show=True, title=title)
    viewer.window._qt_window.resize(1280, 800)
    _pump()
    return viewer


def _shot(viewer: Any, out: Path) -> None:
    try:  # close notification toasts so they do not cover the picture
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
            toast.close()
    except ImportError:
        pass
    _pump(0.6)
    size = viewer.window._qt_window.size()
    if size.height() > 800 or size.width() > 1280:
        raise RuntimeError(f"the window grew to {size.width()} x {size.height()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    print(f"wrote {out}")


def _open(viewer: Any, name: str) -> Any:
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    _pump()
    return panel


def panel_shots(folder: Path, tag: str, out_dir: Path, *, sample: bool) -> None:
    """Four screenshots (one per tab) of the panel working on ``folder``."""
    import numpy as np

    viewer = _viewer(f"napari-dicomseries: DICOM series panel ({tag})")
    panel = _open(viewer, "Series browser")
    b = panel.browser
    b.folder.value = folder
    b.hide_localizers.value = False
    b.scan()
    _wait(b)
    pick = ("2", "3", "5") if sample else tuple(v.key for v in b.volumes if v.is_image)[:1]
    b.table.select_payloads(lambda v: v.key in pick)
    b.load_selected()
    _wait(b)
    active = [lyr for lyr in viewer.layers if lyr.metadata["dicom"]["volume"]["key"] == ("5" if sample else pick[0])][0]
    for lyr in viewer.layers:
        lyr.visible = lyr is active
    viewer.layers.selection.active = active
    viewer.dims.set_point(0, float(np.mean(viewer.dims.range[0][:2])))
    viewer.reset_view()
    _wait(b)
    _shot(viewer, out_dir / f"panel_series_{tag}.png")

    panel = _open(viewer, "Tag comparison")
    tc = panel.tag_compare
    if sample:
        b.table.select_payloads(lambda v: v.key in ("2", "3"))
    else:
        b.table.select_payloads(lambda v: v.key == pick[0])
        tc.only_varying.value = True
    b.compare_tags()
    _wait(tc)
    # the slice tags follow the active layer (selecting browser rows may have made another one active): show that one
    shown = viewer.layers.selection.active or active
    for lyr in viewer.layers:
        lyr.visible = lyr is shown
    if panel.slice_tags is not None:
        _wait(panel.slice_tags)
    # the tag a user watches while moving the slider selected in the slice's tags (a row selected in the comparison
    # would open its values slice by slice below it, leaving fewer comparison rows in view at 800 px)
    st = panel.slice_tags
    if st is not None:
        item = next((st._items[k] for k in ("XRayTubeCurrent", "SliceLocation") if k in st._items), None)
        if item is not None:
            st.tree.setCurrentItem(item)
    _pump(0.4)
    _shot(viewer, out_dir / f"panel_tags_{tag}.png")

    panel = _open(viewer, "Image difference and overlap")
    ic = panel.image_compare
    if sample:  # same acquisition and grid, two kernels: the difference is the kernel's
        a = next(lyr for lyr in viewer.layers if lyr.metadata["dicom"]["volume"]["key"] == "2")
        bb = next(lyr for lyr in viewer.layers if lyr.metadata["dicom"]["volume"]["key"] == "3")
    else:
        a = active
        data = np.asarray(a.data).astype(np.int32)
        smooth = sum(np.roll(np.roll(data, dy, axis=-2), dx, axis=-1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) // 9
        bb = viewer.add_image(smooth.astype(np.int16), name=f"{a.name} smoothed 3x3", scale=a.scale, affine=a.affine,
                              metadata=a.metadata, contrast_limits=a.contrast_limits, visible=False)  # fmt: skip
    ic.reset_choices()
    ic.layer_a.value, ic.layer_b.value = a, bb
    ic.compute()
    _wait(ic)
    for lyr in viewer.layers:
        lyr.visible = lyr is viewer.layers[-1]
    viewer.layers.selection.active = viewer.layers[-1]
    ic.table.select_payloads(lambda _p: False)
    rows = [n for n, r in enumerate(ic.table.rows) if r[1] in ("RMSE", "rmse")]
    ic.table.select_rows(rows[:1])
    _shot(viewer, out_dir / f"panel_compare_{tag}.png")

    panel = _open(viewer, "Export to NIfTI")
    b.table.select_payloads(lambda v: v.key in pick)
    for lyr in viewer.layers:
        lyr.visible = lyr is active
    with tempfile.TemporaryDirectory() as tmp:
        panel.export.out.value = Path(tmp) / "nifti"
        panel.export.export()
        _wait(panel.export)
        _shot(viewer, out_dir / f"panel_export_{tag}.png")
    viewer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the PNG files")
    parser.add_argument("--scale", type=float, default=0.5, help="size of the synthetic study (1 = 512 x 512)")
    args = parser.parse_args()

    from napari_dicomseries.synthetic import write_study

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "study"
        write_study(folder, scale=args.scale)
        panel_shots(folder, "sample", args.out, sample=True)
    if CT_GE.is_dir():
        panel_shots(CT_GE, "ct_ge", args.out, sample=False)
    else:
        print(f"skipped the CT screenshots: {CT_GE} not found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

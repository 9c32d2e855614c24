"""Screenshots of the three dock widgets for the README: ``xvfb-run -a python benchmarks/screenshot_widgets.py``.

Writes the synthetic CT study (``--scale``, default 0.5) to a temporary
folder, then drives each real widget in a shown napari window and saves the
whole window to ``docs/images/{series_browser,tag_compare,image_compare}.png``:

* series browser: the folder scanned (localizers shown), the 1.25 mm LUNG
  and 5 mm STANDARD reconstructions loaded;
* tag comparison: 5 mm STANDARD against 5 mm LUNG, the ConvolutionKernel row
  clicked (its value slice by slice in both volumes);
* image comparison: 1.25 mm LUNG resampled onto the 5 mm STANDARD grid,
  A, B and the difference layer side by side (grid mode), the histogram of
  the differences and the soft-tissue-mask Dice.

The window must be shown: under Xvfb a hidden napari window renders black.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODULE_Z = -140.0  # mm: the slice with the lung nodule


def _wait(widget: Any, timeout: float = 300.0) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while widget.busy:
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > end:
            raise TimeoutError(f"{type(widget).__name__} still busy after {timeout} s")
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)


def _viewer(title: str) -> Any:
    import napari

    viewer = napari.Viewer(show=True, title=title)
    viewer.window.resize(1600, 950)
    return viewer


def _dock(viewer: Any, widget: Any, name: str, width: int = 760) -> None:
    dock = viewer.window.add_dock_widget(widget, name=name, area="right")
    dock.setMinimumWidth(width)


def _shot(viewer: Any, out: Path) -> None:
    from qtpy.QtWidgets import QApplication

    viewer.dims.set_point(0, NODULE_Z)
    viewer.reset_view()
    try:  # close notification toasts (e.g. the PyQt5 deprecation notice) so they do not cover the picture
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
            toast.close()
    except ImportError:
        pass
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    print(f"wrote {out}")


def _load(viewer: Any, folder: Path, numbers: tuple[int, ...]) -> dict[int, Any]:
    import napari
    from napari_dicomseries._reader import read_volumes

    out = {}
    for data, kwargs, kind in read_volumes(folder, lazy=False):
        n = kwargs["metadata"]["dicom"]["volume"]["series_number"]
        if n in numbers:
            out[n] = viewer.add_layer(napari.layers.Layer.create(data, dict(kwargs, visible=True), kind))
    return out


def series_browser(folder: Path, out: Path) -> None:
    from napari_dicomseries._widgets.series_browser import SeriesBrowser

    viewer = _viewer("napari-dicomseries: series browser")
    w = SeriesBrowser(viewer)
    _dock(viewer, w, "Series browser")
    w.folder.value = folder
    w.hide_localizers.value = False
    w.scan()
    _wait(w)
    w.table.select_payloads(lambda v: v.key in ("2", "5"))
    w.load_selected()
    _wait(w)
    viewer.layers.selection.active = next(layer for layer in viewer.layers if "1.25mm LUNG" in layer.name)
    _wait(w)
    _shot(viewer, out)
    viewer.close()


def tag_compare(folder: Path, out: Path) -> None:
    from napari_dicomseries._widgets.tag_compare import TagCompare, TagMode

    viewer = _viewer("napari-dicomseries: tag comparison")
    layers = _load(viewer, folder, (2, 3))
    w = TagCompare(viewer)
    _dock(viewer, w, "Tag comparison")
    w.mode.value = TagMode.between
    w.source_a.value, w.source_b.value = layers[2], layers[3]
    w.compare()
    _wait(w)
    w.table.select_payloads(lambda d: d.info.keyword == "ConvolutionKernel")
    layers[2].visible = False
    _shot(viewer, out)
    viewer.close()


def image_compare(folder: Path, out: Path) -> None:
    from napari_dicomseries._widgets.image_compare import HUPreset, ImageCompare, Interpolation, MaskSource

    viewer = _viewer("napari-dicomseries: image difference and overlap")
    layers = _load(viewer, folder, (2, 5))
    w = ImageCompare(viewer)
    _dock(viewer, w, "Image difference and Dice")
    w.layer_a.value, w.layer_b.value = layers[2], layers[5]
    w.interpolation.value = Interpolation.linear
    w.mask_source.value = MaskSource.hu
    w.preset.value = HUPreset.soft_tissue
    w.compute()
    _wait(w)
    # side by side: A, B and B - A (the reconstructions differ by their noise, the lung nodule and edges agree)
    viewer.grid.enabled = True
    viewer.grid.shape = (1, 3)
    _shot(viewer, out)
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
        series_browser(folder, args.out / "series_browser.png")
        tag_compare(folder, args.out / "tag_compare.png")
        image_compare(folder, args.out / "image_compare.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Screenshot of the sample study open in napari, for the README: ``xvfb-run -a python benchmarks/screenshot_reader.py``.

Opens the plugin's sample data (the synthetic CT study, through the reader),
shows the 1.25 mm STANDARD reconstruction at the level of the lung nodule
(z = -140 mm) and saves the whole window to ``docs/images/reader.png``.
The window must be shown: under Xvfb a hidden napari window renders black.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "reader.png")
    parser.add_argument("--z", type=float, default=-140.0, help="patient z (mm) of the slice shown")
    args = parser.parse_args()

    import napari

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1200, 800)
    viewer.open_sample("napari-dicomseries", "synthetic_ct_study")
    viewer.dims.set_point(0, args.z)
    viewer.reset_view()
    shown = next(layer for layer in viewer.layers if layer.visible)
    viewer.layers.selection.active = shown
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"{args.out}: {shown.name}, z = {args.z} mm, {len(viewer.layers)} layers")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

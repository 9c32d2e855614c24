"""Screenshot of a DICOM SEG over its CT in napari, for the README.

``xvfb-run -a python benchmarks/screenshot_segmentation.py [FOLDER]`` opens the folder (default
``../shared/data/seg_ct_liver``) through the reader, shows the middle slice of the CT with the segmentation
Labels layers on top, and saves the whole window to ``docs/images/segmentation.png``. The window must be shown:
under Xvfb a hidden napari window renders black.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    """Open the folder, arrange the view, save the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT.parent / "shared" / "data" / "seg_ct_liver")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "segmentation.png")
    args = parser.parse_args()

    import napari

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1280, 800)
    layers = viewer.open(str(args.folder), plugin="napari-dicomseries")
    image = next(layer for layer in layers if layer._type_string == "image")
    z_mid = image.data_to_world((image.data.shape[0] // 2, 0, 0))[0]
    viewer.dims.set_point(0, z_mid)
    viewer.reset_view()
    labels = [layer for layer in layers if layer._type_string == "labels"]
    viewer.layers.selection.active = labels[0] if labels else image
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"{args.out}: {image.name} + {', '.join(layer.name for layer in labels)}, z = {z_mid:.2f} mm")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

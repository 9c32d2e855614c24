"""DICOM SEG in a napari viewer: labels layers on their CT (facts in ../shared/data/README.md; the core's reading of
the same files is checked in ``tests/core/test_segmentation.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLUGIN = "napari-dicomseries"


def test_segmentation_opens_as_labels_on_its_ct(make_napari_viewer, shared_data: Path) -> None:
    viewer = make_napari_viewer()
    layers = viewer.open(str(shared_data / "seg_ct_liver"), plugin=PLUGIN)
    labels = [layer for layer in layers if type(layer).__name__ == "Labels"]
    (image,) = [layer for layer in layers if type(layer).__name__ == "Image"]
    assert [layer.name for layer in labels] == [
        "S1 Liver Segmentation",
        *(f"S100 Segmentation {n}" for n in ("GREEN", "ORANGE", "PURPLE", "LIGHT_BLUE", "DARK_BLUE")),
    ]
    liver = labels[0]
    assert int((np.asarray(liver.data) == 1).sum()) == 107098
    for idx in [(0, 0, 0), (2, 511, 511), (1, 100, 300)]:
        np.testing.assert_allclose(liver.data_to_world(idx), image.data_to_world(idx), atol=1e-3)
    assert list(liver.features["label"]) == ["Liver"]
    assert liver.metadata["dicom"]["references"] == [image.metadata["dicom"]["volume"]["series_instance_uid"]]
    color = liver.colormap.map(np.array([1]))[0]
    assert np.allclose(color[:3], [c / 255 for c in liver.metadata["dicom"]["segments"][0]["color"]], atol=0.01)

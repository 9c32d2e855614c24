"""RTSTRUCT in a napari viewer: one Labels layer per ROI over the CT (facts in ../shared/data/README.md; the core's
rasterisation of the same file is checked in ``tests/core/test_rtstruct.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLUGIN = "napari-dicomseries"
#: README: ROI number -> name, voxels
ROIS = {1: ("Volume1", 33371), 2: ("Volume2", 115351), 3: ("Volume3", 115351)}


def test_rtstruct_opens_as_labels_over_its_ct(make_napari_viewer, shared_data: Path) -> None:
    viewer = make_napari_viewer()
    layers = viewer.open(str(shared_data / "rtstruct_phantom"), plugin=PLUGIN)
    (image,) = [layer for layer in layers if type(layer).__name__ == "Image"]
    labels = [layer for layer in layers if type(layer).__name__ == "Labels"]
    # the ROIs overlap: one layer each, named after the ROI, added on top of the CT
    assert len(labels) == 3
    assert list(viewer.layers).index(image) < min(list(viewer.layers).index(layer) for layer in labels)
    ct_uid = image.metadata["dicom"]["volume"]["series_instance_uid"]
    for layer, (number, (roi_name, count)) in zip(labels, ROIS.items(), strict=True):
        assert layer.name.endswith(f" {roi_name}"), layer.name
        data = np.asarray(layer.data)
        assert data.shape == image.data.shape
        assert set(np.unique(data).tolist()) == {0, number} and int((data == number).sum()) == count
        assert list(layer.features["label"]) == [roi_name]
        assert layer.metadata["dicom"]["references"] == [ct_uid]
        assert layer.metadata["dicom"]["files"][0].endswith("RTstruct.dcm")
        for idx in [(0, 0, 0), (99, 199, 199), (49, 99, 30)]:
            np.testing.assert_allclose(layer.data_to_world(idx), image.data_to_world(idx), atol=1e-3)
        colour = layer.colormap.map(np.array([number]))[0]
        roi = next(s for s in layer.metadata["dicom"]["segments"] if s["number"] == number)
        assert np.allclose(colour[:3], [c / 255 for c in roi["color"]], atol=0.01)
    # the sphere (ROI 1, red) sits at the phantom's centre: its centroid in world (z, y, x) is (97, 98, 98) mm
    sphere = np.argwhere(np.asarray(labels[0].data) == 1)
    centre = labels[0].data_to_world(tuple(sphere.mean(axis=0)))  # the transform is affine: the mean maps to the mean
    np.testing.assert_allclose(centre, [97.0, 98.0, 98.0], atol=0.5)


def test_rtstruct_without_its_ct_is_a_warning_not_a_layer(make_napari_viewer, shared_data: Path) -> None:
    import pytest

    from napari_dicomseries._reader import DicomReaderWarning

    viewer = make_napari_viewer()
    # the reader says why; napari then reports that the folder gave no layer
    with pytest.warns(DicomReaderWarning, match="not in the scan"), pytest.raises(ValueError, match="no data"):
        viewer.open(str(shared_data / "rtstruct_phantom" / "rtstruct"), plugin=PLUGIN)
    assert len(viewer.layers) == 0

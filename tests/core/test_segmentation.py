"""DICOM SEG on real data: segments, voxel counts and centroids (facts in ../shared/data/README.md), placement."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_dicomseries import open_folder
from napari_dicomseries.load import load_volume
from napari_dicomseries.segmentation import lab_to_rgb


def _centroid(volume, mask: np.ndarray) -> np.ndarray:
    idx = np.argwhere(mask)
    pts = volume.affine_lps() @ np.c_[idx, np.ones(len(idx))].T
    return pts[:3].mean(axis=1)


def _by_number(volumes):
    return {v.series_number: v for v in volumes}


def test_liver_and_overlapping_segments(shared_data: Path) -> None:
    volumes, _ = open_folder(shared_data / "seg_ct_liver")
    by = _by_number(volumes)
    liver, overlaps, ct = by[1], by[100], by[2]
    assert liver.kind == overlaps.kind == "segmentation" and ct.kind == "image"
    assert [s.label for s in liver.segments] == ["Liver"]
    assert liver.references == [ct.series_instance_uid]
    labels = load_volume(liver)
    assert labels.shape == ct.shape and int((labels == 1).sum()) == 107098
    half_voxel = np.array(liver.spacing)[[2, 1, 0]] / 2
    assert np.all(np.abs(_centroid(liver, labels == 1) - [-74.057, -33.262, -127.699]) <= half_voxel)
    # on the CT's own grid: the same origin and axes
    np.testing.assert_allclose(liver.affine_lps(), ct.affine_lps(), atol=1e-3)
    # five segments that overlap: one mask each, never merged
    masks = load_volume(overlaps)
    assert overlaps.shape == (5, 3, 512, 512) and overlaps.time_values == [1, 2, 3, 4, 5]
    facts = {1: (9602, (-75.119, -45.922, -127.690)), 2: (11888, (-11.712, -22.117, -127.690)),
             3: (10743, (-27.396, -28.094, -126.723)), 4: (6693, (28.573, 60.872, -128.690)),
             5: (4713, (-99.420, 69.823, -128.690))}  # fmt: skip
    for j, (count, centroid) in facts.items():
        m = masks[j - 1] > 0
        assert int(m.sum()) == count
        assert np.all(np.abs(_centroid(overlaps, m) - centroid) <= half_voxel), j
    inter = {(a, b): int(((masks[a - 1] > 0) & (masks[b - 1] > 0)).sum()) for a, b in ((1, 2), (1, 3), (2, 3))}
    assert inter == {(1, 2): 3017, (1, 3): 95, (2, 3): 50}


def test_sparse_binary_and_label_map(shared_data: Path) -> None:
    volumes, _ = open_folder(shared_data / "seg_sparse")
    segs = [v for v in volumes if v.kind == "segmentation"]
    (ct,) = [v for v in volumes if v.kind == "image"]
    image = load_volume(ct)
    binary = next(v for v in segs if v.files[0].path.endswith("label.seg.dcm"))
    labelmap = next(v for v in segs if "labelmap" in v.files[0].path)
    b = load_volume(binary)
    assert int((b == 1).sum()) == 315
    np.testing.assert_array_equal(b == 1, image == 1)  # exactly where the image is 1: same grid, same voxels
    lm = load_volume(labelmap)
    assert lm.shape == ct.shape and int((lm > 0).sum()) == 630
    assert not lm[1].any()  # the middle slice has no frame: empty
    np.testing.assert_allclose(_centroid(labelmap, lm > 0), [55.825, 11.845, -175.25], atol=0.35)
    assert any("sparse" in str(w) for w in labelmap.warnings)


def test_cielab_white_and_red() -> None:
    assert lab_to_rgb([65535, 32896, 32896]) == (255, 255, 255)
    r, g, b = lab_to_rgb([int(53.24 / 100 * 65535), int((80.09 + 128) / 255 * 65535), int((67.20 + 128) / 255 * 65535)])
    assert r >= 250 and g <= 10 and b <= 10  # sRGB red

"""Synthetic SEG edge cases written with highdicom: fractional values, an oblique grid, sparse frames, a hole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.load import load_volume
from napari_dicomseries.synthetic import STUDY_SERIES, write_series

OBLIQUE = (0.866025, 0.5, 0, -0.17101, 0.296198, -0.939693)  # rotated about z by 30 degrees, tilted 20 degrees


def _write_fractional_seg(src: Path, out: Path, frac: np.ndarray, files: list[Path]) -> None:
    hd = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes

    desc = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Sphere",
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=[pydicom.dcmread(p) for p in files],
        pixel_array=frac,
        segmentation_type=hd.seg.SegmentationTypeValues.FRACTIONAL,
        segment_descriptions=[desc],
        series_instance_uid=hd.UID(),
        series_number=99,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        max_fractional_value=255,
    )
    seg.save_as(out)


def test_fractional_sparse_oblique_seg_with_a_hole(tmp_path: Path) -> None:
    src = tmp_path / "study"
    src.mkdir()
    write_series(src, STUDY_SERIES[3], scale=0.125, orientation=OBLIQUE)  # 1.25 mm: many thin oblique slices
    (ct,) = [v for v in open_folder(src)[0] if v.kind == "image"]
    assert ct.orientation == "oblique"
    nz, ny, nx = ct.shape
    # a ball around the volume's centre (patient mm), with a hole in its middle, on slices 30%-70% only
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    idx = np.stack([k, j, i, np.ones_like(k)], axis=-1).reshape(-1, 4).T
    world = (ct.affine_lps() @ idx)[:3].T.reshape(nz, ny, nx, 3)  # patient position of every CT voxel
    centre = world[nz // 2, ny // 2, nx // 2]
    r = np.linalg.norm(world - centre, axis=-1)
    inside = (r <= 60) & (r > 15)
    frac = np.where(inside, 0.8, np.where(r <= 70, 0.3, 0.0)).astype(np.float32)  # the 0.3 rim is below one half
    frac[: int(nz * 0.3)] = 0
    frac[int(nz * 0.7) :] = 0
    # highdicom wants the source images in the order of pixel_array: the volume's slice order
    files = [Path(f.path) for f in ct.frames]
    _write_fractional_seg(src, tmp_path / "seg.dcm", frac, files)
    seg_folder = tmp_path / "with_seg"
    seg_folder.mkdir()
    for p in src.iterdir():
        (seg_folder / p.name).write_bytes(p.read_bytes())
    (seg_folder / "seg.dcm").write_bytes((tmp_path / "seg.dcm").read_bytes())
    volumes, _ = open_folder(seg_folder)
    (seg,) = [v for v in volumes if v.kind == "segmentation"]
    assert [s.label for s in seg.segments] == ["Sphere"]
    labels = load_volume(seg)
    # every labelled voxel lies where the written mask is (fraction > 1/2), and nothing else is labelled:
    # map each labelled SEG voxel through its patient position onto the CT grid
    seg_idx = np.argwhere(labels == 1)
    pos = seg.affine_lps() @ np.c_[seg_idx, np.ones(len(seg_idx))].T
    ct_idx = np.linalg.solve(ct.affine_lps(), pos)[:3].T
    assert np.abs(ct_idx - np.round(ct_idx)).max() < 1e-3  # on the CT's voxel centres
    got = {tuple(int(x) for x in row) for row in np.round(ct_idx)}
    want = {tuple(int(x) for x in row) for row in np.argwhere(frac > 0.5)}
    assert got == want and len(want) > 1000
    # the hole stays empty, the grid is the CT's own (oblique) planes
    assert int((labels == 1).sum()) == int((frac > 0.5).sum())
    np.testing.assert_allclose(seg.direction, ct.direction, atol=1e-4)
    assert seg.orientation == "oblique"

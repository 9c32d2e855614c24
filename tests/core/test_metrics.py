"""Image difference and overlap: hand-computed answers, sphere geometry, the synthetic study.

References are independent of the code under test: arithmetic done by hand,
the analytic volume of a sphere and of the lens where two spheres overlap,
the phantom's noise levels, and the synthetic series read with SimpleITK's
GDCM series reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from napari_dicomseries import open_folder
from napari_dicomseries.cli import main
from napari_dicomseries.errors import GeometryError
from napari_dicomseries.geometry import Geometry
from napari_dicomseries.metrics import (
    HU_PRESETS,
    compare_arrays,
    compare_volumes,
    difference,
    difference_dtype,
    difference_histogram,
    difference_stats,
    overlap,
    range_mask,
    resample_to,
)
from napari_dicomseries.synthetic import STUDY_SERIES

from ..data import tree_digest

# ----------------------------------------------------------------------------- by hand


def test_difference_statistics_by_hand() -> None:
    a = np.arange(8, dtype=np.int16).reshape(2, 2, 2)  # 0..7: data range 7
    b = a.copy()
    b[0, 0, 1] += 4
    b[1, 1, 0] -= 2
    s = difference_stats(a, b)
    assert s.n_voxels == s.n_compared == 8
    assert s.n_differing == 2 and s.fraction_differing == 0.25
    assert s.max_abs_difference == 4
    assert s.mean_difference == pytest.approx((4 - 2) / 8)
    assert s.mae == pytest.approx(6 / 8)
    assert s.mse == pytest.approx((16 + 4) / 8)
    assert s.rmse == pytest.approx(math.sqrt(2.5))
    assert s.psnr_db == pytest.approx(10 * math.log10(49 / 2.5))
    # Pearson r by hand: deviations from the means
    x, y = a.ravel().astype(float), b.ravel().astype(float)
    dx, dy = x - x.mean(), y - y.mean()
    assert s.pearson == pytest.approx((dx * dy).sum() / math.sqrt((dx * dx).sum() * (dy * dy).sum()))
    assert s.data_range == 7
    # a mask restricts the voxels; a tolerance the "differing" count
    m = np.zeros(a.shape, bool)
    m[0] = True
    sm = difference_stats(a, b, m, tolerance=3)
    assert sm.n_compared == 4 and sm.n_differing == 1 and sm.mae == pytest.approx(1.0)
    same = difference_stats(a, a)
    assert same.mse == 0 and same.psnr_db == math.inf and same.pearson == pytest.approx(1.0)


def test_int16_extremes_do_not_overflow() -> None:
    a = np.array([[[-32768, 32767, 0, 100]]], np.int16)
    b = np.array([[[32767, -32768, 0, 90]]], np.int16)
    d = difference(a, b)
    assert d.dtype == np.int32
    assert d.tolist() == [[[65535, -65535, 0, -10]]]
    assert (b - a).tolist() != d.tolist()  # what naive int16 arithmetic would give
    s = difference_stats(a, b)
    assert s.max_abs_difference == 65535
    assert s.mean_difference == pytest.approx(-10 / 4)
    assert s.mse == pytest.approx((2 * 65535**2 + 100) / 4)
    assert s.data_range == 65535
    assert difference_dtype(np.uint8, np.uint8) == np.int16
    assert difference_dtype(np.int16, np.uint16) == np.int32
    assert difference_dtype(np.int32, np.int32) == np.int64
    assert difference_dtype(np.int64, np.uint64) == np.float64
    assert difference_dtype(np.float32, np.int16) == np.float32
    assert difference_dtype(np.float64, np.float32) == np.float64


def test_overlap_by_hand() -> None:
    grid = Geometry.from_parts((1, 1, 20), (3.0, 2.5, 2.0))  # voxels of 3 x 2.5 x 2 = 15 mm3
    a = np.zeros((1, 1, 20), bool)
    b = a.copy()
    a[..., 0:10] = True
    b[..., 5:15] = True
    o = overlap(a, b, grid)
    assert (o.voxels_a, o.voxels_b, o.voxels_both) == (10, 10, 5)
    assert o.dice == pytest.approx(0.5)
    assert o.jaccard == pytest.approx(5 / 15)
    assert o.volume_similarity == pytest.approx(0.0)
    assert o.false_negative_error == pytest.approx(0.5) and o.false_positive_error == pytest.approx(0.5)
    assert o.hausdorff_mm == pytest.approx(5 * 2.0)  # voxel 0 of A is 5 columns of 2 mm from B
    assert o.volume_a_ml == pytest.approx(10 * 15 / 1000)
    b[:] = False
    b[..., 0:4] = True  # B inside A
    o = overlap(a, b, grid)
    assert o.dice == pytest.approx(2 * 4 / 14)
    assert o.false_negative_error == pytest.approx(6 / 10) and o.false_positive_error == 0
    assert o.volume_similarity == pytest.approx(2 * (4 - 10) / 14)
    assert o.hausdorff_mm == pytest.approx(6 * 2.0)
    empty = overlap(a, np.zeros_like(a), grid)
    assert empty.dice == 0 and math.isnan(empty.hausdorff_mm)


def test_range_mask_and_presets() -> None:
    hu = np.array([-1100, -1000, -401, -400, -100, 0, 200, 201, 299, 300, 3000])
    # noisy air below -1000 HU is still air
    assert range_mask(hu, *HU_PRESETS["air/lung"]).tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert range_mask(hu, *HU_PRESETS["soft tissue"]).tolist() == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert range_mask(hu, *HU_PRESETS["bone"]).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError):
        range_mask(hu, 10, 0)


def test_histogram_is_symmetric_and_counts_every_voxel() -> None:
    d = np.array([-3, -1, 0, 0, 0, 1, 2, 3], np.int32)
    counts, edges = difference_histogram(d, bins=7)
    assert counts.sum() == d.size
    assert edges[0] == -3 and edges[-1] == 3
    assert counts[3] == 3  # the centre bin holds the zeros
    counts, _ = difference_histogram(d, d != 0, bins=7)
    assert counts.sum() == 5 and counts[3] == 0


# ----------------------------------------------------------------------------- spheres on two grids


def _sphere(grid: Geometry, centre: tuple[float, float, float], radius: float) -> np.ndarray:
    """int16 image: 1000 inside the sphere (voxel centres), -1000 outside."""
    k, j, i = np.meshgrid(*(np.arange(n, dtype=float) for n in grid.shape), indexing="ij")
    idx = np.stack([k, j, i, np.ones_like(k)]).reshape(4, -1)
    xyz = (grid.affine @ idx)[:3].reshape(3, *grid.shape)
    r2 = sum((xyz[n] - centre[n]) ** 2 for n in range(3))
    return np.where(r2 <= radius**2, 1000, -1000).astype(np.int16)


def _lens_dice(radius: float, shift: float) -> float:
    """Dice of two spheres of one radius whose centres are ``shift`` apart: lens volume / sphere volume."""
    lens = math.pi * (4 * radius + shift) * (2 * radius - shift) ** 2 / 12
    return lens / (4 / 3 * math.pi * radius**3)


R = 30.0
CENTRE = (12.0, -20.0, 15.0)
# grid A: 0.7 x 0.7 mm pixels, 5 mm slices, axial
GRID_A = Geometry.from_parts((27, 144, 144), (5.0, 0.7, 0.7), origin=(12 - 50.05, -20 - 50.05, 15 - 65.0))
# grid B: 1 mm isotropic, rotated 30 degrees about z and tilted 10 degrees, so directions matter
_c, _s = math.cos(math.radians(30)), math.sin(math.radians(30))
_rz = np.array([[_c, -_s, 0], [_s, _c, 0], [0, 0, 1]])
_ct, _st = math.cos(math.radians(10)), math.sin(math.radians(10))
_rx = np.array([[1, 0, 0], [0, _ct, -_st], [0, _st, _ct]])
_DIR_B = _rz @ _rx  # columns: row cosine, column cosine, normal
_ORIGIN_B = np.array(CENTRE) - _DIR_B @ np.array([50.0, 50.0, 50.0])
GRID_B = Geometry.from_parts((101, 101, 101), (1.0, 1.0, 1.0), origin=tuple(_ORIGIN_B), direction=tuple(_DIR_B.reshape(-1)))


def test_sphere_on_two_grids_dice_and_shift() -> None:
    a = _sphere(GRID_A, CENTRE, R)
    b = _sphere(GRID_B, CENTRE, R)
    sphere_ml = 4 / 3 * math.pi * R**3 / 1000
    res = compare_arrays(a, GRID_A, b, GRID_B, interpolation="linear", hu_range=(0, math.inf))
    assert res.resampled and res.covered[a > 0].all() and not res.covered.all()  # B's rotated cube holds the sphere
    assert res.overlap.volume_a_ml == pytest.approx(sphere_ml, rel=0.03)
    assert res.overlap.volume_b_ml == pytest.approx(sphere_ml, rel=0.03)
    assert res.overlap.dice >= 0.95
    assert res.overlap.hausdorff_mm <= 5.0  # at most one 5 mm slice apart
    # the same sphere moved 10 mm along y in B: Dice falls to the lens ratio
    shift = 10.0
    moved = (CENTRE[0], CENTRE[1] + shift, CENTRE[2])
    b2 = _sphere(GRID_B, moved, R)
    res2 = compare_arrays(a, GRID_A, b2, GRID_B, interpolation="nearest", hu_range=(0, math.inf))
    expected = _lens_dice(R, shift)
    assert expected == pytest.approx(130 * 50**2 / (16 * 30**3))  # (4R + d)(2R - d)^2 / 16R^3
    assert res2.overlap.dice == pytest.approx(expected, abs=0.02)
    assert res.overlap.dice - res2.overlap.dice == pytest.approx(1 - expected, abs=0.03)
    assert res2.overlap.hausdorff_mm == pytest.approx(shift, abs=1.5)
    # nearest keeps the type; the difference is int32 on A's grid
    assert res2.second.dtype == np.int16 and res2.difference.dtype == np.int32 and res2.difference.shape == GRID_A.shape


def test_resample_identity_and_coverage() -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(-1000, 1000, GRID_A.shape, dtype=np.int16)
    same, cov = resample_to(arr, GRID_A, GRID_A, interpolation="linear")
    assert cov.all() and np.allclose(same, arr, atol=1e-3)
    # a grid shifted by half the extent along x: half of it is covered
    shifted = Geometry(GRID_A.shape, GRID_A.affine + np.array([[0, 0, 0, 144 * 0.7 / 2]] + [[0, 0, 0, 0]] * 3))
    _, cov = resample_to(arr, shifted, GRID_A)
    assert cov[:, :, :72].sum() == 0 and cov[:, :, 72:].all()
    far = Geometry(GRID_A.shape, GRID_A.affine + np.array([[0, 0, 0, 1000.0]] + [[0, 0, 0, 0]] * 3))
    with pytest.raises(GeometryError, match="do not overlap"):
        compare_arrays(arr, GRID_A, arr, far)


def test_resample_keeps_a_gantry_tilt_shear() -> None:
    """A sheared grid (each slice 0.5 mm further posterior) resamples with its exact voxel positions, by hand."""
    sheared = Geometry.from_parts((6, 8, 8), (2.0, 1.0, 1.0), slice_step=(0.0, 0.5, 2.0))
    assert sheared.tilt_degrees == pytest.approx(math.degrees(math.atan(0.5 / 2.0)))
    arr = np.zeros(sheared.shape, np.int16)
    arr[4, 3, 2] = 100  # at x = 2 * 1, y = 3 * 1 + 4 * 0.5, z = 4 * 2 mm
    target = Geometry.from_parts((6, 12, 12), (2.0, 1.0, 1.0))  # axis-aligned, same slice planes
    out, cov = resample_to(arr, sheared, target, interpolation="nearest")
    assert out.dtype == np.int16 and np.argwhere(out == 100).tolist() == [[4, 5, 2]]
    assert cov[0, 1, 0] and cov[5, 3, 0] and not cov[5, 1, 0]  # the rows of slice 5 start at y = 2.5


def test_frame_of_reference_check() -> None:
    a = np.zeros((2, 3, 4), np.int16)
    g = Geometry.from_parts(a.shape, (1, 1, 1))
    with pytest.raises(GeometryError, match="different FrameOfReferenceUIDs"):
        compare_arrays(a, g, a, g, frame_of_reference=("1.2.3", "1.2.4"))
    with pytest.raises(GeometryError, match="no FrameOfReferenceUID"):
        compare_arrays(a, g, a, g, frame_of_reference=("1.2.3", ""))
    res = compare_arrays(a, g, a, g, frame_of_reference=("1.2.3", "1.2.4"), allow_different_frame=True)
    assert any("different FrameOfReferenceUIDs" in m for m in res.messages)
    assert not compare_arrays(a, g, a, g, frame_of_reference=("1.2.3", "1.2.3")).messages


def test_label_images_on_two_grids() -> None:
    la = (_sphere(GRID_A, CENTRE, R) > 0).astype(np.uint8) * 3
    lb = (_sphere(GRID_B, CENTRE, R) > 0).astype(np.uint16)
    img = np.zeros(GRID_A.shape, np.int16)
    res = compare_arrays(img, GRID_A, img, GRID_A, labels=(la, lb), label_grids=(GRID_A, GRID_B))
    assert res.mask_description.startswith("label")
    assert res.overlap.dice >= 0.95
    assert res.stats.max_abs_difference == 0


def test_world_zyx_grid_matches_volume(synthetic_study: Path) -> None:
    """A grid built from a napari-style (z, y, x) world affine equals the volume's LPS grid."""
    vols = [v for v in open_folder(synthetic_study)[0] if v.kind == "image"]
    for v in vols[:2]:
        scale, aff = v.geometry.layer_transform()
        g = Geometry.from_world_zyx(v.shape, aff @ np.diag([*scale, 1.0]))
        assert np.allclose(g.affine, v.affine_lps(), atol=1e-9)
        assert g.same_as(v.geometry)


# ----------------------------------------------------------------------------- the synthetic study


def _gdcm(files: list[str]) -> np.ndarray:
    """A series read by SimpleITK's GDCM series reader, sorted by GDCM, as a (z, y, x) float64 array."""
    folder = str(Path(files[0]).parent)
    uid = sitk.ReadImage(files[0]).GetMetaData("0020|000e").strip()
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid)
    img = sitk.ReadImage(names)
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    if img.GetDirection()[8] < 0 or img.GetOrigin()[2] > img.TransformIndexToPhysicalPoint((0, 0, img.GetSize()[2] - 1))[2]:
        arr = arr[::-1]
    return arr


@pytest.fixture(scope="module")
def study(synthetic_study: Path) -> dict[int, object]:
    return {v.series_number: v for v in open_folder(synthetic_study)[0]}


def test_standard_vs_lung_same_grid(study) -> None:
    std, lung = study[2], study[3]
    res = compare_volumes(std, lung, hu_range=HU_PRESETS["soft tissue"])
    assert not res.resampled and res.covered.all()
    ref_a, ref_b = _gdcm(std.paths), _gdcm(lung.paths)
    d = ref_b - ref_a
    assert np.array_equal(res.difference, d) and res.difference.dtype == np.int32
    assert res.stats.max_abs_difference == np.abs(d).max()
    assert res.stats.mae == pytest.approx(np.abs(d).mean(), rel=1e-12)
    assert res.stats.rmse == pytest.approx(np.sqrt((d * d).mean()), rel=1e-12)
    assert res.stats.pearson == pytest.approx(np.corrcoef(ref_a.ravel(), ref_b.ravel())[0, 1], rel=1e-9)
    # the reconstructions differ by their noise only: RMSE ~ sqrt(sd_standard^2 + sd_lung^2)
    sd = math.hypot(STUDY_SERIES[0].noise, STUDY_SERIES[1].noise)
    assert res.stats.rmse == pytest.approx(sd, rel=0.05)
    assert abs(res.stats.mean_difference) < 3 * sd / math.sqrt(d.size)
    ma, mb = (ref_a >= -100) & (ref_a <= 200), (ref_b >= -100) & (ref_b <= 200)
    assert res.overlap.dice == pytest.approx(2 * (ma & mb).sum() / (ma.sum() + mb.sum()), rel=1e-9)


def test_thick_vs_thin_resampled(study) -> None:
    thick, thin = study[2], study[4]  # 5 mm and 1.25 mm STANDARD of one acquisition
    res = compare_volumes(thick, thin, interpolation="linear")
    assert res.resampled and res.covered.all()
    assert any("resampled" in m for m in res.messages)
    ref_thin = _gdcm(thin.paths)
    step = round(thick.spacing[0] / thin.spacing[0])
    assert step == 4
    # every 5 mm slice lies exactly on a 1.25 mm slice: resampling returns it
    assert np.allclose(res.second, ref_thin[::step], atol=1e-3)
    sd = math.hypot(STUDY_SERIES[0].noise, STUDY_SERIES[2].noise)
    assert res.stats.rmse == pytest.approx(sd, rel=0.05)
    # thin onto thick's grid and back: the other way round covers the same space
    back = compare_volumes(thin, thick, interpolation="nearest")
    assert back.resampled and back.second.dtype == np.int16 and back.difference.shape == thin.shape


def test_cli_compare(synthetic_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_digest(synthetic_study)
    assert main(["compare", str(synthetic_study), "2", "3", "--hu-range", "-100", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["resampled"] is False and out["difference_dtype"] == "int32"
    assert out["hu_range"] == [-100, 200] and 0.9 < out["overlap"]["dice"] <= 1
    assert sum(out["histogram"]["counts"]) == out["stats"]["n_compared"]
    assert main(["compare", str(synthetic_study), "4", "2", "--preset", "bone"]) == 0
    text = capsys.readouterr().out
    assert "resampled onto the first" in text and "Dice" in text
    assert main(["compare", str(synthetic_study), "2", "1"]) == 2  # the scout is one coronal slice
    assert main(["compare", str(synthetic_study), "2", "7"]) == 2
    assert "available" in capsys.readouterr().err
    assert tree_digest(synthetic_study) == before

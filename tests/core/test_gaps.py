"""Gaps core module: find missing slices / irregular spacing, split there, resample to uniform spacing (headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.gaps import find_gaps, resample_uniform, slice_distances, split_at_gaps
from napari_dicomseries.load import load_volume
from napari_dicomseries.synthetic import STUDY_SERIES, write_series
from napari_dicomseries.warning import WarningCode

SPEC = STUDY_SERIES[0]  # 5 mm STANDARD: at scale 0.125 nine 40 mm slices, z = -320 ... 0


def _write(tmp_path: Path) -> list[Path]:
    out = tmp_path / "series"
    out.mkdir()
    return write_series(out, SPEC, scale=0.125)


def _z(path: Path) -> float:
    return float(pydicom.dcmread(path, stop_before_pixels=True).ImagePositionPatient[2])


def _one_volume(folder: Path):
    vols = [v for v in open_folder(folder, gaps="keep")[0] if v.is_image]
    assert len(vols) == 1
    return vols[0]


def test_regular_volume_has_no_gaps(tmp_path: Path) -> None:
    _write(tmp_path)
    v = _one_volume(tmp_path / "series")
    assert find_gaps(v) == []
    assert split_at_gaps(v) == [v]
    arr = load_volume(v)
    out, geo = resample_uniform(v, arr)
    assert out is arr
    assert geo.shape == tuple(v.shape) and np.array_equal(geo.affine, v.geometry.affine)  # the volume's own grid


def test_missing_slices_split_and_resample(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    by_z = sorted(paths, key=_z)  # z = -320, -280, ..., 0
    zs = [_z(p) for p in by_z]
    # remove the slices at z = -200 and -160: a gap of 3 steps between -240 and -120
    for p in by_z[3:5]:
        p.unlink()
    v = _one_volume(tmp_path / "series")
    assert v.n_slices == 7
    assert any(w.message.startswith("missing 2 slices") for w in v.warnings)
    assert [w.code for w in v.warnings] == [WarningCode.MISSING_SLICES, WarningCode.GAPS_KEPT]  # opened with gaps=keep
    gaps = find_gaps(v)
    assert len(gaps) == 1
    assert gaps[0].index == 2 and gaps[0].missing == 2
    assert gaps[0].step == pytest.approx(120.0) and gaps[0].usual == pytest.approx(40.0)
    np.testing.assert_allclose(slice_distances(v), [zs[i] for i in (0, 1, 2, 5, 6, 7, 8)])

    parts = split_at_gaps(v)
    assert [p.n_slices for p in parts] == [3, 4]
    assert [p.key for p in parts] == [f"{v.key}.part1", f"{v.key}.part2"]
    for p in parts:
        assert not any(w.message.startswith("missing") for w in p.warnings)
        # the gap stays on record in each part, under its own code: no gap policy acts on it again
        assert [w.code for w in p.warnings] == [WarningCode.SPLIT_AT_GAP, WarningCode.GAPS_KEPT]
        assert p.warnings[0].message == f"cut at a gap (gaps=split): {v.warnings[0].message}"
        assert p.spacing[0] == pytest.approx(40.0)
        assert "gaps" in p.split_reason
        # every slice of a part lies where its file says (independent pydicom read)
        for k, f in enumerate(p.frames):
            ipp = [float(x) for x in pydicom.dcmread(f.path, stop_before_pixels=True).ImagePositionPatient]
            np.testing.assert_allclose(p.world_position((k, 0, 0)), ipp, atol=1e-6)
    assert parts[1].origin[2] == pytest.approx(-120.0)
    # parts load like any volume, and hold the original slices
    full = load_volume(v)
    np.testing.assert_array_equal(np.concatenate([load_volume(p) for p in parts]), full)

    out, geo = resample_uniform(v, full)
    assert out.dtype == full.dtype
    assert out.shape == (9, 64, 64) and geo.shape == out.shape
    assert geo.spacing[0] == pytest.approx(40.0)
    np.testing.assert_allclose(geo.origin, v.origin)
    np.testing.assert_allclose(geo.slice_step, (0, 0, 40.0), atol=1e-9)
    # kept slices are untouched; a filled slice is the linear mix of its neighbours
    np.testing.assert_array_equal(out[[0, 1, 2, 5, 6, 7, 8]], full)
    a, b = full[2].astype(np.float64), full[3].astype(np.float64)
    np.testing.assert_array_equal(out[3], np.rint(a * 2 / 3 + b / 3).astype(np.int16))
    # the affine puts slice 5 back at z = -120, where its file says
    assert (geo.affine_lps() @ [5, 0, 0, 1])[2] == pytest.approx(zs[5])


def test_irregular_spacing_split_and_resample(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    by_z = sorted(paths, key=_z)
    # move the slice at z = -200 up by 10 mm: steps 50 and 30 instead of 40
    ds = pydicom.dcmread(by_z[3])
    ipp = [float(x) for x in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [ipp[0], ipp[1], ipp[2] + 10.0]
    ds.save_as(by_z[3])
    v = _one_volume(tmp_path / "series")
    gaps = find_gaps(v)
    assert [(g.index, g.missing) for g in gaps] == [(2, None), (3, None)]
    assert [g.step for g in gaps] == pytest.approx([50.0, 30.0])
    parts = split_at_gaps(v)
    assert [p.n_slices for p in parts] == [3, 1, 5]
    assert parts[1].origin[2] == pytest.approx(-190.0)
    full = load_volume(v)
    out, geo = resample_uniform(v, full)
    assert out.shape == (9, 64, 64)
    # the target at z = -200 lies between the slices at -240 and -190: weights 0.2 / 0.8
    mix = np.rint(full[2].astype(np.float64) * 0.2 + full[3].astype(np.float64) * 0.8)
    np.testing.assert_allclose(out[3], mix, atol=1)


def test_split_4d_cuts_every_time_point(shared_data: Path) -> None:
    v = _one_volume(shared_data / "enhanced_siemens_xa10")
    assert v.ndim == 4
    assert find_gaps(v) == []  # a real regular series: nothing to cut
    assert split_at_gaps(v) == [v]


def test_resample_rejects_wrong_shape(tmp_path: Path) -> None:
    _write(tmp_path)
    v = _one_volume(tmp_path / "series")
    with pytest.raises(ValueError, match="does not match"):
        resample_uniform(v, np.zeros((2, 2, 2)))


# ----------------------------------------------------------------------------- one policy for every path


def _header_positions(paths: list[str]) -> list[list[float]]:
    return [[float(x) for x in pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient] for p in paths]


@pytest.mark.parametrize("case", ["001", "002"])
def test_default_policy_puts_every_slice_where_its_header_says(shared_data: Path, case: str) -> None:
    """missing_slice: the default (split) places every voxel at its header position, tilt included."""
    folder = shared_data / "missing_slice" / case
    volumes = [v for v in open_folder(folder)[0] if v.is_image]
    assert len(volumes) == 2 and all(v.gap_policy == "split" for v in volumes)
    assert [v.n_slices for v in volumes] == [3, 1]
    for v in volumes:
        ipp = _header_positions([f.path for f in v.frames])
        for k, pos in enumerate(ipp):
            np.testing.assert_allclose(v.world_position((k, 0, 0)), pos, atol=1e-3)
        # spacing is the step's length along the slice normal (they agree even with tilt)
        assert float(np.dot(v.slice_step, v.normal)) == pytest.approx(v.spacing[0], abs=1e-6)
    if case == "002":
        assert volumes[0].gantry_tilt == pytest.approx(15.5, abs=0.05)
        np.testing.assert_allclose(volumes[1].slice_step, volumes[0].slice_step, atol=1e-6)


def test_keep_says_how_far_slices_are_misplaced(shared_data: Path) -> None:
    (v,) = [v for v in open_folder(shared_data / "missing_slice" / "001", gaps="keep")[0] if v.is_image]
    assert v.gap_policy == "keep" and v.n_slices == 4
    ipp = _header_positions([f.path for f in v.frames])
    off = abs(v.world_position((3, 0, 0))[2] - ipp[3][2])
    assert off == pytest.approx(5.0, abs=0.01)
    assert any("gaps=keep" in w.message and "5.00 mm" in w.message for w in v.warnings)
    assert [w.code for w in v.warnings] == [WarningCode.MISSING_SLICES, WarningCode.GAPS_KEPT]


def test_export_follows_the_policy(shared_data: Path, tmp_path: Path) -> None:
    import nibabel as nib

    from napari_dicomseries.export import export_folder

    folder = shared_data / "missing_slice" / "001"
    split = export_folder(folder, tmp_path / "split")
    written = [r for r in split if r.nifti]
    assert len(written) == 2
    for r in written:
        img = nib.load(r.nifti)
        files = sorted(
            (p for p in folder.iterdir()),
            key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]),
        )
        zs = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in files]
        got = sorted(float((img.affine @ [0, 0, k, 1])[2]) for k in range(img.shape[2]))
        assert all(min(abs(z - g) for z in zs) < 1e-3 for g in got)
    resampled = [r for r in export_folder(folder, tmp_path / "resample", gaps="resample") if r.nifti]
    assert len(resampled) == 1
    img = nib.load(resampled[0].nifti)
    assert img.shape[2] == 5 and float(img.header.get_zooms()[2]) == pytest.approx(5.0, abs=1e-3)
    assert any("resampled" in w for w in resampled[0].warnings)

"""The one geometry value: positions, ITK, napari and NIfTI conversions against independent readers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from napari_dicomseries import open_folder
from napari_dicomseries.errors import GeometryError
from napari_dicomseries.geometry import Geometry


def _geometry(v) -> Geometry:
    return Geometry.from_parts(v.shape, v.spacing, v.origin, v.direction, v.slice_step)


def test_every_slice_where_its_header_says(shared_data: Path) -> None:
    for name in ("ct_ge_lightspeed_lung", "sagittal_4slice/001", "missing_slice/002", "enhanced_siemens_xa10"):
        for v in open_folder(shared_data / name)[0]:
            g = _geometry(v)
            for k, frame in enumerate(v.frame_grid()[0]):
                np.testing.assert_allclose(g.world_position((k, 0, 0)), frame.position, atol=1e-3, err_msg=name)
            assert g.spacing == pytest.approx(v.spacing, abs=1e-6)
            assert g.direction == pytest.approx(v.direction, abs=1e-6)


def test_itk_geometry_equals_gdcm_series_reader(shared_data: Path) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    (v,) = open_folder(folder)[0]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    spacing, origin, direction, exact = _geometry(v).itk()
    assert exact
    assert spacing == pytest.approx(img.GetSpacing(), abs=1e-4)
    assert origin == pytest.approx(img.GetOrigin(), abs=1e-4)
    assert direction == pytest.approx(img.GetDirection(), abs=1e-6)
    made = _geometry(v).to_sitk(np.zeros(v.shape, np.int16))
    assert made.GetSize() == img.GetSize() and made.GetOrigin() == pytest.approx(img.GetOrigin(), abs=1e-4)


def test_tilt_keeps_the_shear_where_it_can(shared_data: Path) -> None:
    v = open_folder(shared_data / "missing_slice" / "002")[0][0]
    g = _geometry(v)
    assert g.tilt_degrees == pytest.approx(15.5, abs=0.05)
    spacing, _, direction, exact = g.itk()
    assert not exact
    n = np.asarray(direction).reshape(3, 3)[:, 2]
    assert spacing[2] == pytest.approx(abs(np.dot(v.slice_step, n)), abs=1e-6)
    # the sform (NIfTI affine) keeps the exact sheared positions: slice k of file k
    ras = g.nifti_affine()
    for k, frame in enumerate(v.frames):
        lps = np.array([-1, -1, 1]) * (ras @ [0, 0, k, 1])[:3]
        np.testing.assert_allclose(lps, frame.position, atol=1e-3)


def test_napari_transform_and_axis_order(shared_data: Path) -> None:
    (v, *_) = open_folder(shared_data / "sagittal_4slice" / "001")[0]
    g = _geometry(v)
    axes = g.axis_order()
    assert axes == (1, 2, 0)  # sagittal: rows run along z, columns along y, slices along x
    scale, affine = g.layer_transform(axes)
    ds = pydicom.dcmread(v.frames[2].path, stop_before_pixels=True)
    index = np.array([2, 10, 20])  # DICOM (k, j, i)
    layer_index = index[list(axes)]
    world_zyx = (affine @ np.r_[scale * layer_index, 1])[:3]
    row, col = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
    ps = [float(x) for x in ds.PixelSpacing]
    lps = np.array(ds.ImagePositionPatient, float) + 20 * ps[1] * row + 10 * ps[0] * col
    np.testing.assert_allclose(world_zyx[::-1], lps, atol=1e-3)
    assert Geometry.from_world_zyx(g.shape, g.affine[[2, 1, 0, 3], :]).same_as(g)


def test_four_d_and_bad_affines() -> None:
    g = Geometry.from_parts((3, 4, 5, 6), (2.0, 1.0, 1.0))
    scale, affine = g.layer_transform()
    assert scale.tolist() == [1.0, 2.0, 1.0, 1.0] and affine.shape == (5, 5)
    img = g.to_sitk(np.zeros((3, 4, 5, 6), np.uint8), time_spacing=2.5)
    assert img.GetSize() == (6, 5, 4, 3) and img.GetSpacing()[3] == 2.5
    with pytest.raises(GeometryError):
        Geometry((2, 2, 2), np.full((4, 4), math.nan))
    with pytest.raises(GeometryError):
        Geometry.from_parts((2, 2, 2), (0.0, 1.0, 1.0), slice_step=(0, 0, 0)).itk()
    assert g.affine.flags.writeable is False

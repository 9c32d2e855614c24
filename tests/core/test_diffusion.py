"""Diffusion series: acquisition order, trace images put aside, gradient table, .bval/.bvec equal to dcm2niix's."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from napari_dicomseries import diffusion, open_folder
from napari_dicomseries.export import export_volume

from ..oracle import run_dcm2niix


def _dcm2niix(src: Path, out: Path) -> Path:
    """Run dcm2niix and return its one image with a .bvec beside it."""
    run_dcm2niix(src, out)
    (bvec,) = out.glob("*.bvec")
    return bvec.with_suffix(".nii.gz")


def _check_against_dcm2niix(volume, tmp_path: Path, src: Path) -> None:
    ref = _dcm2niix(src, tmp_path / "dcm2niix")
    res = export_volume(volume, tmp_path / "ours" / "dwi.nii.gz")
    assert res.bval and res.bvec
    ours_bval = Path(res.bval).read_text()
    assert ours_bval == ref.with_name(ref.name.replace(".nii.gz", ".bval")).read_text()  # exact
    ours_bvec = np.loadtxt(res.bvec)
    ref_bvec = np.loadtxt(ref.with_name(ref.name.replace(".nii.gz", ".bvec")))
    assert ours_bvec.shape == ref_bvec.shape == (3, volume.shape[0])
    np.testing.assert_allclose(ours_bvec, ref_bvec, atol=1e-4, rtol=0)
    # the image is written in dcm2niix's voxel order, so the vectors refer to the same voxel axes
    a, b = nib.load(res.nifti), nib.load(ref)  # type: ignore[arg-type]
    assert a.shape == b.shape
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-3, rtol=0)
    ref_data = b.get_fdata()
    np.testing.assert_allclose(a.get_fdata(), ref_data, atol=1e-3 * float(np.abs(ref_data).max()), rtol=0)


@pytest.mark.slow
def test_philips_dti_trace_aside_acquisition_order_and_bvecs(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "philips_dti"
    volumes, _ = open_folder(src)
    assert len(volumes) == 2
    dwi, trace = volumes
    assert dwi.shape == (16, 40, 80, 80) and dwi.time_tag == "DiffusionBValue"
    assert trace.shape == (40, 80, 80) and "ISOTROPIC" in (trace.split_reason or "")
    # the trace image: a b-value without a gradient direction, read independently with pydicom
    ds = pydicom.dcmread(trace.frames[0].path, stop_before_pixels=True)
    assert float(ds.DiffusionBValue) > 0 and not np.any(np.asarray(ds.DiffusionGradientOrientation, float))
    # acquisition order: at every slice position InstanceNumber rises along the diffusion axis
    grid = dwi.frame_grid()
    for z in range(dwi.n_slices):
        numbers = [grid[t][z].instance_number for t in range(len(grid))]
        assert numbers == sorted(numbers)
    table = dwi.summary()["gradients"]
    assert len(table) == 16 and table[0] == {"b_value": 0.0, "direction_lps": None}
    assert all(g["b_value"] == 2000.0 and abs(np.linalg.norm(g["direction_lps"]) - 1) < 1e-4 for g in table[1:])
    assert trace.summary()["gradients"] == [{"b_value": 2000.0, "direction_lps": None}]  # isotropic: no direction
    _check_against_dcm2niix(dwi, tmp_path, src)


@pytest.mark.slow
def test_siemens_xa30_dwi_gradients_match_dcm2niix(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "siemens_xa30_dwi"
    (dwi,) = open_folder(src)[0]
    assert dwi.shape == (21, 39, 72, 72)
    table = diffusion.gradient_table(dwi)
    assert table is not None and len(table) == 21 and table[0].b_value == 0 and table[0].direction is None
    # directions as stored in each file's MRDiffusionSequence, in the order of the files' TemporalPositionIndex
    for t, frames in enumerate(dwi.frame_grid()):
        item = pydicom.dcmread(frames[0].path, stop_before_pixels=True).PerFrameFunctionalGroupsSequence[frames[0].index]
        diff = item.MRDiffusionSequence[0]
        assert table[t].b_value == float(diff.DiffusionBValue)
        if table[t].direction is not None:
            g = np.asarray(diff.DiffusionGradientDirectionSequence[0].DiffusionGradientOrientation, float)
            np.testing.assert_allclose(table[t].direction, g / np.linalg.norm(g), atol=1e-9)
    _check_against_dcm2niix(dwi, tmp_path, src)


def test_bvecs_follow_voxel_axes_and_fsl_sign_convention() -> None:
    g = [diffusion.Gradient(0.0, None), diffusion.Gradient(1000.0, (0.6, 0.8, 0.0)), diffusion.Gradient(1000.0, (0.0, 0.0, 1.0))]
    # dcm2niix's layout of an axial image: i along +x (L), j along -y (A), k along +z (S): RAS determinant < 0
    radiological = np.array([[0, 0, 2.0, 0], [0, -2.0, 0, 0], [3.0, 0, 0, 0], [0, 0, 0, 1]])
    bvals, bvecs = diffusion.bvals_bvecs(g, radiological)
    assert bvals == [0.0, 1000.0, 1000.0]
    np.testing.assert_allclose(bvecs, [[0, 0.6, 0], [0, -0.8, 0], [0, 0, 1]], atol=1e-12)
    # rows not reversed (j along +y): RAS determinant > 0, so FSL's convention negates x
    neurological = np.array([[0, 0, 2.0, 0], [0, 2.0, 0, 0], [3.0, 0, 0, 0], [0, 0, 0, 1]])
    _, bvecs = diffusion.bvals_bvecs(g, neurological)
    np.testing.assert_allclose(bvecs, [[0, -0.6, 0], [0, 0.8, 0], [0, 0, 1]], atol=1e-12)
    assert diffusion.format_bvec(bvecs).splitlines()[0] == "0 -0.6 0"
    assert diffusion.format_bval(bvals) == "0 1000 1000\n"

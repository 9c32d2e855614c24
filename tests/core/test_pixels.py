"""Pixel values and mosaic geometry on real Siemens and CR files, against pydicom, GDCM and the headers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.load import load_volume, read_stored
from napari_dicomseries.scan import read_header
from napari_dicomseries.siemens import parse_csa


def _csa(ds: pydicom.Dataset) -> dict[str, list[str]]:
    return parse_csa(ds.get_private_item(0x0029, 0x10, "SIEMENS CSA HEADER").value)


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [("12bitUnsigned.dcm", 0, 2908), ("12bitUnsigned_0x0F0F.dcm", 0, 4095), ("12bitSigned_0x0F0F.dcm", -2048, 2047)],
)
def test_junk_high_bits_are_masked_or_sign_extended(shared_data: Path, name: str, lo: int, hi: int) -> None:
    path = shared_data / "siemens_mosaic_12bit" / name
    f = read_header(path)
    tiles = np.stack([read_stored(f, k) for k in range(f.mosaic.n)])  # type: ignore[union-attr]
    assert (int(tiles.min()), int(tiles.max())) == (lo, hi)
    # independent: pydicom's decoder on the whole mosaic, masked to BitsStored by hand
    ds = pydicom.dcmread(path)
    raw = np.frombuffer(ds.PixelData, dtype="<u2").reshape(ds.Rows, ds.Columns).astype(np.int64) & 0xFFF
    if ds.PixelRepresentation == 1:
        raw = np.where(raw >= 2048, raw - 4096, raw)
    assert int(raw.min()) == lo and int(raw.max()) == hi


def test_mosaic_untiled_with_corrected_position(shared_data: Path) -> None:
    """9 encodings of one mosaic: nine identical (35, 64, 64) volumes, the first slice where the header math puts it."""
    folder = shared_data / "transfer_syntaxes"
    volumes, _ = open_folder(folder)
    assert len(volumes) == 9
    arrays = [load_volume(v) for v in volumes]
    for v, a in zip(volumes, arrays, strict=True):
        assert v.shape == (35, 64, 64) and a.shape == (35, 64, 64)
        assert np.array_equal(a, arrays[0]), v.key
    assert int(arrays[0].astype(np.int64).sum()) == 38036663  # the README's raw sum holds after un-tiling
    ds = pydicom.dcmread(folder / "1.dcm")
    csa = _csa(ds)
    n = int(csa["NumberOfImagesInMosaic"][0])
    assert n == 35
    per_side = math.ceil(math.sqrt(n))
    mosaic = ds.pixel_array
    tile_r, tile_c = ds.Rows // per_side, ds.Columns // per_side
    # tile k of pydicom's decoded mosaic is slice k along the CSA normal
    normal = np.array([float(x) for x in csa["SliceNormalVector"]])
    row, col = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
    ps = [float(x) for x in ds.PixelSpacing]
    first = (
        np.array(ds.ImagePositionPatient, float) + row * ps[1] * (ds.Columns - tile_c) / 2 + col * ps[0] * (ds.Rows - tile_r) / 2
    )
    v = volumes[0]
    order = np.argsort([np.dot(np.cross(row, col), first + k * normal) for k in range(n)])
    for z, k in enumerate(order):
        r, c = divmod(int(k), per_side)
        assert np.array_equal(arrays[0][z], mosaic[r * tile_r : (r + 1) * tile_r, c * tile_c : (c + 1) * tile_c])
    assert np.allclose(v.world_position((int(np.argmin(order)), 0, 0)), first, atol=1e-3)
    assert np.allclose(v.normal, np.cross(row, col), atol=1e-6)
    assert v.spacing[1:] == pytest.approx((ps[0], ps[1]))


def test_monochrome1_same_stored_values_whatever_the_decoder(shared_data: Path) -> None:
    folder = shared_data / "cr_monochrome1"
    volumes, _ = open_folder(folder)
    assert len(volumes) == 2
    arrays = {Path(v.files[0].path).name: load_volume(v) for v in volumes}
    a, b = arrays["RG3_uncompressed"], arrays["RG3_jpeg2000_lossless"]
    assert np.array_equal(a, b)
    assert round(float(a.mean()), 1) == 332.7 and int(a.min()) == 0 and int(a.max()) == 1023
    assert all(v.files[0].photometric_interpretation == "MONOCHROME1" for v in volumes)
    # pydicom keeps stored values too
    assert np.array_equal(a[0], pydicom.dcmread(folder / "RG3_uncompressed").pixel_array)


# ----------------------------------------------------------------------------- colour and vendor-private pixels

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_rle.dcm",
        "SC_rgb_rle_2frame.dcm",
        "examples_rgb_color.dcm",
        "ExplVR_BigEnd.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
    ],
)
def test_colour_loads_as_rgb_equal_to_pydicom(name: str, tmp_path: Path) -> None:
    path = PYDICOM_FILES / name
    if not path.exists():
        pytest.skip(f"{name} is not shipped with this pydicom")
    volumes, result = open_folder(path)
    assert not result.skipped, result.skipped
    (v,) = volumes
    assert v.samples_per_pixel == 3 and v.loadable
    arr = load_volume(v)
    ref = pydicom.dcmread(path).pixel_array  # pydicom converts YBR to RGB
    ref = ref if ref.ndim == 4 else ref[None]
    assert arr.shape == (*v.shape, 3) == ref.shape and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, ref)


def test_palette_colour_is_looked_up(tmp_path: Path) -> None:
    from pydicom.pixels import apply_color_lut

    path = PYDICOM_FILES / "examples_palette.dcm"
    if not path.exists():
        pytest.skip("examples_palette.dcm is not shipped with this pydicom")
    (v,) = open_folder(path)[0]
    arr = load_volume(v)
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(arr[0], apply_color_lut(ds.pixel_array, ds))


def test_colour_export_is_rgb24_like_dcm2niix(tmp_path: Path) -> None:
    import shutil
    import subprocess

    import nibabel as nib

    from napari_dicomseries.export import export_folder

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(PYDICOM_FILES / "SC_rgb_rle_2frame.dcm", src / "rgb.dcm")
    (res,) = [r for r in export_folder(src, tmp_path / "ours") if r.nifti]
    d2n = tmp_path / "d2n"
    d2n.mkdir()
    subprocess.run(["dcm2niix", "-p", "n", "-z", "y", "-f", "ref", "-o", str(d2n), str(src)], check=True, capture_output=True)
    ours, theirs = nib.load(res.nifti), nib.load(d2n / "ref.nii.gz")
    assert int(ours.header["datatype"]) == int(theirs.header["datatype"]) == 128  # RGB24
    a, b = np.asarray(ours.dataobj), np.asarray(theirs.dataobj)
    assert a.shape == b.shape == (100, 100, 2)
    # dcm2niix stores rows bottom-up; the voxels are the same
    np.testing.assert_array_equal(a[:, ::-1], b)


@pytest.mark.parametrize("fast", [True, False])
def test_vendor_private_pixel_compression_is_named(tmp_path: Path, fast: bool) -> None:
    """An ELSCINT1 PMSCT_RLE1 file: said to be vendor-compressed, not truncated."""
    src = PYDICOM_FILES / "CT_small.dcm"
    ds = pydicom.dcmread(src)
    block = ds.private_block(0x07A1, "ELSCINT1", create=True)
    block.add_new(0x11, "CS", "PMSCT_RLE1")
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]  # the private scheme is shorter than raw pixels
    out = tmp_path / "elscint.dcm"
    if fast:
        ds.save_as(out, enforce_file_format=True)
    else:  # big endian goes through pydicom instead of the fast parser
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
        pydicom.dcmwrite(out, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    _, result = open_folder(tmp_path)
    (skip,) = result.skipped
    assert "ELSCINT1 PMSCT_RLE1" in skip.reason and "truncated" not in skip.reason

"""napari reader: layers through npe2 / ViewerModel (no Qt), checked against pydicom, the phantom and dcm2niix."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import dask.array as da
import nibabel as nib
import npe2
import numpy as np
import pydicom
import pytest
from napari.components import ViewerModel

from napari_dicomseries import _reader, display, load
from napari_dicomseries._reader import DicomReaderWarning, get_reader, read_volumes, volume_layer_data
from napari_dicomseries.synthetic import STUDY_SERIES, SeriesSpec, phantom_hu, write_series

PLUGIN = "napari-dicomseries"
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "NAPARI_DICOMSERIES_LOCALIZERS",
        "NAPARI_DICOMSERIES_GAPS",
        "NAPARI_DICOMSERIES_LAZY",
        "NAPARI_DICOMSERIES_PRIVATE_TAGS",
    ):
        monkeypatch.delenv(name, raising=False)


def npe2_read(path: Path | list[Path]) -> list[tuple]:
    """npe2.read as napari calls it: a list of files comes with stack=True (napari's ``open(files, stack=True)``)."""
    paths = [str(p) for p in path] if isinstance(path, list) else [str(path)]
    return npe2.read(paths, stack=isinstance(path, list), plugin_name=PLUGIN)


def open_in_model(path: Path) -> tuple[ViewerModel, list]:
    viewer = ViewerModel()
    layers = viewer.open(str(path), plugin=PLUGIN)
    return viewer, layers


# ----------------------------------------------------------------------------- independent references


def dcm(path: str) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def pydicom_hu(path: str, frame: int | None = None) -> np.ndarray:
    ds = dcm(path)
    arr = ds.pixel_array
    if frame is not None:
        arr = arr[frame - 1]
    return arr.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))


def pydicom_geometry(path: str, frame: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IPP, row cosine, column cosine, (row spacing, column spacing), read with pydicom (classic or enhanced)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    if frame is None:
        ipp, iop, ps = ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing
    else:
        pf = ds.PerFrameFunctionalGroupsSequence[frame - 1]
        sh = ds.SharedFunctionalGroupsSequence[0]

        def grp(name: str):
            return (pf.get(name) or sh.get(name))[0]

        ipp = grp("PlanePositionSequence").ImagePositionPatient
        iop = grp("PlaneOrientationSequence").ImageOrientationPatient
        ps = grp("PixelMeasuresSequence").PixelSpacing
    iop = np.array([float(x) for x in iop])
    return np.array([float(x) for x in ipp]), iop[:3], iop[3:], np.array([float(x) for x in ps])


def expected_world_zyx(path: str, frame: int | None, j: int, i: int) -> np.ndarray:
    """World (z, y, x) of pixel (row j, column i) of one image: IPP + j*dr*colcos + i*dc*rowcos, reordered."""
    ipp, row, col, ps = pydicom_geometry(path, frame)
    p = ipp + j * ps[0] * col + i * ps[1] * row
    return p[::-1]


def layer_by_name(layers, name: str):
    matches = [layer for layer in layers if layer.name == name]
    assert len(matches) == 1, [layer.name for layer in layers]
    return matches[0]


def check_slices_against_files(layer, n_points: int = 6, seed: int = 0) -> None:
    """Corner voxels and random voxels: value equals pydicom's HU; world position equals the file's geometry.

    Indices (k, j, i) are DICOM's (slice, row, column); the layer holds the array in the axis order
    ``metadata["dicom"]["axes"]`` (non-axial volumes are transposed to the closest world axes).
    """
    data = np.asarray(layer.data) if not isinstance(layer.data, da.Array) else layer.data
    meta = layer.metadata["dicom"]
    rows = meta["slices"]
    axes = meta["axes"]
    shape = tuple(meta["volume"]["shape"])
    assert layer.data.shape == (*shape[:-3], *(shape[-3:][a] for a in axes))
    nz, ny, nx = shape[-3:]
    lead = shape[:-3]
    rng = np.random.default_rng(seed)
    points = [(k, j, i) for k in {0, nz - 1} for j in {0, ny - 1} for i in {0, nx - 1}]
    points += [tuple(int(rng.integers(0, n)) for n in (nz, ny, nx)) for _ in range(n_points)]
    times = range(lead[0]) if lead else [None]
    for t in times:
        for k, j, i in points:
            flat = (t or 0) * nz + k
            row = rows[flat]
            frame = row.get("frame")
            kji = (k, j, i)
            layer_kji = tuple(kji[a] for a in axes)
            idx = layer_kji if t is None else (t, *layer_kji)
            # values
            assert float(np.asarray(data[idx])) == pydicom_hu(row["file"], frame)[j, i], (layer.name, idx)
            # positions
            world = np.asarray(layer.data_to_world(idx))[-3:]
            np.testing.assert_allclose(
                world, expected_world_zyx(row["file"], frame, j, i), atol=1e-3, err_msg=f"{layer.name} {idx}"
            )


# ----------------------------------------------------------------------------- get_reader


def test_get_reader_takes_dicom_only(tmp_path: Path, synthetic_study: Path, shared_data: Path) -> None:
    assert get_reader(str(synthetic_study)) is _reader.read_dicom
    one = sorted(synthetic_study.iterdir())[0]
    assert get_reader(str(one)) is _reader.read_dicom
    assert get_reader([str(p) for p in sorted(synthetic_study.iterdir())[:3]]) is _reader.read_dicom
    for name in ("ct_ge_lightspeed_lung", "enhanced_siemens_xa10", "transfer_syntaxes"):
        assert get_reader(str(shared_data / name)) is not None
    # folders and files without DICOM go to other readers
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    (junk / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    (junk / "empty").write_bytes(b"")
    (junk / "sub").mkdir()
    (junk / "sub" / "data.csv").write_text("a,b\n1,2\n")
    assert get_reader(str(junk)) is None
    assert get_reader(str(junk / "notes.txt")) is None
    assert get_reader([str(junk / "notes.txt"), str(junk / "image.png")]) is None
    assert get_reader(str(tmp_path / "does-not-exist")) is None
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert get_reader(str(empty)) is None
    assert get_reader([]) is None
    assert get_reader(12345) is None  # never raises, whatever it is given
    # npe2 finds the reader from the manifest
    readers = [r.plugin_name for r in npe2.PluginManager.instance().iter_compatible_readers([str(synthetic_study)])]
    assert PLUGIN in readers


# ----------------------------------------------------------------------------- the synthetic study


def test_synthetic_study_layers(synthetic_study: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DicomReaderWarning)  # a clean study gives no warning
        layers = npe2_read(synthetic_study)
    names = [kw["name"] for _, kw, _ in layers]
    # scout left out; the one visible layer (the thinnest axial one) last, so napari selects it
    assert names == ["S2 5mm STANDARD", "S3 5mm LUNG", "S5 1.25mm LUNG", "S4 1.25mm STANDARD"]
    assert all(t == "image" for _, _, t in layers)
    assert [kw["visible"] for _, kw, _ in layers] == [False, False, False, True]
    for data, kw, _ in layers:
        assert isinstance(data, np.ndarray) and data.dtype == np.int16  # HU in int16, small: eager
        spec = next(s for s in STUDY_SERIES if s.description == kw["name"][3:])
        c, w = spec.window
        assert kw["contrast_limits"] == (c - w / 2, c + w / 2)
        assert kw["colormap"] == "gray"
        assert tuple(kw["units"]) == ("mm", "mm", "mm")
        assert tuple(kw["axis_labels"]) == ("z", "y", "x")
        meta = kw["metadata"]["dicom"]
        assert meta["volume"]["series_description"] == spec.description
        assert meta["volume"]["shape"] == list(data.shape)
        assert len(meta["files"]) == data.shape[0] == len(meta["slices"])
        assert meta["lazy"] is False
        # the per-slice table is in slice order: positions rise along z, as pydicom reads them from each file
        zs = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in meta["files"]]
        assert zs == sorted(zs)
        assert [row["ImagePositionPatient"][2] for row in meta["slices"]] == pytest.approx(zs)
        assert {row["SeriesNumber"] for row in meta["slices"]} == {spec.number}
        assert all(row["file"] == f for row, f in zip(meta["slices"], meta["files"], strict=True))
        assert not any(key.startswith("(") for row in meta["slices"] for key in row)  # no private tags asked
        assert "PixelData" not in meta["slices"][0]


def test_synthetic_values_and_world_positions(synthetic_study: Path) -> None:
    viewer, layers = open_in_model(synthetic_study)
    assert len(viewer.layers) == 4
    assert tuple(viewer.dims.axis_labels) == ("z", "y", "x")
    for layer in layers:
        check_slices_against_files(layer)


def test_synthetic_anatomy_lies_where_the_phantom_has_it(synthetic_study: Path) -> None:
    """Every voxel of the middle slice holds the phantom's HU at the voxel's world position (up to noise).

    The phantom is asymmetric in every axis (nodule in the left lung only, vertebra posterior, sternum
    anterior, lungs tapering to the apex), so a flipped or shifted axis fails.
    """
    _, layers = open_in_model(synthetic_study)
    for layer in layers:
        data = np.asarray(layer.data)
        spec = next(s for s in STUDY_SERIES if layer.name == f"S{s.number} {s.description}")
        for k in (data.shape[0] // 2, data.shape[0] // 3):
            jj, ii = np.indices(data.shape[1:]).reshape(2, -1)
            idx = np.stack([np.full_like(jj, k), jj, ii], axis=1)
            zyx = np.array([layer.data_to_world(p) for p in idx])
            truth = phantom_hu(zyx[:, 2], zyx[:, 1], zyx[:, 0]).reshape(data.shape[1:])
            diff = np.abs(data[k] - truth)
            assert diff.max() <= 6 * spec.noise, (layer.name, k, diff.max())
        # where a slice passes through the nodule (x = 80, y = -10, z = -140, r = 12), it shows
        k, j, i = np.rint(layer.world_to_data((-140, -10, 80))).astype(int)
        if abs(layer.data_to_world((k, j, i))[0] + 140) < 1:
            assert abs(data[k, j, i] - 30) <= 6 * spec.noise
            k2, j2, i2 = np.rint(layer.world_to_data((-140, -10, -80))).astype(int)
            assert abs(data[k2, j2, i2] + 850) <= 6 * spec.noise  # the mirror point is lung


def test_localizers_on_request(synthetic_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAPARI_DICOMSERIES_LOCALIZERS", "1")
    layers = npe2_read(synthetic_study)
    assert len(layers) == 5
    data, kw, _ = layers[0]
    assert kw["name"] == "S1 Scout" and kw["visible"] is False
    # a coronal scout: array axes reordered to the closest world axes (z, y, x) so napari can draw it
    assert kw["metadata"]["dicom"]["axes"] == [1, 0, 2]
    assert data.shape == (118, 1, 122)
    assert kw["metadata"]["dicom"]["volume"]["kind"] == "localizer"
    assert [kw["visible"] for _, kw, _ in layers].count(True) == 1
    assert len(read_volumes(synthetic_study, include_localizers=True)) == 5


def test_list_of_files_and_single_file(synthetic_study: Path) -> None:
    layers = read_volumes(synthetic_study)
    s4 = next(kw for _, kw, _ in layers if kw["name"].startswith("S4"))
    files = s4["metadata"]["dicom"]["files"]
    got = npe2_read([Path(p) for p in files[:5]])
    assert len(got) == 1 and got[0][0].shape == (5, 64, 64)
    one = npe2_read(Path(files[7]))
    assert len(one) == 1 and one[0][0].shape == (1, 64, 64)
    np.testing.assert_array_equal(one[0][0][0], pydicom_hu(files[7]))


def test_private_tags_only_when_asked(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    assert any(e.tag.is_private for e in pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True))
    rows = npe2_read(folder)[0][1]["metadata"]["dicom"]["slices"]
    assert not any(key.startswith("(") for key in rows[0])
    monkeypatch.setenv("NAPARI_DICOMSERIES_PRIVATE_TAGS", "1")
    rows = npe2_read(folder)[0][1]["metadata"]["dicom"]["slices"]
    private = [key for key in rows[0] if key.startswith("(")]
    assert private and all(int(key[1:5], 16) % 2 == 1 for key in private)


# ----------------------------------------------------------------------------- real data


def test_ge_ct(shared_data: Path) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    viewer, layers = open_in_model(folder)
    assert len(layers) == 1
    layer = layers[0]
    assert layer.name == "S3 lung"
    assert layer.data.shape == (40, 512, 512) and layer.data.dtype == np.int16
    assert layer.visible
    assert tuple(layer.contrast_limits) == (-700 - 750, -700 + 750)
    np.testing.assert_allclose(layer.scale, (2.5, 0.898438, 0.898438))
    check_slices_against_files(layer, n_points=20)
    # README facts: z runs -161.5 ... -64.0; the file InstanceNumber 31 is the top slice
    assert layer.data_to_world((0, 0, 0))[0] == pytest.approx(-161.5)
    assert layer.data_to_world((39, 0, 0))[0] == pytest.approx(-64.0)
    top = layer.metadata["dicom"]["slices"][39]
    assert top["InstanceNumber"] == 31
    assert str(layer.units[0]) == "millimeter"


def test_transfer_syntaxes_decode_identically(shared_data: Path) -> None:
    layers = npe2_read(shared_data / "transfer_syntaxes")
    assert len(layers) == 9
    arrays = [d for d, _, _ in layers]
    syntaxes = {kw["metadata"]["dicom"]["volume"]["transfer_syntax_uid"] for _, kw, _ in layers}
    assert len(syntaxes) == 7  # two pairs share a syntax (JPEG lossless, JPEG-LS): 9 files, 7 syntaxes
    for a in arrays:
        assert a.shape == (35, 64, 64) and a.dtype == np.uint16  # the mosaic's 6 x 6 tiles, un-tiled
        assert int(a.sum(dtype=np.int64)) == 38036663
        np.testing.assert_array_equal(a, arrays[0])
    # the explicit little endian file, read by pydicom alone, holds the same voxels (as tiles of its mosaic)
    _, kw, _ = layers[0]
    mosaic = np.asarray(pydicom_hu(kw["metadata"]["dicom"]["files"][0]), dtype=np.int64)
    tiles = {mosaic[r : r + 64, c : c + 64].tobytes() for r in range(0, 384, 64) for c in range(0, 384, 64)}
    assert all(np.asarray(arrays[0][k], dtype=np.int64).tobytes() in tiles for k in range(35))


def test_enhanced_multiframe_is_one_4d_layer(shared_data: Path) -> None:
    viewer, layers = open_in_model(shared_data / "enhanced_siemens_xa10")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.data.shape == (4, 6, 64, 64)
    assert tuple(layer.axis_labels) == ("TemporalPositionIndex", "z", "y", "x")
    assert tuple(viewer.dims.axis_labels) == ("TemporalPositionIndex", "z", "y", "x")
    assert viewer.dims.nsteps[0] == 4  # its own slider
    rows = layer.metadata["dicom"]["slices"]
    assert len(rows) == 24
    # time-major: the TemporalPositionIndex read by pydicom from each frame rises with t
    for t in range(4):
        for k in range(6):
            row = rows[t * 6 + k]
            ds = pydicom.dcmread(row["file"], stop_before_pixels=True)
            tpi = ds.PerFrameFunctionalGroupsSequence[row["frame"] - 1].FrameContentSequence[0].TemporalPositionIndex
            assert tpi == t + 1
    check_slices_against_files(layer, n_points=4)


# ----------------------------------------------------------------------------- dcm2niix, the reference converter


def dcm2niix(src: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("dcm2niix")
    if exe is None:
        pytest.skip("dcm2niix not installed")
    subprocess.run([exe, "-z", "n", "-f", "%s_%d", "-o", str(out), str(src)], check=True, capture_output=True, timeout=300)
    return sorted(out.glob("*.nii"))


def index_to_lps(data_shape: tuple[int, ...], kw: dict) -> np.ndarray:
    """4 x 4 matrix: our spatial index (k, j, i, 1) -> LPS (x, y, z, 1), from the layer's scale and affine."""
    from napari.layers import Image

    layer = Image(np.zeros((1,) * len(data_shape), np.uint8), scale=kw["scale"], affine=kw["affine"])
    n = len(data_shape)
    origin = np.asarray(layer.data_to_world([0] * n))[-3:]
    m = np.eye(4)
    for c in range(3):
        e = [0] * n
        e[n - 3 + c] = 1
        m[:3, c] = (np.asarray(layer.data_to_world(e))[-3:] - origin)[::-1]
    m[:3, 3] = origin[::-1]
    return m


def match_nifti(nii: Path, data: np.ndarray, kw: dict) -> bool:
    """True if the NIfTI holds the layer's voxels with its 8 corners at the same patient positions (0.01 mm)."""
    img = nib.load(nii)
    vol = np.asanyarray(img.dataobj)
    spatial = data.shape[-3:]
    if int(np.prod(vol.shape[:3])) != int(np.prod(spatial)) or vol.size != data.size:
        return False
    ours = index_to_lps(data.shape, kw)
    theirs = LPS_FROM_RAS @ img.affine.astype(np.float64)
    t = np.linalg.inv(theirs) @ ours  # our index -> their index
    if not np.allclose(t[:3, :3], np.rint(t[:3, :3]), atol=1e-3) or not np.allclose(t[:3, 3], np.rint(t[:3, 3]), atol=1e-3):
        return False
    nz, ny, nx = spatial
    corners = [(k, j, i) for k in (0, nz - 1) for j in (0, ny - 1) for i in (0, nx - 1)]
    for c in corners:
        idx = np.rint(t @ [*c, 1])[:3].astype(int)
        if np.any(idx < 0) or np.any(idx >= np.array(vol.shape[:3])):
            return False
        if np.abs((theirs @ [*idx, 1])[:3] - (ours @ [*c, 1])[:3]).max() > 0.01:
            return False
    grid = np.indices(spatial).reshape(3, -1)
    nidx = np.rint(t[:3, :3] @ grid + t[:3, 3:4]).astype(int)
    lead = data.reshape((-1, *spatial))
    for n in range(lead.shape[0]):
        theirs_vals = (vol[..., n] if vol.ndim == 4 else vol)[nidx[0], nidx[1], nidx[2]].reshape(spatial)
        if not np.array_equal(theirs_vals, lead[n].astype(theirs_vals.dtype)):
            return False
    return True


def compare_with_dcm2niix(src: Path, out: Path, layers: list[tuple]) -> int:
    niftis = dcm2niix(src, out)
    assert niftis, "dcm2niix wrote nothing"
    for nii in niftis:
        number = int(nii.name.split("_")[0])
        cands = [(d, kw) for d, kw, _ in layers if kw["metadata"]["dicom"]["volume"]["series_number"] == number]
        assert any(match_nifti(nii, np.asarray(d), kw) for d, kw in cands), f"no layer matches {nii.name}"
    return len(niftis)


@pytest.mark.parametrize(("name", "n"), [("ct_ge_lightspeed_lung", 1), ("enhanced_siemens_xa10", 1), ("transfer_syntaxes", 9)])
def test_real_data_matches_dcm2niix(shared_data: Path, tmp_path: Path, name: str, n: int) -> None:
    layers = npe2_read(shared_data / name)
    assert compare_with_dcm2niix(shared_data / name, tmp_path / "nii", layers) == n


def test_synthetic_study_matches_dcm2niix(synthetic_study: Path, tmp_path: Path) -> None:
    layers = read_volumes(synthetic_study, include_localizers=True)
    assert compare_with_dcm2niix(synthetic_study, tmp_path / "nii", layers) == 5


SAGITTAL = (0, 1, 0, 0, 0, -1)
OBLIQUE = (0.866025, 0.5, 0, -0.17101, 0.296198, -0.939693)  # rotated about z by 30 degrees, tilted 20 degrees


def test_sagittal_and_oblique_match_dcm2niix(tmp_path: Path) -> None:
    src = tmp_path / "dicom"
    src.mkdir()
    spec_sag = SeriesSpec(7, "SAG MPR", "STANDARD", 5.0, (40.0, 400.0), 6.0, "102000")
    spec_obl = SeriesSpec(8, "OBLIQUE MPR", "STANDARD", 5.0, (40.0, 400.0), 6.0, "102100")
    write_series(src, spec_sag, scale=0.125, orientation=SAGITTAL)
    write_series(src, spec_obl, scale=0.125, orientation=OBLIQUE)
    # a second orientation under the same series number: the series splits into two volumes
    spec_split = SeriesSpec(8, "OBLIQUE MPR", "STANDARD", 5.0, (40.0, 400.0), 6.0, "102100")
    write_series(src, spec_split, scale=0.125, orientation=SAGITTAL, names=[f"split{n:03d}.dcm" for n in range(9)])
    layers = read_volumes(src)
    names = [kw["name"] for _, kw, _ in layers]
    assert len(names) == len(set(names)) == 3
    assert "S7 SAG MPR" in names
    orientations = sorted(kw["metadata"]["dicom"]["volume"]["orientation"] for _, kw, _ in layers)
    assert orientations == ["oblique", "sagittal", "sagittal"]
    # no axial volume: the first one (lowest series number) is shown, and comes last
    assert [kw["visible"] for _, kw, _ in layers] == [False, False, True]
    assert layers[-1][1]["name"] == "S7 SAG MPR"
    assert compare_with_dcm2niix(src, tmp_path / "nii", layers) == 3
    # and every voxel sits where its file says (independent pydicom read), through napari's transforms
    viewer = ViewerModel()
    for data, kw, _ in layers:
        check_slices_against_files(viewer.add_image(data, **kw), n_points=6)


def test_gantry_tilt_keeps_the_shear(tmp_path: Path) -> None:
    """Slices shifted in y as z changes (tilted gantry): voxel positions follow each file's IPP."""
    src = tmp_path / "tilt"
    src.mkdir()
    paths = write_series(src, SeriesSpec(9, "TILT", "STANDARD", 5.0, (40.0, 400.0), 6.0, "103000"), scale=0.125)
    for p in paths:
        ds = pydicom.dcmread(p)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + 0.2 * (z + 160.0), z]  # 11.3 degrees
        ds.save_as(p)
    with pytest.warns(DicomReaderWarning, match="gantry tilt"):
        ((data, kw, _),) = read_volumes(src)
    layer = ViewerModel().add_image(data, **kw)
    check_slices_against_files(layer)


# ----------------------------------------------------------------------------- messy folders


def test_junk_files_are_ignored(synthetic_study: Path, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(synthetic_study, folder)
    (folder / "README.txt").write_text("export from PACS")
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "random.bin").write_bytes(os.urandom(4096))
    (folder / "Thumbs.db").write_bytes(b"\0" * 1024)
    (folder / "sub").mkdir()
    (folder / "sub" / "report.pdf").write_bytes(b"%PDF-1.4 nothing")
    assert get_reader(str(folder)) is not None
    layers = npe2_read(folder)
    assert sorted(kw["name"] for _, kw, _ in layers) == ["S2 5mm STANDARD", "S3 5mm LUNG", "S4 1.25mm STANDARD", "S5 1.25mm LUNG"]


@pytest.mark.parametrize("lazy", ["0", "1"])
def test_truncated_file_gives_a_warning_not_a_traceback(
    synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lazy: str
) -> None:
    monkeypatch.setenv("NAPARI_DICOMSERIES_LAZY", lazy)
    folder = tmp_path / "broken"
    shutil.copytree(synthetic_study, folder)
    s4 = next(kw for _, kw, _ in read_volumes(folder) if kw["name"].startswith("S4"))
    victim = Path(s4["metadata"]["dicom"]["files"][10])
    victim.write_bytes(victim.read_bytes()[:-3000])  # truncated pixel data
    viewer = ViewerModel()
    with pytest.warns(DicomReaderWarning) as record:
        layers = viewer.open(str(folder), plugin=PLUGIN)
    messages = [str(w.message) for w in record if issubclass(w.category, DicomReaderWarning)]
    assert any(str(victim) in m and m.startswith("S4 ") for m in messages), messages
    # every volume still opens; the unreadable slice is left out, so S4 has a gap and is split there (default policy)
    assert len(layers) == 5
    s4_layers = [layer for layer in layers if layer.name.startswith("S4 1.25mm STANDARD")]
    assert len(s4_layers) == 2
    assert sum(layer.data.shape[0] for layer in s4_layers) == 32 and all(layer.data.shape[1:] == (64, 64) for layer in s4_layers)
    for s4_layer in s4_layers:
        assert any(str(victim) in w and "truncated" in w for w in s4_layer.metadata["dicom"]["warnings"])
        assert any("missing 1 slice" in w for w in s4_layer.metadata["dicom"]["warnings"])
        assert str(victim) not in s4_layer.metadata["dicom"]["files"]


@pytest.mark.parametrize("lazy", ["0", "1"])
def test_undecodable_slice_is_blank_with_a_warning(synthetic_study: Path, monkeypatch: pytest.MonkeyPatch, lazy: str) -> None:
    """A frame the decoder rejects (header fine, pixel stream corrupt) becomes a blank slice and a warning naming the file."""
    from napari_dicomseries.errors import DecodeError

    s4 = next(kw for _, kw, _ in read_volumes(synthetic_study) if kw["name"].startswith("S4"))
    victim = s4["metadata"]["dicom"]["files"][16]  # the middle slice: the one napari shows first
    real = load.read_frame

    def failing(volume, frame, dtype=None):
        if frame.path == victim:
            raise DecodeError(f"{victim}: cannot decode pixel data (corrupt JPEG stream)")
        return real(volume, frame, dtype)

    real_into = load.read_frame_into

    def failing_into(volume, frame, out):
        if frame.path == victim:
            raise DecodeError(f"{victim}: cannot decode pixel data (corrupt JPEG stream)")
        return real_into(volume, frame, out)

    monkeypatch.setattr(load, "read_frame", failing)
    monkeypatch.setattr(load, "read_frame_into", failing_into)
    monkeypatch.setenv("NAPARI_DICOMSERIES_LAZY", lazy)
    viewer = ViewerModel()
    with pytest.warns(DicomReaderWarning) as record:
        layers = viewer.open(str(synthetic_study), plugin=PLUGIN)
    assert len(layers) == 4
    messages = [str(w.message) for w in record if issubclass(w.category, DicomReaderWarning)]
    assert any(victim in m and m.startswith("S4 ") for m in messages), messages
    layer = layer_by_name(layers, "S4 1.25mm STANDARD")
    data = np.asarray(layer.data)
    assert np.all(data[16] == -1024)  # blank: stored 0 after rescale, air
    np.testing.assert_array_equal(data[15], pydicom_hu(layer.metadata["dicom"]["slices"][15]["file"]))


def test_missing_slices_keep_split_resample(synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "gappy"
    shutil.copytree(synthetic_study, folder)
    s2 = next(kw for _, kw, _ in read_volumes(folder) if kw["name"].startswith("S2"))
    files = s2["metadata"]["dicom"]["files"]  # slice order, z = -320 ... 0 in 40 mm steps
    for p in files[3:5]:
        Path(p).unlink()
    monkeypatch.setenv("NAPARI_DICOMSERIES_GAPS", "keep")
    with pytest.warns(DicomReaderWarning, match="S2 5mm STANDARD: missing 2 slices"):
        kept = [t for t in npe2_read(folder) if t[1]["name"].startswith("S2")]
    assert len(kept) == 1 and kept[0][0].shape == (7, 64, 64)

    monkeypatch.setenv("NAPARI_DICOMSERIES_GAPS", "split")
    parts = [t for t in npe2_read(folder) if t[1]["name"].startswith("S2")]
    assert [d.shape[0] for d, _, _ in parts] == [3, 4]
    assert [kw["name"] for _, kw, _ in parts] == ["S2 5mm STANDARD [2.part1]", "S2 5mm STANDARD [2.part2]"]
    viewer = ViewerModel()
    for d, kw, _ in parts:
        check_slices_against_files(viewer.add_image(d, **kw), n_points=2)

    monkeypatch.setenv("NAPARI_DICOMSERIES_GAPS", "resample")
    ((d, kw, _),) = [t for t in npe2_read(folder) if t[1]["name"].startswith("S2")]
    assert d.shape == (9, 64, 64) and d.dtype == np.int16
    layer = ViewerModel().add_image(d, **kw)
    for k, z in ((0, -320.0), (2, -240.0), (5, -120.0), (8, 0.0)):
        assert layer.data_to_world((k, 0, 0))[0] == pytest.approx(z)
    assert kw["metadata"]["dicom"]["resampled"]["shape"] == [9, 64, 64]
    # slices that exist are unchanged
    for k, f in ((0, files[0]), (5, files[5]), (8, files[8])):
        np.testing.assert_array_equal(d[k], pydicom_hu(f))


# ----------------------------------------------------------------------------- lazy loading


@pytest.fixture(scope="module")
def long_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One axial series of 321 slices of 32 x 32 (1 mm apart)."""
    out = tmp_path_factory.mktemp("long")
    write_series(out, SeriesSpec(11, "THIN 0.06mm", "STANDARD", 0.0625, (40.0, 400.0), 6.0, "104000"), scale=0.0625)
    return out


def test_lazy_volume_reads_only_the_shown_slice(long_series: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []  # frames decoded, by either entry point of load
    real, real_into = load.read_frame, load.read_frame_into

    def counting(volume, frame, dtype=None):
        calls.append(frame.instance_number)
        return real(volume, frame, dtype)

    def counting_into(volume, frame, out):
        calls.append(frame.instance_number)
        real_into(volume, frame, out)

    monkeypatch.setattr(load, "read_frame", counting)
    monkeypatch.setattr(load, "read_frame_into", counting_into)
    monkeypatch.setenv("NAPARI_DICOMSERIES_LAZY", "1")
    viewer = ViewerModel()
    (layer,) = viewer.open(str(long_series), plugin=PLUGIN)
    assert isinstance(layer.data, da.Array)
    assert layer.data.shape == (321, 32, 32)
    assert layer.metadata["dicom"]["lazy"] is True
    assert 1 <= len(calls) <= 3, len(calls)  # the slice on screen, not the 321
    # moving the slider reads the new slice, and it holds the right values
    calls.clear()
    viewer.dims.set_point(0, float(layer.data_to_world((5, 0, 0))[0]))
    assert 1 <= len(calls) <= 3
    row = layer.metadata["dicom"]["slices"][5]
    np.testing.assert_array_equal(np.asarray(layer.data[5]), pydicom_hu(row["file"]))
    # eager reads every slice
    calls.clear()
    monkeypatch.setenv("NAPARI_DICOMSERIES_LAZY", "0")
    (eager,) = ViewerModel().open(str(long_series), plugin=PLUGIN)
    assert isinstance(eager.data, np.ndarray) and len(calls) == 321
    np.testing.assert_array_equal(np.asarray(layer.data), eager.data)


def test_lazy_threshold_decides(long_series: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from napari_dicomseries import open_folder

    (vol,), _ = open_folder(long_series)
    nbytes = load.voxel_bytes(vol)
    monkeypatch.setattr(display, "LAZY_THRESHOLD_BYTES", nbytes - 1)
    assert isinstance(volume_layer_data(vol)[0], da.Array)
    monkeypatch.setattr(display, "LAZY_THRESHOLD_BYTES", nbytes)
    assert isinstance(volume_layer_data(vol)[0], np.ndarray)
    # a lazy volume without window tags reads a few slices for its contrast limits, not all
    vol.window = None
    calls = []
    real = load.read_frame
    monkeypatch.setattr(load, "read_frame", lambda v, f, d=None: calls.append(1) or real(v, f, d))
    data, kw, _ = volume_layer_data(vol, lazy=True)
    assert len(calls) <= 3
    lo, hi = kw["contrast_limits"]
    assert -1100 < lo < hi < 1000


def test_volume_layer_data_for_widgets(synthetic_study: Path) -> None:
    """The helper the series browser calls: any Volume (localizer too), visibility as asked."""
    from napari_dicomseries import open_folder

    vols, _ = open_folder(synthetic_study)
    scout = next(v for v in vols if v.kind == "localizer")
    data, kw, kind = volume_layer_data(scout, visible=False)
    assert kind == "image" and kw["visible"] is False and kw["name"] == "S1 Scout"
    assert data.shape == (118, 1, 122) and data.dtype == np.int16
    layer = ViewerModel().add_image(data, **kw)
    check_slices_against_files(layer, n_points=3)


def test_slice_table_is_read_on_first_use_and_json_friendly(synthetic_study: Path) -> None:
    import copy
    import json
    import pickle

    from napari_dicomseries.slices import SliceTable

    (data, kw, _), *_ = read_volumes(synthetic_study)
    table = kw["metadata"]["dicom"]["slices"]
    assert isinstance(table, SliceTable) and not table.built
    assert len(table) == data.shape[0] and not table.built  # the length needs no header
    rows = json.loads(json.dumps(list(table)))
    assert table.built and rows == table.to_list()
    assert copy.deepcopy(table) == rows and pickle.loads(pickle.dumps(table)) == rows
    assert all(isinstance(v, (str, int, float, list, type(None))) for row in rows for v in row.values())


def test_read_frame_into_matches_read_frame(shared_data: Path, tmp_path: Path) -> None:
    """The reader's fast path (read straight into the array, rescale in place) gives read_frame's values."""
    from napari_dicomseries import open_folder

    (vol,), _ = open_folder(shared_data / "ct_ge_lightspeed_lung")
    out = np.empty(vol.shape[-2:], load.output_dtype(vol))
    for frame in vol.frames[::7]:
        load.read_frame_into(vol, frame, out)
        np.testing.assert_array_equal(out, load.read_frame(vol, frame))
    # stored values so low that adding the intercept (-1024) would wrap around: clipped like read_frame
    src = tmp_path / "low"
    src.mkdir()
    (path, *_) = write_series(src, STUDY_SERIES[0], scale=0.125)
    ds = pydicom.dcmread(path)
    px = ds.pixel_array.copy()
    px[0, :10] = -32768
    ds.PixelData = px.tobytes()
    ds.save_as(path)
    (vol,), _ = open_folder(src)
    frame = next(f for f in vol.frames if f.path == str(path))
    out = np.empty(vol.shape[-2:], np.int16)
    load.read_frame_into(vol, frame, out)
    np.testing.assert_array_equal(out, load.read_frame(vol, frame))
    assert out[0, 0] == -32768 and out[5, 5] == px[5, 5] - 1024


def test_rgb_is_always_explicit(synthetic_study: Path, shared_data: Path) -> None:
    """napari guesses RGB for a last axis of 3 or 4; the reader says rgb=False for grey-scale data, always."""
    for folder in (synthetic_study, shared_data / "sagittal_4slice"):
        layers = read_volumes(folder, lazy=False)
        assert layers
        for _data, kwargs, _ in layers:
            assert kwargs["rgb"] is False and kwargs["colormap"] == "gray"
    sag = read_volumes(shared_data / "sagittal_4slice", lazy=False)
    assert {data.shape[-1] for data, _, _ in sag} == {4}  # the case napari would take for RGBA
    viewer, layers = open_in_model(shared_data / "sagittal_4slice")
    assert len(layers) == 2 and not any(layer.rgb for layer in layers)


def test_series_without_number_is_named_by_description_modality_date(tmp_path: Path) -> None:
    from pydicom.uid import generate_uid

    from ..dicom_cases import AXIAL, write_stack

    uid = generate_uid()
    write_stack(tmp_path, 3, orientation=AXIAL, step=(0, 0, 2), series_uid=uid, number=None, description="Chest w/o")
    ds = dcm(str(sorted(tmp_path.iterdir())[0]))
    assert "SeriesNumber" not in ds
    ((_, kwargs, _),) = read_volumes(tmp_path, lazy=False)
    d, t = str(ds.AcquisitionDate), str(ds.AcquisitionTime)
    assert kwargs["name"] == f"{ds.SeriesDescription} {ds.Modality} {d[:4]}-{d[4:6]}-{d[6:8]} {t[:2]}:{t[2:4]}"
    assert uid not in kwargs["name"] and "S?" not in kwargs["name"]


def test_visible_layer_is_added_last_and_selected(synthetic_study: Path) -> None:
    viewer, layers = open_in_model(synthetic_study)
    assert [layer.visible for layer in layers].count(True) == 1 and layers[-1].visible
    assert viewer.layers.selection.active is layers[-1]
    # the visible one is the thinnest axial volume (1.25 mm; of the two, the first series)
    assert layers[-1].metadata["dicom"]["volume"]["series_number"] == 4


def test_open_folder_reports_progress_and_can_be_cancelled(synthetic_study: Path) -> None:
    """The one pipeline the reader and the series browser call: progress per file, Cancel between files and stages."""
    from napari_dicomseries import open_folder
    from napari_dicomseries.errors import Cancelled

    n_files = len([p for p in synthetic_study.iterdir() if p.is_file()])
    seen: list[tuple[int, int]] = []
    volumes, result = open_folder(synthetic_study, progress=lambda done, total: seen.append((done, total)), cancel=lambda: False)
    assert len(result.files) == n_files and len(volumes) == 5
    assert seen[-1] == (n_files, n_files) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    # cancelled mid-scan: after 10 files
    seen.clear()
    with pytest.raises(Cancelled):
        open_folder(synthetic_study, progress=lambda done, total: seen.append((done, total)), cancel=lambda: len(seen) >= 10)
    assert 10 <= len(seen) < n_files
    # cancelled once every file is read (before grouping and classifying): still nothing returned
    done_all: list[bool] = []
    with pytest.raises(Cancelled):
        open_folder(synthetic_study, progress=lambda done, total: done_all.append(done == total), cancel=lambda: any(done_all))
    assert done_all.count(True) == 1

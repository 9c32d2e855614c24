"""napari NIfTI writer: layers saved through ViewerModel / npe2 (no Qt), read back with SimpleITK and nibabel.

The reference for geometry and voxels is SimpleITK's own GDCM DICOM series
reader on the same files (independent of this project's scan), and the
project's core export for the 4-D case that GDCM cannot read as one image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import npe2
import numpy as np
import pytest
import SimpleITK as sitk
from napari.components import ViewerModel

from napari_dicomseries import open_folder
from napari_dicomseries._reader import read_volumes, volume_layer_data
from napari_dicomseries.errors import DicomSeriesError
from napari_dicomseries.export import export_volume
from napari_dicomseries.synthetic import SeriesSpec, write_series

PLUGIN = "napari-dicomseries"
OBLIQUE = (0.866025, 0.5, 0, -0.17101, 0.296198, -0.939693)


def gdcm_series(folder: Path, series_uid: str) -> sitk.Image:
    """The series as SimpleITK's GDCM reader builds it (sorted by GDCM, rescale applied)."""
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    return reader.Execute()


def assert_same_image(got: sitk.Image, ref: sitk.Image) -> None:
    assert got.GetSize() == ref.GetSize()
    np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), rtol=1e-5)
    np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(got.GetDirection(), ref.GetDirection(), atol=1e-5)
    assert np.array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(ref).astype(sitk.GetArrayFromImage(got).dtype))


def save_layer(layer_data: tuple, path: Path) -> list[str]:
    data, kw, _ = layer_data
    viewer = ViewerModel()
    layer = viewer.add_image(data, **kw)
    return layer.save(str(path), plugin=PLUGIN)


def test_round_trip_axial_lazy_layer(synthetic_study: Path, tmp_path: Path) -> None:
    volumes, _ = open_folder(synthetic_study)
    v = next(v for v in volumes if v.series_number == 4)
    written = save_layer(volume_layer_data(v, lazy=True), tmp_path / "s4.nii.gz")
    assert written == [str(tmp_path / "s4.nii.gz"), str(tmp_path / "s4.json")]
    got = sitk.ReadImage(written[0])
    assert_same_image(got, gdcm_series(synthetic_study, v.series_instance_uid))
    assert got.GetPixelID() == sitk.sitkInt16  # Hounsfield units stay int16
    side = json.loads(Path(written[1]).read_text())
    assert side["SeriesNumber"] == 4 and side["ConvolutionKernel"] == "STANDARD" and side["SliceThickness"] == 1.25
    assert side["DicomSeries"]["kind"] == "image" and side["DicomSeries"]["thickness_class"] == "thin"
    assert side["DicomSeries"]["layer_name"] == "S4 1.25mm STANDARD"
    assert "PatientName" not in side


def test_round_trip_oblique_and_real_ct(shared_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "obl"
    src.mkdir()
    write_series(src, SeriesSpec(8, "OBL MPR", "LUNG", 5.0, (40.0, 400.0), 6.0, "102100"), scale=0.125, orientation=OBLIQUE)
    for folder in (src, shared_data / "ct_ge_lightspeed_lung"):
        ((data, kw, kind),) = read_volumes(folder)
        out = tmp_path / f"{folder.name}.nii.gz"
        save_layer((data, kw, kind), out)
        uid = kw["metadata"]["dicom"]["volume"]["series_instance_uid"]
        assert_same_image(sitk.ReadImage(str(out)), gdcm_series(folder, uid))


def test_4d_layer_is_one_4d_nifti(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "enhanced_siemens_xa10"
    ((data, kw, kind),) = read_volumes(folder)
    assert np.shape(data) == (4, 6, 64, 64)
    (nii, js) = save_layer((data, kw, kind), tmp_path / "fmri.nii.gz")
    volumes, _ = open_folder(folder)
    core = export_volume(volumes[0], tmp_path / "core" / "fmri")
    a, b = nib.load(nii), nib.load(core.nifti)
    assert a.shape == b.shape == (64, 64, 6, 4)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)
    assert np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
    side = json.loads(Path(js).read_text())
    assert a.header["pixdim"][4] == pytest.approx(side["RepetitionTime"]) == pytest.approx(0.5)
    assert side["DicomSeries"]["time_tag"] is not None and side["DicomSeries"]["shape"] == [4, 6, 64, 64]
    # the voxels of each time point are those of the matching frames of the DICOM files (GDCM reads each file)
    for t, f in enumerate(volumes[0].frame_grid()):
        ref = sitk.GetArrayFromImage(sitk.ReadImage(f[0].path))  # one file = one time point, (6, 64, 64)
        ours = np.asanyarray(a.dataobj)[..., t].transpose(2, 1, 0)
        assert sorted(np.unique(ours).tolist()[:5]) == sorted(np.unique(ref).tolist()[:5])
        assert np.array_equal(np.sort(ours.ravel()), np.sort(ref.ravel().astype(ours.dtype)))


def test_sidecar_from_slice_table_when_files_are_gone(synthetic_study: Path, tmp_path: Path) -> None:
    src = tmp_path / "dicom"
    shutil.copytree(synthetic_study, src)
    volumes, _ = open_folder(src)
    v = next(v for v in volumes if v.series_number == 3)
    layer = volume_layer_data(v, lazy=False)
    assert len(list(layer[1]["metadata"]["dicom"]["slices"])) == 9  # the table is read (e.g. shown) while the files exist
    for p in v.paths:
        Path(p).unlink()
    (nii, js) = save_layer(layer, tmp_path / "s3")  # no extension: npe2 adds the writer's first, .nii
    assert nii.endswith("s3.nii") and js.endswith("s3.json")
    side = json.loads(Path(js).read_text())
    assert side["SeriesNumber"] == 3 and side["ConvolutionKernel"] == "LUNG" and side["KVP"] == 120
    assert side["ManufacturersModelName"] == "LightSpeed VCT"
    assert "InstanceNumber" not in side and "ImagePositionPatient" not in side
    assert "tags_from" not in side["DicomSeries"]
    assert side["DicomSeries"]["kernel_class"] == "lung"
    assert nib.load(nii).shape == (64, 64, 9)


def test_layer_without_dicom_metadata(tmp_path: Path) -> None:
    """Geometry from scale / translate / affine alone (world axes z, y, x in LPS mm), by hand."""
    data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    viewer = ViewerModel()
    flip_z = np.diag([-1.0, 1.0, 1.0, 1.0])  # world z runs opposite to the slice index
    layer = viewer.add_image(data, scale=(2.0, 0.5, 0.25), translate=(10.0, 20.0, 30.0), affine=flip_z, name="plain")
    (nii, js) = layer.save(str(tmp_path / "plain.nii.gz"), plugin=PLUGIN)
    img = sitk.ReadImage(nii)
    assert img.GetSize() == (5, 4, 3)
    np.testing.assert_allclose(img.GetSpacing(), (0.25, 0.5, 2.0))
    np.testing.assert_allclose(img.GetOrigin(), (30.0, 20.0, -10.0))  # (x, y, z) of voxel 0: z = -(10 + 0)
    np.testing.assert_allclose(img.GetDirection(), (1, 0, 0, 0, 1, 0, 0, 0, -1), atol=1e-12)
    assert np.array_equal(sitk.GetArrayFromImage(img), data)
    side = json.loads(Path(js).read_text())
    assert side["ConversionSoftware"] == "napari-dicomseries" and "SeriesNumber" not in side
    assert side["DicomSeries"]["layer_name"] == "plain" and "without DICOM metadata" in side["DicomSeries"]["note"]
    # a 2-D layer is one slice
    layer2 = viewer.add_image(data[0], scale=(0.5, 0.25), translate=(1.0, 2.0), name="one")
    (nii2, _) = layer2.save(str(tmp_path / "one.nii"), plugin=PLUGIN)
    img2 = sitk.ReadImage(nii2)
    assert img2.GetSize() == (5, 4, 1)
    np.testing.assert_allclose(img2.GetSpacing(), (0.25, 0.5, 1.0))
    np.testing.assert_allclose(img2.GetOrigin(), (2.0, 1.0, 0.0))


def test_rgb_layer_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    viewer = ViewerModel()
    layer = viewer.add_image(np.zeros((4, 5, 3), np.uint8), rgb=True)
    with pytest.raises(DicomSeriesError, match="RGB"):
        npe2.write(str(tmp_path / "rgb.nii.gz"), [layer], plugin_name=PLUGIN)
    assert list(tmp_path.iterdir()) == []


def test_writer_replaces_atomically(synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from napari_dicomseries import nifti

    volumes, _ = open_folder(synthetic_study)
    v = next(v for v in volumes if v.series_number == 2)
    layer = volume_layer_data(v, lazy=False)
    out = tmp_path / "s2.nii.gz"
    save_layer(layer, out)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fail(image, path, compress):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("simulated disk failure")

    monkeypatch.setattr(nifti, "_write_image", fail)
    data, kw, _ = layer
    viewer = ViewerModel()
    with pytest.raises(DicomSeriesError, match="s2.nii.gz: cannot write NIfTI"):
        npe2.write(str(out), [viewer.add_image(data, **kw)], plugin_name=PLUGIN)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ----------------------------------------------------------------------------- labels: DICOM SEG and NIfTI


def _by_series(layers, kind: str) -> dict[int, object]:
    return {ly.metadata["dicom"]["volume"]["series_number"]: ly for ly in layers if ly._type_string == kind}


def test_seg_labels_layer_saved_as_seg_reopens_identical(shared_data: Path, tmp_path: Path) -> None:
    """SEG -> Labels -> SEG -> Labels through napari: every voxel, the placement and the segment name kept."""
    viewer = ViewerModel()
    layers = viewer.open(str(shared_data / "seg_ct_liver"), plugin=PLUGIN)
    liver = _by_series(layers, "labels")[1]
    ct = _by_series(layers, "image")[2]
    assert liver.metadata["dicom"]["source"]["series_instance_uid"] == ct.metadata["dicom"]["volume"]["series_instance_uid"]
    assert int((np.asarray(liver.data) == 1).sum()) == 107098
    study = tmp_path / "study"
    shutil.copytree(shared_data / "seg_ct_liver" / "ct", study / "ct")
    written = npe2.write(str(study / "seg" / "liver.dcm"), [liver], plugin_name=PLUGIN)
    assert written == [str(study / "seg" / "liver.dcm")]

    again = ViewerModel()
    reopened = again.open(str(study), plugin=PLUGIN)
    (back,) = [ly for ly in reopened if ly._type_string == "labels"]
    (ct2,) = [ly for ly in reopened if ly._type_string == "image"]
    assert np.array_equal(np.asarray(back.data), np.asarray(liver.data))
    np.testing.assert_allclose(
        back.affine.affine_matrix @ np.diag([*back.scale, 1]), liver.affine.affine_matrix @ np.diag([*liver.scale, 1]), atol=1e-4
    )
    np.testing.assert_allclose(back.scale, ct2.scale, rtol=1e-6)
    assert list(back.features["label"]) == ["Liver"]
    assert back.metadata["dicom"]["references"] == [ct2.metadata["dicom"]["volume"]["series_instance_uid"]]
    # the colour survives (DICOM CIELab, rounded): the reader's colormap for label 1
    np.testing.assert_allclose(back.colormap.map(np.array([1]))[0], liver.colormap.map(np.array([1]))[0], atol=2 / 255)


def test_labels_drawn_on_an_image_layer(tmp_path: Path) -> None:
    """A labels layer made from a sagittal image layer (metadata copied), two labels with names, saved and re-read."""
    import highdicom as hd

    folder = tmp_path / "sag"
    write_series(
        folder,
        SeriesSpec(9, "SAG MPR", "STANDARD", 5.0, (40.0, 400.0), 6.0, "102200"),
        scale=0.125,
        orientation=(0, 1, 0, 0, 0, -1),
    )
    ((data, kw, _),) = read_volumes(folder, lazy=False)
    assert kw["metadata"]["dicom"]["axes"] != [0, 1, 2]  # the layer's axes are not the DICOM (slice, row, column)
    viewer = ViewerModel()
    image = viewer.add_image(data, **kw)
    drawn = np.zeros(image.data.shape, np.uint8)
    drawn[10:20, 20:30, 1] = 3
    drawn[40:50, 5:9, 2] = 5
    labels = viewer.add_labels(
        drawn, scale=image.scale, affine=image.affine, metadata=image.metadata, name="drawn",
        features={"index": [3, 5], "label": ["Lesion", "Cyst"]},
    )  # fmt: skip
    out = tmp_path / "drawn.dcm"
    labels.save(str(out), plugin=PLUGIN)
    seg = hd.seg.segread(str(out))
    assert [(d.SegmentNumber, d.SegmentLabel) for d in seg.SegmentSequence] == [(1, "Lesion"), (2, "Cyst")]
    # the SEG's voxels in the DICOM order of the source (highdicom, matched onto the source grid), vs the drawing
    (src,) = open_folder(folder)[0]
    got = seg.get_volume(combine_segments=True).match_geometry(hd.VolumeGeometry(src.affine_lps(), src.shape, "PATIENT"))
    axes = kw["metadata"]["dicom"]["axes"]
    expected = np.select([drawn == 3, drawn == 5], [1, 2], 0).transpose(np.argsort(axes))
    assert np.array_equal(np.asarray(got.array), expected)


def test_labels_without_a_source_are_refused(shared_data: Path, tmp_path: Path) -> None:
    viewer = ViewerModel()
    plain = viewer.add_labels(np.ones((3, 4, 5), np.uint8), name="new")
    with pytest.raises(DicomSeriesError, match="draw on a layer opened by napari-dicomseries"):
        npe2.write(str(tmp_path / "new.dcm"), [plain], plugin_name=PLUGIN)
    # a SEG opened without the series it segments cannot reference its images
    (alone,) = [ly for ly in viewer.open(str(shared_data / "seg_ct_liver" / "seg" / "liver.dcm"), plugin=PLUGIN)]
    with pytest.raises(DicomSeriesError, match="was not opened with it"):
        npe2.write(str(tmp_path / "alone.dcm"), [alone], plugin_name=PLUGIN)
    assert list(tmp_path.iterdir()) == []


def test_labels_layer_as_nifti(shared_data: Path, tmp_path: Path) -> None:
    """The NIfTI writer takes labels too: the label map on the grid of the CT it segments (nibabel reads it)."""
    viewer = ViewerModel()
    layers = viewer.open(str(shared_data / "seg_ct_liver"), plugin=PLUGIN)
    liver, ct = _by_series(layers, "labels")[1], _by_series(layers, "image")[2]
    (nii, js) = npe2.write(str(tmp_path / "liver.nii.gz"), [liver], plugin_name=PLUGIN)
    (ct_nii, _) = npe2.write(str(tmp_path / "ct.nii.gz"), [ct], plugin_name=PLUGIN)
    a, b = nib.load(nii), nib.load(ct_nii)
    assert a.shape == b.shape == (512, 512, 3)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-3)
    assert np.array_equal(np.asanyarray(a.dataobj).transpose(2, 1, 0), np.asarray(liver.data))
    assert json.loads(Path(js).read_text())["DicomSeries"]["kind"] == "segmentation"


def test_sparse_seg_layer_round_trip(shared_data: Path, tmp_path: Path) -> None:
    """A SEG with voxels on one slice of three: saved from its layer, re-read where it was (empty slices are not written)."""
    import highdicom as hd

    from napari_dicomseries._writer import layer_affine

    def on_ct(layer, ct) -> np.ndarray:  # the layer's voxels matched onto the CT grid by highdicom (never resampled)
        lps = layer_affine({"scale": layer.scale, "affine": layer.affine.affine_matrix}, 3)[[2, 1, 0, 3], :]
        grid = hd.VolumeGeometry(ct.affine_lps(), ct.shape, "PATIENT")
        return np.asarray(hd.Volume(np.asarray(layer.data), lps, "PATIENT").match_geometry(grid, tol=1e-2).array)

    viewer = ViewerModel()
    layers = viewer.open(str(shared_data / "seg_sparse"), plugin=PLUGIN)
    (binary,) = [
        ly for ly in layers if ly._type_string == "labels" and ly.metadata["dicom"]["files"][0].endswith("label.seg.dcm")
    ]
    (ct,) = open_folder(shared_data / "seg_sparse" / "ct")[0]
    original = on_ct(binary, ct)
    assert int((original > 0).sum()) == 315 and int((original[1] > 0).sum()) == 315  # the README: slice 2 only
    study = tmp_path / "study"
    shutil.copytree(shared_data / "seg_sparse" / "ct", study / "ct")
    npe2.write(str(study / "binary.dcm"), [binary], plugin_name=PLUGIN)
    (back,) = [ly for ly in ViewerModel().open(str(study), plugin=PLUGIN) if ly._type_string == "labels"]
    assert np.array_equal(on_ct(back, ct), original)

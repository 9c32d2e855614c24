"""NIfTI export (core + CLI), checked against dcm2niix run in the same test, hand geometry and pydicom."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from napari_dicomseries import cli, export, nifti, open_folder, sidecar
from napari_dicomseries.errors import DicomSeriesError, OutputExistsError, SeriesNotFoundError
from napari_dicomseries.export import export_folder, export_volume, output_stems
from napari_dicomseries.geometry import Geometry
from napari_dicomseries.nifti import write_nifti_array
from napari_dicomseries.selection import select_volume
from napari_dicomseries.synthetic import STUDY_SERIES, SeriesSpec, write_series

from ..data import tree_digest

SAGITTAL = (0, 1, 0, 0, 0, -1)


def _rotation(deg_z: float, deg_x: float) -> np.ndarray:
    a, b = math.radians(deg_z), math.radians(deg_x)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return rz @ rx


_R = _rotation(25.0, 20.0)
OBLIQUE = tuple(float(x) for x in (*_R[:, 0], *_R[:, 1]))


# ----------------------------------------------------------------------------- dcm2niix, the reference


def dcm2niix(src: Path, out: Path) -> dict[int, Path]:
    """Run ``dcm2niix -z y -f %s_%d`` and map SeriesNumber (from its JSON) -> .nii.gz."""
    exe = shutil.which("dcm2niix")
    if exe is None:
        pytest.skip("dcm2niix not installed")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, "-z", "y", "-f", "%s_%d", "-o", str(out), str(src)], check=True, capture_output=True, timeout=300)
    return by_series(out)


def by_series(folder: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    for js in sorted(folder.glob("*.json")):
        number = json.loads(js.read_text())["SeriesNumber"]
        nii = js.with_name(js.name[: -len(".json")] + ".nii.gz")
        if not nii.exists():
            nii = nii.with_suffix("")  # .nii
        assert nii.exists(), f"no image beside {js}"
        assert number not in found, f"two files for series {number} in {folder}"
        found[number] = nii
    return found


def assert_twins(ref: Path, ours: Path) -> None:
    """Same voxel values and affine (1e-3 mm) after both are put in the closest canonical orientation."""
    a = nib.as_closest_canonical(nib.load(ref))
    b = nib.as_closest_canonical(nib.load(ours))
    assert a.shape == b.shape, (ref.name, a.shape, b.shape)
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-3, rtol=0, err_msg=f"{ours.name} vs {ref.name}")
    assert np.array_equal(a.get_fdata(), b.get_fdata()), f"voxels differ: {ours.name}"
    hb = nib.load(ours).header
    assert int(hb["qform_code"]) > 0 and int(hb["sform_code"]) > 0


def compare_all(src: Path, tmp: Path, **kw: object) -> tuple[dict[int, Path], dict[int, Path], list[export.ExportResult]]:
    ref = dcm2niix(src, tmp / "dcm2niix")
    results = export_folder(src, tmp / "ours", **kw)  # type: ignore[arg-type]
    ours = by_series(tmp / "ours")
    assert ref, "dcm2niix wrote nothing"
    for number, nii in ref.items():
        assert number in ours, f"dcm2niix wrote series {number}, export did not"
        assert_twins(nii, ours[number])
    return ref, ours, results


#: Sidecar keys that dcm2niix and the export write from the same DICOM tags the same way
#: (not ProtocolName: dcm2niix fills it from SeriesDescription when the tag is missing).
SHARED_KEYS = (
    "Modality", "SeriesNumber", "SeriesDescription", "ManufacturersModelName", "ConvolutionKernel",
    "SliceThickness", "SpacingBetweenSlices", "AcquisitionTime", "EchoTime", "RepetitionTime", "FlipAngle",
    "MagneticFieldStrength", "ImagingFrequency", "BodyPart", "PatientPosition", "InstitutionName", "StationName",
    "SoftwareVersions", "StudyDescription", "MRAcquisitionType", "DeviceSerialNumber",
)  # fmt: skip


def assert_sidecar_like_dcm2niix(ref_nii: Path, our_nii: Path) -> dict:
    ref = json.loads(ref_nii.with_name(ref_nii.name.split(".nii")[0] + ".json").read_text())
    ours = json.loads(our_nii.with_name(our_nii.name.split(".nii")[0] + ".json").read_text())
    checked = 0
    for key in SHARED_KEYS:
        if key not in ref:
            continue
        assert key in ours, f"{key} missing from {our_nii.name} sidecar (dcm2niix: {ref[key]!r})"
        if isinstance(ref[key], (int, float)):
            assert ours[key] == pytest.approx(ref[key], rel=1e-6), key
        else:
            assert ours[key] == ref[key], key
        checked += 1
    assert checked >= 5
    assert ref["Manufacturer"].lower().split()[0] in ours["Manufacturer"].lower()
    assert ours["ConversionSoftware"] == "napari-dicomseries"
    return ours


# ----------------------------------------------------------------------------- against dcm2niix


def test_synthetic_study_matches_dcm2niix(synthetic_study: Path, tmp_path: Path) -> None:
    before = tree_digest(synthetic_study)
    ref, ours, results = compare_all(synthetic_study, tmp_path)
    assert sorted(ours) == [1, 2, 3, 4, 5]  # every volume, the scout included, as dcm2niix
    assert all(r.ok for r in results)
    for number in ref:
        assert_sidecar_like_dcm2niix(ref[number], ours[number])
    # the scan's view of each volume, against what the generator made
    side = {n: json.loads(Path(str(p).replace(".nii.gz", ".json")).read_text())["DicomSeries"] for n, p in ours.items()}
    assert side[1]["kind"] == "localizer"
    for spec in STUDY_SERIES:
        s = side[spec.number]
        assert s["kind"] == "image" and s["orientation"] == "axial"
        assert s["kernel_class"] == spec.kernel.lower()
        assert s["thickness_class"] == ("thin" if spec.thickness <= 1.5 else "thick")
        assert s["warnings"] == []
    assert len({s["acquisition_group"] for n, s in side.items() if n > 1}) == 1
    assert tree_digest(synthetic_study) == before


@pytest.mark.parametrize("name", ["ct_ge_lightspeed_lung", "enhanced_siemens_xa10"])
def test_real_data_matches_dcm2niix(shared_data: Path, tmp_path: Path, name: str) -> None:
    src = shared_data / name
    before = tree_digest(src)
    ref, ours, results = compare_all(src, tmp_path)
    assert len(ref) == 1 and len(results) == 1
    (number,) = ref
    side = assert_sidecar_like_dcm2niix(ref[number], ours[number])
    img, ref_img = nib.load(ours[number]), nib.load(ref[number])
    if name == "enhanced_siemens_xa10":
        # one 4-D file (x, y, z, t) as dcm2niix writes it, with the RepetitionTime as 4th pixel size
        assert img.shape == ref_img.shape == (64, 64, 6, 4)
        assert img.header["pixdim"][4] == pytest.approx(ref_img.header["pixdim"][4]) == pytest.approx(side["RepetitionTime"])
        assert side["DicomSeries"]["shape"] == [4, 6, 64, 64]
    else:
        assert img.shape == (512, 512, 40)
        assert img.get_data_dtype() == np.int16  # Hounsfield units kept as int16
        assert side["DicomSeries"]["kernel_class"] == "lung"
        assert side["DicomSeries"]["thickness_class"] == "thick"
    assert tree_digest(src) == before


def test_sagittal_and_oblique_match_dcm2niix(tmp_path: Path) -> None:
    src = tmp_path / "dicom"
    src.mkdir()
    write_series(src, SeriesSpec(7, "SAG MPR", "STANDARD", 5.0, (40.0, 400.0), 6.0, "102000"), scale=0.125, orientation=SAGITTAL)
    write_series(src, SeriesSpec(8, "OBL MPR", "LUNG", 5.0, (40.0, 400.0), 6.0, "102100"), scale=0.125, orientation=OBLIQUE)
    ref, ours, _ = compare_all(src, tmp_path)
    assert sorted(ref) == sorted(ours) == [7, 8]
    sides = {n: json.loads(Path(str(p).replace(".nii.gz", ".json")).read_text()) for n, p in ours.items()}
    assert sides[7]["DicomSeries"]["orientation"] == "sagittal"
    assert sides[8]["DicomSeries"]["orientation"] == "oblique"
    np.testing.assert_allclose(sides[8]["ImageOrientationPatientDICOM"], OBLIQUE, atol=1e-5)
    # the oblique NIfTI is not resampled: its sform rotation is the DICOM orientation in RAS
    aff = nib.load(ours[8]).affine
    row = aff[:3, 0] / np.linalg.norm(aff[:3, 0])
    np.testing.assert_allclose(row * [-1, -1, 1], OBLIQUE[:3], atol=1e-5)


# ----------------------------------------------------------------------------- geometry by hand


def test_voxel_positions_match_the_files(synthetic_study: Path, tmp_path: Path) -> None:
    """Voxel (0, 0, k) of the NIfTI lies at ImagePositionPatient of a file, in RAS (pydicom read, by hand)."""
    volumes, _ = open_folder(synthetic_study)
    v = next(v for v in volumes if v.series_number == 4)
    res = export_volume(v, tmp_path / "s4")
    img = nib.load(res.nifti)
    positions = []
    for p in v.paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        positions.append([float(x) for x in ds.ImagePositionPatient])
    positions = np.array(positions) * [-1, -1, 1]  # LPS -> RAS
    # our NIfTI keeps array order: voxel (i, j, k) <- array (k, j, i); find each file's slice along k
    ks = [img.affine @ [0, 0, k, 1] for k in range(img.shape[2])]
    got = np.array([k[:3] for k in ks])
    assert sorted(map(tuple, np.round(got, 3))) == sorted(map(tuple, np.round(positions, 3)))
    # and the values: slice k of the file with the lowest z
    lowest = v.paths[int(np.argmin(positions[:, 2]))]
    ds = pydicom.dcmread(lowest)
    hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    data = np.asanyarray(img.dataobj)
    k0 = int(np.argmin(got[:, 2]))
    assert np.array_equal(data[:, :, k0].T, hu)


def _tilted_series(out: Path, degrees: float) -> list[Path]:
    """An axial series whose slices shift in y along z (a gantry tilt), made from the synthetic one."""
    out.mkdir()
    paths = write_series(out, STUDY_SERIES[0], scale=0.125)
    t = math.tan(math.radians(degrees))
    for p in paths:
        ds = pydicom.dcmread(p)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [f"{x:.6g}", f"{y + z * t:.6g}", f"{z:.6g}"]
        ds.GantryDetectorTilt = f"{degrees:g}"
        ds.save_as(p)
    return paths


@pytest.mark.parametrize("gz", [True, False])
def test_gantry_tilt_keeps_the_sheared_positions(tmp_path: Path, gz: bool) -> None:
    paths = _tilted_series(tmp_path / "tilt", 12.0)
    volumes, _ = open_folder(tmp_path / "tilt")
    (v,) = volumes
    assert v.gantry_tilt == pytest.approx(12.0, abs=0.01)
    res = export_volume(v, tmp_path / "out" / "tilt", gzip=gz)
    img = nib.load(res.nifti)
    assert res.nifti.endswith(".nii.gz" if gz else ".nii")
    hdr = img.header
    assert int(hdr["sform_code"]) == 1 and int(hdr["qform_code"]) == 1
    # the sform (what nibabel and dcm2niix-aware tools use) puts every slice where its file says
    ipp = np.array([[float(x) for x in pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient] for p in paths])
    ipp_ras = ipp * [-1, -1, 1]
    got = np.array([(hdr.get_sform() @ [0, 0, k, 1])[:3] for k in range(img.shape[2])])
    assert sorted(map(tuple, np.round(got, 2))) == sorted(map(tuple, np.round(ipp_ras, 2)))
    # the qform is the rigid one: slice normal, distance between slices along it
    q = hdr.get_qform()
    assert abs(np.dot(q[:3, 0], q[:3, 2])) < 1e-4 and abs(np.dot(q[:3, 1], q[:3, 2])) < 1e-4
    side = json.loads(Path(res.sidecar).read_text())
    assert any("sheared" in w for w in side["DicomSeries"]["warnings"])
    assert not [p for p in (tmp_path / "out").iterdir() if ".tmp" in p.name]


def test_write_nifti_array_geometry_by_hand(tmp_path: Path) -> None:
    """An affine with a flip and a permutation: SimpleITK reads back the spacing, origin and direction."""
    import SimpleITK as sitk

    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    a = np.zeros((4, 4))
    a[:3, 0] = [0, 0, -2.5]  # slice step k: towards the feet
    a[:3, 1] = [0, 0.5, 0]  # row step j: posterior
    a[:3, 2] = [0.75, 0, 0]  # column step i: left
    a[:3, 3] = [10, -20, 30]
    a[3, 3] = 1
    (nii, js) = write_nifti_array(arr, a, tmp_path / "x.nii", {"a": 1})
    img = sitk.ReadImage(str(nii))
    assert img.GetSize() == (4, 3, 2)
    np.testing.assert_allclose(img.GetSpacing(), (0.75, 0.5, 2.5))
    np.testing.assert_allclose(img.GetOrigin(), (10, -20, 30))
    np.testing.assert_allclose(img.GetDirection(), (1, 0, 0, 0, 1, 0, 0, 0, -1), atol=1e-7)
    assert np.array_equal(sitk.GetArrayFromImage(img), arr)
    assert json.loads(js.read_text()) == {"a": 1}
    # nibabel: RAS affine of voxel (i, j, k)
    ras = Geometry(arr.shape, a).nifti_affine()
    np.testing.assert_allclose(nib.load(nii).affine, ras, atol=1e-5)
    np.testing.assert_allclose(ras @ [1, 0, 0, 1], [-10.75, 20, 30, 1])


# ----------------------------------------------------------------------------- sidecar


def test_sidecar_leaves_out_patient_identity_unless_asked(synthetic_study: Path) -> None:
    volumes, _ = open_folder(synthetic_study)
    v = next(v for v in volumes if v.series_number == 2)
    side = sidecar.sidecar(v)
    ds = pydicom.dcmread(v.files[0].path, stop_before_pixels=True)
    for key in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber"):
        assert key in ds and key not in side
    assert side["PatientSex"] == ds.PatientSex  # not identifying: kept
    full = sidecar.sidecar(v, patient_tags=True)
    assert full["PatientName"] == str(ds.PatientName) and full["PatientID"] == ds.PatientID
    # constant tags only: nothing of one slice, nothing about stored values
    for key in ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "RescaleIntercept", "Rows"):
        assert key not in side
    assert side["StudyInstanceUID"] == ds.StudyInstanceUID
    assert side["KVP"] == float(ds.KVP)
    assert side["AcquisitionTime"] == "10:12:03.000000"
    assert side["ManufacturersModelName"] == ds.ManufacturerModelName and "ManufacturerModelName" not in side
    assert side["BodyPart"] == ds.BodyPartExamined
    json.dumps(side, allow_nan=False)


def test_sidecar_varying_tag_is_left_out(synthetic_study: Path, tmp_path: Path) -> None:
    src = tmp_path / "dicom"
    shutil.copytree(synthetic_study, src)
    volumes, _ = open_folder(src)
    v = next(v for v in volumes if v.series_number == 2)
    ds = pydicom.dcmread(v.paths[3])
    ds.KVP = "140"  # one slice at another tube voltage
    ds.AcquisitionTime = "101159"  # acquired earlier
    ds.save_as(v.paths[3])
    volumes, _ = open_folder(src)
    v = next(v for v in volumes if v.series_number == 2)
    side = sidecar.sidecar(v)
    assert "KVP" not in side
    assert side["AcquisitionTime"] == "10:11:59.000000"  # the earliest, when the acquisition started


# ----------------------------------------------------------------------------- names, selection, folders


def test_output_names_are_safe_and_unique(synthetic_study: Path) -> None:
    volumes, _ = open_folder(synthetic_study)
    assert output_stems(volumes) == ["1_Scout_STANDARD", "2_5mm_STANDARD", "3_5mm_LUNG", "4_1.25mm_STANDARD", "5_1.25mm_LUNG"]
    odd = [copy.copy(v) for v in volumes[1:4]]
    odd[0].series_description = "../../etc/passwd"
    odd[1].series_description = "Thorax: a/b c*?<>|"
    odd[2].series_description = "Thorax: a/b c*?<>|"
    odd[2].key = odd[1].key
    odd[2].convolution_kernel = odd[1].convolution_kernel
    odd[2].series_number = odd[1].series_number
    stems = output_stems(odd)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", s) for s in stems), stems
    assert len({s.lower() for s in stems}) == 3
    assert stems[2] == stems[1] + "_2"
    assert output_stems(volumes[1:2], "{modality}_{kernel_class}_{thickness_class}_{orientation}") == ["CT_standard_thick_axial"]
    with pytest.raises(ValueError, match="bad file name template"):
        output_stems(volumes, "{nope}")


def test_series_selection_and_localizers(synthetic_study: Path, tmp_path: Path) -> None:
    res = export_folder(synthetic_study, tmp_path / "a", series=[3, "5"], gzip=False)
    assert [(r.series_number, r.ok) for r in res] == [(3, True), (5, True)]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "3_5mm_LUNG.json",
        "3_5mm_LUNG.nii",
        "5_1.25mm_LUNG.json",
        "5_1.25mm_LUNG.nii",
    ]
    res = export_folder(synthetic_study, tmp_path / "b", skip_localizers=True)
    assert [r.series_number for r in res if r.ok] == [2, 3, 4, 5]
    assert [r.series_number for r in res if r.skipped] == [1]
    with pytest.raises(SeriesNotFoundError, match="no series 42"):
        export_folder(synthetic_study, tmp_path / "c", series=[42])
    assert not (tmp_path / "c").exists()


def test_export_names_volumes_as_compare_does(synthetic_study: Path) -> None:
    volumes, _ = open_folder(synthetic_study)
    by_number = {v.series_number: v for v in volumes}
    # series 3 split into two volumes: its number names both for export, is ambiguous for compare; a key names one
    a, b = dataclasses.replace(by_number[3], key="3.1"), dataclasses.replace(by_number[3], key="3.2")
    vols = [by_number[2], a, b, by_number[4]]
    chosen, skipped = export.select_volumes(vols, ["3"])
    assert chosen == [a, b] and skipped == []
    with pytest.raises(SeriesNotFoundError, match=r"series 3 has 2 volumes \(3\.1, 3\.2\)"):
        select_volume(vols, "3")
    for spec in ("3.2", " 3.2 "):
        assert export.select_volumes(vols, [spec])[0] == [b] and select_volume(vols, spec) is b
    # a SeriesInstanceUID and a series number name the same volume for both
    uid = by_number[4].series_instance_uid
    for spec in (uid, 4, "4"):
        assert export.select_volumes(vols, [spec])[0] == [by_number[4]] and select_volume(vols, spec) is by_number[4]
    # the order is the volumes' order, whatever the order asked; every unknown name is reported at once
    assert export.select_volumes(vols, ["4", "2"])[0] == [by_number[2], by_number[4]]
    with pytest.raises(SeriesNotFoundError, match=r"no series 42, 7 in the input; it has 2, 3\.1, 3\.2, 4$"):
        export.select_volumes(vols, ["42", "2", "7"])


def test_output_inside_input_is_refused(synthetic_study: Path, tmp_path: Path) -> None:
    src = tmp_path / "dicom"
    shutil.copytree(synthetic_study, src)
    before = tree_digest(src)
    for out in (src, src / "nifti"):
        with pytest.raises(DicomSeriesError, match="input folder"):
            export_folder(src, out)
    assert tree_digest(src) == before
    res = export_folder(src, src / "nifti", series=[2], allow_inside_input=True)
    assert res[0].ok and Path(res[0].nifti).parent == src / "nifti"
    assert {k: v for k, v in tree_digest(src).items() if not k.startswith("nifti")} == before


# ----------------------------------------------------------------------------- atomic writes


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_existing_output_is_not_overwritten_without_force(synthetic_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_folder(synthetic_study, out, series=[2, 3])
    before = _snapshot(out)
    with pytest.raises(OutputExistsError, match=re.escape(str(out / "2_5mm_STANDARD.nii.gz"))):
        export_folder(synthetic_study, out)  # series 1, 4, 5 are new, 2 and 3 exist: nothing written
    assert _snapshot(out) == before
    # one file of the pair is enough
    (out / "3_5mm_LUNG.nii.gz").unlink()
    with pytest.raises(OutputExistsError, match="3_5mm_LUNG.json"):
        export_folder(synthetic_study, out, series=[3])
    res = export_folder(synthetic_study, out, force=True)
    assert all(r.ok for r in res) and len(res) == 5
    assert nib.load(out / "2_5mm_STANDARD.nii.gz").shape == (64, 64, 9)
    volumes, _ = open_folder(synthetic_study)
    with pytest.raises(OutputExistsError):
        export_volume(volumes[1], out / "2_5mm_STANDARD")


def test_cli_existing_output_without_force(synthetic_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli.main(["export", str(synthetic_study), str(out), "--series", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2_5mm_STANDARD.nii.gz" in printed and "1 volume(s) written" in printed
    before = _snapshot(out)
    assert cli.main(["export", str(synthetic_study), str(out), "--series", "2"]) == 2
    err = capsys.readouterr().err
    assert "2_5mm_STANDARD.nii.gz exists already" in err and "--force" in err and "Traceback" not in err
    assert _snapshot(out) == before
    assert cli.main(["export", str(synthetic_study), str(out), "--series", "2", "--force", "--no-gzip", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["results"][0]["nifti"].endswith("2_5mm_STANDARD.nii") and got["results"][0]["ok"]
    assert cli.main(["export", str(synthetic_study), str(tmp_path / "x"), "--template", "{bad}"]) == 2
    assert "bad file name template" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_failure_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arr = np.zeros((3, 4, 5), np.int16)
    real = nifti._write_image

    def half_then_fail(image, path, compress):
        with open(path, "wb") as fh:
            fh.write(b"\x5c\x01\x00\x00" + b"\0" * 100)  # the start of a header, then the disk "fills"
        raise RuntimeError("Exception thrown in ImageFileWriter: No space left on device")

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(nifti, "_write_image", half_then_fail)
    with pytest.raises(DicomSeriesError, match=r"x\.nii\.gz: cannot write NIfTI \(.*No space left"):
        write_nifti_array(arr, np.eye(4), out / "x.nii.gz", {"a": 1})
    assert list(out.iterdir()) == []
    # an existing file is left as it was when its replacement fails
    monkeypatch.setattr(nifti, "_write_image", real)
    write_nifti_array(arr + 7, np.eye(4), out / "x.nii.gz", {"a": 1})
    before = _snapshot(out)
    monkeypatch.setattr(nifti, "_write_image", half_then_fail)
    with pytest.raises(DicomSeriesError):
        write_nifti_array(arr, np.eye(4), out / "x.nii.gz", {"a": 2}, force=True)
    assert _snapshot(out) == before
    # a sidecar that cannot be written (NaN is not JSON) fails the pair: the image is not left behind either
    monkeypatch.setattr(nifti, "_write_image", real)
    with pytest.raises(DicomSeriesError, match=r"y\.json: cannot write the JSON sidecar"):
        write_nifti_array(arr, np.eye(4), out / "y.nii.gz", {"bad": float("nan")})
    assert _snapshot(out) == before


def test_failed_volume_is_reported_and_others_written(
    synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = nifti._write_image

    def fail_for_lung(image, path, compress):
        if "LUNG" in path.name:
            raise RuntimeError("simulated failure")
        real(image, path, compress)

    monkeypatch.setattr(nifti, "_write_image", fail_for_lung)
    res = export_folder(synthetic_study, tmp_path / "out", skip_localizers=True)
    assert [r.series_number for r in res if r.skipped] == [1]
    assert [r.ok for r in res if not r.skipped] == [True, False, True, False]
    assert "series 3 ('5mm LUNG')" in res[2].error and "simulated failure" in res[2].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "2_5mm_STANDARD.json", "2_5mm_STANDARD.nii.gz", "4_1.25mm_STANDARD.json", "4_1.25mm_STANDARD.nii.gz",
    ]  # fmt: skip
    monkeypatch.setattr(nifti, "_write_image", real)
    rc = cli.main(["export", str(synthetic_study), str(tmp_path / "cli"), "--series", "2"])
    assert rc == 0


def test_cli_reports_failed_volume(
    synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(image, path, compress):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(nifti, "_write_image", fail)
    assert cli.main(["export", str(synthetic_study), str(tmp_path / "out"), "--series", "4"]) == 1
    err = capsys.readouterr().err
    assert "series 4" in err and "simulated failure" in err
    assert os.listdir(tmp_path / "out") == []


def test_progress_reports_scan_then_export_to_the_end(synthetic_study: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    export_folder(synthetic_study, tmp_path / "out", progress=lambda *a: calls.append(a))
    scans = [c for c in calls if c[0] == "scanning"]
    exports = [c for c in calls if c[0] == "exporting"]
    assert scans[-1] == ("scanning", 85, 85)  # every file of the study
    assert calls.index(scans[-1]) < calls.index(exports[0])
    done = [d for _, d, _ in exports]
    assert done == sorted(done) and exports[-1][1] == exports[-1][2] == 2 * 85  # each frame read, then written


# ----------------------------------------------------------------------------- the NIfTI bytes are SimpleITK's


@pytest.mark.parametrize("shape", [(7, 20, 30), (3, 5, 6, 7)])
def test_nii_gz_holds_the_bytes_simpleitk_writes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Compressed here (chunks, Cancel): once decompressed, the file is byte for byte SimpleITK's own .nii.gz."""
    import gzip

    import SimpleITK as sitk

    arr = np.random.default_rng(5).integers(-1000, 3000, shape).astype(np.int16)
    affine = np.diag([2.5, 0.7, 0.8, 1.0])
    affine[:3, 3] = (10.0, -20.0, 30.0)
    ours = write_nifti_array(arr, affine, tmp_path / "ours.nii.gz", None, time_spacing=2.0, description="series 3 lung")[0]
    grid = Geometry(arr.shape, affine)
    img = grid.to_sitk(arr, time_spacing=2.0)
    img.SetMetaData("ITK_FileNotes", "series 3 lung")
    sitk.WriteImage(img, str(tmp_path / "itk.nii.gz"), useCompression=True)
    assert gzip.decompress(ours.read_bytes()) == gzip.decompress((tmp_path / "itk.nii.gz").read_bytes())
    assert ours.read_bytes()[:2] == b"\x1f\x8b" and nib.load(ours).header["descrip"].tobytes().startswith(b"series 3 lung")


# ----------------------------------------------------------------------------- export from an archive index


def _cli_run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "napari_dicomseries.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _written(folder: Path) -> dict[str, object]:
    """Every output file: NIfTI as (shape, dtype, affine, voxels digest), sidecars as JSON without time stamps."""
    import hashlib

    out: dict[str, object] = {}
    for p in sorted(folder.iterdir()):
        if p.name.endswith((".nii.gz", ".nii")):
            img = nib.load(p)
            data = np.asarray(img.dataobj)
            out[p.name] = (img.shape, str(data.dtype), img.affine.round(6).tolist(), hashlib.sha256(data.tobytes()).hexdigest())
        elif p.suffix == ".json":
            js = json.loads(p.read_text())
            out[p.name] = {k: v for k, v in js.items() if not re.search(r"time ?stamp|conversion(date|time)", k, re.I)}
        else:
            out[p.name] = p.read_bytes()
    return out


@pytest.mark.parametrize("which", ["synthetic", "ct_ge_lightspeed_lung"])
def test_export_index_writes_what_export_folder_writes(request: pytest.FixtureRequest, tmp_path: Path, which: str) -> None:
    """``export INDEX OUT`` gives the files of ``export DIR OUT``; OUT inside the archive or the index is refused."""
    origin = (
        request.getfixturevalue("synthetic_study") if which == "synthetic" else request.getfixturevalue("shared_data") / which
    )
    archive = tmp_path / "archive"
    shutil.copytree(origin, archive)
    before = tree_digest(archive)
    idx = tmp_path / "idx"
    r = _cli_run("index", archive, "--db", idx, "--workers", "0")
    assert r.returncode == 0, r.stderr
    r = _cli_run("export", archive, tmp_path / "from_dir")
    assert r.returncode == 0, r.stderr
    r = _cli_run("export", idx, tmp_path / "from_index")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    from_dir, from_index = _written(tmp_path / "from_dir"), _written(tmp_path / "from_index")
    assert sorted(from_index) == sorted(from_dir) and len(from_dir) >= 2
    assert from_index == from_dir
    # one series: only the files of that series, the same as from the folder
    r = _cli_run("export", idx, tmp_path / "one", "--series", "3")
    assert r.returncode == 0, r.stderr
    one = _written(tmp_path / "one")
    assert one and all(from_dir[name] == v for name, v in one.items())
    assert all(name.startswith("3") for name in one)
    if which == "synthetic":  # other series too, left out
        assert len(one) < len(from_dir)
    # never into the archive (the input folder) nor into the index
    for bad in (archive / "nifti", archive, idx / "nifti"):
        r = _cli_run("export", idx, bad)
        assert r.returncode == 2 and "input folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (archive / "nifti").exists() and not (idx / "nifti").exists()
    assert tree_digest(archive) == before


def test_export_volumes_refuses_the_folders_of_its_volumes(synthetic_study: Path, tmp_path: Path) -> None:
    src = tmp_path / "dicom"
    shutil.copytree(synthetic_study, src)
    volumes, _ = open_folder(src)
    with pytest.raises(DicomSeriesError, match="inside the input folder"):
        export.export_volumes(volumes, src / "nifti")
    res = export.export_volumes(volumes, tmp_path / "out", series=["2"])
    assert [r.ok for r in res] == [True] and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "2_5mm_STANDARD.json", "2_5mm_STANDARD.nii.gz",
    ]  # fmt: skip

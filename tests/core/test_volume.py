"""Splitting rules: echoes, time points, overlapping acquisitions, non-image objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from napari_dicomseries import open_folder
from napari_dicomseries.load import load_volume
from napari_dicomseries.synthetic import STUDY_SERIES, write_series
from napari_dicomseries.warning import WarningCode

SPEC = STUDY_SERIES[0]  # 5 mm STANDARD; at scale 0.125: 9 slices of 64 x 64


def _series(folder: Path, **kw: object) -> list[Path]:
    return write_series(folder, SPEC, scale=0.125, **kw)


def _rewrite(paths: list[Path], dest: Path, tag: str, value: object, new_uids: bool = True) -> list[Path]:
    """Copy ``paths`` into ``dest`` with ``tag`` set to ``value`` (and fresh SOP instance UIDs)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        ds = pydicom.dcmread(p)
        setattr(ds, tag, value)
        if new_uids:
            ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(p), tag, str(value)])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        q = dest / f"{tag}_{value}_{p.name}"
        ds.save_as(q)
        out.append(q)
    return out


def test_two_echoes_become_two_volumes(tmp_path: Path) -> None:
    base = _series(tmp_path / "base")
    _rewrite(base, tmp_path / "study", "EchoNumbers", 1)
    _rewrite(base, tmp_path / "study", "EchoNumbers", 2)
    volumes, _ = open_folder(tmp_path / "study")
    assert len(volumes) == 2
    assert [v.split_reason for v in volumes] == ["EchoNumbers=1", "EchoNumbers=2"]
    assert all(v.shape == (9, 64, 64) for v in volumes)
    assert [v.key for v in volumes] == ["2.1", "2.2"]


def test_repeated_positions_with_temporal_index_are_4d(tmp_path: Path) -> None:
    base = _series(tmp_path / "base")
    for t in (3, 1, 2):  # written out of order on purpose
        _rewrite(base, tmp_path / "study", "TemporalPositionIdentifier", t)
    (v,), _ = open_folder(tmp_path / "study")
    assert v.shape == (3, 9, 64, 64)
    assert v.time_tag == "TemporalPositionIdentifier" and v.time_values == [1, 2, 3]
    grid = v.frame_grid()
    assert [g[0].temporal_position for g in grid] == [1, 2, 3]
    for g in grid:  # every time point sorted along z
        zs = [f.position[2] for f in g]
        assert zs == sorted(zs)
    arr = load_volume(v)
    assert arr.shape == v.shape and arr.dtype == np.int16
    assert np.array_equal(arr[0], arr[2])  # same pixels, three time points


def test_overlapping_acquisitions_split_by_acquisition_number(tmp_path: Path) -> None:
    base = _series(tmp_path / "base")
    _rewrite(base, tmp_path / "study", "AcquisitionNumber", 1)
    _rewrite(base[:5], tmp_path / "study", "AcquisitionNumber", 2)  # a partial repeat: not a consistent 4-D set
    volumes, _ = open_folder(tmp_path / "study")
    assert [(v.split_reason, v.n_slices) for v in volumes] == [("AcquisitionNumber=1", 9), ("AcquisitionNumber=2", 5)]


def test_same_position_different_images_keeps_first_with_warning(tmp_path: Path) -> None:
    base = _series(tmp_path / "base")
    study = tmp_path / "study"
    _rewrite(base, study, "AcquisitionNumber", 1)
    extra = _rewrite(base[:1], tmp_path / "extra", "InstanceNumber", 99)
    # same acquisition number: not separable, so one volume with a warning
    ds = pydicom.dcmread(extra[0])
    ds.AcquisitionNumber = 1
    ds.save_as(study / "extra.dcm")
    (v,), _ = open_folder(study)
    assert v.n_slices == 9
    assert any("different images at the same position" in w.message and "extra.dcm" in w.message for w in v.warnings), v.warnings
    # the record names the image left out, by code and file (no text to parse)
    (dup,) = [w for w in v.warnings if w.code == WarningCode.DUPLICATE_POSITION]
    assert [Path(p).name for p in dup.files] == ["extra.dcm"] and dup.frames == ()
    assert v.confidence < 1.0


def test_non_image_objects_are_listed(tmp_path: Path) -> None:
    _series(tmp_path)
    sr = Dataset()
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR
    sr.SOPInstanceUID = generate_uid()
    sr.SeriesInstanceUID = generate_uid()
    sr.StudyInstanceUID = generate_uid()
    sr.Modality = "SR"
    sr.SeriesNumber = 900
    sr.SeriesDescription = "Dose report"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sr.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sr.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.file_meta = meta
    sr.save_as(tmp_path / "dose.dcm", enforce_file_format=True)
    volumes, result = open_folder(tmp_path)
    assert result.skipped == []
    (other,) = [v for v in volumes if v.series_number == 900]
    assert other.kind == "non-image" and not other.loadable and other.modality == "SR"
    assert "without pixel data" in other.warnings[0].message
    assert other.warnings[0].code == WarningCode.NO_PIXEL_DATA and other.warnings[0].files == (str(tmp_path / "dose.dcm"),)
    assert [v.kind for v in volumes if v.series_number != 900] == ["image"]


def test_gantry_tilt_is_measured_and_kept(tmp_path: Path) -> None:
    base = _series(tmp_path / "base")
    tilt = np.deg2rad(12.0)
    out = tmp_path / "tilt"
    out.mkdir()
    zs = []
    for p in base:
        ds = pydicom.dcmread(p)
        x, y, z = (float(c) for c in ds.ImagePositionPatient)
        zs.append(z)
        ds.ImagePositionPatient = [x, y + z * np.tan(tilt), z]  # slices shift along y as z changes
        ds.GantryDetectorTilt = 12.0
        ds.save_as(out / p.name)
    (v,), _ = open_folder(out)
    assert any(w.message.startswith("gantry tilt of 12.00 degrees") for w in v.warnings), v.warnings
    assert [w.code for w in v.warnings] == [WarningCode.GANTRY_TILT]
    assert v.gantry_tilt == pytest.approx(12.0, abs=0.01)
    # corners keep the shear: voxel (k, 0, 0) sits at the file's ImagePositionPatient
    top = max(base, key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))
    ipp = [float(c) for c in pydicom.dcmread(out / top.name, stop_before_pixels=True).ImagePositionPatient]
    assert v.world_position((v.n_slices - 1, 0, 0)) == pytest.approx(ipp, abs=1e-3)

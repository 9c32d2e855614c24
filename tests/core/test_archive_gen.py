"""The synthetic archive generator (benchmarks of issue 14): valid DICOM that the scan reads as the plan says."""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.synthetic_archive import ArchiveSummary, write_archive

from ..data import tree_digest


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveSummary:
    """A small mixed archive: every vendor with CT and MR, every study recipe (shortened studies)."""
    return write_archive(tmp_path_factory.mktemp("archive") / "a", 1500, seed=0, extent_scale=0.25)


def _dicom_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ("export.log", "README.TXT"))


def test_archive_covers_vendors_layouts_and_recipes(archive: ArchiveSummary) -> None:
    combos = {(s.vendor, s.modality) for s in archive.series}
    assert combos == {(v, m) for v in ("ge", "siemens", "philips") for m in ("CT", "MR")}
    kinds = collections.Counter(s.kind for s in archive.series)
    assert kinds["localizer"] and kinds["secondary"] and kinds["image"]
    images = [s for s in archive.series if s.kind == "image"]
    assert {s.kernel_class for s in images if s.modality == "CT"} == {"standard", "lung", "bone"}
    assert {s.thickness_class for s in images} == {"thin", "thick"}
    assert {s.orientation for s in images} == {"axial", "coronal", "sagittal"}
    root = archive.root
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == archive.files
    # each vendor's layout: GE flat folders of random .dcm names, Siemens PATIENT/STUDY/SERIES, Philips nested, no extension
    ge = [p.relative_to(root) for p in files if p.parts[len(root.parts)] == "ge"]
    assert ge and all(len(p.parts) == 3 and len(p.stem) == 16 and p.suffix == ".dcm" for p in ge)
    siemens = [p.relative_to(root) for p in files if p.parts[len(root.parts)] == "siemens" and p.suffix == ".dcm"]
    assert siemens and all(len(p.parts) == 5 and p.name.startswith("IM-") for p in siemens)
    philips = [p.relative_to(root) for p in files if p.parts[len(root.parts)] == "philips" and p.name != "README.TXT"]
    assert philips and all(len(p.parts) == 6 and p.parts[2] == "DICOM" and not p.suffix for p in philips)
    assert not list(root.rglob("DICOMDIR"))


def test_pydicom_reads_every_file(archive: ArchiveSummary) -> None:
    """Every generated file is valid DICOM: pydicom reads it without warnings, pixels included; patched values parse."""
    import pydicom

    files = _dicom_files(archive.root)
    assert len(files) == archive.dicom_files
    sops = set()
    syntaxes = collections.Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for p in files:
            ds = pydicom.dcmread(p)
            assert ds.pixel_array.shape == (32, 32), p
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID, p
            assert len(ds.SOPInstanceUID) <= 64
            sops.add(ds.SOPInstanceUID)
            syntaxes[(ds.Manufacturer, ds.file_meta.TransferSyntaxUID)] += 1
            if "ImagePositionPatient" in ds:
                assert len(ds.ImagePositionPatient) == 3 and len(ds.ImageOrientationPatient) == 6, p
                assert int(ds.InstanceNumber) >= 1
                normal = _cross(ds.ImageOrientationPatient)
                assert float(ds.SliceLocation) == pytest.approx(
                    sum(a * b for a, b in zip(ds.ImagePositionPatient, normal, strict=True)), abs=1e-3
                )
    assert len(sops) == len(files)  # every instance has its own UID
    assert {ts for (maker, ts) in syntaxes if maker == "Philips"} == {"1.2.840.10008.1.2"}  # implicit VR
    assert {ts for (maker, ts) in syntaxes if maker != "Philips"} == {"1.2.840.10008.1.2.1"}


def _cross(iop: list[float]) -> tuple[float, float, float]:
    r, c = iop[:3], iop[3:]
    return (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])


def test_scan_classifies_as_planned(archive: ArchiveSummary) -> None:
    """``open_folder`` (what ``ls`` prints) gives every planned series its planned kind, kernel, thickness, orientation."""
    volumes, result = open_folder(archive.root)
    by_uid = collections.defaultdict(list)
    for v in volumes:
        by_uid[v.series_instance_uid].append(v)
    assert set(by_uid) == {s.series_uid for s in archive.series}
    assert {Path(s.path).name for s in result.skipped} == {"export.log", "README.TXT"}
    assert len(result.skipped) == archive.junk_files
    for s in archive.series:
        vols = by_uid[s.series_uid]
        assert {str(v.kind) for v in vols} == {s.kind}, s
        assert sum(len(v.files) for v in vols) == s.n_files, s
        if s.kind == "localizer":
            assert {str(v.orientation) for v in vols} == set(s.planes), s
        if s.kind != "image":
            continue
        assert len(vols) == 1, s
        v = vols[0]
        assert not v.warnings, (s, v.warnings)
        assert (str(v.orientation), str(v.thickness_class), v.n_slices) == (s.orientation, s.thickness_class, s.n_files)
        assert v.spacing[0] == pytest.approx(s.spacing, abs=1e-3)
        assert v.shape[-2:] == (32, 32)
        if s.kernel_class is not None:
            assert str(v.kernel_class) == s.kernel_class, s


def test_deterministic_and_flat_layout(tmp_path: Path) -> None:
    a = write_archive(tmp_path / "a", 120, seed=3, layout="flat", volumes=8)
    b = write_archive(tmp_path / "b", 120, seed=3, layout="flat", volumes=8)
    assert tree_digest(a.root) == tree_digest(b.root)
    assert len(a.series) == 8 and a.junk_files == 0
    assert all(p.parent == a.root for p in a.root.rglob("*"))  # one flat folder
    assert abs(a.files - 120) <= 8  # about the files asked for
    volumes, _ = open_folder(a.root)
    assert len(volumes) == 8
    c = write_archive(tmp_path / "c", 120, seed=4, layout="flat", volumes=8)
    assert tree_digest(c.root) != tree_digest(a.root)


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        write_archive(tmp_path, 10)
    assert (tmp_path / "x.txt").read_text() == "keep me"

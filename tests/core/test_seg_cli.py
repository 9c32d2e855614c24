"""``napari-dicomseries seg DIR``: segmentations, their segments, volume (mL) and centroid, run in a subprocess.

Expected values are the facts of ../shared/data/README.md (voxel counts and centroids that highdicom, plain pydicom
decoding and dcmqi's reference label maps agree on) and what pydicom reads from the files (spacing, UIDs, names).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ..data import tree_digest
from .test_cli import assert_error, assert_ok, run

#: ../shared/data/README.md: seg_ct_liver (segment label -> voxels, centroid LPS mm)
LIVER = {"Liver": (107_098, (-74.057, -33.262, -127.699))}
PARTIAL = {
    "GREEN": (9_602, (-75.119, -45.922, -127.690)),
    "ORANGE": (11_888, (-11.712, -22.117, -127.690)),
    "PURPLE": (10_743, (-27.396, -28.094, -126.723)),
    "LIGHT_BLUE": (6_693, (28.573, 60.872, -128.690)),
    "DARK_BLUE": (4_713, (-99.420, 69.823, -128.690)),
}


def _spacing(seg_file: Path) -> tuple[float, float, float]:
    """(slice, row, column) spacing in mm of a SEG, read with pydicom from its shared functional groups."""
    ds = pydicom.dcmread(seg_file, stop_before_pixels=True)
    pm = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    return float(pm.SpacingBetweenSlices), float(pm.PixelSpacing[0]), float(pm.PixelSpacing[1])


def _check_segments(entry: dict, facts: dict, spacing: tuple[float, float, float]) -> None:
    got = {s["label"]: s for s in entry["segments"]}
    assert set(got) == set(facts)
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000
    half = np.array([spacing[2], spacing[1], spacing[0]]) / 2  # x, y, z of an axial grid
    for label, (voxels, centre) in facts.items():
        s = got[label]
        assert s["voxels"] == voxels, label
        assert s["volume_ml"] == pytest.approx(voxels * voxel_ml, rel=1e-9), label
        assert np.all(np.abs(np.subtract(s["centroid_lps"], centre)) <= half), (label, s["centroid_lps"], centre)


@pytest.fixture(scope="module")
def liver_json(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = shared_data / "seg_ct_liver"
    before = tree_digest(folder)
    p = run("seg", folder, "--json", cwd=tmp_path_factory.mktemp("seg"))
    assert_ok(p)
    assert tree_digest(folder) == before
    return json.loads(p.stdout)


def test_seg_liver_facts(liver_json: dict, shared_data: Path) -> None:
    folder = shared_data / "seg_ct_liver"
    by_key = {e["key"]: e for e in liver_json["segmentations"]}
    assert sorted(by_key) == ["1", "100"]
    spacing = _spacing(folder / "seg" / "liver.dcm")
    assert spacing == pytest.approx((1.0, 0.810547, 0.810547), abs=1e-6)
    _check_segments(by_key["1"], LIVER, spacing)
    # the README's figure, spelled out: 107,098 voxels of 0.810547 x 0.810547 x 1.0 mm
    assert by_key["1"]["segments"][0]["volume_ml"] == pytest.approx(107_098 * 0.810547**2 / 1000, rel=1e-5)
    _check_segments(by_key["100"], PARTIAL, _spacing(folder / "seg" / "partial_overlaps.dcm"))
    # names, codes and colours as the SegmentSequence holds them
    ds = pydicom.dcmread(folder / "seg" / "partial_overlaps.dcm", stop_before_pixels=True)
    for item, seg in zip(ds.SegmentSequence, by_key["100"]["segments"], strict=True):
        assert seg["number"] == item.SegmentNumber and seg["label"] == item.SegmentLabel
        assert seg["category"] == item.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning
        assert seg["type"] == item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning
        assert len(seg["color"]) == 3 and all(0 <= c <= 255 for c in seg["color"])
    # both reference the CT series, found in the folder
    ct = pydicom.dcmread(folder / "ct" / "01.dcm", stop_before_pixels=True)
    for e in by_key.values():
        assert [r["series_instance_uid"] for r in e["references"]] == [ct.SeriesInstanceUID]
        assert e["references"][0]["series_number"] == ct.SeriesNumber
        assert e["references"][0]["keys"] == [str(ct.SeriesNumber)]
        assert e["error"] is None and e["modality"] == "SEG"


def test_seg_table(shared_data: Path, tmp_path: Path) -> None:
    p = run("seg", shared_data / "seg_ct_liver", cwd=tmp_path)
    assert_ok(p)
    lines = p.stdout.splitlines()
    liver = next(line for line in lines if " Liver " in line)
    assert liver.split()[:2] == ["1", "Liver"] and "107098" in liver and "70.36" in liver
    assert "(-74.057, -33.262, -127.699)" in liver
    assert any(line.startswith("segmentation 1 ") and "of series 2" in line for line in lines)
    assert any("GREEN" in line and "9602" in line for line in lines)
    assert any("share slices" in line for line in lines)  # the overlap rule is said, as a warning


def test_seg_sparse(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "seg_sparse"
    p = run("seg", folder, "--json", cwd=tmp_path)
    assert_ok(p)
    entries = json.loads(p.stdout)["segmentations"]
    by_file = {Path(e["files"][0]).name: e for e in entries}
    binary = by_file["label.seg.dcm"]["segments"]
    # frame 2 only: 315 voxels, exactly where the referenced image equals 1
    ct = sorted((pydicom.dcmread(f) for f in (folder / "ct").iterdir()), key=lambda d: float(d.ImagePositionPatient[2]))
    assert [s["voxels"] for s in binary] == [315] == [int(sum((d.pixel_array == 1).sum() for d in ct))]
    labelmap = by_file["sparse-labelmap-noppv.dcm"]
    (seg,) = labelmap["segments"]
    assert seg["voxels"] == 630
    assert np.all(np.abs(np.subtract(seg["centroid_lps"], (55.825, 11.845, -175.25))) <= [0.35, 0.35, 1.25])
    assert seg["volume_ml"] == pytest.approx(630 * 0.7 * 0.7 * 2.5 / 1000, rel=1e-6)
    assert any("sparse" in w for w in labelmap["warnings"])
    assert labelmap["references"][0]["keys"] == [str(ct[0].SeriesNumber)]
    # one segmentation by key
    p = run("seg", folder, "--series", by_file["label.seg.dcm"]["key"], "--json", cwd=tmp_path)
    assert_ok(p)
    assert [e["key"] for e in json.loads(p.stdout)["segmentations"]] == [by_file["label.seg.dcm"]["key"]]


def test_seg_errors(shared_data: Path, synthetic_study: Path, tmp_path: Path) -> None:
    assert_ok(run("seg", "--help", cwd=tmp_path))
    assert_error(run("seg", synthetic_study, cwd=tmp_path), str(synthetic_study), "no segmentation", command="seg")
    assert_error(run("seg", tmp_path / "nowhere", cwd=tmp_path), "nowhere", "no such file", command="seg")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_error(run("seg", empty, cwd=tmp_path), str(empty), command="seg")
    folder = shared_data / "seg_sparse"
    ct_number = str(pydicom.dcmread(next((folder / "ct").iterdir()), stop_before_pixels=True).SeriesNumber)
    assert_error(run("seg", folder, "--series", ct_number, cwd=tmp_path), "not a segmentation", command="seg")
    assert_error(run("seg", folder, "--series", "999", cwd=tmp_path), "999", "300.1", command="seg")


def test_seg_rtstruct(shared_data: Path, tmp_path: Path) -> None:
    """RTSTRUCT ROIs rasterised on their CT's grid (README facts: pixel-centre rule) through the same command."""
    pytest.importorskip("napari_dicomseries.rtstruct")  # the RTSTRUCT reader (routes ROIs to a segmentation volume)
    p = run("seg", shared_data / "rtstruct_phantom", "--json", cwd=tmp_path)
    assert_ok(p)
    (entry,) = json.loads(p.stdout)["segmentations"]
    assert entry["modality"] == "RTSTRUCT"
    facts = {
        "Volume1": (33_371, (98.0, 98.0, 97.0)),
        "Volume2": (115_351, (98.0, 68.0, 97.0)),
        "Volume3": (115_351, (98.0, 128.0, 97.0)),
    }
    _check_segments(entry, facts, (3.0, 2.0, 2.0))  # 2 x 2 x 3 mm voxels (12 mm³)
    assert entry["references"][0]["keys"]  # the CT it is drawn on was scanned too


def test_ls_says_what_each_segmentation_segments(shared_data: Path, tmp_path: Path) -> None:
    """``ls`` names the series a segmentation references and its segments."""
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "napari_dicomseries.cli", "ls", str(shared_data / "seg_ct_liver")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "[1] segmentation of series 2: 1 segment(s) (Liver)" in p.stdout
    assert "[100] segmentation of series 2: 5 segment(s) (GREEN, ORANGE, PURPLE, LIGHT_BLUE, DARK_BLUE)" in p.stdout

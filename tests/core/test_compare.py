"""Tag comparison: constant and varying tags of one volume, differences between two volumes, CLI twins.

Expected values come from the files themselves, read independently with pydicom.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_description

from napari_dicomseries import open_folder
from napari_dicomseries.cli import main
from napari_dicomseries.compare import TagInfo, TagValue, diff_volumes, values_equal, volume_tags
from napari_dicomseries.errors import SeriesNotFoundError
from napari_dicomseries.geometry import Geometry
from napari_dicomseries.masks import GridMask, find_segment, resample_mask, segment_mask
from napari_dicomseries.metrics import compare_arrays, compare_volumes, segment_pairs
from napari_dicomseries.selection import select_volume
from napari_dicomseries.synthetic import STUDY_SERIES

from ..data import tree_digest


@pytest.fixture(scope="module")
def study(synthetic_study: Path) -> dict[int, object]:
    volumes, _ = open_folder(synthetic_study)
    return {v.series_number: v for v in volumes}


@pytest.fixture(scope="module")
def headers(synthetic_study: Path) -> dict[int, list[pydicom.Dataset]]:
    """The synthetic study's headers by series number, read with pydicom, sorted by z (array order)."""
    out: dict[int, list[pydicom.Dataset]] = {}
    for p in synthetic_study.iterdir():
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        out.setdefault(int(ds.SeriesNumber), []).append(ds)
    for v in out.values():
        v.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return out


def _row(diff, keyword):
    return next(r for r in diff.rows if (r.info.keyword or r.info.key) == keyword and not r.info.path)


# ----------------------------------------------------------------------------- two volumes


def test_standard_vs_lung_differ_in_kernel_window_description(study, headers) -> None:
    std, lung = study[2], study[3]
    d = diff_volumes(std, lung)
    shown = d.keywords()
    assert {"ConvolutionKernel", "WindowCenter", "WindowWidth", "SeriesDescription", "SeriesNumber", "SeriesInstanceUID"} <= shown
    # per-instance identifiers are hidden unless asked, and the same grid is not a difference
    assert not shown & {"SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "MediaStorageSOPInstanceUID"}
    assert not shown & {"SliceThickness", "PixelSpacing", "Rows", "Columns", "(volume) slices", "Modality", "StudyInstanceUID"}
    with_ids = d.keywords(identifiers=True)
    assert {"SOPInstanceUID", "MediaStorageSOPInstanceUID"} <= with_ids
    assert "ImagePositionPatient" not in with_ids  # same positions slice by slice
    assert _row(d, "ImagePositionPatient").status == "same"
    # the values are what pydicom reads from the files
    a, b = headers[2][0], headers[3][0]
    for kw in ("ConvolutionKernel", "SeriesDescription", "SeriesInstanceUID"):
        r = _row(d, kw)
        assert (r.value_a, r.value_b) == (str(a.get(kw)), str(b.get(kw)))
    for kw in ("WindowCenter", "WindowWidth"):
        r = _row(d, kw)
        assert (float(r.value_a), float(r.value_b)) == (float(a.get(kw)), float(b.get(kw)))
    assert _row(d, "ConvolutionKernel").status == "different"
    assert _row(d, "Modality").status == "same"
    # names come from the DICOM dictionary
    for r in d.rows:
        if r.info.tag and not r.info.is_private:
            assert r.info.name == dictionary_description(int(r.info.tag[1:5] + r.info.tag[6:10], 16))


def test_thick_vs_thin_differ_in_thickness_and_slice_count(study, headers) -> None:
    d = diff_volumes(study[2], study[4])
    shown = d.keywords()
    assert {"SliceThickness", "(volume) slices", "SeriesDescription"} <= shown
    assert "ConvolutionKernel" not in shown and "WindowCenter" not in shown
    r = _row(d, "SliceThickness")
    assert (float(r.value_a), float(r.value_b)) == (float(headers[2][0].SliceThickness), float(headers[4][0].SliceThickness))
    r = _row(d, "(volume) slices")
    assert (int(r.value_a), int(r.value_b)) == (len(headers[2]), len(headers[4]))
    assert r.info.category == "volume"
    # geometry first: derived volume rows, then geometry tags, then the rest
    cats = [r.info.category for r in d.filtered()]
    assert cats == sorted(cats, key=lambda c: {"volume": 0, "geometry": 1}.get(c, 2))
    assert _row(d, "SliceThickness").info.category == "geometry"
    # every differing row, and nothing else, in the CSV
    csv_text = d.to_csv()
    assert csv_text.splitlines()[0].startswith("category,tag,keyword")
    assert len(csv_text.strip().splitlines()) == 1 + len(d.filtered())


def test_diff_shows_all_rows_and_searches(study) -> None:
    d = diff_volumes(study[2], study[3])
    everything = d.filtered(show_all=True, identifiers=True)
    assert len(everything) == len(d.rows) > len(d.filtered())
    assert {r.info.keyword for r in d.filtered(query="kernel")} == {"ConvolutionKernel"}
    assert {r.info.keyword for r in d.filtered(show_all=True, query="(0028,1050)")} == {"WindowCenter"}
    assert {r.info.keyword for r in d.filtered(show_all=True, query="00181210")} == {"ConvolutionKernel"}
    group_0028 = d.filtered(show_all=True, query="0028")
    assert group_0028 and all(r.info.group == 0x0028 for r in group_0028)


def test_numeric_tolerance(synthetic_study: Path, tmp_path: Path) -> None:
    """A DS value off by 1e-5 in one slice is constant with the default tolerance, varying with a tighter one."""
    series2 = [p for p in synthetic_study.iterdir() if int(pydicom.dcmread(p, stop_before_pixels=True).SeriesNumber) == 2]
    for p in series2:
        shutil.copy(p, tmp_path / p.name)
    ds = pydicom.dcmread(tmp_path / series2[0].name)
    ds.SliceThickness = "5.00001"
    ds.save_as(tmp_path / series2[0].name)
    (vol,) = open_folder(tmp_path)[0]
    assert volume_tags(vol).row("SliceThickness").constant
    tight = volume_tags(vol, tolerance=1e-6).row("SliceThickness")
    assert not tight.constant and tight.n_distinct == 2
    assert (float(tight.minimum), float(tight.maximum)) == (5.0, 5.00001)
    assert values_equal(TagValue("1", (1.0,)), TagValue("1.00001", (1.00001,)), 1e-4)
    assert not values_equal(TagValue("1", (1.0,)), TagValue("1.001", (1.001,)), 1e-4)
    assert not values_equal(TagValue("1\\2", (1.0, 2.0)), TagValue("1", (1.0,)), 1e-4)


# ----------------------------------------------------------------------------- one volume


def test_within_volume_constant_and_varying(study, headers) -> None:
    vol = study[2]
    files = headers[2]
    vt = volume_tags(vol)
    assert vt.n_frames == len(files)
    ipp = vt.row("ImagePositionPatient")
    assert not ipp.constant and ipp.n_distinct == len(files)
    kernel = vt.row("ConvolutionKernel")
    assert kernel.constant and kernel.value == str(files[0].ConvolutionKernel)
    assert vt.row("PixelSpacing").constant
    # per-slice values of a varying tag, in array order (ascending z), as pydicom reads them
    assert [float(x) for x in vt.per_frame_values("SliceLocation")] == [float(d.SliceLocation) for d in files]
    inst = vt.row("InstanceNumber")
    assert (int(inst.minimum), int(inst.maximum)) == (
        min(int(d.InstanceNumber) for d in files),
        max(int(d.InstanceNumber) for d in files),
    )
    varying = {r.info.keyword for r in vt.varying}
    assert varying == {"ImagePositionPatient", "SliceLocation", "InstanceNumber", "SOPInstanceUID", "MediaStorageSOPInstanceUID"}
    # every top-level tag of the file is a row
    assert {e.keyword for e in files[0] if e.tag != 0x7FE00010} <= {r.info.keyword for r in vt.rows}


def test_enhanced_multiframe_per_frame_rows(shared_data: Path) -> None:
    folder = shared_data / "enhanced_siemens_xa10"
    before = tree_digest(folder)
    (vol,) = [v for v in open_folder(folder)[0] if v.is_image]
    vt = volume_tags(vol)
    assert vt.n_frames == 24  # 4 files x 6 frames
    per_frame = [r for r in vt.rows if r.info.per_frame]
    assert per_frame and all(r.info.key.startswith("PerFrameFunctionalGroupsSequence.") for r in per_frame)
    key = "PerFrameFunctionalGroupsSequence.PlanePositionSequence[0].ImagePositionPatient"
    ipp = next(r for r in vt.rows if r.info.key == key)
    assert not ipp.constant and ipp.n_distinct == 6 and ipp.info.keyword == "ImagePositionPatient"
    tpi = next(r for r in vt.rows if r.info.key.endswith("FrameContentSequence[0].TemporalPositionIndex"))
    assert not tpi.constant and tpi.n_distinct == 4
    # each frame's value is the one in its own per-frame item, read with pydicom
    datasets = {p: pydicom.dcmread(p, stop_before_pixels=True) for p in {f for f, _ in vt.frames.frames}}
    got = vt.per_frame_values(key)
    for (path, index), value in zip(vt.frames.frames, got, strict=True):
        item = datasets[path].PerFrameFunctionalGroupsSequence[index]
        want = [float(x) for x in item.PlanePositionSequence[0].ImagePositionPatient]
        assert [float(x) for x in value.split("\\")] == pytest.approx(want, abs=1e-4)
    # the per-frame sequence does not appear as one flat item per frame count
    assert not any(r.info.key.startswith("PerFrameFunctionalGroupsSequence[") for r in vt.rows)
    assert tree_digest(folder) == before


def test_private_tags_with_creator(shared_data: Path) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    (vol,) = open_folder(folder)[0]
    assert not any(r.info.is_private for r in volume_tags(vol).rows)
    vt = volume_tags(vol, private=True)
    private = [r for r in vt.rows if r.info.is_private and (r.info.element or 0) >= 0x1000 and not r.info.path]
    assert private
    ds = pydicom.dcmread(vol.files[0].path, stop_before_pixels=True)
    for r in private[:50]:
        g, e = r.info.group, r.info.element
        assert r.info.private_creator == str(ds[(g, e >> 8)].value)
        assert r.info.keyword == ""


def test_tag_info_matching() -> None:
    info = TagInfo(
        key="SliceThickness", tag="(0018,0050)", keyword="SliceThickness", name="Slice Thickness", vr="DS", category="geometry"
    )
    assert info.matches("0018,0050") and info.matches("(0018,0050)") and info.matches("0x00180050") and info.matches("0018")
    assert info.matches("thick") and info.matches("Slice Thick")
    assert not info.matches("0028") and not info.matches("kernel")


# ----------------------------------------------------------------------------- selection and CLI


def test_select_volume(study) -> None:
    vols = list(study.values())
    assert select_volume(vols, "3") is study[3]
    assert select_volume(vols, 4) is study[4]
    assert select_volume(vols, study[5].series_instance_uid) is study[5]
    with pytest.raises(SeriesNotFoundError, match=r"no series '42'.*2 \(5mm STANDARD\)"):
        select_volume(vols, "42")
    # a series split into two volumes: the number is ambiguous, the keys are not
    a = dataclasses.replace(study[3], key="3.1")
    b = dataclasses.replace(study[3], key="3.2")
    with pytest.raises(SeriesNotFoundError, match=r"3\.1, 3\.2"):
        select_volume([study[2], a, b], "3")
    assert select_volume([study[2], a, b], "3.2") is b


def test_cli_diff_and_tags(synthetic_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_digest(synthetic_study)
    assert main(["diff", str(synthetic_study), "2", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    kws = {t["keyword"] for t in out["tags"]}
    assert {"ConvolutionKernel", "WindowCenter", "WindowWidth", "SeriesDescription"} <= kws
    assert "SOPInstanceUID" not in kws and all(t["status"] != "same" for t in out["tags"])
    assert main(["diff", str(synthetic_study), "2", "4", "--all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    status = {t["keyword"]: t["status"] for t in out["tags"] if not t["key"].count(".")}
    assert status["SliceThickness"] == "different" and status["ConvolutionKernel"] == "same" and "SOPInstanceUID" in status
    assert main(["diff", str(synthetic_study), "2", "99"]) == 2
    err = capsys.readouterr().err
    assert "no series '99'" in err and "5 (1.25mm LUNG)" in err
    assert main(["tags", str(synthetic_study), "--series", "4", "--varying", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_frames"] == int(round(320 / (STUDY_SERIES[2].thickness / 0.125))) + 1
    assert {t["keyword"] for t in out["tags"]} == {
        "ImagePositionPatient",
        "SliceLocation",
        "InstanceNumber",
        "SOPInstanceUID",
        "MediaStorageSOPInstanceUID",
    }
    assert main(["tags", str(synthetic_study), "-s", "2", "--tag", "SliceLocation"]) == 0
    text = capsys.readouterr().out
    assert "-320" in text and text.count(".dcm") == 9
    assert main(["tags", str(synthetic_study), "-s", "2"]) == 0
    assert "ConvolutionKernel" in capsys.readouterr().out
    assert tree_digest(synthetic_study) == before


# ----------------------------------------------------------------------------- segmentations as masks (compare --mask-a)


def _ball(grid: Geometry, radius: float) -> np.ndarray:
    """Boolean ball of ``radius`` mm about LPS (0, 0, 0), from the voxel centres of ``grid``."""
    idx = np.indices(grid.shape, dtype=np.float64).reshape(3, -1)
    xyz = grid.affine[:3, :3] @ idx + grid.affine[:3, 3:]
    return ((xyz**2).sum(axis=0) <= radius**2).reshape(grid.shape)


def test_mask_through_a_coarser_grid_and_back() -> None:
    """A big sphere put on a grid twice as coarse and back (nearest neighbour both ways) keeps Dice >= 0.99."""
    n = 210
    fine = Geometry.from_parts((n, n, n), (1.0, 1.0, 1.0), origin=(-(n - 1) / 2,) * 3)
    coarse = Geometry.from_parts((n // 2,) * 3, (2.0, 2.0, 2.0), origin=(-(n - 2) / 2,) * 3)
    ball = _ball(fine, 100.0)
    on_coarse = resample_mask(ball, fine, coarse)
    assert (
        np.array_equal(on_coarse, _ball(coarse, 100.0))
        or abs(int(on_coarse.sum()) - int(_ball(coarse, 100.0).sum())) < 0.01 * on_coarse.sum()
    )
    img = np.zeros(fine.shape, np.int16)
    res = compare_arrays(img, fine, img, fine, mask_pairs=[(GridMask("fine", ball, fine), GridMask("coarse", on_coarse, coarse))])
    (o,) = res.overlaps
    assert o.stats.dice >= 0.99 and o.stats.hausdorff_mm <= math.sqrt(3) + 1e-9  # at most one voxel diagonal
    sphere_ml = 4 / 3 * math.pi * 100.0**3 / 1000
    assert o.stats.volume_a_ml == pytest.approx(sphere_ml, rel=0.01) and o.own_volume_b_ml == pytest.approx(sphere_ml, rel=0.01)
    assert res.overlap is o.stats and o.description == "fine vs coarse"


@pytest.fixture(scope="module")
def liver(shared_data: Path) -> dict[str, object]:
    return {v.key: v for v in open_folder(shared_data / "seg_ct_liver")[0]}


def test_liver_against_itself_on_other_grids(liver) -> None:
    """The Liver segment, put on other grids of its frame of reference (finer, coarser, shifted) and compared on the
    CT's grid with itself: Dice >= 0.99 (README fact: 107,098 voxels)."""
    seg, ct = liver["1"], liver["2"]
    assert seg.frame_of_reference_uid == ct.frame_of_reference_uid
    own = segment_mask(seg, 1)
    assert own.dtype == bool and int(own.sum()) == 107_098
    assert int(segment_mask(seg, "liver", target=ct.geometry).sum()) == 107_098  # by label; the CT's grid is the SEG's
    g = ct.geometry
    img = np.zeros(g.shape, np.int16)
    for shape, factor, shift in [((3, 1024, 1024), 0.5, 0.25), ((3, 256, 256), 2.0, 0.3)]:
        aff = g.affine.copy()
        aff[:3, 1:3] *= factor
        aff[:3, 3] += aff[:3, 2] * shift
        other = Geometry(shape, aff)
        moved = segment_mask(seg, 1, target=other)
        assert moved.shape == shape
        res = compare_arrays(img, g, img, g, mask_pairs=[(GridMask("own", own, seg.geometry), GridMask("moved", moved, other))])
        assert res.overlap.dice >= 0.99 and res.overlap.voxels_a == 107_098
        assert res.overlaps[0].own_volume_a_ml == pytest.approx(107_098 * g.voxel_volume_mm3 / 1000)


def test_find_segment_and_pairs(liver) -> None:
    seg, overlapping, ct = liver["1"], liver["100"], liver["2"]
    assert find_segment(seg, 1).label == "Liver" and find_segment(seg, " LIVER ").number == 1
    assert find_segment(overlapping, "ORANGE").number == 2 and find_segment(overlapping, "3").label == "PURPLE"
    with pytest.raises(SeriesNotFoundError, match="no segment '7'.*1 'Liver'"):
        find_segment(seg, 7)
    with pytest.raises(SeriesNotFoundError, match="not a segmentation"):
        find_segment(ct, 1)
    # one named segment meets every segment of the other side; two "every segment" sides pair by number
    pairs = segment_pairs(seg, "Liver", overlapping, None)
    assert [(a[1].number, b[1].number) for a, b in pairs] == [(1, n) for n in range(1, 6)]
    assert [(a[1].number, b[1].number) for a, b in segment_pairs(overlapping, None, seg, None)] == [(1, 1)]
    assert [(a[1].label, b) for a, b in segment_pairs(overlapping, 4, None, None)] == [("LIGHT_BLUE", None)]
    assert [(a, b[1].number) for a, b in segment_pairs(None, None, overlapping, None)] == [(None, n) for n in range(1, 6)]


def test_overlapping_segments_facts(liver) -> None:
    """README facts of partial_overlaps.dcm: 1 ∩ 2 = 3,017, 1 ∩ 3 = 95, 2 ∩ 3 = 50 voxels (4-D masks, never merged)."""
    seg, ct = liver["100"], liver["2"]
    assert seg.ndim == 4
    pairs = segment_pairs(seg, 1, seg, 2) + segment_pairs(seg, 1, seg, 3) + segment_pairs(seg, 2, seg, 3)
    res = compare_volumes(ct, ct, segments=pairs)
    assert [o.stats.voxels_both for o in res.overlaps] == [3_017, 95, 50]
    assert [(o.stats.voxels_a, o.stats.voxels_b) for o in res.overlaps] == [(9_602, 11_888), (9_602, 10_743), (11_888, 10_743)]
    for o in res.overlaps:
        s = o.stats
        assert s.dice == pytest.approx(2 * s.voxels_both / (s.voxels_a + s.voxels_b), rel=1e-9)
        assert s.jaccard == pytest.approx(s.voxels_both / (s.voxels_a + s.voxels_b - s.voxels_both), rel=1e-9)


def test_segment_statistics_by_hand() -> None:
    """Voxels, mL and centroid of a label map on a sheared grid, against the voxel positions computed one by one."""
    from napari_dicomseries.labels import Kind
    from napari_dicomseries.masks import segment_statistics
    from napari_dicomseries.segmentation import Segment
    from napari_dicomseries.volume import Volume

    grid = Geometry.from_parts((4, 5, 6), (2.0, 0.5, 0.75), origin=(10.0, -3.0, 7.0), slice_step=(0.0, 0.4, 2.0))
    labels = np.zeros(grid.shape, np.uint8)
    labels[1:3, 2:4, 1:5] = 1
    labels[3, 0, 0] = 2
    labels[0, 4, 5] = 7  # a value the SegmentSequence does not list
    vol = Volume(key="9", series_instance_uid="1.2", files=[], frames=[], shape=grid.shape, spacing=grid.spacing,
                 origin=grid.origin, direction=grid.direction, slice_step=grid.slice_step, kind=Kind.SEGMENTATION,
                 segments=[Segment(1, "box"), Segment(2, "dot"), Segment(3, "empty")])  # fmt: skip
    assert vol.geometry.same_as(grid)
    stats = {s.number: s for s in segment_statistics(vol, data=labels)}
    assert sorted(stats) == [1, 2, 3, 7] and stats[7].label == "segment 7"
    for n in (1, 2, 7):
        where = np.argwhere(labels == n)
        xyz = np.array([grid.world_position(ijk) for ijk in where])
        assert stats[n].voxels == len(where)
        assert stats[n].volume_ml == pytest.approx(len(where) * 2.0 * 0.5 * 0.75 / 1000)
        assert stats[n].centroid_lps == pytest.approx(xyz.mean(axis=0).tolist(), abs=1e-6)
    assert stats[3].voxels == 0 and stats[3].centroid_lps is None and stats[3].volume_ml == 0


def _compare(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_compare_with_segmentation_masks(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "seg_ct_liver"
    d = str(folder)
    before = tree_digest(folder)
    code, out, _ = _compare(capsys, d, "2", "2", "--mask-a", "1:1", "--mask-b", "1:1", "--json")
    assert code == 0
    res = json.loads(out)
    (o,) = res["overlaps"]
    assert o["dice"] == 1 and o["jaccard"] == 1 and o["hausdorff_mm"] == 0 and o["voxels_a"] == 107_098
    assert o["segment_a"] == {"number": 1, "label": "Liver"} and res["mask_a"] == "1:1"
    assert o["volume_a_ml"] == pytest.approx(107_098 * 0.810547**2 / 1000, rel=1e-5)
    # a segment against an HU range of image B: B's mask counted from the CT's pixels with pydicom
    ct = [pydicom.dcmread(f) for f in sorted((folder / "ct").iterdir())]
    hu = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ct])
    code, out, _ = _compare(capsys, d, "2", "2", "--mask-a", "1:Liver", "--hu-range", "-100", "200", "--json")
    assert code == 0
    (o,) = json.loads(out)["overlaps"]
    assert o["voxels_a"] == 107_098 and o["voxels_b"] == int(((hu >= -100) & (hu <= 200)).sum())
    assert o["segment_b"] is None and "image B" in o["mask_b"]
    assert o["dice"] == pytest.approx(2 * o["voxels_both"] / (o["voxels_a"] + o["voxels_b"]), rel=1e-9)
    # the other way round: A's mask from the range, B's the segment
    code, out, _ = _compare(capsys, d, "2", "2", "--mask-b", "1:1", "--preset", "bone", "--json")
    (o,) = json.loads(out)["overlaps"]
    assert code == 0 and o["voxels_b"] == 107_098 and o["voxels_a"] == int((hu >= 300).sum())
    # every segment of one side against the Liver, in the table
    code, out, _ = _compare(capsys, d, "2", "2", "--mask-a", "100", "--mask-b", "1:1")
    assert code == 0
    for label in ("GREEN", "ORANGE", "PURPLE", "LIGHT_BLUE", "DARK_BLUE"):
        assert "overlap: 100:" in out and f"{label}' vs 1:1 'Liver'" in out
    assert tree_digest(folder) == before


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--mask-a", "1:1"], ["--mask-a needs a mask for B"]),
        (["--mask-b", "1"], ["--mask-b needs a mask for A"]),
        (["--mask-a", "1:1", "--mask-b", "1:1", "--hu-range", "0", "100"], ["leave out --hu-range"]),
        (["--mask-a", "1:7", "--mask-b", "1"], ["no segment '7'", "1 'Liver'"]),
        (["--mask-a", "2:1", "--mask-b", "1"], ["series 2", "not a segmentation"]),
        (["--mask-a", "42:1", "--mask-b", "1"], ["42", "available"]),
        (["--mask-a", ":1", "--mask-b", "1"], ["--mask-a", "no segmentation before ':'"]),
        (["--mask-a", "1:", "--mask-b", "1"], ["no segment after ':'"]),
    ],
)
def test_cli_compare_mask_errors(
    shared_data: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]
) -> None:
    try:
        code, out, err = _compare(capsys, str(shared_data / "seg_ct_liver"), "2", "2", *argv)
    except SystemExit as exc:  # argparse's usage errors
        code, err = int(exc.code or 0), capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)

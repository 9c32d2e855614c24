"""RTSTRUCT on real data: ROIs listed with what they reference, contours rasterised on the referenced CT's grid.

Facts from ../shared/data/README.md (rtstruct_phantom); the independent checks (shoelace areas, a scalar
point-in-polygon test, scikit-image's when installed) are computed here from the contour data, not from our output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.errors import DecodeError
from napari_dicomseries.load import load_volume
from napari_dicomseries.rtstruct import fill_even_odd

try:  # a napari dependency; the core test runs without it (the scalar test still applies)
    from skimage.measure import points_in_poly
except ImportError:  # pragma: no cover - depends on the environment
    points_in_poly = None

RTSTRUCT_FILE = Path("rtstruct") / "RTstruct.dcm"
#: README facts: ROI number -> (voxels, centroid in LPS mm)
FACTS = {1: (33371, (98.0, 98.0, 97.0)), 2: (115351, (98.0, 68.0, 97.0)), 3: (115351, (98.0, 128.0, 97.0))}
#: README facts: sum over contours of the polygon area (mm^2)
AREAS = {1: 133406.0, 2: 461282.0, 3: 461282.0}


def _centroid(volume, mask: np.ndarray) -> np.ndarray:
    idx = np.argwhere(mask)
    pts = volume.affine_lps() @ np.c_[idx, np.ones(len(idx))].T
    return pts[:3].mean(axis=1)


def _split(volumes):
    (ct,) = [v for v in volumes if v.kind == "image"]
    (rt,) = [v for v in volumes if v.modality == "RTSTRUCT"]
    return ct, rt


@pytest.fixture(scope="module")
def phantom(shared_data: Path):
    volumes, _ = open_folder(shared_data / "rtstruct_phantom")
    ct, rt = _split(volumes)
    return ct, rt, load_volume(rt), load_volume(ct)


def _shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _contours_by_roi(path: Path) -> dict[int, list[np.ndarray]]:
    ds = pydicom.dcmread(path)
    return {
        int(roi.ReferencedROINumber): [np.asarray(c.ContourData, float).reshape(-1, 3) for c in roi.ContourSequence]
        for roi in ds.ROIContourSequence
    }


# ----------------------------------------------------------------------------- listing


def test_rtstruct_is_a_segmentation_of_its_ct(phantom, shared_data: Path) -> None:
    ct, rt, _, _ = phantom
    ds = pydicom.dcmread(shared_data / "rtstruct_phantom" / RTSTRUCT_FILE)
    assert rt.kind == "segmentation" and rt.loadable and rt.kind != "non-image"
    # what it references, from the RTReferencedSeriesSequence
    ref_uid = (
        ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0].SeriesInstanceUID
    )
    assert rt.references == [ct.series_instance_uid] == [ref_uid]
    assert [(s.number, s.label, s.type) for s in rt.segments] == [
        (1, "Volume1", "CTV"),
        (2, "Volume2", "AVOIDANCE"),
        (3, "Volume3", "AVOIDANCE"),
    ]
    colors = {int(r.ReferencedROINumber): tuple(int(c) for c in r.ROIDisplayColor) for r in ds.ROIContourSequence}
    assert {s.number: s.color for s in rt.segments} == colors and colors[1] == (255, 0, 0)  # README: ROI 1 red
    # on the CT's grid; the ROIs share slices (they overlap): one mask per ROI
    assert rt.shape == (3, *ct.shape) and rt.time_tag == "ReferencedROINumber" and rt.time_values == [1, 2, 3]
    np.testing.assert_allclose(rt.affine_lps(), ct.affine_lps(), atol=1e-6)
    assert "overlapping_segments" in [str(w.code) for w in rt.warnings]
    summary = rt.summary()
    assert summary["references"] == [ct.series_instance_uid] and [s["label"] for s in summary["segments"]][0] == "Volume1"
    assert summary["segments"][0]["color"] == [255, 0, 0]


def test_rtstruct_without_its_series_is_listed_with_a_warning(shared_data: Path) -> None:
    volumes, _ = open_folder(shared_data / "rtstruct_phantom" / "rtstruct")
    (rt,) = volumes
    assert rt.kind == "segmentation" and not rt.loadable and rt.shape == ()
    assert len(rt.references) == 1 and [s.label for s in rt.segments] == ["Volume1", "Volume2", "Volume3"]
    (w,) = [w for w in rt.warnings if str(w.code) == "reference_missing"]
    assert rt.references[0] in w.message and "not in the scan" in w.message
    with pytest.raises(DecodeError, match="RTstruct.dcm"):
        load_volume(rt)


# ----------------------------------------------------------------------------- voxels (README facts)


def test_rtstruct_voxels_match_the_readme(phantom) -> None:
    ct, rt, masks, hu = phantom
    assert masks.shape == rt.shape and masks.dtype == np.uint8
    half_voxel = np.array(ct.spacing)[[2, 1, 0]] / 2
    for j, (count, centroid) in FACTS.items():
        m = masks[j - 1] > 0
        assert int(m.sum()) == count, j
        assert np.all(np.abs(_centroid(rt, m) - centroid) <= half_voxel), j
    m1, m2, m3 = (masks[j] > 0 for j in range(3))
    assert int((m1 & m2).sum()) == int((m1 & m3).sum()) == 17308
    assert int((m2 & m3).sum()) == 3721
    union = m1 | m2 | m3
    assert int(union.sum()) == 226981
    np.testing.assert_array_equal(union, hu > -500)  # the phantom's water is exactly the union of its ROIs


def test_rasterised_area_agrees_with_the_polygon_area(phantom, shared_data: Path) -> None:
    """Independent of the fill rule: shoelace areas of the contour data, and voxel counts x pixel area per slice."""
    ct, rt, masks, _ = phantom
    contours = _contours_by_roi(shared_data / "rtstruct_phantom" / RTSTRUCT_FILE)
    pixel_area = ct.spacing[1] * ct.spacing[2]
    to_index = np.linalg.inv(ct.affine_lps())
    for n, polys in contours.items():
        assert sum(_shoelace(p[:, :2]) for p in polys) == pytest.approx(AREAS[n], abs=0.05)
        by_slice: dict[int, float] = {}
        for p in polys:
            k = int(round(float((to_index @ np.r_[p[0], 1.0])[0])))
            by_slice[k] = by_slice.get(k, 0.0) + _shoelace(p[:, :2])  # one contour per slice in this phantom
        assert len(by_slice) == len(polys)
        large = {k: a for k, a in by_slice.items() if a >= 200 * pixel_area}
        assert len(large) >= 10, n
        for k, area in large.items():
            got = float((masks[n - 1, k] > 0).sum()) * pixel_area
            assert got == pytest.approx(area, rel=0.02), (n, k)
        # and in volume: the voxels of the ROI against the polygon areas x slice spacing
        volume_mm3 = float((masks[n - 1] > 0).sum()) * pixel_area * ct.spacing[0]
        assert volume_mm3 == pytest.approx(AREAS[n] * ct.spacing[0], rel=0.01)


# ----------------------------------------------------------------------------- edited copies of the real file


def _copy_with(tmp_path: Path, shared_data: Path, edit) -> Path:
    """The phantom's CT and an edited copy of its RTSTRUCT in ``tmp_path``."""
    src = shared_data / "rtstruct_phantom"
    shutil.copytree(src / "ct", tmp_path / "ct")
    ds = pydicom.dcmread(src / RTSTRUCT_FILE)
    edit(ds)
    (tmp_path / "rtstruct").mkdir()
    ds.save_as(tmp_path / RTSTRUCT_FILE)
    return tmp_path


def test_one_roi_is_a_label_map(tmp_path: Path, shared_data: Path) -> None:
    def keep_roi_1(ds) -> None:
        ds.ROIContourSequence = [r for r in ds.ROIContourSequence if int(r.ReferencedROINumber) == 1]

    volumes, _ = open_folder(_copy_with(tmp_path, shared_data, keep_roi_1))
    ct, rt = _split(volumes)
    assert rt.shape == ct.shape and rt.time_tag is None and [s.number for s in rt.segments] == [1]
    labels = load_volume(rt)
    assert labels.dtype == np.uint8 and set(np.unique(labels).tolist()) == {0, 1}
    assert int((labels == 1).sum()) == FACTS[1][0]
    # ROIs 2 and 3 are named in the structure set but have no contours: said, not silently dropped
    (w,) = [w for w in rt.warnings if "without contours" in w.message]
    assert "Volume2" in w.message and "Volume3" in w.message


def test_contours_off_the_grid_are_reported(tmp_path: Path, shared_data: Path) -> None:
    moved: dict[str, float] = {}

    def move_one_contour(ds) -> None:
        roi = next(r for r in ds.ROIContourSequence if int(r.ReferencedROINumber) == 1)
        item = roi.ContourSequence[len(roi.ContourSequence) // 2]
        pts = np.asarray(item.ContourData, float).reshape(-1, 3)
        moved["z_before"] = float(pts[0, 2])
        pts[:, 2] = 1000.0  # far above the CT (z -50 ... 247)
        item.ContourData = [f"{v:g}" for v in pts.reshape(-1)]

    volumes, _ = open_folder(_copy_with(tmp_path, shared_data, move_one_contour))
    ct, rt = _split(volumes)
    (w,) = [w for w in rt.warnings if str(w.code) == "contours_off_grid"]
    assert "Volume1" in w.message and "z = 1000" in w.message and w.files and w.files[0].endswith("RTstruct.dcm")
    masks = load_volume(rt)
    k = int(round((moved["z_before"] - ct.origin[2]) / ct.spacing[0]))
    assert int(masks[0, k].sum()) == 0  # the slice it came from is empty now
    full, _ = open_folder(shared_data / "rtstruct_phantom")
    before = load_volume(_split(full)[1])
    assert int(masks[0].sum()) == FACTS[1][0] - int(before[0, k].sum())  # only that contour is missing
    np.testing.assert_array_equal(masks[1:], before[1:])


# ----------------------------------------------------------------------------- the fill rule


def _inside_scalar(px: float, py: float, polys: list[np.ndarray]) -> bool:
    """Textbook crossing-number test (W. R. Franklin's PNPOLY), one point at a time, all contours together."""
    inside = False
    for poly in polys:
        n = len(poly)
        for a in range(n):
            (xi, yi), (xj, yj) = poly[a], poly[a - 1]
            if (yi > py) != (yj > py) and px < (xj - xi) * (py - yi) / (yj - yi) + xi:
                inside = not inside
    return inside


def test_fill_rule_on_squares_and_holes() -> None:
    square = np.array([[2, 2], [6, 2], [6, 5], [2, 5]], float)  # (column, row)
    m = fill_even_odd([square], 8, 10)
    # half-open: columns 2..5, rows 2..4 (centres on the low edges in, on the high edges out)
    expected = np.zeros((8, 10), bool)
    expected[2:5, 2:6] = True
    np.testing.assert_array_equal(m, expected)
    # a contour inside another is a hole (even-odd), whatever its winding
    outer = np.array([[0.5, 0.5], [9.5, 0.5], [9.5, 7.5], [0.5, 7.5]])
    hole = np.array([[3.5, 2.5], [3.5, 5.5], [6.5, 5.5], [6.5, 2.5]])
    m = fill_even_odd([outer, hole], 8, 10)
    assert int(m.sum()) == 9 * 7 - 3 * 3 and not m[3:6, 4:7].any() and m[1, 1]
    # polygons beyond the slice are clipped, not wrapped
    assert int(fill_even_odd([np.array([[-5.0, -5.0], [3.5, -5.0], [3.5, 20.0], [-5.0, 20.0]])], 8, 10).sum()) == 8 * 4


def test_fill_rule_matches_an_independent_point_in_polygon_test() -> None:
    rng = np.random.default_rng(7)
    rows, cols = 23, 31
    yy, xx = np.mgrid[0:rows, 0:cols]
    for _ in range(20):
        polys = []
        for _c in range(int(rng.integers(1, 4))):  # several contours on one slice: even-odd together
            n = int(rng.integers(3, 12))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radius = rng.uniform(2, 12, n)
            centre = rng.uniform([0, 0], [cols, rows])
            polys.append(np.c_[centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)])
        got = fill_even_odd(polys, rows, cols)
        expected = np.array([[_inside_scalar(x, y, polys) for x in range(cols)] for y in range(rows)])
        np.testing.assert_array_equal(got, expected)
        if points_in_poly is None:
            continue
        # scikit-image's point-in-polygon test, contour by contour, combined by parity (random vertices: no ties)
        parity = sum(points_in_poly(np.c_[xx.ravel(), yy.ravel()], p).astype(int) for p in polys)
        np.testing.assert_array_equal(got.ravel(), parity % 2 == 1)


def test_reference_found_through_contour_images(tmp_path: Path, shared_data: Path) -> None:
    def drop_series_reference(ds) -> None:
        del ds.ReferencedFrameOfReferenceSequence  # left: the CT images each contour lists

    volumes, _ = open_folder(_copy_with(tmp_path, shared_data, drop_series_reference))
    ct, rt = _split(volumes)
    assert rt.references == [ct.series_instance_uid] and rt.shape == (3, *ct.shape)
    assert [int((m > 0).sum()) for m in load_volume(rt)] == [count for count, _ in FACTS.values()]

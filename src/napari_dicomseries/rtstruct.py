"""DICOM RT Structure Sets (RTSTRUCT): ROIs, the series they reference, and their contours rasterised onto its grid.

An RTSTRUCT holds no pixels: each ROI (StructureSetROISequence: number and
name; RTROIObservationsSequence: interpreted type such as CTV or AVOIDANCE;
ROIContourSequence: display colour and contours) is a set of polygons in
patient coordinates (LPS, mm), one plane each. The structure set names the
image series it was drawn on (ReferencedFrameOfReferenceSequence >
RTReferencedStudySequence > RTReferencedSeriesSequence, else the images each
contour lists in its ContourImageSequence).

Each RTSTRUCT object becomes one :class:`Volume` of kind ``segmentation`` on
the grid of that series' image volume in the same scan (same shape, spacing,
origin, direction), its ROIs as :class:`segmentation.Segment` records. When
the series is not in the scan the volume is listed with a warning and has no
voxels.

Rasterisation rule (pixel centres, even-odd):

* A contour belongs to the slice whose plane is nearest to its points (their
  mean distance along the grid's slice axis); a contour more than half the
  slice spacing from every slice of the grid, or whose points do not lie in
  one slice plane, is not rasterised and a warning names its ROI and z.
* A voxel belongs to a ROI when its centre is inside the ROI's contours on
  its slice by the even-odd (crossing-number) rule: all the ROI's contours on
  that slice are filled together, so a contour inside another makes a hole.
* Centres exactly on a contour follow the half-open rule in the grid's
  (column, row) index space: a centre on an edge at the contour's low-column
  or low-row side is inside, on its high-column or high-row side outside (so
  an axis-aligned square from column a to b covers columns a .. b-1). Index
  coordinates are rounded to 1e-6 voxel first, so points on the pixel grid
  give the same voxels whatever the floating-point error of the transform.

It is implemented as a scanline fill: every edge crossing of a row of pixel
centres toggles the pixels left of it (a cumulative sum of toggles per row),
vectorised with numpy over all edges of a slice.

Rule for overlaps (as for SEG, see :mod:`segmentation`): when two or more ROIs
have contours on a common slice, the volume is 4-D with one uint8 mask per ROI
(leading axis ``ReferencedROINumber``), so no voxel is taken from one ROI and
given to another; otherwise it is one label map whose values are the ROI
numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import uids
from .errors import DecodeError
from .segmentation import Segment
from .warning import VolumeWarning, WarningCode

if TYPE_CHECKING:
    from .scan import DicomFile
    from .volume import Volume

__all__ = [
    "RTSTRUCT_SOP_CLASS",
    "ROI_AXIS",
    "ContourPlan",
    "is_rtstruct",
    "rois_of",
    "referenced_series",
    "referenced_instances",
    "contours_of",
    "plan_contours",
    "fill_even_odd",
    "rasterise",
    "reference_volume",
    "load_rtstruct",
]

RTSTRUCT_SOP_CLASS = uids.RTStructureSetStorage
#: The name of the leading axis of a 4-D RTSTRUCT volume (one mask per ROI).
ROI_AXIS = "ReferencedROINumber"
#: Index coordinates are rounded to this many decimals (of a voxel) before the fill.
_SNAP_DECIMALS = 6
_CONTOUR_DATA = 0x30060050


def is_rtstruct(f: DicomFile) -> bool:
    """True for an RT Structure Set object."""
    return f.sop_class_uid == RTSTRUCT_SOP_CLASS


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def rois_of(ds: Any) -> list[Segment]:
    """The ROIs of an RTSTRUCT data set as segments, in ROI number order.

    ``number`` is ROINumber, ``label`` ROIName, ``description`` ROIDescription,
    ``type`` RTROIInterpretedType (RTROIObservationsSequence), ``algorithm_type``
    ROIGenerationAlgorithm and ``color`` ROIDisplayColor (ROIContourSequence).
    """
    types: dict[int, str] = {}
    for obs in ds.get("RTROIObservationsSequence") or []:
        n = _int_or_none(obs.get("ReferencedROINumber"))
        if n is not None:
            types.setdefault(n, str(obs.get("RTROIInterpretedType", "") or ""))
    colors: dict[int, tuple[int, int, int]] = {}
    drawn: set[int] = set()
    for item in ds.get("ROIContourSequence") or []:
        n = _int_or_none(item.get("ReferencedROINumber"))
        if n is not None:
            drawn.add(n)
        rgb = item.get("ROIDisplayColor")
        if n is not None and rgb is not None and len(rgb) == 3:
            try:
                r, g, b = (int(np.clip(int(float(c)), 0, 255)) for c in rgb)
            except (TypeError, ValueError):
                continue
            colors[n] = (r, g, b)
    out: dict[int, Segment] = {}
    for item in ds.get("StructureSetROISequence") or []:
        n = _int_or_none(item.get("ROINumber"))
        if n is None or n in out:
            continue
        out[n] = Segment(
            number=n,
            label=str(item.get("ROIName", "") or f"ROI {n}"),
            description=str(item.get("ROIDescription", "") or ""),
            type=types.get(n, ""),
            algorithm_type=str(item.get("ROIGenerationAlgorithm", "") or ""),
            color=colors.get(n),
        )
    for n in drawn - out.keys():  # contours of a ROI the StructureSetROISequence forgot
        out[n] = Segment(number=n, label=f"ROI {n}", type=types.get(n, ""), color=colors.get(n))
    return [out[n] for n in sorted(out)]


def referenced_series(ds: Any) -> list[str]:
    """The SeriesInstanceUIDs in ReferencedFrameOfReferenceSequence > RTReferencedStudySequence > RTReferencedSeriesSequence."""
    out: dict[str, None] = {}
    for ref in ds.get("ReferencedFrameOfReferenceSequence") or []:
        for study in ref.get("RTReferencedStudySequence") or []:
            for series in study.get("RTReferencedSeriesSequence") or []:
                uid = str(series.get("SeriesInstanceUID", "") or "")
                if uid:
                    out.setdefault(uid, None)
    return list(out)


def referenced_instances(ds: Any) -> set[str]:
    """The SOPInstanceUIDs of the images the structure set refers to (its series' and its contours' ContourImageSequence)."""
    out: set[str] = set()

    def add(items: Iterable[Any] | None) -> None:
        for img in items or []:
            uid = str(img.get("ReferencedSOPInstanceUID", "") or "")
            if uid:
                out.add(uid)

    for ref in ds.get("ReferencedFrameOfReferenceSequence") or []:
        for study in ref.get("RTReferencedStudySequence") or []:
            for series in study.get("RTReferencedSeriesSequence") or []:
                add(series.get("ContourImageSequence"))
    for roi in ds.get("ROIContourSequence") or []:
        for contour in roi.get("ContourSequence") or []:
            add(contour.get("ContourImageSequence"))
    return out


def _contour_points(item: Any) -> np.ndarray | None:
    """ContourData of one ContourSequence item as an (n, 3) float array (None when absent or unusable).

    Large structure sets hold millions of numbers: the raw bytes are parsed by
    numpy when pydicom has not converted the element yet.
    """
    try:
        elem = item.get_item(_CONTOUR_DATA)
    except (KeyError, AttributeError):
        elem = None
    if elem is None:
        return None
    try:
        raw = elem.value
        if isinstance(raw, bytes):
            arr = np.array(raw.strip(b"\x00 ").split(b"\\"), dtype=float)
        else:
            arr = np.asarray(raw, dtype=float).reshape(-1)  # already converted by pydicom: DS values
    except (TypeError, ValueError, AttributeError):
        return None
    if arr.size < 3 or arr.size % 3 or not np.isfinite(arr).all():
        return None
    return arr.reshape(-1, 3)


def contours_of(ds: Any) -> tuple[dict[int, list[np.ndarray]], dict[int, list[str]]]:
    """The closed planar contours of each ROI, as (n, 3) arrays of patient LPS points (mm).

    Returns
    -------
    (dict, dict)
        ROI number -> contours; ROI number -> why some of its contours were left
        out (another ContourGeometricType such as POINT or OPEN_PLANAR, fewer than
        three points, unusable ContourData).
    """
    contours: dict[int, list[np.ndarray]] = defaultdict(list)
    skipped: dict[int, list[str]] = defaultdict(list)
    for roi in ds.get("ROIContourSequence") or []:
        n = _int_or_none(roi.get("ReferencedROINumber"))
        if n is None:
            continue
        for item in roi.get("ContourSequence") or []:
            kind = str(item.get("ContourGeometricType", "") or "").upper()
            pts = _contour_points(item)
            if kind != "CLOSED_PLANAR":
                skipped[n].append(f"a {kind or 'untyped'} contour")
            elif pts is None:
                skipped[n].append("a contour with unusable ContourData")
            elif len(pts) < 3:
                skipped[n].append(f"a contour of {len(pts)} point(s)")
            else:
                contours[n].append(pts)
    return dict(contours), dict(skipped)


@dataclass(frozen=True)
class ContourPlan:
    """Where the contours of each ROI fall on a grid.

    Attributes
    ----------
    polygons : dict
        ROI number -> slice index -> polygons on that slice, each an (n, 2) array of (column, row) index coordinates.
    warnings : tuple of VolumeWarning
        Contours not rasterised (off the grid, not in a slice plane, not closed planar), named by ROI and z.
    """

    polygons: dict[int, dict[int, list[np.ndarray]]]
    warnings: tuple[VolumeWarning, ...]

    def rois_on_slices(self) -> dict[int, set[int]]:
        """Slice index -> the ROIs with contours on it."""
        out: dict[int, set[int]] = defaultdict(set)
        for n, by_slice in self.polygons.items():
            for k in by_slice:
                out[k].add(n)
        return dict(out)

    @property
    def overlapping(self) -> bool:
        """Whether two or more ROIs have contours on a common slice (so they may overlap: one mask per ROI)."""
        return any(len(s) > 1 for s in self.rois_on_slices().values())


def _roi_name(rois: dict[int, Segment], n: int) -> str:
    seg = rois.get(n)
    return f"ROI {n} {seg.label!r}" if seg is not None else f"ROI {n}"


def _zs(values: Sequence[float]) -> str:
    shown = ", ".join(f"{z:g}" for z in values[:8])
    return shown + (f" ... ({len(values)} in all)" if len(values) > 8 else "")


def plan_contours(
    contours: dict[int, list[np.ndarray]],
    affine_lps: np.ndarray,
    shape: Sequence[int],
    *,
    rois: Sequence[Segment] = (),
    path: str = "",
    skipped: dict[int, list[str]] | None = None,
) -> ContourPlan:
    """Put each closed planar contour on the slice of the grid whose plane it lies in.

    Parameters
    ----------
    contours : dict
        ROI number -> (n, 3) arrays of patient LPS points (:func:`contours_of`).
    affine_lps : ndarray
        4 x 4 matrix mapping array index (k, j, i, 1) to patient LPS (the grid's :meth:`Geometry.affine_lps`).
    shape : sequence of int
        The grid's (slices, rows, columns) (a leading time axis is ignored).
    rois : sequence of Segment
        The ROIs, to name them in warnings.
    path : str
        The RTSTRUCT file, named in warnings.
    skipped : dict, optional
        ROI number -> contours left out before (:func:`contours_of`), reported too.

    Returns
    -------
    ContourPlan
    """
    nz = int(shape[-3])
    to_index = np.linalg.inv(np.asarray(affine_lps, float))
    by_number = {seg.number: seg for seg in rois}
    files = (path,) if path else ()
    off_grid: dict[int, list[float]] = defaultdict(list)
    not_planar: dict[int, list[float]] = defaultdict(list)
    polygons: dict[int, dict[int, list[np.ndarray]]] = {}
    for n in sorted(contours):
        by_slice: dict[int, list[np.ndarray]] = defaultdict(list)
        for pts in contours[n]:
            idx = (np.c_[pts, np.ones(len(pts))] @ to_index.T)[:, :3]  # (k, j, i)
            idx = np.round(idx, _SNAP_DECIMALS)
            k_mean = float(idx[:, 0].mean())
            z = round(float(pts[:, 2].mean()), 3)
            if float(np.ptp(idx[:, 0])) > 0.5:  # drawn across slices: no slice plane holds it
                not_planar[n].append(z)
                continue
            k = int(round(k_mean))
            if not (0 <= k < nz) or abs(k_mean - k) > 0.5 + 1e-6:
                off_grid[n].append(z)
                continue
            by_slice[k].append(idx[:, [2, 1]])  # (column, row)
        if by_slice:
            polygons[n] = dict(by_slice)
    warns: list[VolumeWarning] = []
    for n, zs in off_grid.items():
        warns.append(
            VolumeWarning(
                WarningCode.CONTOURS_OFF_GRID,
                f"{_roi_name(by_number, n)}: {len(zs)} contour(s) at z = {_zs(sorted(zs))} mm lie on no slice of the "
                "referenced grid (more than half the slice spacing from every slice): not rasterised",
                files=files,
            )
        )
    for n, zs in not_planar.items():
        warns.append(
            VolumeWarning(
                WarningCode.CONTOURS_SKIPPED,
                f"{_roi_name(by_number, n)}: {len(zs)} contour(s) around z = {_zs(sorted(zs))} mm do not lie in a slice plane "
                "of the referenced grid: not rasterised",
                files=files,
            )
        )
    for n, why in (skipped or {}).items():
        counts: dict[str, int] = defaultdict(int)
        for w in why:
            counts[w] += 1
        text = ", ".join(f"{c} x {w}" if c > 1 else w for w, c in counts.items())
        warns.append(
            VolumeWarning(
                WarningCode.CONTOURS_SKIPPED,
                f"{_roi_name(by_number, n)}: {text} not rasterised (only CLOSED_PLANAR contours of 3+ points are)",
                files=files,
            )
        )
    return ContourPlan(polygons, tuple(warns))


def fill_even_odd(polygons: Sequence[np.ndarray], rows: int, columns: int) -> np.ndarray:
    """The pixels of a (rows, columns) slice whose centres are inside ``polygons`` by the even-odd rule.

    Parameters
    ----------
    polygons : sequence of ndarray
        Closed polygons (the last point joins the first), each (n, 2) in (column, row) index coordinates: pixel
        (j, i) has its centre at (i, j).
    rows, columns : int
        The slice size.

    Returns
    -------
    ndarray of bool, shape (rows, columns)
        True where the centre is inside an odd number of polygons; a centre on an edge counts as inside on the
        polygon's low-column / low-row side, outside on its high side (half-open rule).
    """
    out = np.zeros((rows, columns), dtype=bool)
    if not polygons or rows <= 0 or columns <= 0:
        return out
    p = np.concatenate([np.asarray(poly, float) for poly in polygons])
    q = np.concatenate([np.roll(np.asarray(poly, float), -1, axis=0) for poly in polygons])
    x1, y1, x2, y2 = p[:, 0], p[:, 1], q[:, 0], q[:, 1]
    # an edge crosses row j when min(y1, y2) <= j < max(y1, y2) (half-open: a vertex on a row counts once)
    lo = np.clip(np.ceil(np.minimum(y1, y2)), 0, rows).astype(np.int64)
    hi = np.clip(np.ceil(np.maximum(y1, y2)), 0, rows).astype(np.int64)
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    if total == 0:
        return out
    edge = np.repeat(np.arange(len(p)), count)
    row = np.repeat(lo, count) + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    x = x1[edge] + (row - y1[edge]) * (x2[edge] - x1[edge]) / (y2[edge] - y1[edge])
    # the crossing toggles every pixel centre i < x of its row: columns 0 .. ceil(x) - 1
    stop = np.clip(np.ceil(x), 0, columns).astype(np.int64)
    width = columns + 1
    toggles = np.bincount(row * width, minlength=rows * width) - np.bincount(row * width + stop, minlength=rows * width)
    crossings = np.cumsum(toggles.reshape(rows, width)[:, :columns], axis=1)
    np.bitwise_and(crossings, 1, out=crossings)
    return crossings.astype(bool)


def rasterise(plan: ContourPlan, shape: Sequence[int], numbers: Sequence[int], *, masks: bool) -> np.ndarray:
    """The voxels of a contour plan on a grid of ``shape`` (slices, rows, columns).

    Parameters
    ----------
    plan : ContourPlan
        Polygons by ROI and slice (:func:`plan_contours`).
    shape : sequence of int
        (slices, rows, columns).
    numbers : sequence of int
        The ROI numbers, in the order of the masks.
    masks : bool
        One uint8 mask per ROI, shape (len(numbers), slices, rows, columns); else one label map of ROI numbers
        (ROIs must then not share slices; uint16 when a number exceeds 255).

    Returns
    -------
    ndarray
    """
    nz, ny, nx = (int(s) for s in shape[-3:])
    if masks:
        out = np.zeros((len(numbers), nz, ny, nx), dtype=np.uint8)
        for j, n in enumerate(numbers):
            for k, polys in plan.polygons.get(n, {}).items():
                out[j, k] = fill_even_odd(polys, ny, nx)
        return out
    label = np.zeros((nz, ny, nx), dtype=np.uint8 if max(numbers, default=0) < 256 else np.uint16)
    for n in numbers:
        for k, polys in plan.polygons.get(n, {}).items():
            label[k][fill_even_odd(polys, ny, nx)] = n
    return label


def reference_volume(ds: Any, volumes: Sequence[Volume], path: str = "") -> tuple[Volume | None, list[str], list[VolumeWarning]]:
    """The image volume an RTSTRUCT was drawn on, among ``volumes`` (a scan's image volumes).

    The series named in RTReferencedSeriesSequence, else the volumes holding
    the images its contours list (ContourImageSequence). When a series forms
    several volumes, the one holding most of the referenced images (then the
    most slices) is used, with a warning.

    Returns
    -------
    (Volume or None, list of str, list of VolumeWarning)
        The volume (None when absent from the scan), the referenced SeriesInstanceUIDs, and warnings.
    """
    refs = referenced_series(ds)
    instances = referenced_instances(ds)
    files = (path,) if path else ()
    usable = [v for v in volumes if len(v.shape) in (3, 4) and v.kind not in ("segmentation", "non-image", "secondary")]
    if refs:
        candidates = [v for v in usable if v.series_instance_uid in refs]
    else:
        candidates = [v for v in usable if any(fr.sop_instance_uid in instances for fr in v.frames)]
        refs = list(dict.fromkeys(v.series_instance_uid for v in candidates))
    warns: list[VolumeWarning] = []
    if not candidates:
        what = (
            f"series {', '.join(refs)}"
            if refs
            else (
                "the images its contours list"
                if instances
                else "no series (no RTReferencedSeriesSequence, no ContourImageSequence)"
            )
        )
        warns.append(
            VolumeWarning(
                WarningCode.REFERENCE_MISSING,
                f"the structure set references {what}, which is not in the scan: its ROIs are listed but have no voxels "
                "(open it together with the images it was drawn on)",
                files=files,
            )
        )
        return None, refs, warns

    def rank(v: Volume) -> tuple[int, int]:
        return (sum(fr.sop_instance_uid in instances for fr in v.frames), v.n_slices)

    chosen = max(candidates, key=rank)
    if len(candidates) > 1:
        warns.append(
            VolumeWarning(
                WarningCode.REFERENCE_AMBIGUOUS,
                f"the referenced series forms {len(candidates)} volumes: the ROIs are rasterised on {chosen.key} "
                f"({chosen.n_slices} slices); contours off its slices are reported",
                files=files,
            )
        )
    return chosen, refs, warns


def load_rtstruct(volume: Volume) -> np.ndarray:
    """The voxels of an RTSTRUCT volume (kind ``segmentation``), shaped as ``volume.shape``, on its referenced grid.

    A label map (slices, rows, columns) of ROI numbers or, when ROIs share
    slices, one uint8 mask per ROI (ROIs, slices, rows, columns; the order of
    ``volume.time_values``). The rule is in this module's docstring.

    Raises
    ------
    DecodeError
        If the volume has no grid (its referenced series was not in the scan); the message names the file.
    """
    (f,) = volume.files[:1] or (None,)
    if f is None or len(volume.shape) not in (3, 4):
        where = f.path if f is not None else volume.key
        raise DecodeError(
            f"{where}: the structure set's referenced series is not in the scan, so its ROIs have no voxel grid "
            "(open it together with the images it was drawn on)"
        )
    ds = f.dataset
    contours, _ = contours_of(ds)
    plan = plan_contours(contours, volume.affine_lps(), volume.shape[-3:])
    if len(volume.shape) == 4:
        return rasterise(plan, volume.shape[-3:], [int(n) for n in volume.time_values], masks=True)
    return rasterise(plan, volume.shape, [seg.number for seg in volume.segments], masks=False)

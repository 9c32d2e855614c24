"""Compare two images: resampling onto one grid, voxel-wise difference, statistics and mask overlap.

Both images are 3-D arrays in (slice, row, column) order, each on its grid: a
:class:`~napari_dicomseries.geometry.Geometry` (shape and the 4 x 4 matrix that
maps an array index (k, j, i, 1) to the patient position (LPS x, y, z, 1) in
mm), as a volume or a napari layer gives it. When the grids
differ, the second image is resampled onto the first in physical space with
SimpleITK (linear or nearest neighbour); only voxels that the second image
covers are compared.

Statistics are accumulated in float64 whatever the input type; the difference
array (second - first) uses a type that cannot overflow (int32 for int16
inputs). The overlap of masks (an HU range, label images, or segments of
segmentation volumes, each resampled by nearest neighbour onto the first
image's grid) comes from :mod:`napari_dicomseries.masks`, whose names are
re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GeometryError
from .geometry import Geometry
from .jobs import CancelFn, ProgressFn, Stages, check_cancel, run_filter
from .maskpairs import MaskOverlap, MaskPair, pair_overlaps, segment_pairs
from .masks import HU_PRESETS, GridMask, Measures, OverlapStats, overlap, range_mask, segment_mask

if TYPE_CHECKING:
    from .segmentation import Segment
    from .volume import Volume

__all__ = [
    "HU_PRESETS",
    "DifferenceStats",
    "OverlapStats",
    "GridMask",
    "MaskOverlap",
    "MaskPair",
    "ImageComparison",
    "resample_to",
    "difference_dtype",
    "difference",
    "difference_stats",
    "difference_histogram",
    "range_mask",
    "overlap",
    "check_frame_of_reference",
    "compare_arrays",
    "compare_volumes",
    "segment_pairs",
]

#: Two masks to overlap: each a :class:`GridMask` on its own grid, or None for the HU range of that image.

_SLAB = 16  # slices per chunk when accumulating statistics

#: Expected cost of each stage of :func:`compare_volumes`, in seconds per million voxels (of A's grid, or of the
#: volume loaded), measured on 2 cores with the synthetic study (bench_cancel.py): the weights of its progress.
STAGE_COST = {
    "loading": 0.004,
    "reading lazy": 0.015,  # a lazy (dask) napari layer read slice by slice (the image-compare dock)
    "resampling": 0.014,
    "difference": 0.004,
    "statistics": 0.022,
    "histogram": 0.005,
    "overlap": 0.045,
}


# ----------------------------------------------------------------------------- resampling


def _sitk_image(array: np.ndarray, grid: Geometry) -> Any:
    """A SimpleITK image of ``array`` on ``grid``, sheared grids kept exact (booleans as uint8)."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.shape != grid.shape:
        raise GeometryError(f"array of shape {arr.shape} does not match its grid {grid.shape}")
    return grid.to_sitk(np.ascontiguousarray(arr), rigid=False)


def resample_to(
    array: np.ndarray,
    grid: Geometry,
    target: Geometry,
    *,
    interpolation: str = "linear",
    default: float = 0.0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``array`` (on ``grid``) onto ``target`` in physical space.

    Parameters
    ----------
    interpolation : {"linear", "nearest"}
        Linear gives float32 (float64 for float64 input); nearest keeps the dtype.
    default : float
        Value of target voxels outside ``array``'s extent.
    progress : callable, optional
        ``progress(done, total)`` from SimpleITK's progress events (see :mod:`napari_dicomseries.jobs`).
    cancel : callable, optional
        Asked at each progress event; True aborts the resampling and raises
        :class:`~napari_dicomseries.errors.Cancelled`.

    Returns
    -------
    (resampled, covered)
        The array on ``target``'s grid and a boolean mask of the target voxels
        that ``array`` covers.
    """
    import SimpleITK as sitk

    if interpolation not in ("linear", "nearest"):
        raise ValueError(f"interpolation must be 'linear' or 'nearest', not {interpolation!r}")
    src = _sitk_image(array, grid)
    ref = _sitk_image(np.zeros(target.shape, np.uint8), target)
    if interpolation == "linear":
        interp = sitk.sitkLinear
        out_type = sitk.sitkFloat64 if np.asarray(array).dtype == np.float64 else sitk.sitkFloat32
    else:
        interp = sitk.sitkNearestNeighbor
        out_type = src.GetPixelID()
    job = Stages([("image", 3.0), ("coverage", 1.0)], progress=progress, cancel=cancel, what="resampling")

    def resampler(method: int, value: float, pixel: int) -> Any:
        f = sitk.ResampleImageFilter()
        f.SetReferenceImage(ref)
        f.SetTransform(sitk.Transform(3, sitk.sitkIdentity))
        f.SetInterpolator(method)
        f.SetDefaultPixelValue(value)
        f.SetOutputPixelType(pixel)
        return f

    out = run_filter(resampler(interp, float(default), out_type), src, step=job.reporter("image", "resampling", counts=False),
                     cancel=cancel, what="resampling")  # fmt: skip
    ones = _sitk_image(np.ones(grid.shape, np.uint8), grid)
    cov = run_filter(resampler(sitk.sitkNearestNeighbor, 0.0, sitk.sitkUInt8), ones,
                     step=job.reporter("coverage", "resampling (coverage)", counts=False), cancel=cancel, what="resampling")  # fmt: skip
    job.finish()
    res = sitk.GetArrayFromImage(out)
    if np.asarray(array).dtype == bool:
        res = res.astype(bool)
    return res, sitk.GetArrayFromImage(cov).astype(bool)


def check_frame_of_reference(uid_a: str, uid_b: str, *, allow_different: bool = False) -> str | None:
    """Say whether two images share a FrameOfReferenceUID (the same patient coordinate system).

    Returns None when they do, or a warning when they do not but ``allow_different``.

    Raises
    ------
    GeometryError
        When the UIDs differ (or one is missing) and ``allow_different`` is False.
    """
    if uid_a and uid_a == uid_b:
        return None
    if not uid_a or not uid_b:
        msg = "one image has no FrameOfReferenceUID, so it is unknown whether their patient coordinates agree"
    else:
        msg = f"the images have different FrameOfReferenceUIDs ({uid_a} and {uid_b}): their patient coordinates may not agree"
    if not allow_different:
        raise GeometryError(msg + "; compare them anyway only if you know they are registered (allow_different_frame)")
    return msg + "; compared anyway, as asked"


# ----------------------------------------------------------------------------- difference


def difference_dtype(a: np.dtype | type, b: np.dtype | type) -> np.dtype:
    """A dtype that holds ``b - a`` exactly for integers (int16 - int16 -> int32) and floats for floats."""
    a, b = np.dtype(a), np.dtype(b)
    if a.kind in "biu" and b.kind in "biu":
        bits = max(a.itemsize, b.itemsize) * 8 + 1
        for dt in (np.int16, np.int32, np.int64):
            if np.dtype(dt).itemsize * 8 >= bits:
                return np.dtype(dt)
        return np.dtype(np.float64)
    return np.dtype(np.result_type(a, b, np.float32))


def difference(
    a: np.ndarray,
    b: np.ndarray,
    covered: np.ndarray | None = None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """``b - a`` in :func:`difference_dtype` (0 where ``covered`` is False).

    Computed slab by slab: ``progress(done, total)`` per slab, ``cancel()`` asked before each (True raises
    :class:`~napari_dicomseries.errors.Cancelled`).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise GeometryError(f"images of shapes {a.shape} and {b.shape} are not on one grid")
    dt = difference_dtype(a.dtype, b.dtype)
    out: np.ndarray = np.empty(a.shape, dt)
    if a.ndim < 3:
        out[...] = np.subtract(b, a, dtype=dt) if dt.kind == "f" else b.astype(dt) - a.astype(dt)
        if covered is not None:
            out[~np.asarray(covered, bool)] = 0
        return out
    slabs = _slabs(a.shape[0])
    for n, s in enumerate(slabs):
        check_cancel(cancel, "difference")
        np.subtract(b[s], a[s], out=out[s], dtype=dt, casting="unsafe")
        if covered is not None:
            out[s][~np.asarray(covered[s], bool)] = 0
        if progress is not None:
            progress(n + 1, len(slabs))
    return out


@dataclass
class DifferenceStats(Measures):
    """Voxel-wise statistics of ``second - first`` over the compared voxels (float64)."""

    n_voxels: int
    n_compared: int
    n_differing: int
    fraction_differing: float
    max_abs_difference: float
    mean_difference: float
    mae: float
    mse: float
    rmse: float
    psnr_db: float
    pearson: float
    data_range: float
    tolerance: float = 0.0

    def rows(self) -> list[tuple[str, str]]:
        """(measure, value) pairs for a table."""
        return [
            ("voxels compared", f"{self.n_compared} of {self.n_voxels}"),
            ("differing voxels", f"{self.n_differing}"),
            ("fraction differing", f"{self.fraction_differing:.6g}"),
            ("max |difference|", f"{self.max_abs_difference:.6g}"),
            ("mean difference", f"{self.mean_difference:.6g}"),
            ("MAE", f"{self.mae:.6g}"),
            ("MSE", f"{self.mse:.6g}"),
            ("RMSE", f"{self.rmse:.6g}"),
            ("PSNR (dB)", f"{self.psnr_db:.6g}"),
            ("Pearson r", f"{self.pearson:.6g}"),
            ("data range (first image)", f"{self.data_range:.6g}"),
        ]


def _slabs(n: int) -> list[slice]:
    return [slice(s, min(s + _SLAB, n)) for s in range(0, n, _SLAB)] or [slice(0, 0)]


def difference_stats(
    a: np.ndarray,
    b: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    tolerance: float = 0.0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> DifferenceStats:
    """Statistics of ``b - a`` over the voxels where ``mask`` is True (all voxels by default).

    PSNR uses the data range (max - min) of ``a`` over the compared voxels as
    peak value: ``10 log10(range^2 / MSE)`` (infinite for identical images).
    Pearson's r is NaN when either image is constant. A voxel differs when
    ``|b - a| > tolerance``. Everything is accumulated in float64, slab by slab
    (two passes): ``progress(done, total)`` per slab, ``cancel()`` asked before each.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise GeometryError(f"images of shapes {a.shape} and {b.shape} are not on one grid")
    if mask is not None and np.asarray(mask).shape != a.shape:
        raise GeometryError(f"mask of shape {np.asarray(mask).shape} does not match images of shape {a.shape}")
    a3 = a.reshape((-1, *a.shape[-2:])) if a.ndim >= 2 else a.reshape(1, 1, -1)
    b3 = b.reshape(a3.shape)
    m3 = None if mask is None else np.asarray(mask, bool).reshape(a3.shape)

    slabs = _slabs(a3.shape[0])
    step = [0]

    def chunks() -> Any:
        for s in slabs:
            check_cancel(cancel, "statistics")
            step[0] += 1
            if progress is not None:
                progress(step[0], 2 * len(slabs))
            x = a3[s].astype(np.float64)
            y = b3[s].astype(np.float64)
            if m3 is not None:
                x, y = x[m3[s]], y[m3[s]]
            yield x.ravel(), y.ravel()

    n = 0
    sa = sb = 0.0
    lo, hi = math.inf, -math.inf
    for x, y in chunks():
        n += x.size
        sa += float(x.sum())
        sb += float(y.sum())
        if x.size:
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
    if n == 0:
        raise GeometryError("no voxel to compare (the images do not overlap, or the mask is empty)")
    ma, mb = sa / n, sb / n
    sd = sad = sdd = saa = sbb = sab = 0.0
    mx = 0.0
    ndiff = 0
    for x, y in chunks():
        d = y - x
        ad = np.abs(d)
        sd += float(d.sum())
        sad += float(ad.sum())
        sdd += float(np.dot(d, d))
        if d.size:
            mx = max(mx, float(ad.max()))
        ndiff += int(np.count_nonzero(ad > tolerance))
        xc, yc = x - ma, y - mb
        saa += float(np.dot(xc, xc))
        sbb += float(np.dot(yc, yc))
        sab += float(np.dot(xc, yc))
    mse = sdd / n
    rng = hi - lo
    if mse == 0:
        psnr = math.inf
    elif rng == 0:
        psnr = math.nan
    else:
        psnr = 10.0 * math.log10(rng * rng / mse)
    pearson = sab / math.sqrt(saa * sbb) if saa > 0 and sbb > 0 else math.nan
    return DifferenceStats(
        n_voxels=int(a.size),
        n_compared=n,
        n_differing=ndiff,
        fraction_differing=ndiff / n,
        max_abs_difference=mx,
        mean_difference=sd / n,
        mae=sad / n,
        mse=mse,
        rmse=math.sqrt(mse),
        psnr_db=psnr,
        pearson=pearson,
        data_range=rng,
        tolerance=tolerance,
    )


def difference_histogram(
    diff: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    bins: int = 101,
    limit: float | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of a difference image over a range symmetric about 0.

    ``limit`` defaults to the largest |difference| (1 if all are 0). Returns
    ``(counts, edges)`` as :func:`numpy.histogram` does; an odd ``bins`` puts
    0 in the middle of the centre bin. ``progress(done, total)`` per chunk of
    4 M values, ``cancel()`` asked before each.
    """
    d = np.asarray(diff)
    vals = d[np.asarray(mask, bool)] if mask is not None else d.ravel()
    if limit is None:
        limit = float(np.abs(vals).max()) if vals.size else 0.0
        limit = limit or 1.0
    edges = np.linspace(-limit, limit, bins + 1)
    counts = np.zeros(bins, np.int64)
    step = 1 << 22
    n_chunks = max(1, -(-vals.size // step))
    for n, s in enumerate(range(0, vals.size, step)):
        check_cancel(cancel, "histogram")
        counts += np.histogram(vals[s : s + step].astype(np.float64), bins=edges)[0]
        if progress is not None:
            progress(n + 1, n_chunks)
    return counts, edges


# ----------------------------------------------------------------------------- the whole comparison


@dataclass
class ImageComparison:
    """Everything :func:`compare_arrays` finds.

    The second image on the first's grid, the difference, its statistics and histogram, and the masks' overlap.
    """

    grid: Geometry
    resampled: bool
    interpolation: str
    covered: np.ndarray = field(repr=False)
    second: np.ndarray = field(repr=False)
    difference: np.ndarray = field(repr=False)
    stats: DifferenceStats
    histogram: tuple[np.ndarray, np.ndarray] = field(repr=False)
    overlap: OverlapStats | None = None
    mask_a: np.ndarray | None = field(default=None, repr=False)
    mask_b: np.ndarray | None = field(default=None, repr=False)
    mask_description: str = ""
    messages: list[str] = field(default_factory=list)
    #: one entry per pair of masks (the first is also ``overlap``, ``mask_a``, ``mask_b``)
    overlaps: list[MaskOverlap] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str, str]]:
        """(section, measure, value) rows for a table or CSV."""
        out = [("grid", "first image", self.grid.describe())]
        out.append(
            ("grid", "second image", f"resampled onto the first ({self.interpolation})" if self.resampled else "same grid")
        )
        out += [("difference (B - A)", k, v) for k, v in self.stats.rows()]
        if self.overlaps and self.mask_description == self.overlaps[0].description:  # pairs of masks: every pair
            for o in self.overlaps:
                out += [(f"overlap: {o.description}", k, v) for k, v in o.rows()]
        elif self.overlap is not None:
            out += [(f"overlap: {self.mask_description}", k, v) for k, v in self.overlap.rows()]
        out += [("note", "", m) for m in self.messages]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready data, without the arrays (the histogram as counts and edges)."""
        counts, edges = self.histogram
        return {
            "shape": list(self.grid.shape),
            "spacing": [round(s, 6) for s in self.grid.spacing],
            "resampled": self.resampled,
            "interpolation": self.interpolation,
            "difference_dtype": str(self.difference.dtype),
            "stats": self.stats.to_dict(),
            "histogram": {"counts": counts.tolist(), "edges": [float(e) for e in edges]},
            "mask": self.mask_description or None,
            "overlap": self.overlap.to_dict() if self.overlap else None,
            "overlaps": [o.to_dict() for o in self.overlaps],
            "messages": list(self.messages),
        }


def compare_arrays(
    a: np.ndarray,
    grid_a: Geometry,
    b: np.ndarray,
    grid_b: Geometry,
    *,
    interpolation: str = "linear",
    hu_range: tuple[float, float] | None = None,
    labels: tuple[np.ndarray, np.ndarray] | None = None,
    label_grids: tuple[Geometry, Geometry] | None = None,
    mask_pairs: Sequence[MaskPair] | None = None,
    tolerance: float = 0.0,
    frame_of_reference: tuple[str, str] | None = None,
    allow_different_frame: bool = False,
    bins: int = 101,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImageComparison:
    """Compare image ``b`` with image ``a`` on ``a``'s grid.

    Parameters
    ----------
    a, b : ndarray
        3-D images (slices, rows, columns) on ``grid_a`` and ``grid_b``.
    interpolation : {"linear", "nearest"}
        How ``b`` is resampled when the grids differ.
    hu_range : (lo, hi), optional
        Masks ``lo <= value <= hi`` of both images (``b`` after resampling) for the overlap measures.
    labels : (label_a, label_b), optional
        Two label images (non-zero = inside) instead of an HU range; resampled
        with nearest neighbour onto ``grid_a`` (from ``label_grids``, default
        ``grid_a`` and ``grid_b``).
    mask_pairs : sequence of (GridMask or None, GridMask or None), optional
        Pairs of masks (e.g. segments of segmentations, see :func:`segment_pairs`), each on its own grid and put onto
        ``grid_a`` by nearest neighbour; None on a side means the HU range ``hu_range`` of that image (A's, or B's
        after resampling). One :class:`MaskOverlap` per pair, in order; takes the place of ``labels``.
    tolerance : float
        A voxel differs when ``|b - a| > tolerance``.
    frame_of_reference : (uid_a, uid_b), optional
        Checked with :func:`check_frame_of_reference`.
    progress : callable, optional
        ``progress(done, total)`` over the whole comparison, its stages (resampling, difference, statistics,
        histogram, overlap) weighted by their cost (:data:`STAGE_COST`); a progress callable with a
        ``stage(label)`` method hears each stage, e.g. ``"statistics 3/8"`` (see :mod:`napari_dicomseries.jobs`).
    cancel : callable, optional
        Asked between slabs and at SimpleITK's progress events.

    Raises
    ------
    GeometryError
        When the frames of reference differ without ``allow_different_frame``,
        or when ``b`` does not overlap ``a`` in space.
    ValueError
        When a mask pair has None on a side (an HU range) but ``hu_range`` is not given.
    Cancelled
        When ``cancel()`` returned True; nothing is returned.
    """
    messages: list[str] = []
    if frame_of_reference is not None:
        w = check_frame_of_reference(*frame_of_reference, allow_different=allow_different_frame)
        if w:
            messages.append(w)
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 3 or b.ndim != 3:
        raise GeometryError(f"images must be 3-D (slices, rows, columns), not {a.ndim}-D and {b.ndim}-D")
    resampled = not grid_a.same_as(grid_b)
    mvox = a.size / 1e6
    n_masks = len(mask_pairs) if mask_pairs else (1 if labels is not None or hu_range is not None else 0)
    weights = [
        ("resampling", STAGE_COST["resampling"] * mvox if resampled else 0.0),
        ("difference", STAGE_COST["difference"] * mvox),
        ("statistics", STAGE_COST["statistics"] * mvox),
        ("histogram", STAGE_COST["histogram"] * mvox),
        ("overlap", STAGE_COST["overlap"] * mvox * n_masks),
    ]
    job = Stages(weights, progress=progress, cancel=cancel, what="image comparison")
    if resampled:
        b_on_a, covered = resample_to(b, grid_b, grid_a, interpolation=interpolation, progress=job.sub("resampling"),
                                      cancel=cancel)  # fmt: skip
        if not covered.any():
            raise GeometryError(
                f"the images do not overlap in space: the first is {grid_a.describe()}, the second {grid_b.describe()}"
            )
        messages.append(
            f"the grids differ (first {grid_a.describe()}, second {grid_b.describe()}): the second image was resampled "
            f"onto the first's grid ({interpolation}); {int(covered.sum())} of {covered.size} voxels are covered by both"
        )
    else:
        b_on_a, covered = b, np.ones(a.shape, bool)
    diff = difference(a, b_on_a, covered, progress=job.reporter("difference"), cancel=cancel)
    mask = None if covered.all() else covered
    stats = difference_stats(a, b_on_a, mask, tolerance=tolerance, progress=job.reporter("statistics"), cancel=cancel)
    hist = difference_histogram(diff, mask, bins=bins, progress=job.reporter("histogram"), cancel=cancel)
    ov = ma = mb = None
    desc = ""
    overlaps: list[MaskOverlap] = []
    if mask_pairs:
        overlaps, (ma, mb) = pair_overlaps(
            mask_pairs, a, b_on_a, grid_a, covered, hu_range, progress=job.sub("overlap"), cancel=cancel
        )
        ov = overlaps[0].stats
        desc = overlaps[0].description
    elif labels is not None:
        step = job.sub("overlap")
        la, lb = labels
        ga, gb = label_grids or (grid_a, grid_b)
        la = np.asarray(la)
        if not ga.same_as(grid_a):
            la, _ = resample_to(la, ga, grid_a, interpolation="nearest", cancel=cancel)
        lb = np.asarray(lb)
        if not gb.same_as(grid_a):
            lb, _ = resample_to(lb, gb, grid_a, interpolation="nearest", cancel=cancel)
        ma, mb = (la != 0) & covered, (lb != 0) & covered
        desc = "label images (non-zero)"
        ov = overlap(ma, mb, grid_a, progress=step, cancel=cancel)
    elif hu_range is not None:
        step = job.sub("overlap")
        lo, hi = hu_range
        ma, mb = range_mask(a, lo, hi) & covered, range_mask(b_on_a, lo, hi) & covered
        desc = f"{lo:g} <= value <= {hi:g}" if math.isfinite(hi) else f"value >= {lo:g}"
        ov = overlap(ma, mb, grid_a, progress=step, cancel=cancel)
    job.finish()
    return ImageComparison(
        grid=grid_a,
        resampled=resampled,
        interpolation=interpolation if resampled else "none",
        covered=covered,
        second=b_on_a,
        difference=diff,
        stats=stats,
        histogram=hist,
        overlap=ov,
        mask_a=ma,
        mask_b=mb,
        mask_description=desc,
        messages=messages,
        overlaps=overlaps or ([MaskOverlap(f"{desc} (A)", f"{desc} (B)", ov)] if ov is not None else []),
    )


def compare_volumes(
    a: Volume,
    b: Volume,
    *,
    interpolation: str = "linear",
    hu_range: tuple[float, float] | None = None,
    tolerance: float = 0.0,
    allow_different_frame: bool = False,
    segments: Sequence[tuple[tuple[Volume, Segment] | None, tuple[Volume, Segment] | None]] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ImageComparison:
    """Load two 3-D volumes and :func:`compare_arrays` them (``b`` onto ``a``'s grid).

    Parameters
    ----------
    segments : sequence of pairs, optional
        Pairs of segments of segmentation volumes (see :func:`segment_pairs`; None on a side: ``hu_range`` of that
        image) whose masks are overlapped on ``a``'s grid; each segmentation is decoded once.
    progress : callable, optional
        ``progress(done, total)`` over the whole job: loading A and B slice by slice, then the stages of
        :func:`compare_arrays`, each weighted by its cost (:data:`STAGE_COST`); a progress callable with a
        ``stage(label)`` method hears ``"loading A 40/120"``, ``"resampling"``, ``"statistics 3/8"``, ...
    cancel : callable, optional
        Asked between slices, slabs and SimpleITK progress events; True raises
        :class:`~napari_dicomseries.errors.Cancelled` and nothing is kept.
    """
    from .load import load_volume

    for v in (a, b):
        if not v.is_image or v.ndim != 3:
            raise GeometryError(f"series {v.key} ({v.series_description!r}) is not a 3-D image volume (shape {v.shape})")
    mvox_a, mvox_b = math.prod(a.shape) / 1e6, math.prod(b.shape) / 1e6
    resampled = not a.geometry.same_as(b.geometry)
    per_mask = STAGE_COST["overlap"] if (hu_range is not None or segments) else 0.0
    n_masks = len(segments) if segments else 1
    compare_cost = mvox_a * (
        STAGE_COST["difference"] + STAGE_COST["statistics"] + STAGE_COST["histogram"]
        + (STAGE_COST["resampling"] if resampled else 0.0) + per_mask * n_masks
    )  # fmt: skip
    weights = [("load A", STAGE_COST["loading"] * mvox_a), ("load B", STAGE_COST["loading"] * mvox_b)]
    seg_volumes = list({id(r[0]): r[0] for pair in (segments or []) for r in pair if r is not None}.values())
    weights += [(f"load {v.key}", STAGE_COST["loading"] * math.prod(v.shape) / 1e6) for v in seg_volumes]
    weights.append(("compare", compare_cost))
    job = Stages(weights, progress=progress, cancel=cancel, what=f"comparison of {a.key} and {b.key}")
    arr_a = load_volume(a, progress=job.reporter("load A", "loading A"), cancel=cancel)
    arr_b = load_volume(b, progress=job.reporter("load B", "loading B"), cancel=cancel)
    pairs: list[MaskPair] | None = None
    if segments:
        loaded: dict[int, np.ndarray] = {}
        made: dict[tuple[int, int], GridMask] = {}

        def grid_mask(ref: tuple[Volume, Segment] | None) -> GridMask | None:
            if ref is None:
                return None
            vol, seg = ref
            if (id(vol), seg.number) not in made:
                if id(vol) not in loaded:
                    job.start(f"load {vol.key}", f"loading segmentation {vol.key}")
                    loaded[id(vol)] = load_volume(vol, cancel=cancel)
                mask = segment_mask(vol, seg.number, data=loaded[id(vol)])
                name = f"{vol.key}:{seg.number} {seg.label!r}"
                made[(id(vol), seg.number)] = GridMask(name, mask, vol.geometry.with_shape(mask.shape), seg)
            return made[(id(vol), seg.number)]

        pairs = [(grid_mask(x), grid_mask(y)) for x, y in segments]
    res = compare_arrays(
        arr_a,
        a.geometry,
        arr_b,
        b.geometry,
        interpolation=interpolation,
        hu_range=hu_range,
        mask_pairs=pairs,
        tolerance=tolerance,
        frame_of_reference=(a.frame_of_reference_uid, b.frame_of_reference_uid),
        allow_different_frame=allow_different_frame,
        progress=job.sub("compare"),
        cancel=cancel,
    )
    job.finish()
    return res

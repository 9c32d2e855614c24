"""Pairs of masks to overlap: segments of segmentations, HU ranges, and their overlap on the first image's grid.

``compare --mask-a SEG[:SEGMENT] --mask-b SEG[:SEGMENT]`` and the image-compare dock name the masks;
:func:`segment_pairs` says which segments meet, :func:`pair_overlaps` puts each mask on the first image's grid
(nearest neighbour, once per mask) and measures each pair (:class:`MaskOverlap`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SeriesNotFoundError
from .geometry import Geometry
from .jobs import CancelFn, ProgressFn, Stages
from .masks import GridMask, OverlapStats, overlap, range_mask, resample_mask

if TYPE_CHECKING:
    from .segmentation import Segment
    from .volume import Volume

__all__ = ["MaskOverlap", "MaskPair", "pair_overlaps", "segment_pairs"]

#: One pair of masks on their own grids; None stands for an HU range of that side's image.
MaskPair = tuple[GridMask | None, GridMask | None]


@dataclass
class MaskOverlap:
    """The overlap of one pair of masks on the first image's grid, and what the masks are.

    ``mask_a`` / ``mask_b`` name them: ``"1:1 'Liver'"`` (segmentation key : segment number, label), an HU range
    ``"0 <= value <= 300 of image B"``, or a label layer's name.
    ``own_volume_a_ml`` / ``own_volume_b_ml`` are a segment's volume on its own grid (before resampling; None for an
    HU-range mask), so the effect of resampling shows next to ``stats.volume_a_ml`` / ``stats.volume_b_ml``.
    """

    mask_a: str
    mask_b: str
    stats: OverlapStats
    segment_a: Segment | None = None
    segment_b: Segment | None = None
    own_volume_a_ml: float | None = None
    own_volume_b_ml: float | None = None

    @property
    def description(self) -> str:
        """``"<mask A> vs <mask B>"``, e.g. ``"1:1 'Liver' vs 100:1 'GREEN'"``."""
        return f"{self.mask_a} vs {self.mask_b}"

    def rows(self) -> list[tuple[str, str]]:
        """(measure, value) pairs for a table (the overlap's, plus the segments' own volumes)."""
        out = self.stats.rows()
        for side, v in (("A", self.own_volume_a_ml), ("B", self.own_volume_b_ml)):
            if v is not None:
                out.append((f"volume {side} on its own grid (ml)", f"{v:.6g}"))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the masks, their segments (number, label), own volumes, then the overlap measures."""

        def seg(s: Segment | None) -> dict[str, Any] | None:
            return None if s is None else {"number": s.number, "label": s.label}

        return {
            "mask_a": self.mask_a,
            "mask_b": self.mask_b,
            "segment_a": seg(self.segment_a),
            "segment_b": seg(self.segment_b),
            "own_volume_a_ml": self.own_volume_a_ml,
            "own_volume_b_ml": self.own_volume_b_ml,
            **self.stats.to_dict(),
        }


def _hu_text(hu: tuple[float, float]) -> str:
    lo, hi = hu
    if not math.isfinite(lo):
        return f"value <= {hi:g}"
    return f"{lo:g} <= value <= {hi:g}" if math.isfinite(hi) else f"value >= {lo:g}"


def _mask_on(m: GridMask, grid: Geometry, covered: np.ndarray) -> np.ndarray:
    """``m`` on ``grid`` (nearest neighbour), limited to the ``covered`` voxels."""
    out: np.ndarray = resample_mask(m.mask, m.grid, grid) & covered
    return out


def pair_overlaps(
    pairs: Sequence[MaskPair],
    a: np.ndarray,
    b_on_a: np.ndarray,
    grid: Geometry,
    covered: np.ndarray,
    hu_range: tuple[float, float] | None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[list[MaskOverlap], tuple[np.ndarray, np.ndarray]]:
    """One :class:`MaskOverlap` per pair, and the first pair's masks on ``grid`` (each mask is put there once).

    ``progress(done, total)`` over the pairs (each pair's overlap and Hausdorff distance, see
    :func:`masks.overlap`); ``cancel()`` is asked between and inside them (True raises
    :class:`~napari_dicomseries.errors.Cancelled`).
    """
    job = Stages([(str(n), 1.0) for n in range(len(pairs))], progress=progress, cancel=cancel, what="overlap of the masks")
    cache: dict[int, np.ndarray] = {}
    hu: dict[str, np.ndarray] = {}

    def on_grid(m: GridMask | None, side: str) -> tuple[np.ndarray, str]:
        if m is not None:
            if id(m) not in cache:
                cache[id(m)] = _mask_on(m, grid, covered)
            return cache[id(m)], m.name
        if hu_range is None:
            raise ValueError(f"mask {side} is an HU range, but no HU range was given")
        if side not in hu:
            lo, hi = hu_range
            hu[side] = range_mask(a if side == "A" else b_on_a, lo, hi) & covered
        return hu[side], f"{_hu_text(hu_range)} of image {side}"

    out = []
    first: tuple[np.ndarray, np.ndarray] | None = None
    for n, (ma_spec, mb_spec) in enumerate(pairs):
        step = job.sub(str(n), f"pair {n + 1}/{len(pairs)}" if len(pairs) > 1 else None)
        ma, name_a = on_grid(ma_spec, "A")
        mb, name_b = on_grid(mb_spec, "B")
        first = first or (ma, mb)
        out.append(
            MaskOverlap(
                mask_a=name_a,
                mask_b=name_b,
                stats=overlap(ma, mb, grid, progress=step, cancel=cancel),
                segment_a=ma_spec.segment if ma_spec else None,
                segment_b=mb_spec.segment if mb_spec else None,
                own_volume_a_ml=ma_spec.volume_ml if ma_spec else None,
                own_volume_b_ml=mb_spec.volume_ml if mb_spec else None,
            )
        )
    assert first is not None, "no mask pair"
    job.finish()
    return out, first


def segment_pairs(
    seg_a: Volume | None,
    segment_a: int | str | None,
    seg_b: Volume | None,
    segment_b: int | str | None,
) -> list[tuple[tuple[Volume, Segment] | None, tuple[Volume, Segment] | None]]:
    """Which segments to overlap: the rule of ``compare --mask-a SEG[:SEGMENT] --mask-b SEG[:SEGMENT]``.

    A side without a segmentation volume (None) stands for an HU range. A side with a volume but no segment means
    every segment of it. Two "every segment" sides are paired by segment number (the numbers both have); otherwise
    every segment of one side meets every segment of the other (so one named segment meets all of the other side's).

    Returns
    -------
    list of pairs
        ``((volume, segment) or None, (volume, segment) or None)``, in segment order.

    Raises
    ------
    SeriesNotFoundError
        When a volume is not a segmentation, has no such segment, or two "every segment" sides share no number.
    ValueError
        When neither side names a segmentation.
    """
    from .masks import find_segment, volume_segments

    def side(v: Volume | None, s: int | str | None) -> list[tuple[Volume, Segment] | None] | None:
        if v is None:
            return None
        if s is not None:
            return [(v, find_segment(v, s))]
        segs = volume_segments(v)
        if not segs:
            raise SeriesNotFoundError(f"series {v.key} ({v.series_description!r}): a segmentation without segments")
        return [(v, x) for x in segs]

    la, lb = side(seg_a, segment_a), side(seg_b, segment_b)
    if la is None and lb is None:
        raise ValueError("neither mask names a segmentation")
    if la is None or lb is None:
        return [(x, None) for x in la] if la is not None else [(None, x) for x in lb or []]
    if segment_a is None and segment_b is None:
        numbers_b = {x[1].number: x for x in lb if x is not None}
        pairs: list[tuple[tuple[Volume, Segment] | None, tuple[Volume, Segment] | None]] = [
            (x, numbers_b[x[1].number]) for x in la if x is not None and x[1].number in numbers_b
        ]
        if not pairs:
            assert seg_a is not None and seg_b is not None
            raise SeriesNotFoundError(
                f"series {seg_a.key} and {seg_b.key} have no segment number in common: name the segments (SEG:SEGMENT) to compare"
            )
        return pairs
    return [(x, y) for x in la for y in lb]

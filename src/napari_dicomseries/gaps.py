"""Gaps in a volume: find missing slices and irregular spacing, split there or resample to uniform spacing.

:func:`volume.build_volumes` gives every volume one slice spacing (the median
step) and only *warns* about missing slices or irregular steps, so a viewer
that trusts the spacing places the slices after a gap at the wrong height.
This module offers the two usual remedies, both pure functions:

* :func:`split_at_gaps` cuts the volume into parts of regular spacing (each
  a :class:`Volume` with its own geometry, loadable like any other);
* :func:`resample_uniform` interpolates the loaded array linearly along the
  slice axis onto a uniform grid spanning the same extent, and returns the
  new geometry as a :class:`Geometry`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .volume import POSITION_TOLERANCE, Volume, _axis_name, _geometry, _normal, index_to_lps

__all__ = ["Gap", "Geometry", "find_gaps", "split_at_gaps", "resample_uniform", "slice_distances"]


@dataclass(frozen=True)
class Gap:
    """An irregular step between slice ``index`` and ``index + 1`` (array order).

    ``missing`` is the number of slices that would fill the gap when the step
    is a whole multiple of the usual spacing, else None (irregular spacing).
    """

    index: int
    step: float
    usual: float
    missing: int | None


@dataclass(frozen=True)
class Geometry:
    """Geometry of an array in the patient system (LPS, mm), in the conventions of :class:`Volume`."""

    shape: tuple[int, ...]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    slice_step: tuple[float, float, float]

    def affine_lps(self) -> np.ndarray:
        """4 x 4 matrix mapping array index (k, j, i, 1) to patient LPS (x, y, z, 1) in mm."""
        return index_to_lps(self.direction, self.spacing, self.slice_step, self.origin)

    @classmethod
    def of(cls, volume: Volume) -> Geometry:
        """The geometry a volume declares."""
        return cls(tuple(volume.shape), volume.spacing, volume.origin, volume.direction, volume.slice_step)


def _slice_frames(volume: Volume) -> list:
    return volume.frame_grid()[0] if volume.frames else []


def slice_distances(volume: Volume) -> np.ndarray | None:
    """Position of each slice along the slice normal (mm), or None without position tags."""
    frames = _slice_frames(volume)
    if not frames or any(f.position is None or f.orientation is None for f in frames):
        return None
    normal = _normal(frames[0].orientation)
    return np.array([float(np.dot(normal, f.position)) for f in frames])


def find_gaps(volume: Volume) -> list[Gap]:
    """The steps between consecutive slices that differ from the usual (median) spacing.

    Uses the tolerance of :func:`volume.build_volumes` (the larger of 0.05 mm
    and 1 % of the spacing), so it finds exactly the gaps that built warnings.
    """
    d = slice_distances(volume)
    if d is None or len(d) < 3:
        return []
    diffs = np.diff(d)
    usual = float(np.median(diffs))
    if usual <= 0:
        return []
    tol = max(POSITION_TOLERANCE * 5, 0.01 * usual)
    out = []
    for k, step in enumerate(diffs):
        if abs(step - usual) <= tol:
            continue
        ratio = step / usual
        missing = int(round(ratio)) - 1 if ratio > 1.5 and abs(ratio - round(ratio)) * usual <= tol else None
        out.append(Gap(k, float(step), usual, missing))
    return out


def _is_spacing_warning(w: str) -> bool:
    return w.startswith(("missing ", "irregular slice spacing"))


def split_at_gaps(volume: Volume) -> list[Volume]:
    """Cut ``volume`` where slices are missing or spacing is irregular; one regular :class:`Volume` per part.

    A volume without gaps comes back unchanged (as the only item). Parts get
    the keys ``"<key>.part1"``, ``"<key>.part2"``, ... and a ``split_reason``
    naming the gap; a 4-D volume is cut at the same slices in every time point.
    """
    gaps = find_gaps(volume)
    if not gaps:
        return [volume]
    d = slice_distances(volume)
    assert d is not None  # find_gaps found gaps, so positions exist
    grid = volume.frame_grid()
    n_time = len(grid)
    cuts = [g.index + 1 for g in gaps]
    bounds = list(zip([0, *cuts], [*cuts, len(d)], strict=True))
    axis = _axis_name(grid[0][0].orientation)
    kept_warnings = [w for w in volume.warnings if not _is_spacing_warning(w)]
    parts: list[Volume] = []
    for n, (a, b) in enumerate(bounds, start=1):
        frames = [f for row in grid for f in row[a:b]]
        warns: list[str] = []
        geo = _geometry(frames, n_time, warns, axis)
        paths = dict.fromkeys(f.path for f in frames)
        files = [f for f in volume.files if f.path in paths]
        reason = f"slices {a + 1}-{b} of {len(d)} ({axis} = {d[a]:.2f} to {d[b - 1]:.2f}), cut at gaps in slice spacing"
        parts.append(
            dataclasses.replace(
                volume,
                key=f"{volume.key}.part{n}",
                files=files,
                frames=frames,
                shape=geo["shape"],
                spacing=tuple(float(x) for x in geo["spacing"]),
                origin=geo["origin"],
                direction=geo["direction"],
                slice_step=geo["slice_step"],
                split_reason=", ".join(r for r in (volume.split_reason, reason) if r),
                warnings=kept_warnings + warns,
                reasons=dict(volume.reasons),
            )
        )
    return parts


def resample_uniform(volume: Volume, array: np.ndarray) -> tuple[np.ndarray, Geometry]:
    """Interpolate ``array`` (the loaded ``volume``) linearly along the slice axis onto uniform spacing.

    The new grid keeps the first and last slice and has the usual (median)
    spacing, adjusted so that a whole number of steps spans the extent.
    Integer data are rounded back to their type. A volume without gaps comes
    back as it is.

    Parameters
    ----------
    volume : Volume
        The volume the array was loaded from (gives the slice positions).
    array : numpy.ndarray
        Its data, shape ``volume.shape`` (3-D or 4-D with a leading time axis).

    Returns
    -------
    (numpy.ndarray, Geometry)
        The resampled array (same dtype) and its geometry.
    """
    array = np.asarray(array)
    if array.shape != tuple(volume.shape):
        raise ValueError(f"array of shape {array.shape} does not match volume shape {volume.shape}")
    d = slice_distances(volume)
    if d is None or not find_gaps(volume):
        return array, Geometry.of(volume)
    positions = np.array([f.position for f in _slice_frames(volume)], float)
    usual = volume.spacing[0]
    extent = d[-1] - d[0]
    n = max(2, int(round(extent / usual)) + 1)
    targets = d[0] + np.arange(n) * (extent / (n - 1))
    targets[-1] = d[-1]
    out = np.empty((*array.shape[:-3], n, *array.shape[-2:]), dtype=array.dtype)
    integer = array.dtype.kind in "iu"
    info = np.iinfo(array.dtype) if integer else None
    for m, t in enumerate(targets):
        k = int(np.clip(np.searchsorted(d, t, side="right") - 1, 0, len(d) - 2))
        w = float((t - d[k]) / (d[k + 1] - d[k]))
        if w <= 1e-9:
            out[..., m, :, :] = array[..., k, :, :]
            continue
        if w >= 1 - 1e-9:
            out[..., m, :, :] = array[..., k + 1, :, :]
            continue
        mix = array[..., k, :, :].astype(np.float32) * np.float32(1 - w) + array[..., k + 1, :, :].astype(np.float32) * np.float32(w)
        if integer:
            mix = np.clip(np.rint(mix), info.min, info.max)
        out[..., m, :, :] = mix
    first, last = positions[0], positions[-1]
    step = (last - first) / (n - 1)
    geometry = Geometry(
        shape=tuple(out.shape),
        spacing=(float(extent / (n - 1)), volume.spacing[1], volume.spacing[2]),
        origin=tuple(float(x) for x in first),
        direction=volume.direction,
        slice_step=tuple(float(x) for x in step),
    )
    return out, geometry

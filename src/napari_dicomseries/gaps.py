"""Gaps in a volume: find missing slices and irregular spacing, split there or resample to uniform spacing.

:func:`build.build_volumes` gives every volume one slice spacing (the median
step) and only *warns* about missing slices or irregular steps, so a viewer
that trusts the spacing places the slices after a gap at the wrong height.
This module offers the two usual remedies, both pure functions:

* :func:`split_at_gaps` cuts the volume into parts of regular spacing (each
  a :class:`Volume` with its own geometry, loadable like any other);
* :func:`resample_uniform` interpolates the loaded array linearly along the
  slice axis onto a uniform grid spanning the same extent, and returns the
  new grid as a :class:`geometry.Geometry`.

Gaps are found by the rule that made the builder's warnings (:func:`positions.irregular_steps`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .geometry import Geometry
from .labels import Kind
from .positions import axis_name, distances_along, irregular_steps, slice_normal, stack_geometry
from .warning import VolumeWarning, WarningCode

if TYPE_CHECKING:
    from .frame import Frame
    from .volume import Volume

__all__ = [
    "GAP_POLICIES",
    "DEFAULT_GAP_POLICY",
    "Gap",
    "apply_gap_policy",
    "find_gaps",
    "split_at_gaps",
    "resample_uniform",
    "slice_distances",
    "SPACING_WARNINGS",
]

#: What to do with a volume whose slices are not evenly spaced (missing slices, irregular steps):
#: ``split`` into regular parts, ``resample`` onto uniform spacing, or ``keep`` the usual spacing (slices after a gap
#: are then drawn and written where their header does *not* put them; only on request).
GAP_POLICIES = ("split", "resample", "keep")
#: ``split``: every voxel stays an original voxel at the position its header gives, and nothing is invented;
#: ``resample`` interpolates slices that were never acquired, ``keep`` misplaces every slice after a gap.
DEFAULT_GAP_POLICY = "split"


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


def _slice_frames(volume: Volume) -> list[Frame]:
    return volume.frame_grid()[0] if volume.frames else []


def slice_distances(volume: Volume) -> np.ndarray | None:
    """Position of each slice along the slice normal (mm), or None without position tags."""
    frames = _slice_frames(volume)
    orientation = frames[0].orientation if frames else None
    if orientation is None or any(f.position is None or f.orientation is None for f in frames):
        return None
    return distances_along(slice_normal(orientation), frames)


def find_gaps(volume: Volume) -> list[Gap]:
    """The steps between consecutive slices that differ from the usual (median) spacing.

    Uses the rule of :func:`build.build_volumes` (:func:`positions.irregular_steps`),
    so it finds exactly the gaps that built warnings.
    """
    d = slice_distances(volume)
    if d is None or len(d) < 3:
        return []
    diffs = np.diff(d)
    usual = float(np.median(diffs))
    return [Gap(k, step, usual, missing) for k, step, missing in irregular_steps(diffs, usual)]


#: The warnings about slice spacing that a gap policy acts on.
SPACING_WARNINGS = frozenset({WarningCode.MISSING_SLICES, WarningCode.IRREGULAR_SPACING})


def _is_spacing_warning(w: VolumeWarning) -> bool:
    return w.code in SPACING_WARNINGS


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
    axis = axis_name(grid[0][0].orientation)
    # the gap stays on record in every part, said as what was done about it
    kept_warnings = [
        w.with_message(f"cut at a gap (gaps=split): {w}", WarningCode.SPLIT_AT_GAP) if _is_spacing_warning(w) else w
        for w in volume.warnings
    ]
    parts: list[Volume] = []
    for n, (a, b) in enumerate(bounds, start=1):
        frames = [f for row in grid for f in row[a:b]]
        warns: list[VolumeWarning] = []
        geo = stack_geometry(frames, n_time, warns, axis)
        paths = dict.fromkeys(f.path for f in frames)
        files = [f for f in volume.files if f.path in paths]
        spacing, slice_step = geo.spacing, geo.slice_step
        if b - a == 1 and len(d) > 1:
            # a lone slice keeps the volume's slice step (and so its gantry-tilt shear), not a guess from its tags
            spacing, slice_step = (volume.spacing[0], *spacing[1:]), volume.slice_step
        reason = f"slices {a + 1}-{b} of {len(d)} ({axis} = {d[a]:.2f} to {d[b - 1]:.2f}), cut at gaps in slice spacing"
        parts.append(
            dataclasses.replace(
                volume,
                key=f"{volume.key}.part{n}",
                files=files,
                frames=frames,
                shape=geo.shape,
                spacing=spacing,
                origin=geo.origin,
                direction=geo.direction,
                slice_step=slice_step,
                split_reason=", ".join(r for r in (volume.split_reason, reason) if r),
                warnings=kept_warnings + [w for w in warns if w not in volume.warnings],
                reasons=dict(volume.reasons),
                gap_policy="split",
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
        return array, volume.geometry
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
        below, above = array[..., k, :, :].astype(np.float32), array[..., k + 1, :, :].astype(np.float32)
        mix = below * np.float32(1 - w) + above * np.float32(w)
        if info is not None:
            mix = np.clip(np.rint(mix), info.min, info.max)
        out[..., m, :, :] = mix
    first, last = positions[0], positions[-1]
    step = (last - first) / (n - 1)
    geometry = Geometry.from_parts(
        out.shape, (float(extent / (n - 1)), volume.spacing[1], volume.spacing[2]), first, volume.direction, step
    )
    return out, geometry


def apply_gap_policy(volumes: list[Volume], policy: str = DEFAULT_GAP_POLICY) -> list[Volume]:
    """Apply a gap policy (one of :data:`GAP_POLICIES`) to every volume with missing slices or irregular spacing.

    ``split`` replaces such a volume by its regular parts (:func:`split_at_gaps`);
    ``resample`` and ``keep`` leave it whole and record the policy in
    ``Volume.gap_policy``: loaders then resample it (:func:`placed`) or, for
    ``keep``, use the usual spacing, with a warning that says how far slices are
    misplaced. Volumes without gaps are returned unchanged.

    Raises
    ------
    ValueError
        For an unknown policy.
    """
    if policy not in GAP_POLICIES:
        raise ValueError(f"unknown gap policy {policy!r}: choose one of {', '.join(GAP_POLICIES)}")
    out: list[Volume] = []
    for v in volumes:
        gaps = find_gaps(v) if v.is_image and v.frames and v.kind != Kind.SEGMENTATION else []
        if not gaps:
            out.append(v)
        elif policy == "split":
            out.extend(split_at_gaps(v))
        else:
            v.gap_policy = policy
            if policy == "keep":
                v.warnings.append(
                    VolumeWarning(
                        WarningCode.GAPS_KEPT, f"slices kept at uniform spacing on request (gaps=keep): {_misplacement(v)}"
                    )
                )
            out.append(v)
    return out


def _misplacement(volume: Volume) -> str:
    """How far the uniform grid puts slices from their header positions (for the ``keep`` warning)."""
    d = slice_distances(volume)
    if d is None:
        return "slice positions unknown"
    uniform = d[0] + np.arange(len(d)) * volume.spacing[0] * np.sign(d[-1] - d[0] or 1)
    err = np.abs(uniform - d)
    worst = int(np.argmax(err))
    return f"slice {worst + 1} is drawn {err[worst]:.2f} mm from where its header puts it"


def placed(volume: Volume, array: np.ndarray) -> tuple[np.ndarray, Geometry]:
    """The array to show or write for ``volume`` and its geometry: resampled when its gap policy says so."""
    if volume.gap_policy == "resample":
        return resample_uniform(volume, np.asarray(array))
    return array, volume.geometry

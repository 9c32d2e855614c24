"""Slice positions: the normal of an image plane, distances along it, regular steps and gaps, and a stack's grid.

The rules that decide where slices lie, written once for the volume builder
(:mod:`build`) and the gap policy (:mod:`gaps`): positions closer than
:data:`POSITION_TOLERANCE` along the normal are one slice; a step between
neighbours is regular when it is within :func:`step_tolerance` of the usual
(median) spacing, a missing run of slices when it is a whole multiple of it,
else irregular; :func:`stack_geometry` turns the sorted frames of one volume
into its :class:`~geometry.Geometry`, with warnings for gaps and gantry tilt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .geometry import Geometry, cross3, index_to_lps, norm3
from .warning import VolumeWarning, WarningCode

if TYPE_CHECKING:
    from .frame import Frame

__all__ = [
    "POSITION_TOLERANCE",
    "slice_normal",
    "distances_along",
    "axis_name",
    "fmt_mm",
    "cluster",
    "step_tolerance",
    "irregular_steps",
    "spacing_warnings",
    "stack_geometry",
]

#: Positions closer than this (mm, along the slice normal) are the same slice.
POSITION_TOLERANCE = 0.01
#: Smallest gantry tilt (degrees) taken as a tilt rather than rounding in the position tags.
TILT_MIN_DEGREES = 0.01
_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal (row cosine x column cosine) of an ImageOrientationPatient; +z for a degenerate one.

    Parameters
    ----------
    orientation : sequence of 6 floats
        Row cosine then column cosine (LPS).

    Returns
    -------
    numpy.ndarray
        The unit normal, shape (3,).
    """
    # plain float arithmetic (the same bits as numpy's cross and norm), several times faster on 3 values
    o = [float(x) for x in orientation[:6]]
    n = cross3(o[:3], o[3:6])
    norm = norm3(n)
    return np.array([n[0] / norm, n[1] / norm, n[2] / norm]) if norm > 0 else np.array([0.0, 0.0, 1.0])


def distances_along(normal: np.ndarray, frames: Sequence[Frame]) -> np.ndarray:
    """Each frame's ImagePositionPatient along ``normal`` (mm), in frame order.

    Raises
    ------
    ValueError
        If a frame has no position (callers place such frames otherwise).
    """
    n0, n1, n2 = (float(x) for x in normal)
    out = []
    for f in frames:
        p = f.position
        if p is None:
            raise ValueError(f"{f.path}: frame {f.index} has no ImagePositionPatient")
        out.append(n0 * p[0] + n1 * p[1] + n2 * p[2])  # numpy's dot of two 3-vectors, summed alike, without its per-call cost
    return np.array(out, dtype=float)


def axis_name(orientation: Sequence[float] | None) -> str:
    """``"x"``, ``"y"`` or ``"z"``: the patient axis the slices advance along, or ``"position"`` when oblique or unknown."""
    if orientation is None:
        return "position"
    n = np.abs(slice_normal(orientation))
    return "xyz"[int(np.argmax(n))] if n.max() > 0.99 else "position"


def fmt_mm(v: float) -> str:
    """A distance as messages show it: ``-120.0``, ``2.5``, ``0.63`` (two decimals at most)."""
    return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v - round(v)) > 1e-9 else f"{v:.1f}"


def cluster(dists: np.ndarray) -> list[list[int]]:
    """Indices of ``dists`` grouped into slices (neighbours within :data:`POSITION_TOLERANCE`), in increasing distance."""
    order = np.argsort(dists, kind="stable").tolist()
    values = np.asarray(dists, float).tolist()  # Python floats: the same differences, without numpy's per-item cost
    clusters: list[list[int]] = []
    last = None
    for i in order:
        if last is None or values[i] - last > POSITION_TOLERANCE:
            clusters.append([i])
        else:
            clusters[-1].append(i)
        last = values[i]
    return clusters


def step_tolerance(spacing: float) -> float:
    """How far (mm) a step between neighbouring slices may differ from the usual spacing and still be regular."""
    return max(POSITION_TOLERANCE * 5, 0.01 * abs(spacing))


def irregular_steps(diffs: Sequence[float] | np.ndarray, usual: float) -> list[tuple[int, float, int | None]]:
    """The steps that are not regular: ``(index, step, missing)`` for the step from slice ``index`` to ``index + 1``.

    ``missing`` is the number of slices that would fill the step when it is a
    whole multiple of ``usual`` (a gap), else None (irregular spacing).
    """
    if usual <= 0:
        return []
    tol = step_tolerance(usual)
    out: list[tuple[int, float, int | None]] = []
    for i, step in enumerate(diffs.tolist() if isinstance(diffs, np.ndarray) else diffs):  # Python floats: faster per step
        if abs(step - usual) <= tol:
            continue
        ratio = step / usual
        missing = int(round(ratio)) - 1 if ratio > 1.5 and abs(ratio - round(ratio)) * usual <= tol else None
        out.append((i, float(step), missing))
    return out


def spacing_warnings(dists: np.ndarray, usual: float, axis: str) -> list[VolumeWarning]:
    """Warnings for the missing slices and irregular steps between sorted slice distances ``dists`` (mm)."""
    found = irregular_steps(np.diff(dists), usual)
    out = [
        VolumeWarning(
            WarningCode.MISSING_SLICES,
            f"missing {n} slice{'s' if n > 1 else ''} between {axis} = {fmt_mm(dists[i])} and {axis} = {fmt_mm(dists[i + 1])}",
        )
        for i, _, n in found
        if n is not None
    ]
    irregular = [(i, step) for i, step, n in found if n is None]
    if irregular:
        i, step = irregular[0]
        out.append(
            VolumeWarning(
                WarningCode.IRREGULAR_SPACING,
                f"irregular slice spacing: {len(irregular)} step(s) differ from the usual {fmt_mm(usual)} mm "
                f"(e.g. {fmt_mm(step)} mm between {axis} = {fmt_mm(dists[i])} and {axis} = {fmt_mm(dists[i + 1])})",
            )
        )
    return out


def stack_geometry(frames: Sequence[Frame], n_time: int, warnings: list[VolumeWarning], axis: str) -> Geometry:
    """The grid of frames in array order (``n_time`` repeats of one stack of slices), its problems added to ``warnings``.

    The slice spacing is the median step along the normal; the slice step is
    along the normal unless the gantry was tilted, then the mean of the
    regular steps between neighbours (a gap's longer step left out), so a
    sheared grid keeps its shear. Frames without position or orientation get
    a default axial grid at the origin.

    Parameters
    ----------
    frames : sequence of Frame
        The frames, ``n_time`` stacks of ``len(frames) // n_time`` slices, each sorted along the normal.
    n_time : int
        Length of a leading time axis (1 for a 3-D volume).
    warnings : list of VolumeWarning
        Receives the warnings (no pixel spacing, missing slices, irregular spacing, gantry tilt).
    axis : str
        The name of the slice axis in messages (see :func:`axis_name`).

    Returns
    -------
    Geometry
        Shape ``([n_time,] slices, rows, columns)`` and the index -> LPS affine.
    """
    nz = len(frames) // n_time
    first = frames[0]
    shape = ((n_time,) if n_time > 1 else ()) + (nz, first.rows, first.columns)
    ps = first.pixel_spacing
    if ps is None:
        warnings.append(
            VolumeWarning(
                WarningCode.NO_PIXEL_SPACING, "no PixelSpacing: in-plane spacing set to 1 mm (sizes and distances are not in mm)"
            )
        )
        ps = (1.0, 1.0)
    stack = frames[:nz]
    if first.orientation is None or any(f.orientation is None or f.position is None for f in stack):
        step_len = first.spacing_between_slices or first.slice_thickness or 1.0
        return Geometry.from_parts(shape, (step_len, ps[0], ps[1]), slice_step=(slice_normal(_AXIAL) * step_len).tolist())
    o = first.orientation
    normal = slice_normal(o)
    positions = np.array([f.position for f in stack], float)
    dists = positions @ normal
    if nz > 1:
        diffs = np.diff(dists)
        spacing = float(np.median(diffs))
        step = (positions[-1] - positions[0]) / (nz - 1)
        if spacing > 0:
            warnings.extend(spacing_warnings(dists, spacing, axis))
        cosang = float(np.clip(np.dot(step, normal) / max(np.linalg.norm(step), 1e-12), -1, 1))
        tilt = math.degrees(math.acos(cosang))
        if tilt > TILT_MIN_DEGREES:
            warnings.append(
                VolumeWarning(
                    WarningCode.GANTRY_TILT,
                    f"gantry tilt of {tilt:.2f} degrees: slices are sheared; the volume keeps the shear "
                    "(napari shows it in place, exporters resample or store the sheared affine)",
                )
            )
            regular = np.abs(diffs - spacing) <= step_tolerance(spacing)
            if regular.any() and not regular.all():
                step = np.diff(positions, axis=0)[regular].mean(axis=0)
        step_vec = step if tilt > TILT_MIN_DEGREES else normal * spacing
    else:
        spacing = first.spacing_between_slices or first.slice_thickness or 1.0
        step_vec = normal * spacing
    # row-major 3 x 3 with columns row cosine, column cosine, normal (written out: numpy's column_stack costs more here)
    n = normal.tolist()
    direction = [float(o[0]), float(o[3]), n[0], float(o[1]), float(o[4]), n[1], float(o[2]), float(o[5]), n[2]]
    return Geometry(
        shape, index_to_lps(direction, (abs(spacing), ps[0], ps[1]), np.asarray(step_vec).tolist(), positions[0].tolist())
    )

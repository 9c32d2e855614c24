"""Geometry: where the voxels of an array lie in the patient, and its conversions.

One value, :class:`Geometry`, describes every grid of the project: a volume's
(from its headers), a resampled or split part's, a napari layer's, a NIfTI
file's. It holds the array ``shape`` (slices, rows, columns), optionally with
a leading time axis, and ``affine``: the 4 x 4 matrix mapping an array index
(k, j, i, 1) to the DICOM patient system (LPS: x to the patient's left, y
posterior, z superior; mm). Its columns are the slice step (which carries any
gantry-tilt shear), the step between rows and the step between columns.

Conventions, written once here:

* array order (k, j, i) = (slice, row, column); ``spacing`` in that order;
* ITK / SimpleITK order (x, y, z) = (column, row, slice): ``direction`` is the
  ITK 3 x 3 row-major matrix whose columns are the row cosine, the column
  cosine and the slice normal;
* napari world axes (z, y, x), LPS, mm;
* NIfTI voxel (i, j, k) to scanner RAS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import permutations
from typing import Any

import numpy as np

from .errors import GeometryError

__all__ = ["Geometry", "SHEAR_TOLERANCE", "GRID_TOLERANCE_MM", "index_to_lps", "vec3", "cross3", "norm3"]

#: Largest |cos| between voxel axes still taken as perpendicular (a tilt of ~0.006 degrees).
SHEAR_TOLERANCE = 1e-4
#: Grids whose voxels lie less than this apart (mm) are the same grid.
GRID_TOLERANCE_MM = 1e-3


def vec3(values: Iterable[Any]) -> tuple[float, float, float]:
    """A 3-vector (a numpy row, a list, a generator) as a tuple of three Python floats.

    Raises
    ------
    ValueError
        If ``values`` does not hold exactly three numbers.
    """
    x, y, z = values
    return (float(x), float(y), float(z))


def cross3(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """The cross product ``a x b`` of two 3-vectors, as floats.

    Plain arithmetic in the order ``numpy.cross`` uses (so the same bits), without its ~10 us of array set-up:
    the volume builder takes it per volume and per slice plane.
    """
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def norm3(v: Sequence[float]) -> float:
    """The length of a 3-vector: ``sqrt(x*x + y*y + z*z)``, summed in that order (as ``numpy.linalg.norm`` of 3 values)."""
    return math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


def index_to_lps(
    direction: Sequence[float], spacing: Sequence[float], slice_step: Sequence[float], origin: Sequence[float]
) -> np.ndarray:
    """4 x 4 matrix mapping array index (k, j, i, 1) to patient LPS (x, y, z, 1) in mm.

    Parameters
    ----------
    direction : sequence of 9 floats
        ITK direction (row-major; columns: row cosine, column cosine, normal).
    spacing : sequence of 3 floats
        (slice, row, column) spacing in mm; the slice entry is not used (``slice_step`` is).
    slice_step : sequence of 3 floats
        LPS vector from one slice to the next (carries any gantry-tilt shear).
    origin : sequence of 3 floats
        LPS position of voxel [0, 0, 0].
    """
    d = np.asarray(direction, float).reshape(3, 3)
    a = np.eye(4)
    a[:3, 0] = slice_step
    a[:3, 1] = d[:, 1] * spacing[1]
    a[:3, 2] = d[:, 0] * spacing[2]
    a[:3, 3] = origin
    return a


@dataclass(frozen=True, eq=False)
class Geometry:
    """The voxel grid of an array in patient space.

    Parameters
    ----------
    shape : tuple of int
        (slices, rows, columns), or (time, slices, rows, columns).
    affine : numpy.ndarray
        4 x 4, array index (k, j, i, 1) -> LPS (x, y, z, 1) in mm.
    """

    shape: tuple[int, ...]
    affine: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        a = np.array(self.affine, dtype=float)
        if a.shape != (4, 4):
            raise GeometryError(f"a grid needs a 4 x 4 affine, not shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise GeometryError("the grid's affine has non-finite values")
        a.flags.writeable = False
        object.__setattr__(self, "affine", a)
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_parts(
        cls,
        shape: Sequence[int],
        spacing: Sequence[float],
        origin: Sequence[float] = (0.0, 0.0, 0.0),
        direction: Sequence[float] = (1, 0, 0, 0, 1, 0, 0, 0, 1),
        slice_step: Sequence[float] | None = None,
    ) -> Geometry:
        """A grid from DICOM-style parts: (slice, row, column) ``spacing``, LPS ``origin``, ITK ``direction``.

        ``slice_step`` defaults to ``spacing[0]`` along the normal (no shear).
        """
        normal = np.asarray(direction, float).reshape(3, 3)[:, 2]
        step = tuple(float(x) * spacing[0] for x in normal) if slice_step is None else slice_step
        return cls(tuple(shape), index_to_lps(direction, spacing, step, origin))

    @classmethod
    def from_world_zyx(cls, shape: Sequence[int], affine_zyx: np.ndarray) -> Geometry:
        """A grid from an affine mapping (k, j, i, 1) to world (z, y, x, 1) LPS, as a napari layer holds it."""
        a = np.asarray(affine_zyx, float)
        if a.shape != (4, 4):
            raise GeometryError(f"need a 4 x 4 affine, not shape {a.shape}")
        return cls(tuple(shape), a[[2, 1, 0, 3], :])

    def with_shape(self, shape: Sequence[int]) -> Geometry:
        """The same grid with another shape (e.g. a part of the slices, or without the time axis)."""
        return Geometry(tuple(shape), self.affine)

    # ------------------------------------------------------------------ parts

    def affine_lps(self) -> np.ndarray:
        """A copy of the 4 x 4 index (k, j, i, 1) -> LPS (x, y, z, 1) matrix."""
        return np.array(self.affine)

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns), without a time axis."""
        s = self.shape[-3:]
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def slice_step(self) -> tuple[float, float, float]:
        """LPS vector from one slice to the next (with the gantry-tilt shear, if any)."""
        return vec3(self.affine[:3, 0])

    @property
    def origin(self) -> tuple[float, float, float]:
        """LPS position of voxel [0, 0, 0] (mm)."""
        return vec3(self.affine[:3, 3])

    @cached_property
    def direction(self) -> tuple[float, ...]:
        """ITK direction (row-major 3 x 3; columns: row cosine, column cosine, slice normal)."""
        # computed once (the affine is read-only) in plain floats: normal, spacing and tilt_degrees ask for it too
        a = self.affine.tolist()
        step, col_step, row_step = ((a[0][k], a[1][k], a[2][k]) for k in range(3))
        n = norm3(row_step) or 1.0
        row = (row_step[0] / n, row_step[1] / n, row_step[2] / n)
        n = norm3(col_step) or 1.0
        col = (col_step[0] / n, col_step[1] / n, col_step[2] / n)
        normal = cross3(row, col)
        n = norm3(normal) or 1.0
        normal = (normal[0] / n, normal[1] / n, normal[2] / n)
        if normal[0] * step[0] + normal[1] * step[1] + normal[2] * step[2] < 0:
            normal = (-normal[0], -normal[1], -normal[2])
        return (row[0], col[0], normal[0], row[1], col[1], normal[1], row[2], col[2], normal[2])

    @property
    def normal(self) -> tuple[float, float, float]:
        """Unit slice normal (row x column, on the side the slices advance)."""
        d = self.direction
        return (d[2], d[5], d[8])

    @property
    def spacing(self) -> tuple[float, float, float]:
        """(slice, row, column) spacing in mm; the slice spacing is measured along the normal."""
        step = abs(float(np.dot(self.affine[:3, 0], self.normal)))
        return (step, float(np.linalg.norm(self.affine[:3, 1])), float(np.linalg.norm(self.affine[:3, 2])))

    @property
    def tilt_degrees(self) -> float:
        """Angle between the slice step and the slice normal (a CT gantry tilt), degrees."""
        step = self.affine[:3, 0]
        n = np.linalg.norm(step)
        if n == 0:
            return 0.0
        return math.degrees(math.acos(float(np.clip(abs(np.dot(step, self.normal)) / n, -1.0, 1.0))))

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel (mm^3)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def world_position(self, index: Sequence[float]) -> tuple[float, float, float]:
        """LPS position (mm) of array index (k, j, i) (a leading time index is ignored)."""
        idx = list(index)[-3:]
        return vec3((self.affine @ np.array([*idx, 1.0]))[:3])

    def corners(self) -> np.ndarray:
        """LPS positions (8 x 3) of the corners of the outer voxel faces (half a voxel beyond the centres)."""
        k, j, i = (np.array([-0.5, s - 0.5]) for s in self.grid_shape)
        idx = np.array([[a, b, c, 1.0] for a in k for b in j for c in i])
        out: np.ndarray = (self.affine @ idx.T).T[:, :3]
        return out

    def same_as(self, other: Geometry, tolerance: float = GRID_TOLERANCE_MM) -> bool:
        """True if both grids have the same (spatial) shape and place every voxel within ``tolerance`` mm."""
        if self.grid_shape != other.grid_shape:
            return False
        far = np.array([[0, 0, 0, 1], [s - 1 for s in self.grid_shape] + [1]], float).T
        return bool(np.allclose(self.affine @ far, other.affine @ far, atol=tolerance, rtol=0)) and bool(
            np.allclose(self.affine[:3, :3], other.affine[:3, :3], atol=tolerance / max(max(self.grid_shape), 1), rtol=0)
        )

    def describe(self) -> str:
        """``"40x512x512 voxels of 2.5x0.898x0.898 mm (x ..., y ..., z ... mm)"``."""
        sp = "x".join(f"{s:.3g}" for s in self.spacing)
        c = self.corners()
        lo, hi = c.min(axis=0), c.max(axis=0)
        ext = ", ".join(f"{n} {a:.1f}..{b:.1f}" for n, a, b in zip("xyz", lo, hi, strict=True))
        return f"{'x'.join(map(str, self.grid_shape))} voxels of {sp} mm ({ext} mm)"

    # ------------------------------------------------------------------ conversions

    def axis_order(self) -> tuple[int, int, int]:
        """The array axes (0 = slices, 1 = rows, 2 = columns) closest to world z, y, x, in that order.

        napari draws a 2-D view from a layer's last two array axes: they must
        run roughly along the displayed world axes. Axial gives (0, 1, 2),
        coronal (1, 0, 2), sagittal (1, 2, 0); oblique grids get the nearest.
        """
        lin = self.affine[[2, 1, 0], :3]  # rows (z, y, x), columns (k, j, i)
        norms = np.linalg.norm(lin, axis=0)
        cos = np.abs(lin / np.where(norms == 0, 1.0, norms))
        best = max(permutations(range(3)), key=lambda p: (sum(cos[w, p[w]] for w in range(3)), p == (0, 1, 2)))
        return (best[0], best[1], best[2])

    def layer_transform(self, axes: Sequence[int] = (0, 1, 2), ndim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The napari ``scale`` and ``affine`` putting array index at patient LPS, world axes (z, y, x), in mm.

        ``scale`` is the voxel size, ``affine`` the rest (direction cosines, shear,
        origin): ``world = affine @ diag(scale) @ index``. ``axes`` (see
        :meth:`axis_order`) is the order of the DICOM axes in the layer's array.
        With ``ndim`` 4 a leading time axis of scale 1 is added.
        """
        m = self.affine[[2, 1, 0], :]  # rows (z, y, x)
        lin = m[:, list(axes)]
        scale = np.linalg.norm(lin, axis=0)
        scale[scale == 0] = 1.0
        aff = np.eye(4)
        aff[:3, :3] = lin / scale
        aff[:3, 3] = m[:, 3]
        if (ndim or len(self.shape)) == 4:
            aff4 = np.eye(5)
            aff4[1:, 1:] = aff
            return np.concatenate([[1.0], scale]), aff4
        return scale, aff

    def itk(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], bool]:
        """ITK ``(spacing, origin, direction, exact)`` in (x, y, z) = (column, row, slice) order.

        ``exact`` is False when the voxel axes are not orthogonal (gantry-tilt
        shear): the slice axis is then the normal of the slice plane and its
        spacing the distance between slices along it, as ITK reads DICOM.

        Raises
        ------
        GeometryError
            If the affine is singular.
        """
        cols = self.affine[:3, [2, 1, 0]]  # steps: i (along a row), j (down a column), k (between slices)
        sp = np.linalg.norm(cols, axis=0)
        if np.any(sp <= 0) or abs(np.linalg.det(cols)) < 1e-12 * float(np.prod(sp)):
            raise GeometryError(f"the image affine is singular (voxel steps {cols.T.round(6).tolist()})")
        d = cols / sp
        exact = bool(np.max(np.abs(d.T @ d - np.eye(3))) <= SHEAR_TOLERANCE)
        if not exact:
            r = d[:, 0]
            c = d[:, 1] - np.dot(d[:, 1], r) * r
            c /= np.linalg.norm(c)
            n = np.cross(r, c)
            step = cols[:, 2]
            if np.dot(n, step) < 0:
                n = -n
            d = np.column_stack([r, c, n])
            sp = np.array([sp[0], np.dot(cols[:, 1], c), abs(np.dot(step, n))])
        return (tuple(float(x) for x in sp), self.origin, tuple(float(x) for x in d.reshape(-1)), exact)

    def to_sitk(self, array: Any, *, time_spacing: float = 1.0, vector: bool = False, rigid: bool = True) -> Any:
        """A SimpleITK image of ``array`` (this grid's shape; a trailing RGB axis when ``vector``) with this geometry.

        A 4-D array gets a 4th axis of ``time_spacing``. A sheared grid gets the
        nearest rigid geometry (see :meth:`itk`), as ITK reads DICOM and NIfTI
        stores it; with ``rigid=False`` it keeps its exact voxel steps (a
        non-orthogonal direction, which ITK resamples in physical space exactly).

        Raises
        ------
        ValueError
            If ``array`` does not have this grid's shape.
        GeometryError
            If the affine is singular.
        """
        import SimpleITK as sitk

        arr = np.asarray(array)
        spatial = arr.shape[:-1] if vector else arr.shape
        if tuple(spatial) != tuple(self.shape):
            raise ValueError(f"array of shape {arr.shape} does not match the grid's shape {self.shape}")
        spacing, origin, direction, exact = self.itk()
        if not rigid and not exact:
            cols = self.affine[:3, [2, 1, 0]]
            norms = np.linalg.norm(cols, axis=0)
            spacing = tuple(float(x) for x in norms)
            direction = tuple(float(x) for x in (cols / norms).reshape(-1))
        img = sitk.GetImageFromArray(arr, isVector=vector)
        if len(spatial) == 3:
            img.SetSpacing(spacing)
            img.SetOrigin(origin)
            img.SetDirection(direction)
            return img
        ts = float(time_spacing) if time_spacing and time_spacing > 0 and math.isfinite(time_spacing) else 1.0
        img.SetSpacing((*spacing, ts))
        img.SetOrigin((*origin, 0.0))
        d4 = np.eye(4)
        d4[:3, :3] = np.asarray(direction).reshape(3, 3)
        img.SetDirection(tuple(float(x) for x in d4.reshape(-1)))
        return img

    def nifti_affine(self) -> np.ndarray:
        """The NIfTI affine: voxel (i, j, k) -> scanner RAS (mm), shear included (what the sform holds)."""
        ras: np.ndarray = np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.affine[:, [2, 1, 0, 3]]
        return ras

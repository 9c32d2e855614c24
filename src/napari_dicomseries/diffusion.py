"""Diffusion-weighted volumes: the gradient table, trace images, and ``.bval`` / ``.bvec`` files as dcm2niix writes them.

A DWI series holds one 3-D volume per diffusion weighting: a b-value and a
gradient direction (DiffusionBValue and DiffusionGradientOrientation, at the
top level of classic files or in the MRDiffusionSequence of enhanced ones,
in patient LPS coordinates). Scanners add derived *isotropic* images (the
trace, or an ADC map: a b-value without a direction, or
DiffusionDirectionality ISOTROPIC); dcm2niix removes them from the 4-D
series because they disturb tensor fitting, and so does the volume builder
(they become a volume of their own).

``.bvec`` holds the gradient directions in the voxel axes of the NIfTI image
(FSL convention): component *n* is the projection of the unit gradient on
the direction of voxel axis *n*. dcm2niix stores the rows of a DWI image
bottom-up (its second voxel axis runs against the DICOM column direction),
so its ``.bvec`` negates the column component (``siemensPhilipsCorrectBvecs``
in nii_dicom_batch.cpp: ``(g . row, -(g . column), g . normal)``, b = 0 and
zero-length vectors written as 0). :func:`dcm2niix_layout` gives the array
and geometry in that voxel order, so that the written image, ``.bval`` and
``.bvec`` equal dcm2niix's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .geometry import vec3

if TYPE_CHECKING:
    from .scan import Frame
    from .volume import Volume

__all__ = [
    "Gradient",
    "is_trace",
    "has_direction",
    "gradient_table",
    "bvals_bvecs",
    "dcm2niix_layout",
    "format_bval",
    "format_bvec",
    "bval_bvec_paths",
    "write_bval_bvec",
]

#: A b-value above this with no direction is a derived isotropic image (dcm2niix's threshold for its warning).
TRACE_MIN_B = 5.0
#: Gradient vectors shorter than this count as no direction.
MIN_LENGTH = 1e-3


@dataclass(frozen=True, slots=True)
class Gradient:
    """One diffusion weighting: b-value (s/mm²) and unit gradient direction in patient LPS (None for b = 0)."""

    b_value: float
    direction: tuple[float, float, float] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"b_value": ..., "direction_lps": [x, y, z] or None}``."""
        return {
            "b_value": self.b_value,
            "direction_lps": None if self.direction is None else [round(x, 6) for x in self.direction],
        }


def _norm(v: Sequence[float] | None) -> float:
    return math.sqrt(sum(x * x for x in v)) if v is not None else 0.0


def has_direction(frame: Frame) -> bool:
    """True for a diffusion-weighted frame with a gradient direction (b > 0 and a non-zero vector)."""
    return (frame.b_value or 0.0) > TRACE_MIN_B and _norm(frame.diffusion_direction) >= MIN_LENGTH


def is_trace(frame: Frame) -> bool:
    """True for an isotropic (trace / ADC) image: DiffusionDirectionality ISOTROPIC, or b > 5 without a direction."""
    if frame.diffusion_directionality == "ISOTROPIC":
        return True
    b = frame.b_value
    return b is not None and b > TRACE_MIN_B and _norm(frame.diffusion_direction) < MIN_LENGTH


def gradient_table(volume: Volume) -> list[Gradient] | None:
    """The b-value and direction of each volume of a diffusion series (4-D, or 3-D with one weighting).

    Returns None when the frames carry no b-value. Directions are normalised;
    a b-value of 0 (or a zero vector) has no direction.
    """
    if not volume.frames or any(f.b_value is None for f in volume.frames):
        return None
    grid = volume.frame_grid()
    if not grid or not grid[0]:
        return None
    out = []
    for frames in grid:
        f = frames[0]
        b = float(f.b_value or 0.0)
        d = f.diffusion_direction
        n = _norm(d)
        direction = vec3(float(x) / n for x in d) if d is not None and n >= MIN_LENGTH and b > 0 else None
        out.append(Gradient(b, direction))
    if all(g.b_value == 0 for g in out) and len(out) == 1:
        return None  # one b = 0 image is not a diffusion series
    return out


def dcm2niix_layout(array: Any, affine_lps: np.ndarray) -> tuple[Any, np.ndarray]:
    """The array with its rows reversed and the matching index -> LPS affine (dcm2niix's voxel order for DWI).

    ``array`` is (k, j, i) or (t, k, j, i); the affine maps (k, j, i, 1) to LPS.
    """
    a = np.asarray(affine_lps, float).copy()
    nrows = np.shape(array)[-2]
    a[:, 3] = a @ np.array([0.0, nrows - 1.0, 0.0, 1.0])
    a[:3, 1] = -a[:3, 1]
    return array[..., ::-1, :], a


def bvals_bvecs(gradients: Sequence[Gradient], affine_lps: np.ndarray) -> tuple[list[float], np.ndarray]:
    """b-values and the 3 x N ``.bvec`` matrix for an image whose index (k, j, i) -> LPS affine is ``affine_lps``.

    Each vector is the gradient projected on the unit directions of the NIfTI
    voxel axes (i, j, k), normalised; when those axes form a right-handed
    system in RAS (positive determinant, "neurological" storage) the first
    component is negated, the FSL convention. b = 0 and direction-less
    weightings give a zero vector.
    """
    a = np.asarray(affine_lps, float)
    axes = a[:3, [2, 1, 0]]  # voxel axes i, j, k in LPS
    axes = axes / np.linalg.norm(axes, axis=0)
    ras = np.diag([-1.0, -1.0, 1.0]) @ axes
    flip_x = np.linalg.det(ras) > 0
    bvals = [g.b_value for g in gradients]
    vecs = np.zeros((3, len(gradients)))
    for n, g in enumerate(gradients):
        if g.direction is None or g.b_value <= 0:
            continue
        v = np.asarray(g.direction, float) @ axes
        length = np.linalg.norm(v)
        if length < MIN_LENGTH:
            continue
        v = v / length
        if flip_x:
            v[0] = -v[0]
        vecs[:, n] = v
    vecs[vecs == 0] = 0.0  # no "-0"
    return bvals, vecs


def _g(x: float) -> str:
    s = f"{x:g}"
    return "0" if s == "-0" else s


def format_bval(bvals: Sequence[float]) -> str:
    """The ``.bval`` text: one line of b-values, ``%g`` as dcm2niix writes them."""
    return " ".join(_g(b) for b in bvals) + "\n"


def format_bvec(bvecs: np.ndarray) -> str:
    """The ``.bvec`` text: three lines (x, y, z components), ``%g`` as dcm2niix writes them."""
    return "".join(" ".join(_g(float(x)) for x in row) + "\n" for row in np.asarray(bvecs))


def bval_bvec_paths(nii_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``name.bval`` and ``name.bvec`` beside ``name.nii`` / ``name.nii.gz``."""
    nii = Path(nii_path)
    name = nii.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name[: -len(".nii")] if name.endswith(".nii") else nii.stem
    return nii.with_name(stem + ".bval"), nii.with_name(stem + ".bvec")


def write_bval_bvec(gradients: Sequence[Gradient], affine_lps: np.ndarray, nii_path: str | os.PathLike[str]) -> list[Path]:
    """Write ``name.bval`` and ``name.bvec`` beside ``name.nii(.gz)``; return their paths.

    ``affine_lps`` is the index -> LPS affine of the image as written (see
    :func:`dcm2niix_layout`). Each file is written to a temporary name and
    renamed into place.
    """
    bvals, bvecs = bvals_bvecs(gradients, affine_lps)
    out = []
    for target, text in zip(bval_bvec_paths(nii_path), (format_bval(bvals), format_bvec(bvecs)), strict=True):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text, encoding="ascii")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        out.append(target)
    return out

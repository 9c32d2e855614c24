"""Siemens private headers: the CSA header and mosaic images.

A Siemens EPI / DWI / fMRI acquisition is often stored as a *mosaic*: one 2-D
image (ImageType contains ``MOSAIC``) holding the slices of a volume as tiles
of a square grid, left to right and top to bottom. The number of slices is
NumberOfImagesInMosaic, in the private tag (0019,xx0A) of the
``SIEMENS MR HEADER`` block or in the CSA image header (0029,xx10); the slice
normal (which may point against row x column) is the CSA SliceNormalVector.
ImagePositionPatient of a mosaic is the corner of the *whole* tile grid as if
it were one image, so the position of the first slice is shifted by half the
difference between the mosaic and the tile size, along the rows and columns.

The CSA header (``SV10`` format) is a list of named elements, each with a
count of string items::

    "SV10" 4 unused bytes, uint32 n_tags, uint32 (77)
    per tag:  char name[64], int32 vm, char vr[4], int32 syngodt, int32 n_items, int32 (77 or 205)
    per item: int32 x[4] (x[1] = value length), value bytes padded to a multiple of 4

The older format without ``SV10`` has the same tags at offset 0.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .geometry import vec3

if TYPE_CHECKING:
    from .frame import Frame

__all__ = ["Mosaic", "parse_csa", "mosaic_layout", "mosaic_of", "mosaic_frames", "CSA_CREATOR", "MR_HEADER_CREATOR"]

CSA_CREATOR = "SIEMENS CSA HEADER"
MR_HEADER_CREATOR = "SIEMENS MR HEADER"
_MAX_TAGS = 1000
_MAX_ITEMS = 1000


def parse_csa(data: bytes) -> dict[str, list[str]]:
    """The elements of a Siemens CSA header: name -> list of (stripped) string values.

    Returns an empty dict for bytes that are not a CSA header or are damaged
    (never raises on bad input: the header is optional information).
    """
    try:
        return _parse_csa(bytes(data))
    except (struct.error, ValueError, IndexError):
        return {}


def _parse_csa(b: bytes) -> dict[str, list[str]]:
    p = 0
    if b[:4] == b"SV10":
        p = 8
    (n_tags,) = struct.unpack_from("<I", b, p)
    if not 0 < n_tags <= _MAX_TAGS:
        return {}
    p += 8
    out: dict[str, list[str]] = {}
    for _ in range(n_tags):
        name = b[p : p + 64].split(b"\x00", 1)[0].decode("latin-1")
        (n_items,) = struct.unpack_from("<i", b, p + 76)
        p += 84
        if not 0 <= n_items <= _MAX_ITEMS:
            return out
        values = []
        for _ in range(n_items):
            length = struct.unpack_from("<4i", b, p)[1]
            p += 16
            if length < 0 or p + length > len(b):
                return out
            text = b[p : p + length].split(b"\x00", 1)[0].decode("latin-1").strip()
            if text:
                values.append(text)
            p += (length + 3) // 4 * 4
        out[name] = values
    return out


@dataclass(frozen=True, slots=True)
class Mosaic:
    """How a mosaic image holds its slices: ``n`` tiles of ``rows`` x ``columns`` in a ``per_side`` square grid."""

    n: int
    per_side: int
    rows: int
    columns: int
    normal: tuple[float, float, float] | None  # CSA SliceNormalVector, None when absent

    def tile(self, image: np.ndarray, k: int) -> np.ndarray:
        """Tile ``k`` (0-based, left to right, top to bottom) of the mosaic ``image`` (rows, columns[, samples])."""
        r, c = divmod(k, self.per_side)
        return image[r * self.rows : (r + 1) * self.rows, c * self.columns : (c + 1) * self.columns]

    def slice_positions(
        self,
        position: Sequence[float],
        orientation: Sequence[float],
        pixel_spacing: Sequence[float],
        mosaic_rows: int,
        mosaic_columns: int,
        slice_spacing: float,
    ) -> list[tuple[float, float, float]]:
        """Patient position (LPS, mm) of the first pixel of every tile.

        ``position`` is the mosaic's ImagePositionPatient (corner of the tile
        grid), ``orientation`` its ImageOrientationPatient, ``pixel_spacing``
        (row spacing, column spacing). Tile ``k`` lies ``k * slice_spacing``
        along the CSA slice normal (row x column when there is none).
        """
        row_cos = np.asarray(orientation[:3], float)
        col_cos = np.asarray(orientation[3:6], float)
        first = (
            np.asarray(position, float)
            + row_cos * pixel_spacing[1] * (mosaic_columns - self.columns) / 2.0
            + col_cos * pixel_spacing[0] * (mosaic_rows - self.rows) / 2.0
        )
        normal = np.cross(row_cos, col_cos)
        if self.normal is not None:
            csa = np.asarray(self.normal, float)
            norm = np.linalg.norm(csa)
            if norm > 0.5:
                normal = csa / norm
        return [vec3(first + k * slice_spacing * normal) for k in range(self.n)]


def mosaic_layout(n_images: int | None, csa: dict[str, list[str]], rows: int, columns: int) -> Mosaic | None:
    """The tile layout of a mosaic of ``rows`` x ``columns`` pixels, or None when it cannot be known.

    ``n_images`` is NumberOfImagesInMosaic from the MR header when present;
    else the CSA header's value is used.
    """
    n = n_images
    if not n:
        try:
            n = int(float(csa.get("NumberOfImagesInMosaic", [""])[0]))
        except (ValueError, IndexError):
            return None
    if not n or n < 1:
        return None
    per_side = math.ceil(math.sqrt(n))
    if rows % per_side or columns % per_side:
        return None
    normal = None
    try:
        vals = [float(x) for x in csa.get("SliceNormalVector", [])[:3]]
        if len(vals) == 3 and all(math.isfinite(v) for v in vals):
            normal = (vals[0], vals[1], vals[2])
    except ValueError:
        normal = None
    return Mosaic(n=n, per_side=per_side, rows=rows // per_side, columns=columns // per_side, normal=normal)


def mosaic_of(
    path: str, rows: int, cols: int, private: Callable[[int, str, int], bytes | None], warns: list[str]
) -> Mosaic | None:
    """The tile layout of the mosaic in file ``path``, from NumberOfImagesInMosaic and the CSA image header.

    Parameters
    ----------
    path : str
        The file (named in warnings).
    rows, cols : int
        Rows and Columns of the whole mosaic image.
    private : callable
        ``private(group, creator, element)``: the raw bytes of a private element of the file, or None.
    warns : list of str
        A warning is appended when the layout is unknown or the CSA header lacks the slice normal.

    Returns
    -------
    Mosaic or None
        None when NumberOfImagesInMosaic is missing or does not fit the image (shown as one 2-D image).
    """
    n_raw = private(0x0019, MR_HEADER_CREATOR, 0x0A)
    n = struct.unpack("<H", n_raw[:2])[0] if n_raw and len(n_raw) >= 2 else None
    csa_raw = private(0x0029, CSA_CREATOR, 0x10)
    csa = parse_csa(csa_raw) if csa_raw else {}
    mosaic = mosaic_layout(n, csa, rows, cols)
    if mosaic is None:
        warns.append(
            f"{path}: ImageType says MOSAIC but NumberOfImagesInMosaic is missing or does not fit {rows} x {cols} pixels: "
            "shown as one 2-D image (tiles not separated)"
        )
    elif mosaic.normal is None:
        warns.append(f"{path}: mosaic without a CSA SliceNormalVector: slices assumed along row x column")
    return mosaic


def mosaic_frames(frame: Frame, mosaic: Mosaic, warns: list[str]) -> tuple[Frame, ...]:
    """One frame per tile of a mosaic, each at its own position (``index`` is the tile number).

    Parameters
    ----------
    frame : Frame
        The frame of the whole mosaic image.
    mosaic : Mosaic
        Its tile layout.
    warns : list of str
        A warning is appended when the slice spacing is unknown (1 mm is used).

    Returns
    -------
    tuple of Frame
    """
    if frame.position is None or frame.orientation is None or frame.pixel_spacing is None:
        positions: list[Any] = [None] * mosaic.n
    else:
        step = frame.spacing_between_slices or frame.slice_thickness
        if not step:
            step = 1.0
            warns.append(f"{frame.path}: mosaic without SpacingBetweenSlices or SliceThickness: slices set 1 mm apart")
        positions = mosaic.slice_positions(
            frame.position, frame.orientation, frame.pixel_spacing, frame.rows, frame.columns, step
        )
    return tuple(
        replace(frame, index=k, position=positions[k], rows=mosaic.rows, columns=mosaic.columns) for k in range(mosaic.n)
    )

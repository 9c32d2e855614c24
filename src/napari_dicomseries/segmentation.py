"""DICOM segmentations (SEG): segments, the grid of their frames, and their voxels as label maps.

A Segmentation object holds binary (1 bit), fractional (8 bits) or label-map
frames, each with its own plane position (per-frame functional groups) and,
for binary and fractional SEG, the number of the segment it belongs to.
Frames may cover only some slices (sparse SEG); the missing slices are 0.

Each SEG file (one SOP instance) becomes one :class:`Volume` of kind
``segmentation`` on the grid of its frames: slices along the frames' normal,
``SpacingBetweenSlices`` apart (PixelMeasuresSequence; else the smallest step
between frames), from the first frame's plane to the last.

Rule for overlaps: when two segments have frames on the same slice (they may
overlap; a header cannot tell without decoding), the volume is 4-D with one
binary mask per segment (leading axis ``ReferencedSegmentNumber``), so no
voxel is ever given to one segment and taken from another. Otherwise it is one
label map whose values are the segment numbers. A fractional segment counts
where its value exceeds half of MaximumFractionalValue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DecodeError
from .geometry import vec3
from .warning import VolumeWarning, WarningCode

if TYPE_CHECKING:
    from .scan import DicomFile, Frame
    from .volume import Volume

__all__ = [
    "SEG_SOP_CLASSES",
    "Segment",
    "is_segmentation",
    "segments_of",
    "frame_segment_numbers",
    "lab_to_rgb",
    "seg_grid",
    "load_segmentation",
]

SEG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation Storage",
}
SEGMENT_AXIS = "ReferencedSegmentNumber"


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a SEG: its number (the label value), names and display colour (sRGB 0-255)."""

    number: int
    label: str
    description: str = ""
    category: str = ""
    type: str = ""
    algorithm_type: str = ""
    color: tuple[int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``color`` as a list)."""
        return {**asdict(self), "color": list(self.color) if self.color else None}


def is_segmentation(f: DicomFile) -> bool:
    """True for a Segmentation or Label Map Segmentation object."""
    return f.sop_class_uid in SEG_SOP_CLASSES


def lab_to_rgb(lab: Sequence[int]) -> tuple[int, int, int]:
    """The sRGB colour (0-255) of a DICOM CIELab colour (RecommendedDisplayCIELabValue: L*, a*, b* scaled to 0-65535)."""
    L = lab[0] / 65535 * 100
    a = lab[1] / 65535 * 255 - 128
    b = lab[2] / 65535 * 255 - 128
    fy = (L + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200

    def f_inv(t: float) -> float:
        return t**3 if t > 6 / 29 else 3 * (6 / 29) ** 2 * (t - 4 / 29)

    x, y, z = 0.950489 * f_inv(fx), f_inv(fy), 1.088840 * f_inv(fz)  # D65 white
    lin = (3.2404542 * x - 1.5371385 * y - 0.4985314 * z, -0.9692660 * x + 1.8760108 * y + 0.0415560 * z,
           0.0556434 * x - 0.2040259 * y + 1.0572252 * z)  # fmt: skip

    def gamma(c: float) -> int:
        c = min(max(c, 0.0), 1.0)
        v = 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055
        return int(round(v * 255))

    r, g, bb = (gamma(c) for c in lin)
    return (r, g, bb)


def _code_meaning(item: Any, keyword: str) -> str:
    seq = item.get(keyword)
    return str(seq[0].get("CodeMeaning", "")) if seq else ""


def segments_of(ds: Any) -> list[Segment]:
    """The segments described in a SEG data set's SegmentSequence (background entries of label maps included)."""
    out = []
    for item in ds.get("SegmentSequence") or []:
        try:
            number = int(item.SegmentNumber)
        except (AttributeError, TypeError, ValueError):
            continue
        lab = item.get("RecommendedDisplayCIELabValue")
        color = None
        if lab is not None and len(lab) == 3:
            try:
                color = lab_to_rgb([int(x) for x in lab])
            except (TypeError, ValueError):
                color = None
        out.append(
            Segment(
                number=number,
                label=str(item.get("SegmentLabel", "") or f"segment {number}"),
                description=str(item.get("SegmentDescription", "") or ""),
                category=_code_meaning(item, "SegmentedPropertyCategoryCodeSequence"),
                type=_code_meaning(item, "SegmentedPropertyTypeCodeSequence"),
                algorithm_type=str(item.get("SegmentAlgorithmType", "") or ""),
                color=color,
            )
        )
    return out


def frame_segment_numbers(f: DicomFile) -> list[int | None]:
    """The segment number of each frame of a binary or fractional SEG (None for a label map's frames).

    From the frames' dimension indices when ReferencedSegmentNumber is one of
    them, else from each frame's SegmentIdentificationSequence (read with pydicom).
    """
    frames = f.frames
    if not frames:
        return []
    if SEGMENT_AXIS in frames[0].dimension_names:
        k = frames[0].dimension_names.index(SEGMENT_AXIS)
        return [_int_or_none(fr.dimension_values[k]) if k < len(fr.dimension_values) else None for fr in frames]
    ds = f.dataset
    if str(ds.get("SegmentationType", "")).upper() == "LABELMAP":
        return [None] * len(frames)
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    out: list[int | None] = []
    for i in range(len(frames)):
        number = None
        for group in (per_frame[i] if i < len(per_frame) else None, shared):
            seq = group.get("SegmentIdentificationSequence") if group is not None else None
            if seq:
                number = _int_or_none(seq[0].get("ReferencedSegmentNumber"))
                break
        out.append(number)
    return out


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class SegGrid:
    """Where each frame of a SEG lies on its grid: ``slice_of[i]`` and the grid's geometry."""

    n_slices: int
    spacing: float
    origin: tuple[float, float, float]
    normal: tuple[float, float, float]
    slice_of: tuple[int, ...]
    warnings: tuple[VolumeWarning, ...]


def seg_grid(frames: Sequence[Frame]) -> SegGrid | None:
    """The slice grid of a SEG's frames (None when frames lack position or orientation)."""
    if not frames or any(fr.position is None or fr.orientation is None for fr in frames):
        return None
    o = np.asarray(frames[0].orientation, float)
    normal = np.cross(o[:3], o[3:])
    normal /= np.linalg.norm(normal) or 1.0
    pos = np.array([fr.position for fr in frames], float)
    d = pos @ normal
    uniq = np.unique(np.round(d, 3))
    warns: list[VolumeWarning] = []
    spacing = frames[0].spacing_between_slices or 0.0
    if len(uniq) > 1:
        steps = np.diff(uniq)
        if not spacing or spacing <= 0:
            spacing = float(steps.min())
        off = np.abs(steps / spacing - np.round(steps / spacing)) * spacing
        if off.max() > max(0.01, 0.01 * spacing):
            warns.append(
                VolumeWarning(
                    WarningCode.IRREGULAR_FRAME_PLANES,
                    f"frame planes are not whole multiples of {spacing:g} mm apart: slices placed on the frames' own planes",
                    files=tuple(dict.fromkeys(fr.path for fr in frames)),
                )
            )
            spacing = float(np.median(steps))
    elif not spacing or spacing <= 0:
        spacing = frames[0].slice_thickness or 1.0
    lo = float(d.min())
    n = int(round((float(d.max()) - lo) / spacing)) + 1 if len(uniq) > 1 else 1
    slice_of = tuple(int(np.clip(round((x - lo) / spacing), 0, n - 1)) for x in d)
    first = int(np.argmin(d))
    # the origin is the position of the first frame's plane (in-plane corner of that frame)
    return SegGrid(n, float(spacing), vec3(pos[first]), vec3(normal), slice_of, tuple(warns))


def segment_layout(f: DicomFile) -> tuple[list[int], bool]:
    """The segment numbers that have frames, and whether two of them share a slice (4-D masks then)."""
    grid = seg_grid(f.frames)
    numbers = frame_segment_numbers(f)
    present = sorted({n for n in numbers if n is not None})
    if grid is None or not present:
        return present, False
    by_slice: dict[int, set[int]] = defaultdict(set)
    for k, n in zip(grid.slice_of, numbers, strict=True):
        if n is not None:
            by_slice[k].add(n)
    return present, any(len(s) > 1 for s in by_slice.values())


def load_segmentation(volume: Volume) -> np.ndarray:
    """The voxels of a segmentation volume, shaped as ``volume.shape``.

    A label map (slices, rows, columns) of segment numbers or, when segments share slices, one uint8 mask per
    segment (segments, slices, rows, columns).

    Raises
    ------
    DecodeError
        If the pixel data cannot be decoded; the message names the file.
    """
    from .load import decode_pixels

    (f,) = volume.files
    ds, pixels = decode_pixels(f.path, "the segmentation's pixel data")
    pixels = pixels.reshape(-1, f.rows or 0, f.columns or 0)
    if len(pixels) != len(f.frames):
        raise DecodeError(f"{f.path}: {len(pixels)} frames decoded but the header describes {len(f.frames)}")
    grid = seg_grid(f.frames)
    slice_of = grid.slice_of if grid is not None else tuple(range(len(f.frames)))
    seg_type = str(ds.get("SegmentationType", "BINARY")).upper()
    numbers = frame_segment_numbers(f)
    top_number = max((n for n in numbers if n is not None), default=0)
    out = np.zeros(volume.shape, dtype=np.uint8 if volume.ndim == 4 or top_number < 256 else np.uint16)
    if seg_type == "LABELMAP":
        out = np.zeros(volume.shape, dtype=np.uint16 if pixels.dtype.itemsize > 1 else np.uint8)
        pad = ds.get("PixelPaddingValue")
        for i, k in enumerate(slice_of):
            frame = pixels[i]
            out[k] = np.where(frame == pad, 0, frame) if pad is not None else frame
        return out
    if seg_type == "FRACTIONAL":
        top = float(ds.get("MaximumFractionalValue", 255) or 255)
        masks = pixels > top / 2
    else:
        masks = pixels != 0
    if volume.ndim == 4:
        index = {n: j for j, n in enumerate(volume.time_values)}
        for i, (k, n) in enumerate(zip(slice_of, numbers, strict=True)):
            if n in index:
                out[index[n], k] |= masks[i].astype(np.uint8)
        return out
    for i, (k, n) in enumerate(zip(slice_of, numbers, strict=True)):
        if n is not None:
            out[k][masks[i]] = n
    return out

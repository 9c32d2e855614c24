"""Frames: one 2-D image of a file, and the one function that builds it from a header.

A :class:`Frame` is a classic single-frame file, one frame of a multi-frame
file, or one tile of a Siemens mosaic. :func:`build_frame` builds every frame
the scan makes, from a :class:`TagSource` (an :class:`~elements.Item`): the top level of a
classic file (read by :mod:`rawheader` or by pydicom), or a view of one frame's
functional groups in an enhanced file (:mod:`enhanced`), which answers the same
classic tags from where the enhanced file keeps them. Both convert each tag with
the same function (:data:`CONVERTERS`); :func:`build_raw_frame`, for classic files
read by :mod:`rawheader`, converts a value repeated across files once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import tags as t
from .elements import RawItem, first, floats, image_type, memo_lookup, orientation, remember, spacing, to_float, to_int

__all__ = ["Frame", "TagSource", "build_frame", "build_raw_frame", "CONVERTERS"]


class TagSource(Protocol):
    """What :func:`build_frame` reads: the value of a tag, as :meth:`elements.Item.get` gives it."""

    def get(self, tag: int) -> Any:
        """The value of ``tag`` (None when absent, empty or unconvertible)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One 2-D image: a classic single-frame file, or one frame of a multi-frame file.

    Positions and orientations are in the DICOM patient coordinate system
    (LPS, mm). ``pixel_spacing`` is (row spacing, column spacing) as in the
    PixelSpacing tag: the distance between rows, then between columns.
    """

    path: str
    index: int
    sop_instance_uid: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    instance_number: int | None
    acquisition_number: int | None
    echo_number: int | None
    echo_time: float | None
    temporal_position: int | None
    trigger_time: float | None
    b_value: float | None
    diffusion_direction: tuple[float, float, float] | None
    image_type: tuple[str, ...]
    rescale_slope: float
    rescale_intercept: float
    window_center: float | None
    window_width: float | None
    rows: int
    columns: int
    # enhanced multi-frame files (see :mod:`enhanced`): DimensionIndexValues, the dimension names (keyword, label
    # or tag) and the values the indices point to; the MR diffusion directionality (ISOTROPIC for a trace image)
    dimension_index: tuple[int, ...] = ()
    dimension_names: tuple[str, ...] = ()
    dimension_values: tuple[Any, ...] = ()
    diffusion_directionality: str | None = None


def _three(v: Any) -> tuple[float, ...] | None:
    return floats(v, 3)


def _first_int(v: Any) -> int | None:
    return to_int(first(v))


def _first_float(v: Any) -> float | None:
    return to_float(first(v))


def _slope(v: Any) -> float:
    return to_float(first(v)) or 1.0


def _intercept(v: Any) -> float:
    return to_float(first(v)) or 0.0


#: The frame fields read from one tag each: (field, tag, converter of the value ``src.get(tag)`` gives).
CONVERTERS: tuple[tuple[str, int, Callable[[Any], Any]], ...] = (
    ("position", t.ImagePositionPatient, _three),
    ("orientation", t.ImageOrientationPatient, orientation),
    ("slice_thickness", t.SliceThickness, to_float),
    ("spacing_between_slices", t.SpacingBetweenSlices, to_float),
    ("instance_number", t.InstanceNumber, to_int),
    ("acquisition_number", t.AcquisitionNumber, to_int),
    ("echo_number", t.EchoNumbers, _first_int),
    ("echo_time", t.EchoTime, to_float),
    ("temporal_position", t.TemporalPositionIdentifier, to_int),
    ("trigger_time", t.TriggerTime, to_float),
    ("b_value", t.DiffusionBValue, to_float),
    ("diffusion_direction", t.DiffusionGradientOrientation, _three),
    ("image_type", t.ImageType, image_type),
    ("rescale_slope", t.RescaleSlope, _slope),
    ("rescale_intercept", t.RescaleIntercept, _intercept),
    ("window_center", t.WindowCenter, _first_float),
    ("window_width", t.WindowWidth, _first_float),
)
#: Tags whose value differs in every file of a series: converted each time, not memoized by :func:`build_raw_frame`.
_PER_FILE = {t.ImagePositionPatient, t.InstanceNumber}
#: ``CONVERTERS`` with each field's value for an absent tag and a memo per tag (raw element -> value; None: per file).
_RAW_CONVERTERS: tuple[tuple[str, int, Callable[[Any], Any], Any, dict[Any, Any] | None], ...] = tuple(
    (name, tag, conv, conv(None), None if tag in _PER_FILE else {}) for name, tag, conv in CONVERTERS
)


#: ``_RAW_CONVERTERS`` as :func:`elements.memo_lookup` reads them, and their field names
_RAW_SPECS = tuple((tag, memo, absent) for _, tag, _, absent, memo in _RAW_CONVERTERS)
_RAW_NAMES = tuple(name for name, *_ in _RAW_CONVERTERS)


def build_frame(src: TagSource, path: str, index: int, sop_uid: str, rows: int, columns: int, **fields: Any) -> Frame:
    """The frame ``index`` of a file, its values read through ``src``.

    Parameters
    ----------
    src : TagSource
        The tags of the frame: ``src.get(tag)`` for ImagePositionPatient, PixelSpacing, RescaleSlope, ...
    path, index, sop_uid, rows, columns
        The file, the frame number, the SOPInstanceUID and the frame's size.
    **fields
        Frame fields given instead of read (``pixel_spacing`` after a fallback, the echo number and dimension
        indices of an enhanced frame, ...).

    Returns
    -------
    Frame
    """
    get = src.get
    values: dict[str, Any] = {"path": path, "index": index, "sop_instance_uid": sop_uid, "rows": rows, "columns": columns}
    for name, tag, conv in CONVERTERS:
        values[name] = conv(get(tag))
    if "pixel_spacing" not in fields:
        values["pixel_spacing"] = spacing(get(t.PixelSpacing)) or spacing(get(t.ImagerPixelSpacing))
    if fields:
        values.update(fields)
    return Frame(**values)


def build_raw_frame(
    src: RawItem, path: str, index: int, sop_uid: str, rows: int, columns: int, pixel_spacing: tuple[float, float] | None
) -> Frame:
    """:func:`build_frame` for the top level of a classic file read by :mod:`rawheader`, given its pixel spacing.

    The same converters (:data:`CONVERTERS`), each value that repeats across the files of a series (orientation,
    thickness, rescale, window, image type ...) converted once: a converted value depends on its raw element
    alone (``src.get(tag)`` does), so it is memoized by tag and raw element (:func:`elements.remember`). The
    values kept are immutable (numbers, tuples, None), so frames never share a mutable object.
    """
    d = src.d
    found, missed = memo_lookup(d, _RAW_SPECS)
    for i in missed:
        _, tag, conv, _, memo = _RAW_CONVERTERS[i]
        found[i] = conv(src.get(tag)) if memo is None else remember(memo, d[tag], conv(src.get(tag)))
    values = dict(zip(_RAW_NAMES, found, strict=True))
    return Frame(
        path=path, index=index, sop_instance_uid=sop_uid, rows=rows, columns=columns, pixel_spacing=pixel_spacing, **values
    )

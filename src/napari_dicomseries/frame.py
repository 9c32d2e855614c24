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

import dataclasses
import math
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


#: ``_RAW_CONVERTERS`` as :func:`elements.memo_lookup` reads them
_RAW_SPECS = tuple((tag, memo, absent) for _, tag, _, absent, memo in _RAW_CONVERTERS)
#: The fields of a :class:`Frame` in order: the values of ``CONVERTERS`` come in that order, with ``pixel_spacing``
#: after the first two (:func:`build_raw_frame` relies on it).
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Frame))
assert _FIELD_NAMES[:6] == ("path", "index", "sop_instance_uid", "position", "orientation", "pixel_spacing")
assert _FIELD_NAMES[6 : 6 + len(CONVERTERS) - 2] == tuple(name for name, *_ in CONVERTERS[2:])
assert _FIELD_NAMES[4 + len(CONVERTERS) :] == (
    "rows",
    "columns",
    "dimension_index",
    "dimension_names",
    "dimension_values",
    "diffusion_directionality",
)
#: The last fields of a classic frame (no dimensions, no diffusion directionality): the defaults.
_CLASSIC_TAIL = tuple(f.default for f in dataclasses.fields(Frame)[-4:])

_fill_c: Callable[[Any, tuple[str, ...], tuple[Any, ...]], Any] | None
try:  # object.__setattr__ of every field in one call (_walk.c), built with the package where a compiler is at hand
    from ._walk import fill as _fill_c
except ImportError:  # pragma: no cover - depends on the build
    _fill_c = None


def _new_frame_c(values: tuple[Any, ...]) -> Frame:
    """``Frame(*values)`` (all fields, in order), its fields set as the dataclass's ``__init__`` sets them, in C."""
    assert _fill_c is not None
    frame: Frame = _fill_c(object.__new__(Frame), _FIELD_NAMES, values)
    return frame


def _new_frame_py(values: tuple[Any, ...]) -> Frame:
    return Frame(*values)


#: ``new_frame(values) -> Frame(*values)``: a frame from the values of all its fields in order (in C where the
#: extension is built: one call instead of 27 ``object.__setattr__``; the same frame).
new_frame: Callable[[tuple[Any, ...]], Frame] = _new_frame_c if _fill_c is not None else _new_frame_py


def _raw_position(src: RawItem, e: tuple[bytes, Any]) -> tuple[float, ...] | None:
    """``_three(src.get(ImagePositionPatient))`` straight from the raw element.

    A value different in every file: not put through ``convert_bytes``' cache, which it would only fill; stripped
    and split as ``convert_bytes`` does. Another VR than the dictionary's (DS; b"" for implicit VR, UN) is converted
    the general way.
    """
    if e[0] not in _DS_VRS:
        return _three(src.get(t.ImagePositionPatient))
    parts = e[1].decode("latin-1").strip("\x00 ").split("\\")
    if len(parts) != 3:  # (no value, one value, or not three: floats(v, 3) is None)
        return None
    try:
        x, y, z = float(parts[0].strip("\x00 ")), float(parts[1].strip("\x00 ")), float(parts[2].strip("\x00 "))
    except ValueError:
        return None
    return (x, y, z) if math.isfinite(x) and math.isfinite(y) and math.isfinite(z) else None


def _raw_instance(src: RawItem, e: tuple[bytes, Any]) -> int | None:
    """``to_int(src.get(InstanceNumber))`` straight from the raw element (see :func:`_raw_position`)."""
    if e[0] not in _IS_VRS:
        return to_int(src.get(t.InstanceNumber))
    text = e[1].decode("latin-1").strip("\x00 ")
    if "\\" in text or not text:  # several values (a tuple) or none: no int
        return None
    return to_int(text)


#: Raw VRs read as the dictionary VR of ImagePositionPatient (DS) and of InstanceNumber (IS): their own, implicit, UN.
_DS_VRS, _IS_VRS = (b"DS", b"", b"UN"), (b"IS", b"", b"UN")
assert t.VR[t.ImagePositionPatient] == "DS" and t.VR[t.InstanceNumber] == "IS"
#: The per-file tags converted straight from their raw element.
_PER_FILE_RAW: dict[int, Callable[[RawItem, tuple[bytes, Any]], Any]] = {
    t.ImagePositionPatient: _raw_position,
    t.InstanceNumber: _raw_instance,
}
assert set(_PER_FILE_RAW) == _PER_FILE


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
        if memo is None:
            found[i] = _PER_FILE_RAW[tag](src, d[tag])
        else:
            found[i] = remember(memo, d[tag], conv(src.get(tag)))
    return new_frame((path, index, sop_uid, found[0], found[1], pixel_spacing, *found[2:], rows, columns, *_CLASSIC_TAIL))

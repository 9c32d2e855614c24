"""Frames: one 2-D image of a file, and the one function that builds it from a header.

A :class:`Frame` is a classic single-frame file, one frame of a multi-frame
file, or one tile of a Siemens mosaic. :func:`build_frame` builds every frame
the scan makes, from a :class:`TagSource` (an :class:`~elements.Item`): the top level of a
classic file (read by :mod:`rawheader` or by pydicom), or a view of one frame's
functional groups in an enhanced file (:mod:`enhanced`), which answers the same
classic tags from where the enhanced file keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from . import tags as t
from .elements import first, floats, image_type, orientation, spacing, to_float, to_int

__all__ = ["Frame", "TagSource", "build_frame"]


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
    values: dict[str, Any] = {
        "path": path,
        "index": index,
        "sop_instance_uid": sop_uid,
        "position": floats(get(t.ImagePositionPatient), 3),
        "orientation": orientation(get(t.ImageOrientationPatient)),
        "slice_thickness": to_float(get(t.SliceThickness)),
        "spacing_between_slices": to_float(get(t.SpacingBetweenSlices)),
        "instance_number": to_int(get(t.InstanceNumber)),
        "acquisition_number": to_int(get(t.AcquisitionNumber)),
        "echo_number": to_int(first(get(t.EchoNumbers))),
        "echo_time": to_float(get(t.EchoTime)),
        "temporal_position": to_int(get(t.TemporalPositionIdentifier)),
        "trigger_time": to_float(get(t.TriggerTime)),
        "b_value": to_float(get(t.DiffusionBValue)),
        "diffusion_direction": floats(get(t.DiffusionGradientOrientation), 3),
        "image_type": image_type(get(t.ImageType)),
        "rescale_slope": to_float(first(get(t.RescaleSlope))) or 1.0,
        "rescale_intercept": to_float(first(get(t.RescaleIntercept))) or 0.0,
        "window_center": to_float(first(get(t.WindowCenter))),
        "window_width": to_float(first(get(t.WindowWidth))),
        "rows": rows,
        "columns": columns,
    }
    if "pixel_spacing" not in fields:
        values["pixel_spacing"] = spacing(get(t.PixelSpacing)) or spacing(get(t.ImagerPixelSpacing))
    if fields:
        values.update(fields)
    return Frame(**values)

"""The per-slice header table: the top-level tags of every slice of a volume, in slice order, JSON-friendly.

Layers carry it as ``metadata["dicom"]["slices"]`` (a :class:`SliceTable`,
read on first use), the tag comparison reads it per slice, and the NIfTI
writer can put it in its sidecar.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement

    from .scan import DicomFile
    from .volume import Volume

__all__ = ["slice_table", "SliceTable", "json_value", "file_row"]

_PIXEL_DATA = 0x7FE00010


def json_value(elem: DataElement) -> Any:
    """The value of a data element as JSON: a number, a string, or a list of them.

    :func:`elements.element_value`, with binary values described (``"<n bytes>"``),
    not copied, and a value that cannot be read shown as ``"<unreadable>"``.
    """
    from .elements import Opaque, element_value

    v = element_value(elem)
    return v.text if isinstance(v, Opaque) else v


def file_row(f: DicomFile, private: bool = False) -> dict[str, Any]:
    """The top-level, non-sequence tags of one file's header: keyword (or ``(gggg,eeee)``) -> :func:`json_value`.

    Pixel data are left out, and private tags unless ``private``.
    """
    row: dict[str, Any] = {}
    for elem in f.dataset:
        if elem.VR == "SQ" or elem.tag == _PIXEL_DATA:
            continue
        if elem.tag.group % 2 == 1 and not private:
            continue
        key = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        row[key] = json_value(elem)
    return row


def slice_table(volume: Volume, *, private: bool = False) -> list[dict[str, Any]]:
    """One dict per slice (array order, time-major): top-level non-sequence tags keyword -> value.

    Values are numbers, strings or lists of them; binary values are given as
    ``"<n bytes>"``. Each row also names its ``file`` (and ``frame``, 1-based,
    for multi-frame files, whose per-frame geometry is filled in from the
    functional groups).

    Parameters
    ----------
    volume : Volume
        The volume whose slices to list.
    private : bool
        Include private tags.

    Returns
    -------
    list of dict
        JSON-serialisable rows, one per frame of ``volume.frames``.
    """
    rows_of: dict[str, dict[str, Any]] = {}
    files = {f.path: f for f in volume.files}
    out = []
    for fr in volume.frames:
        base = rows_of.get(fr.path)
        if base is None:
            base = rows_of[fr.path] = file_row(files[fr.path], private)
        row = dict(base)
        row["file"] = fr.path
        if files[fr.path].number_of_frames > 1:
            row["frame"] = fr.index + 1
            extra = {
                "ImagePositionPatient": list(fr.position) if fr.position else None,
                "ImageOrientationPatient": list(fr.orientation) if fr.orientation else None,
                "PixelSpacing": list(fr.pixel_spacing) if fr.pixel_spacing else None,
                "SliceThickness": fr.slice_thickness,
                "RescaleSlope": fr.rescale_slope,
                "RescaleIntercept": fr.rescale_intercept,
                "WindowCenter": fr.window_center,
                "WindowWidth": fr.window_width,
                "TemporalPositionIndex": fr.temporal_position,
            }
            row.update({k: v for k, v in extra.items() if v is not None})
        out.append(row)
    return out


class SliceTable(Sequence):
    """The per-slice header table of :func:`slice_table`, built on first use.

    Re-reading every header and converting its values costs about 1 ms per
    file, which would double the time to open a study; most layers never need
    the table, so it is a read-only sequence of dicts that fills itself when
    first indexed or iterated. ``list(table)`` (or :meth:`to_list`) gives a
    plain, JSON-serialisable list; copying or pickling gives a list too.

    Parameters
    ----------
    volume, private
        As :func:`slice_table`.
    """

    def __init__(self, volume: Volume, *, private: bool = False) -> None:
        self._volume: Volume | None = volume
        self._private = private
        self._n = len(volume.frames)
        self._rows: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def to_list(self) -> list[dict[str, Any]]:
        """The rows as a plain list (built now if needed)."""
        if self._rows is None:
            with self._lock:
                if self._rows is None:
                    assert self._volume is not None
                    self._rows = slice_table(self._volume, private=self._private)
                    self._volume = None
        return self._rows

    @property
    def built(self) -> bool:
        """True once the rows have been read."""
        return self._rows is not None

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        return self.to_list()[index]

    def __iter__(self) -> Any:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SliceTable):
            other = other.to_list()
        return isinstance(other, list) and self.to_list() == other

    # unhashable, as the list it equals; typeshed declares object.__hash__ a method, so mypy rejects the idiom
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = "read" if self.built else "not read yet"
        return f"<SliceTable of {self._n} slices ({state})>"

    def __deepcopy__(self, memo: dict[int, Any]) -> list[dict[str, Any]]:
        import copy

        return copy.deepcopy(self.to_list(), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (self.to_list(),))

"""The per-slice header table: the top-level tags of every slice of a volume, in slice order, JSON-friendly.

Layers carry it as ``metadata["dicom"]["slices"]`` (a :class:`SliceTable`,
read on first use), the tag comparison reads it per slice, and the NIfTI
writer can put it in its sidecar.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .jobs import check_cancel

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement

    from .jobs import CancelFn, ProgressFn
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


def _lean_row(path: str, private: bool) -> dict[str, Any] | None:
    """:func:`file_row` of a file whose full header has not been read: only the elements kept are converted.

    ``DicomFile.dataset`` converts every top-level element (private ones too) to make the header safe for any
    later use, about twice the cost of reading it. The table needs only its own elements; a file where one of
    them cannot be converted as it is gives None (the caller then takes the careful path).
    """
    from pydicom.dataelem import RawDataElement

    from .dataset import read_dataset

    try:
        ds = read_dataset(path)
    except Exception:  # noqa: BLE001 - the careful path says what is wrong with the file
        return None
    row: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag in sorted(ds.keys()):
            if tag == _PIXEL_DATA or (tag.group % 2 == 1 and not private):
                continue
            raw = ds.get_item(tag)
            if isinstance(raw, RawDataElement) and (raw.VR == "SQ" or raw.length == 0xFFFFFFFF):
                continue
            try:
                elem = ds[tag]
            except Exception:  # noqa: BLE001 - a damaged element: DicomFile.dataset knows how to tame it
                return None
            if elem.VR == "SQ":
                continue
            row[elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"] = json_value(elem)
    return row


def file_row(f: DicomFile, private: bool = False) -> dict[str, Any]:
    """The top-level, non-sequence tags of one file's header: keyword (or ``(gggg,eeee)``) -> :func:`json_value`.

    Pixel data are left out, and private tags unless ``private``. The header the file already holds
    (``DicomFile.dataset``, when something has read it) is used as it is; otherwise the file is read once more
    and only the elements of the row are converted (the scan's fast path keeps the raw bytes of some thirty
    tags only, so the full header is not at hand).
    """
    if getattr(f, "_dataset", None) is None:
        lean = _lean_row(f.path, private)
        if lean is not None:
            return lean
    row: dict[str, Any] = {}
    for elem in f.dataset:
        if elem.VR == "SQ" or elem.tag == _PIXEL_DATA:
            continue
        if elem.tag.group % 2 == 1 and not private:
            continue
        key = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        row[key] = json_value(elem)
    return row


def slice_table(
    volume: Volume, *, private: bool = False, progress: ProgressFn | None = None, cancel: CancelFn | None = None
) -> list[dict[str, Any]]:
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
    progress : callable, optional
        ``progress(done, total)`` in files whose header has been read (``total`` = files of the volume).
    cancel : callable, optional
        Asked before each file; True raises :class:`~napari_dicomseries.errors.Cancelled`.

    Returns
    -------
    list of dict
        JSON-serialisable rows, one per frame of ``volume.frames``.
    """
    rows_of: dict[str, dict[str, Any]] = {}
    files = {f.path: f for f in volume.files}
    total = len({fr.path for fr in volume.frames})
    if progress is not None:
        progress(0, total)
    out = []
    for fr in volume.frames:
        base = rows_of.get(fr.path)
        if base is None:
            check_cancel(cancel, "reading the slice headers")
            base = rows_of[fr.path] = file_row(files[fr.path], private)
            if progress is not None:
                progress(len(rows_of), total)
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
        return self.read()

    def read(self, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> list[dict[str, Any]]:
        """The rows, read now if needed, with progress and Cancel (for a background thread).

        Parameters
        ----------
        progress, cancel
            As :func:`slice_table` (``progress`` is told ``(total, total)`` at once when the rows are already read).

        Returns
        -------
        list of dict
            The rows (:meth:`to_list`). A cancelled read raises :class:`~napari_dicomseries.errors.Cancelled`
            and keeps nothing: the next use reads again.
        """
        if self._rows is None:
            with self._lock:
                if self._rows is None:
                    assert self._volume is not None
                    self._rows = slice_table(self._volume, private=self._private, progress=progress, cancel=cancel)
                    self._volume = None
                    return self._rows
        if progress is not None:
            progress(self._n_files(), self._n_files())
        return self._rows

    def _n_files(self) -> int:
        rows = self._rows or []
        return len({r.get("file") for r in rows}) if rows else 0

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

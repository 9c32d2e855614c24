"""The project's exceptions: one base class and a few specific kinds.

Every error raised by the core for a problem with the input is a
:class:`DicomSeriesError`; the original library error (pydicom, SimpleITK,
the operating system) is chained as ``__cause__``. Messages name the file or
series and say what is wrong in words a radiologist understands.
"""

from __future__ import annotations

__all__ = [
    "DicomSeriesError",
    "NotDicomError",
    "HeaderError",
    "GeometryError",
    "DecodeError",
    "SeriesNotFoundError",
    "OutputExistsError",
    "PathNotFoundError",
    "Cancelled",
]


class DicomSeriesError(Exception):
    """Base class of every error the core raises about its input or output."""


class NotDicomError(DicomSeriesError):
    """A path holds no DICOM file (or no DICOM file of any use)."""


class HeaderError(DicomSeriesError):
    """A DICOM header cannot be read or holds values that make no sense."""


class GeometryError(DicomSeriesError):
    """Slices cannot be placed in space (missing or contradictory position tags)."""


class DecodeError(DicomSeriesError):
    """Pixel data cannot be decoded (unsupported transfer syntax, truncated data, ...)."""


class SeriesNotFoundError(DicomSeriesError, LookupError):
    """No volume matches the series number or UID that was asked for."""


class OutputExistsError(DicomSeriesError, FileExistsError):
    """An output file exists already and overwriting was not asked for."""


class PathNotFoundError(DicomSeriesError, FileNotFoundError):
    """A path given as input does not exist (or is a symbolic link whose target does not exist)."""


class Cancelled(DicomSeriesError):
    """The user cancelled a running job (scan, load, comparison, export); nothing half-done was kept."""

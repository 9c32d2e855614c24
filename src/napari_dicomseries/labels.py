"""The labels :func:`classify.classify` gives a volume: kind, orientation, kernel class, thickness class.

Each is a :class:`~enum.StrEnum`: a member equals its string value
(``volume.kind == "localizer"``), formats as it (``f"{volume.kind}"``) and is
written as it in JSON, so scripts see the same strings as before. ``NONE`` (the
empty string) means not classified or not applicable (e.g. the thickness of a
localizer, the orientation of a structured report).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Kind", "Orientation", "KernelClass", "ThicknessClass"]


class Kind(StrEnum):
    """What a volume is."""

    IMAGE = "image"
    LOCALIZER = "localizer"
    #: a secondary capture: screenshot, dose report, exam summary or document page
    SECONDARY = "secondary"
    SEGMENTATION = "segmentation"
    #: no pixel data (SR, RTSTRUCT, PDF, presentation states)
    NON_IMAGE = "non-image"


class Orientation(StrEnum):
    """The plane of a volume's images (oblique beyond :data:`classify.OBLIQUE_DEGREES`)."""

    NONE = ""
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    OBLIQUE = "oblique"


class KernelClass(StrEnum):
    """The class of a CT reconstruction kernel."""

    NONE = ""
    STANDARD = "standard"
    LUNG = "lung"
    BONE = "bone"
    OTHER = "other"


class ThicknessClass(StrEnum):
    """Thin (at most :data:`classify.THIN_MAX_MM`) or thick slices; ``NONE`` for localizers and secondary captures."""

    NONE = ""
    THIN = "thin"
    THICK = "thick"

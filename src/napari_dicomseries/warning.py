"""Warnings on volumes as records: a code to act on, a sentence to show, and the files and frames concerned.

Code that decides something from a warning (the confidence of a class, which
warnings a gap split rewrites, why a volume cannot be opened) reads its
:class:`WarningCode`; the message is for people (``ls``, notifications, the
JSON ``warnings`` list, the NIfTI sidecar) and is never parsed.

To add a warning: add a code here (its value is the stable name scripts see in
``ls --json``'s ``warning_codes``), create the record where the problem is
found, and give the code a confidence penalty in :data:`classify.PENALTIES`
when it should weigh more than the default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["WarningCode", "VolumeWarning", "UNLOADABLE", "messages", "codes"]


class WarningCode(StrEnum):
    """What a :class:`VolumeWarning` is about (the value is its name in JSON)."""

    #: slices missing: a step between neighbours is a whole multiple of the usual spacing
    MISSING_SLICES = "missing_slices"
    #: steps between slices that differ from the usual spacing and are no whole multiple of it
    IRREGULAR_SPACING = "irregular_spacing"
    #: the slice step is not along the normal of the image plane (CT gantry tilt): the volume is sheared
    GANTRY_TILT = "gantry_tilt"
    #: no usable PixelSpacing: in-plane spacing set to 1 mm
    NO_PIXEL_SPACING = "no_pixel_spacing"
    #: images (or SEG frames) without position or orientation: placed with default geometry
    NO_GEOMETRY = "no_geometry"
    #: copies of one SOP instance (a file under another name): ignored
    DUPLICATE_FILES = "duplicate_files"
    #: different images at one slice position that nothing tells apart: the first is kept
    DUPLICATE_POSITION = "duplicate_position"
    #: the count of further positions with several images (after the first five named)
    MORE_DUPLICATE_POSITIONS = "more_duplicate_positions"
    #: how many images were left out because they share positions with kept ones
    FRAMES_LEFT_OUT = "frames_left_out"
    #: images repeating the slice positions with no tag telling them apart: time points in InstanceNumber order
    TIME_FROM_ORDER = "time_from_order"
    #: a transfer syntax no installed decoder reads: listed, not loadable
    NO_DECODER = "no_decoder"
    #: a pixel format (bit depth, samples per pixel, colour) that cannot be loaded whatever the decoder
    PIXEL_FORMAT = "pixel_format"
    #: the files of one volume use several transfer syntaxes
    MIXED_TRANSFER_SYNTAXES = "mixed_transfer_syntaxes"
    #: a problem the scan found in one file (unusable tag values, a mosaic without CSA header, ...)
    FILE_PROBLEM = "file_problem"
    #: objects without pixel data (SR, RTSTRUCT, presentation states): listed, not loadable as an image
    NO_PIXEL_DATA = "no_pixel_data"
    #: a segmentation's frame planes are not whole multiples of its spacing apart
    IRREGULAR_FRAME_PLANES = "irregular_frame_planes"
    #: a segmentation whose frames cover only some slices of its grid
    SPARSE_SEGMENTATION = "sparse_segmentation"
    #: segments with frames on the same slice: one mask per segment
    OVERLAPPING_SEGMENTS = "overlapping_segments"
    #: a part of a volume cut at a gap in slice spacing (gap policy ``split``)
    SPLIT_AT_GAP = "split_at_gap"
    #: slices kept at the usual spacing despite gaps (gap policy ``keep``): misplaced after the gap
    GAPS_KEPT = "gaps_kept"
    #: an RTSTRUCT whose referenced image series is not in the scan: ROIs listed, no voxels
    REFERENCE_MISSING = "reference_missing"
    #: an RTSTRUCT's referenced series forms several volumes (or has gaps): the grid used is named
    REFERENCE_AMBIGUOUS = "reference_ambiguous"
    #: RTSTRUCT contours whose plane matches no slice of the referenced grid: not rasterised
    CONTOURS_OFF_GRID = "contours_off_grid"
    #: RTSTRUCT contours that cannot be rasterised (not CLOSED_PLANAR, not in a slice plane, unusable data)
    CONTOURS_SKIPPED = "contours_skipped"


@dataclass(frozen=True, slots=True)
class VolumeWarning:
    """One warning about a volume.

    Attributes
    ----------
    code : WarningCode
        What the warning is about; decide on this, never on the message.
    message : str
        The sentence shown to people (``str()`` of the warning).
    files : tuple of str
        Paths of the files concerned, when the warning is about some files.
    frames : tuple of int
        1-based frame numbers within the multi-frame files named in ``files``, when it is about some frames.
    """

    code: WarningCode
    message: str
    files: tuple[str, ...] = ()
    frames: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.message

    @property
    def prevents_loading(self) -> bool:
        """True when the warning says why the volume's pixels cannot be loaded (no decoder, unsupported format)."""
        return self.code in UNLOADABLE

    def with_message(self, message: str, code: WarningCode | None = None) -> VolumeWarning:
        """The same warning (files, frames) with another message and, optionally, another code."""
        return VolumeWarning(code if code is not None else self.code, message, self.files, self.frames)


#: The codes of warnings that say why a volume is listed but cannot be loaded.
UNLOADABLE = frozenset({WarningCode.NO_DECODER, WarningCode.PIXEL_FORMAT, WarningCode.REFERENCE_MISSING})


def messages(warnings: Iterable[VolumeWarning | str]) -> list[str]:
    """The messages of ``warnings`` (plain strings pass through), e.g. for JSON."""
    return [str(w) for w in warnings]


def codes(warnings: Iterable[VolumeWarning]) -> list[WarningCode]:
    """The codes of ``warnings``, in order."""
    return [w.code for w in warnings]

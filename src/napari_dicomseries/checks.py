"""Header value checks: what the values of a header allow, before any pixel is read.

* :func:`value_warnings`: numeric tags present but unusable (text, NaN, a
  wrong count, impossible values), each with what happens then;
* :func:`spacing_fallback`: PixelSpacing, else ImagerPixelSpacing with a warning;
* :func:`raw_value_warnings` and :func:`raw_spacing_fallback`: the same for a header read by :mod:`rawheader`,
  each distinct raw value checked once (values repeat across the files of a series);
* :func:`pixel_problem`: why the pixel data cannot hold the image the header
  describes (truncated files, impossible sizes, vendor-private compression);
* :data:`NON_IMAGE_SOP_CLASSES` and :func:`is_image_class`: which SOP classes hold images.

The scan (:mod:`scan`) turns a problem into a skipped file or a warning on the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import tags, uids
from .elements import RawItem, memo_lookup, orientation, remember, spacing, to_float
from .syntax import DEFLATE, UNCOMPRESSED, pixel_element

if TYPE_CHECKING:
    from .scan import DicomFile

__all__ = [
    "NON_IMAGE_SOP_CLASSES",
    "ELSCINT_CREATOR",
    "is_image_class",
    "value_warnings",
    "raw_value_warnings",
    "spacing_fallback",
    "raw_spacing_fallback",
    "pixel_problem",
    "vendor_compression",
]

#: SOP classes that hold no image (structured reports, RT structures, presentation states, ...). The scan gives their
#: files no frames; the builder lists an RT Structure Set as a segmentation on the grid of the series it references
#: (:mod:`rtstruct`), the others as ``non-image`` entries.
NON_IMAGE_SOP_CLASSES = {
    uids.RTStructureSetStorage: "RT Structure Set",
    uids.RTPlanStorage: "RT Plan",
    uids.EncapsulatedPDFStorage: "Encapsulated PDF",
    uids.RawDataStorage: "Raw Data",
    uids.KeyObjectSelectionDocumentStorage: "Key Object Selection",
    uids.GrayscaleSoftcopyPresentationStateStorage: "Grayscale Softcopy Presentation State",
}
#: Private creator and element (xx11) of the Elscint / Philips CT "Tamar compression type" (PMSCT_RLE1, PMSCT_RGB1)
ELSCINT_CREATOR = "ELSCINT1"


def is_image_class(sop_class: str) -> bool:
    """True for an image storage SOP class (CT Image Storage, Enhanced MR Image Storage, ...)."""
    if not sop_class or sop_class in NON_IMAGE_SOP_CLASSES:
        return False
    try:
        from pydicom.uid import UID

        return "Image Storage" in UID(sop_class).name
    except Exception:  # noqa: BLE001 - not a UID pydicom can name
        return False


#: Numeric tags checked for unusable values: (keyword, number of values, what happens then).
_CHECKED_NUMBERS = (
    ("ImagePositionPatient", 3, "the slice cannot be placed in space"),
    ("ImageOrientationPatient", 6, "the slice orientation is unknown"),
    ("PixelSpacing", 2, "it is ignored"),
    ("SliceThickness", 1, "it is ignored"),
    ("SpacingBetweenSlices", 1, "it is ignored"),
    ("RescaleSlope", 1, "a slope of 1 is used"),
    ("RescaleIntercept", 1, "an intercept of 0 is used"),
    ("WindowCenter", 0, "it is ignored"),
    ("WindowWidth", 0, "it is ignored"),
    ("InstanceNumber", 1, "it is ignored"),
)


#: ``_CHECKED_NUMBERS`` with each keyword's tag.
_CHECKS = tuple((keyword, getattr(tags, keyword), n, then) for keyword, n, then in _CHECKED_NUMBERS)


#: Checked tags whose value differs in every file of a series (checked each time, not memoized).
_PER_FILE = {tags.ImagePositionPatient, tags.InstanceNumber}
#: ``_CHECKS`` with a memo per tag (raw element -> warning without the path, "" for a usable value); None: per file.
_RAW_CHECKS: tuple[tuple[str, int, int, str, dict[Any, str] | None], ...] = tuple(
    (keyword, tag, n, then, None if tag in _PER_FILE else {}) for keyword, tag, n, then in _CHECKS
)


#: ``_RAW_CHECKS`` as :func:`elements.memo_lookup` reads them
_RAW_CHECK_SPECS = tuple((tag, memo, "") for _, tag, _, _, memo in _RAW_CHECKS)


def value_warnings(path: str, text: Callable[[int], str | None]) -> list[str]:
    """Warnings for numeric tags that are present but unusable (text, NaN, wrong count, impossible values).

    ``text(tag)`` gives the raw value as text (values separated by backslashes), or None when absent.
    """
    out = []
    for keyword, tag, n, then in _CHECKS:
        t = text(tag)
        if t is None:
            continue
        problem = _problem(keyword, n, then, t)
        if problem:
            out.append(f"{path}: {problem}")
    return out


def raw_value_warnings(path: str, item: RawItem) -> list[str]:
    """:func:`value_warnings` of a header read by :mod:`rawheader`, each value repeated across files checked once.

    The outcome of a check depends on the raw element alone, so it is memoized by tag and raw element
    (:func:`elements.remember`); the warnings name ``path`` as :func:`value_warnings` does, in the same order.
    """
    d = item.d
    problems, missed = memo_lookup(d, _RAW_CHECK_SPECS)  # "" for a usable or absent value
    for i in missed:
        keyword, tag, n, then, memo = _RAW_CHECKS[i]
        e = d[tag]
        if keyword not in _VALUE_CHECKED and e[0] != b"SQ" and _plain_numbers(e[1], n):
            problem = ""  # (what _problem says of such a value, without its lists)
        else:
            t = item.text(tag)
            problem = _problem(keyword, n, then, t) if t is not None else ""
        problems[i] = problem
        if memo is not None:
            remember(memo, d[tag], problem)
    return [f"{path}: {problem}" for problem in problems if problem]


#: Checked tags whose numbers :func:`_problem` checks beyond their count (positive, perpendicular, non-zero).
_VALUE_CHECKED = frozenset({"PixelSpacing", "ImageOrientationPatient", "RescaleSlope"})


def _plain_numbers(b: bytes, n: int) -> bool:
    """True when the raw text ``b`` is ``n`` finite numbers (any number when ``n`` is 0) as ``float`` reads them.

    Read before any stripping: then :func:`_problem` finds nothing wrong with the value unless its tag is in
    :data:`_VALUE_CHECKED` (its parts, stripped of NULs and spaces, are the same numbers: ``float`` refuses a NUL
    and ignores spaces). False says nothing (the careful check decides).
    """
    parts = b.decode("latin-1").split("\\")
    if n and len(parts) != n:
        return False
    try:
        for x in parts:
            if not math.isfinite(float(x)):
                return False
    except ValueError:
        return False
    return True


def _problem(keyword: str, n: int, then: str, t: str) -> str:
    """What is wrong with the value ``t`` (as written) of the checked tag ``keyword``, and what happens then; "" if nothing."""
    if "\\" not in t:  # one value: the common case, checked without the lists below
        s = t.strip("\x00 ")
        if not s:
            return ""
        try:
            x = float(s)
        except ValueError:
            x = math.nan
        if math.isfinite(x) and n <= 1 and not (keyword == "RescaleSlope" and x == 0):
            return ""
    elif not t.strip("\x00 "):
        return ""
    parts = [x.strip("\x00 ") for x in t.split("\\")]
    maybe = [to_float(x) for x in parts]
    nums = [x for x in maybe if x is not None]
    problem = None
    if len(nums) != len(maybe):
        problem = "is not a valid number" if len(parts) == 1 else "holds values that are not valid numbers"
    elif n and len(nums) != n:
        problem = f"has {len(nums)} values instead of {n}"
    elif keyword == "PixelSpacing" and min(nums) <= 0:
        problem = "is not a positive distance"
    elif keyword == "ImageOrientationPatient" and orientation(nums) is None:
        problem = "does not give two perpendicular directions"
    elif keyword == "RescaleSlope" and nums[0] == 0:
        problem = "is zero"
        then = "a slope of 1 is used"
    if not problem:
        return ""
    shown = t.strip("\x00 ")
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{keyword} '{shown}' {problem}; {then}"


def spacing_fallback(path: str, text: Callable[[int], str | None], warns: list[str]) -> tuple[float, float] | None:
    """PixelSpacing, else the standard fallback ImagerPixelSpacing (projection images), with a warning."""
    ps, warning = _spacing_choice(text)
    if warning:
        warns.append(f"{path}: {warning}")
    return ps


#: (PixelSpacing, ImagerPixelSpacing) raw elements -> what :func:`_spacing_choice` makes of them.
_SPACING_MEMO: dict[Any, tuple[tuple[float, float] | None, str]] = {}


def raw_spacing_fallback(path: str, item: RawItem, warns: list[str]) -> tuple[float, float] | None:
    """:func:`spacing_fallback` of a header read by :mod:`rawheader`, memoized by the two raw elements."""
    d = item.d
    key = (d.get(tags.PixelSpacing), d.get(tags.ImagerPixelSpacing))
    choice = _SPACING_MEMO.get(key)
    if choice is None:
        choice = remember(_SPACING_MEMO, key, _spacing_choice(item.text))
    ps, warning = choice
    if warning:
        warns.append(f"{path}: {warning}")
    return ps


def _spacing_choice(text: Callable[[int], str | None]) -> tuple[tuple[float, float] | None, str]:
    """The in-plane spacing and the warning (without the path) when it is ImagerPixelSpacing's."""
    ps = spacing(_split(text(tags.PixelSpacing)))
    if ps is not None:
        return ps, ""
    ips = spacing(_split(text(tags.ImagerPixelSpacing)))
    if ips is not None:
        return ips, (
            f"no usable PixelSpacing; ImagerPixelSpacing {ips[0]:g}\\{ips[1]:g} used "
            "(spacing at the detector, not corrected for geometric magnification)"
        )
    return None, ""


def _split(t: str | None) -> list[str] | None:
    return None if t is None else [x.strip("\x00 ") for x in t.split("\\")]


def pixel_problem(f: DicomFile, elem: bytes) -> str | None:
    """Why the pixel data of ``f`` cannot hold its image (checked from sizes only, without reading it), or None.

    ``elem`` is the first 12 bytes of the pixel data element. Catches truncated
    files and headers that declare far more pixels than the file holds (so a
    wrong Rows x Columns x NumberOfFrames never leads to a huge allocation).
    """
    ts = f.transfer_syntax_uid
    if ts == DEFLATE:
        return None
    if not f.has_pixel_data:
        if is_image_class(f.sop_class_uid) or (f.rows and f.columns and f.sop_class_uid not in NON_IMAGE_SOP_CLASSES):
            return (
                f"truncated or damaged: the header runs to the end of the file ({f.size} bytes) without reaching the pixel data "
                "(the file is cut short, or a length in its header is wrong)"
            )
        return None
    if not (f.rows and f.columns) or f.pixel_offset is None:
        return None
    if f.vendor_compression:
        return (
            f"pixel data compressed with the vendor-private scheme {f.vendor_compression} (not a DICOM transfer syntax; "
            "no standard decoder reads it)"
        )
    found = pixel_element(ts, f.pixel_offset, elem)
    if found is None:
        return "truncated: the file ends inside the pixel data element"
    start, length = found
    available = max(f.size - start, 0)
    n = max(f.number_of_frames, 1)
    if length == 0xFFFFFFFF:  # encapsulated: an offset table item and at least one 8-byte item per frame
        if (n + 1) * 8 > available:
            return f"truncated: {n} frame(s) of compressed pixel data cannot fit in the {available} bytes left in the file"
        return None
    if ts in UNCOMPRESSED:
        # YBR_FULL_422 / YBR_PARTIAL_422 native data hold two samples per pixel (chroma shared by pixel pairs)
        samples = 2 if f.samples_per_pixel == 3 and f.photometric_interpretation.endswith("_422") else f.samples_per_pixel
        need = -(-f.rows * f.columns * n * samples * f.bits_allocated // 8)
        if length < need:
            return (
                f"pixel data holds {length} bytes but {f.rows} x {f.columns} pixels x {n} frame(s) of {f.bits_allocated} bits "
                f"need {need}: the header does not describe this image"
            )
        if available < need:
            return f"truncated: the pixel data needs {need} bytes but the file holds only {available} after the header"
    elif available < length:
        return f"truncated: the pixel data element declares {length} bytes but the file holds only {available}"
    return None


def vendor_compression(value: bytes | None) -> str:
    """``ELSCINT1 PMSCT_RLE1`` style name of a vendor-private pixel compression, or "" when none is declared."""
    text = value.decode("latin-1").strip("\x00 ") if value else ""
    return f"{ELSCINT_CREATOR} {text}" if text and text.upper() != "NONE" else ""

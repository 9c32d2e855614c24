"""The tag values of every frame of a volume, flattened: one row per tag and sequence path.

Every frame (2-D image) of a volume gets a flat set of tag values: the
top-level elements of its file (with the file meta header), the items of
nested sequences with a path such as
``ReferencedImageSequence[0].ReferencedSOPInstanceUID`` and, for enhanced
multi-frame files, the item of ``PerFrameFunctionalGroupsSequence`` that
belongs to the frame, so per-frame values such as
``PerFrameFunctionalGroupsSequence.PlanePositionSequence[0].ImagePositionPatient``
become per-frame rows (:func:`frame_tags`). Each row is described by a
:class:`TagInfo` (keyword and name from pydicom's data dictionary) and each
value is a :class:`TagValue`: its text and, for numeric VRs, its numbers,
compared within a tolerance by :func:`values_equal`. :mod:`.compare`
summarises these rows over a volume and sets two volumes side by side.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .elements import is_multivalue
from .header import TagRecord, format_value, private_creator

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

    from .volume import Volume

__all__ = [
    "DEFAULT_TOLERANCE",
    "GEOMETRY_KEYWORDS",
    "IDENTIFIER_KEYWORDS",
    "NUMERIC_VRS",
    "TagInfo",
    "TagValue",
    "FrameTags",
    "frame_tags",
    "values_equal",
    "format_number",
    "format_numbers",
]

#: Numbers closer than this are equal (absolute, in the unit of the tag).
DEFAULT_TOLERANCE = 1e-4
#: Value representations compared as numbers.
NUMERIC_VRS = frozenset({"DS", "IS", "FD", "FL", "US", "SS", "UL", "SL", "UV", "SV"})
#: Tags that describe where the image is and how big its pixels are: shown together, first.
GEOMETRY_KEYWORDS = frozenset({
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "SpacingBetweenSlices",
    "SliceLocation", "Rows", "Columns", "NumberOfFrames", "FrameOfReferenceUID", "PatientPosition",
    "GantryDetectorTilt", "ReconstructionDiameter", "DataCollectionDiameter", "ReconstructionTargetCenterPatient",
    "TableHeight", "PositionReferenceIndicator", "ImagerPixelSpacing", "SliceLocationVector",
})  # fmt: skip
#: Tags that differ between the instances of any series: ignored when comparing volumes unless asked.
IDENTIFIER_KEYWORDS = frozenset({
    "SOPInstanceUID", "MediaStorageSOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation",
    "InStackPositionNumber", "DimensionIndexValues", "FileMetaInformationGroupLength", "ReferencedSOPInstanceUID",
    "ImageComments", "FrameAcquisitionNumber",
})  # fmt: skip
#: At most this many items of one (non per-frame) sequence are flattened.
MAX_SEQUENCE_ITEMS = 100
_PER_FRAME = "PerFrameFunctionalGroupsSequence"


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class TagValue:
    """One value of one tag in one frame: its text and, for numeric VRs, its numbers."""

    text: str
    numbers: tuple[float, ...] | None = None


def values_equal(a: TagValue | None, b: TagValue | None, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """True if two values are the same: numbers within ``tolerance``, else the same text."""
    if a is None or b is None:
        return a is b
    if a.numbers is not None and b.numbers is not None:
        if len(a.numbers) != len(b.numbers):
            return False
        return all(abs(x - y) <= tolerance for x, y in zip(a.numbers, b.numbers, strict=True))
    return a.text == b.text


def _numbers(elem: DataElement) -> tuple[float, ...] | None:
    if elem.VR not in NUMERIC_VRS:
        return None
    try:
        v = elem.value
    except Exception:  # noqa: BLE001 - unreadable value: compare as text
        return None
    if v is None or v == "":
        return ()
    items = list(v) if is_multivalue(v) else [v]
    try:
        out = tuple(float(x) for x in items)
    except (TypeError, ValueError):
        return None
    return out if all(x == x for x in out) else None


def format_number(x: float) -> str:
    """A number as short text: an integer without decimals, else 6 significant digits."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def format_numbers(v: Sequence[float]) -> str:
    """Numbers as DICOM multi-value text (joined by backslashes)."""
    return "\\".join(format_number(x) for x in v)


# ----------------------------------------------------------------------------- tag identity


@dataclass(frozen=True, slots=True)
class TagInfo(TagRecord):
    """What a comparison row is: a :class:`header.TagRecord`, the row's key, and its place in the tables.

    ``key`` identifies the row across frames and volumes: the keyword (or
    ``(gggg,eeee)`` for a private tag), prefixed with the sequence path. For
    enhanced files the per-frame item index is left out of the key, so the
    same row holds frame 1's value, frame 2's value, and so on.
    """

    key: str = ""
    per_frame: bool = False
    category: str = "other"  # "geometry", "identifier", "private", "volume" or "other"

    def to_dict(self) -> dict[str, Any]:
        """The tag's description as JSON-friendly fields (shared by the rows of both tables): the key, then the rest."""
        return {"key": self.key, **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "key"}}

    @property
    def identifier(self) -> bool:
        """True for a per-instance identifier (ignored when comparing volumes unless asked)."""
        return self.keyword in IDENTIFIER_KEYWORDS

    def matches(self, query: str) -> bool:
        """True if ``query`` finds this tag: part of its keyword, name or path, or its number.

        Numbers may be written ``0018,0050``, ``(0018,0050)``, ``00180050`` or
        ``0x00180050``; a group alone (``0018``) finds all its tags.
        """
        q = query.strip()
        if not q:
            return True
        if self.tag:
            hexq = re.sub(r"[()\s,x]|^0x", "", q.lower())
            tag_hex = self.tag[1:5].lower() + self.tag[6:10].lower()
            if re.fullmatch(r"[0-9a-f]{4}|[0-9a-f]{8}", hexq) and tag_hex.startswith(hexq):
                return True
        ql = q.lower()
        return ql in self.key.lower() or ql in self.name.lower() or ql in self.private_creator.lower()

    def sort_key(self) -> tuple[Any, ...]:
        """Sort order of the rows: volume rows, then geometry, then by sequence and tag number."""
        order = {"volume": 0, "geometry": 1}.get(self.category, 2)
        return (order, self.path.split(".")[0] if self.path else "", self.group or 0, self.element or 0, self.key)


def _category(keyword: str, private: bool) -> str:
    if keyword in GEOMETRY_KEYWORDS:
        return "geometry"
    if keyword in IDENTIFIER_KEYWORDS:
        return "identifier"
    if private:
        return "private"
    return "other"


def _name(tag: Any, elem: DataElement) -> str:
    from pydicom.datadict import dictionary_description

    if tag.group % 2 == 1:
        return "Private Creator" if tag.element < 0x100 else "Private tag"
    try:
        return dictionary_description(tag)
    except KeyError:
        return elem.name


# ----------------------------------------------------------------------------- flattening


def _flatten(
    ds: Dataset,
    out: dict[str, tuple[TagInfo, TagValue]],
    *,
    private: bool,
    prefix: str = "",
    per_frame: bool = False,
    skip: Iterable[int] = (),
) -> None:
    """Add every element of ``ds`` (and its nested sequence items) to ``out``, keyed by path."""
    from pydicom.datadict import keyword_for_tag

    skip = set(skip)
    for elem in ds:
        tag = elem.tag
        if tag in skip or tag == 0x7FE00010 or tag.group == 0xFFFE:
            continue
        is_private = tag.group % 2 == 1
        if is_private and not private:
            continue
        kw = keyword_for_tag(tag) or ""
        tag_str = f"({tag.group:04X},{tag.element:04X})"
        key = prefix + (kw or tag_str)
        info = TagInfo(
            key=key,
            tag=tag_str,
            keyword=kw,
            name=_name(tag, elem),
            vr=str(elem.VR),
            private_creator=private_creator(ds, elem),
            path=prefix[:-1] if prefix else "",
            per_frame=per_frame,
            category=_category(kw, is_private),
        )
        if elem.VR == "SQ":
            items = list(elem.value or [])
            out[key] = (info, TagValue(f"<sequence of {len(items)} item(s)>", (float(len(items)),)))
            for i, item in enumerate(items[:MAX_SEQUENCE_ITEMS]):
                _flatten(item, out, private=private, prefix=f"{key}[{i}].", per_frame=per_frame)
            continue
        out[key] = (info, TagValue(format_value(elem), _numbers(elem)))


@dataclass
class FrameTags:
    """The tag values of every frame of a volume, in the volume's array order.

    ``values[key][n]`` is frame ``n``'s value of row ``key`` (None where the
    frame lacks the tag); ``frames[n]`` is (file path, frame index in the file).
    """

    frames: list[tuple[str, int]]
    infos: dict[str, TagInfo]
    values: dict[str, list[TagValue | None]]


def frame_tags(
    volume: Volume,
    *,
    private: bool = False,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> FrameTags:
    """Flatten the headers of ``volume``'s frames (each file's full header is read once, on first use).

    ``progress(done, total)`` is called after each frame; ``cancel()`` is asked
    before each one and a True answer raises :class:`~napari_dicomseries.errors.Cancelled`.
    """
    from pydicom.datadict import dictionary_description

    from .errors import Cancelled

    files = {f.path: f for f in volume.files}
    file_rows: dict[str, dict[str, tuple[TagInfo, TagValue]]] = {}
    frames = [(fr.path, fr.index) for fr in volume.frames] or [(f.path, 0) for f in volume.files]
    infos: dict[str, TagInfo] = {}
    values: dict[str, list[TagValue | None]] = {}
    n = len(frames)
    for pos, (path, index) in enumerate(frames):
        if cancel is not None and cancel():
            raise Cancelled(f"reading the tags of series {volume.key} cancelled after {pos} of {n} frames")
        f = files[path]
        rows = file_rows.get(path)
        if rows is None:
            rows = {}
            meta = getattr(f.dataset, "file_meta", None)
            if meta:
                _flatten(meta, rows, private=private)
            per_frame_tag = 0x52009230
            _flatten(f.dataset, rows, private=private, skip=() if not f.enhanced else (per_frame_tag,))
            file_rows[path] = rows
        merged = dict(rows)
        if f.enhanced:
            items = list(f.dataset.get(_PER_FRAME) or [])
            merged[_PER_FRAME] = (
                TagInfo(
                    key=_PER_FRAME,
                    tag="(5200,9230)",
                    keyword=_PER_FRAME,
                    name=dictionary_description(0x52009230),
                    vr="SQ",
                    category="other",
                ),
                TagValue(f"<sequence of {len(items)} item(s)>", (float(len(items)),)),
            )
            if index < len(items):
                _flatten(items[index], merged, private=private, prefix=f"{_PER_FRAME}.", per_frame=True)
        for key, (info, value) in merged.items():
            if key not in infos:
                infos[key] = info
                values[key] = [None] * n
            values[key][pos] = value
        if progress is not None:
            progress(pos + 1, n)
    return FrameTags(frames=frames, infos=infos, values=values)

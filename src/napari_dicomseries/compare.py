"""Compare DICOM tags: across the slices of one volume, and between two volumes.

Every frame (2-D image) of a volume gets a flat set of tag values: the
top-level elements of its file (with the file meta header), the items of
nested sequences with a path such as
``ReferencedImageSequence[0].ReferencedSOPInstanceUID`` and, for enhanced
multi-frame files, the item of ``PerFrameFunctionalGroupsSequence`` that
belongs to the frame, so per-frame values such as
``PerFrameFunctionalGroupsSequence.PlanePositionSequence[0].ImagePositionPatient``
become per-frame rows.

:func:`volume_tags` says which tags are constant over a volume and which vary
(with the number of distinct values and, for numbers, the range);
:func:`diff_volumes` sets two volumes side by side. Numbers (VR DS, IS, FD,
FL, US, SS, UL, SL, UV, SV) that agree within ``tolerance`` are equal.
Keywords and names come from pydicom's data dictionary.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from .header import format_value, private_creator
from .scan import is_multivalue
from .selection import select_volume
from .volume import Volume

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

__all__ = [
    "DEFAULT_TOLERANCE",
    "GEOMETRY_KEYWORDS",
    "IDENTIFIER_KEYWORDS",
    "NUMERIC_VRS",
    "TagInfo",
    "TagValue",
    "FrameTags",
    "TagSummary",
    "VolumeTags",
    "TagDifference",
    "TagDiff",
    "frame_tags",
    "volume_tags",
    "diff_volumes",
    "select_volume",
    "values_equal",
    "rows_to_csv",
    "iter_text_rows",
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
_VOLUME = "(volume)"


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


def _fmt_number(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def _fmt_numbers(v: Sequence[float]) -> str:
    return "\\".join(_fmt_number(x) for x in v)


# ----------------------------------------------------------------------------- tag identity


@dataclass(frozen=True, slots=True)
class TagInfo:
    """What a row is: the tag, its dictionary keyword and name, VR, and where it sits.

    ``key`` identifies the row across frames and volumes: the keyword (or
    ``(gggg,eeee)`` for a private tag), prefixed with the sequence path. For
    enhanced files the per-frame item index is left out of the key, so the
    same row holds frame 1's value, frame 2's value, and so on.
    """

    key: str
    tag: str  # "(0018,0050)", or "" for a derived volume property
    keyword: str
    name: str
    vr: str
    private_creator: str = ""
    path: str = ""  # sequence path, "" at top level
    per_frame: bool = False
    category: str = "other"  # "geometry", "identifier", "private", "volume" or "other"

    @property
    def group(self) -> int | None:
        """The tag's group number (None for a derived volume row)."""
        return int(self.tag[1:5], 16) if self.tag else None

    @property
    def element(self) -> int | None:
        """The tag's element number (None for a derived volume row)."""
        return int(self.tag[6:10], 16) if self.tag else None

    @property
    def is_private(self) -> bool:
        """True for a private tag (odd group)."""
        return bool(self.tag) and (self.group or 0) % 2 == 1

    def to_dict(self) -> dict[str, Any]:
        """The tag's description as JSON-friendly fields (shared by the rows of both tables): every field, in order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

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


def frame_tags(volume: Volume, *, private: bool = False) -> FrameTags:
    """Flatten the headers of ``volume``'s frames (no file is read again: the scan kept the headers)."""
    from pydicom.datadict import dictionary_description

    files = {f.path: f for f in volume.files}
    file_rows: dict[str, dict[str, tuple[TagInfo, TagValue]]] = {}
    frames = [(fr.path, fr.index) for fr in volume.frames] or [(f.path, 0) for f in volume.files]
    infos: dict[str, TagInfo] = {}
    values: dict[str, list[TagValue | None]] = {}
    n = len(frames)
    for pos, (path, index) in enumerate(frames):
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
                TagInfo(_PER_FRAME, "(5200,9230)", _PER_FRAME, dictionary_description(0x52009230), "SQ", category="other"),
                TagValue(f"<sequence of {len(items)} item(s)>", (float(len(items)),)),
            )
            if index < len(items):
                _flatten(items[index], merged, private=private, prefix=f"{_PER_FRAME}.", per_frame=True)
        for key, (info, value) in merged.items():
            if key not in infos:
                infos[key] = info
                values[key] = [None] * n
            values[key][pos] = value
    return FrameTags(frames=frames, infos=infos, values=values)


# ----------------------------------------------------------------------------- within one volume


@dataclass
class TagSummary:
    """One tag over the frames of a volume: constant (with its value) or varying."""

    info: TagInfo
    constant: bool
    value: str  # the value when constant; a short description when it varies
    n_distinct: int
    n_missing: int
    minimum: str = ""
    maximum: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields of the row (``tags --json``): the tag's, then its summary over the frames."""
        summary = {"constant": self.constant, "value": self.value, "n_distinct": self.n_distinct, "n_missing": self.n_missing}
        return {**self.info.to_dict(), **summary, "min": self.minimum, "max": self.maximum}


def _distinct(values: list[TagValue | None], tolerance: float) -> int:
    present = [v for v in values if v is not None]
    n = 1 if len(present) < len(values) else 0
    if not present:
        return n
    nums = [v.numbers for v in present]
    if all(x is not None for x in nums) and len({len(x) for x in nums}) == 1:  # type: ignore[arg-type]
        arr = np.asarray(nums, float)
        if arr.shape[1] == 0:
            return n + 1
        if arr.shape[1] == 1:
            s = np.sort(arr[:, 0])
            return n + 1 + int(np.count_nonzero(np.diff(s) > tolerance))
        q = np.round(arr / max(tolerance, 1e-12))
        return n + len(np.unique(q, axis=0))
    return n + len({v.text for v in present})


def _summarise(info: TagInfo, values: list[TagValue | None], tolerance: float) -> TagSummary:
    present = [v for v in values if v is not None]
    missing = len(values) - len(present)
    first = present[0] if present else None
    constant = missing == 0 and all(values_equal(first, v, tolerance) for v in present)
    lo = hi = ""
    nums = [v.numbers for v in present]
    numeric = bool(present) and all(x is not None and len(x) > 0 for x in nums) and len({len(x) for x in nums}) == 1  # type: ignore[arg-type]
    if constant:
        return TagSummary(info, True, first.text if first else "", 1, 0)
    n_distinct = _distinct(values, tolerance)
    if numeric:
        arr = np.asarray(nums, float)
        lo, hi = _fmt_numbers(arr.min(axis=0)), _fmt_numbers(arr.max(axis=0))
    desc = f"{n_distinct} values" + (f" ({missing} frame(s) without it)" if missing else "")
    if lo:
        desc += f", {lo} .. {hi}"
    return TagSummary(info, False, desc, n_distinct, missing, lo, hi)


@dataclass
class VolumeTags:
    """Which tags are constant over a volume's frames and which vary (see :func:`volume_tags`)."""

    volume_key: str
    label: str
    n_frames: int
    rows: list[TagSummary]
    frames: FrameTags
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def varying(self) -> list[TagSummary]:
        """The rows of the tags that vary over the frames."""
        return [r for r in self.rows if not r.constant]

    def row(self, query: str) -> TagSummary:
        """The row whose key or keyword is ``query`` (the shortest key wins), or KeyError."""
        exact = [r for r in self.rows if query in (r.info.key, r.info.keyword, r.info.tag)]
        if not exact:
            raise KeyError(f"no tag {query!r} in volume {self.volume_key}")
        return min(exact, key=lambda r: len(r.info.key))

    def per_frame_values(self, key: str) -> list[str]:
        """The value of row ``key`` for each frame, in array order ("" where missing)."""
        return [v.text if v is not None else "" for v in self.frames.values[key]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``tags --json``): the volume, then one entry per tag."""
        volume = {"volume": self.volume_key, "label": self.label, "n_frames": self.n_frames, "tolerance": self.tolerance}
        return {**volume, "tags": [r.to_dict() for r in self.rows]}


def _label(v: Volume) -> str:
    return f"{v.key} {v.series_description}".strip()


def volume_tags(volume: Volume, *, private: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> VolumeTags:
    """Summarise every tag over the frames of ``volume``: constant with its value, or varying.

    Parameters
    ----------
    volume : Volume
        A volume from :func:`napari_dicomseries.open_folder`.
    private : bool
        Include private tags (with their private creator).
    tolerance : float
        Numbers that differ by at most this much count as equal.

    Returns
    -------
    VolumeTags
        Rows sorted with geometry first, then by tag number.
    """
    ft = frame_tags(volume, private=private)
    rows = [_summarise(ft.infos[k], ft.values[k], tolerance) for k in ft.infos]
    rows.sort(key=lambda r: r.info.sort_key())
    return VolumeTags(volume.key, _label(volume), len(ft.frames), rows, ft, tolerance)


# ----------------------------------------------------------------------------- two volumes


@dataclass
class TagDifference:
    """One tag of two volumes side by side."""

    info: TagInfo
    value_a: str
    value_b: str
    status: str  # "same", "different", "only in A", "only in B"

    @property
    def differs(self) -> bool:
        """True unless the tag is the same in both volumes."""
        return self.status != "same"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields of the row (``diff --json``)."""
        return {**self.info.to_dict(), "status": self.status, "a": self.value_a, "b": self.value_b}


DIFF_COLUMNS = ("category", "tag", "keyword", "name", "vr", "private_creator", "status", "a", "b")


@dataclass
class TagDiff:
    """Every tag of volumes A and B side by side (see :func:`diff_volumes`)."""

    key_a: str
    key_b: str
    label_a: str
    label_b: str
    rows: list[TagDifference]
    tolerance: float = DEFAULT_TOLERANCE

    def filtered(self, *, show_all: bool = False, identifiers: bool = False, query: str = "") -> list[TagDifference]:
        """The rows to show.

        Differing rows only unless ``show_all``; per-instance identifiers only
        with ``identifiers``; those matching ``query`` (keyword, name or tag number).
        """
        out = []
        for r in self.rows:
            if not show_all and not r.differs:
                continue
            if not identifiers and r.info.identifier:
                continue
            if query and not r.info.matches(query):
                continue
            out.append(r)
        return out

    def keywords(self, **kw: Any) -> set[str]:
        """Keywords (or keys of derived volume rows) of :meth:`filtered` rows."""
        return {r.info.keyword or r.info.key for r in self.filtered(**kw)}

    def to_dict(self, **kw: Any) -> dict[str, Any]:
        """JSON-friendly form of the :meth:`filtered` rows (``diff --json``)."""
        return {
            "a": {"key": self.key_a, "label": self.label_a},
            "b": {"key": self.key_b, "label": self.label_b},
            "tolerance": self.tolerance,
            "tags": [r.to_dict() for r in self.filtered(**kw)],
        }

    def to_csv(self, **kw: Any) -> str:
        """CSV text of the :meth:`filtered` rows."""
        return rows_to_csv(DIFF_COLUMNS, ([r.to_dict()[c] for c in DIFF_COLUMNS] for r in self.filtered(**kw)))


def _volume_rows(v: Volume) -> dict[str, tuple[TagInfo, TagValue]]:
    """Derived rows that are properties of the whole volume (slice count, size, spacing, ...)."""

    def info(name: str, desc: str) -> TagInfo:
        return TagInfo(f"{_VOLUME} {name}", "", f"{_VOLUME} {name}", desc, "", category="volume")

    def nums(x: Sequence[float], digits: int = 6) -> TagValue:
        vals = tuple(round(float(a), digits) + 0.0 for a in x)
        return TagValue(_fmt_numbers(vals), vals)

    out = {
        "slices": (info("slices", "Number of slices in the volume"), nums([v.n_slices])),
        "shape": (info("shape", "Array shape (time, slices, rows, columns)"), nums(v.shape)),
        "spacing": (info("spacing", "Voxel spacing (slice, row, column) in mm"), nums(v.spacing)),
        "origin": (info("origin", "Patient position (LPS mm) of the first voxel"), nums(v.origin)),
        "direction": (info("direction", "Direction cosines (row-major 3x3)"), nums(v.direction)),
    }
    if v.time_tag:
        out["time"] = (info("time", "Tag along the time axis"), TagValue(f"{v.time_tag} x {len(v.time_values)}"))
    return {i.key: (i, val) for i, val in out.values()}


def _side(summary: TagSummary | None) -> str:
    return "" if summary is None else summary.value


def diff_volumes(
    a: Volume,
    b: Volume,
    *,
    private: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    tags_a: VolumeTags | None = None,
    tags_b: VolumeTags | None = None,
) -> TagDiff:
    """Set every tag of volumes ``a`` and ``b`` side by side and say which differ.

    A tag constant in both volumes is the same when the values agree (numbers
    within ``tolerance``); a tag that varies over the slices is the same only
    when both volumes have the same number of frames and agree frame by frame.
    Derived rows ``(volume) slices``, ``shape``, ``spacing``, ``origin`` and
    ``direction`` compare the volumes' geometry.

    Returns
    -------
    TagDiff
        All rows (use :meth:`TagDiff.filtered` for the differing ones without
        per-instance identifiers), geometry first, then by tag number.
    """
    ta = tags_a or volume_tags(a, private=private, tolerance=tolerance)
    tb = tags_b or volume_tags(b, private=private, tolerance=tolerance)
    sa = {r.info.key: r for r in ta.rows}
    sb = {r.info.key: r for r in tb.rows}
    rows: list[TagDifference] = []
    va, vb = _volume_rows(a), _volume_rows(b)
    for key in va:
        info, x = va[key]
        y = vb.get(key, (info, None))[1]
        rows.append(TagDifference(info, x.text, y.text if y else "", "same" if values_equal(x, y, tolerance) else "different"))
    for key in dict.fromkeys([*sa, *sb]):
        ra, rb = sa.get(key), sb.get(key)
        info = (ra or rb).info  # type: ignore[union-attr]
        if ra is None or rb is None:
            status = "only in B" if ra is None else "only in A"
        elif ra.constant and rb.constant:
            same = values_equal(ta.frames.values[key][0], tb.frames.values[key][0], tolerance)
            status = "same" if same else "different"
        elif ra.constant != rb.constant or ta.n_frames != tb.n_frames:
            status = "different"
        else:
            xs, ys = ta.frames.values[key], tb.frames.values[key]
            status = "same" if all(values_equal(x, y, tolerance) for x, y in zip(xs, ys, strict=True)) else "different"
        rows.append(TagDifference(info, _side(ra), _side(rb), status))
    rows.sort(key=lambda r: r.info.sort_key())
    return TagDiff(a.key, b.key, _label(a), _label(b), rows, tolerance)


# ----------------------------------------------------------------------------- helpers


def rows_to_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (RFC 4180, comma separated, header first) of ``rows``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(headers))
    for r in rows:
        w.writerow(["" if c is None else c for c in r])
    return buf.getvalue()


def iter_text_rows(rows: Sequence[TagSummary]) -> Iterator[list[str]]:
    """Table rows (tag, keyword, name, VR, constant/varies, value, min, max) of tag summaries."""
    for r in rows:
        yield [
            r.info.tag,
            r.info.key,
            r.info.name,
            r.info.vr,
            "constant" if r.constant else "varies",
            r.value,
            r.minimum,
            r.maximum,
        ]

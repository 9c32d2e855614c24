"""Inspect one file's header: every tag with its dictionary keyword and name, VR and value.

Names and keywords come from pydicom's data dictionary (never typed by hand);
private tags are shown only when asked, with their private creator. The
geometry of the file (size, spacing, origin, direction, pixel type) comes from
the same code that builds volumes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .elements import is_multivalue

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

__all__ = ["TagRecord", "TagRow", "FileReport", "tag_rows", "inspect_file", "format_value", "private_creator"]

MAX_VALUE_CHARS = 200


@dataclass(frozen=True, slots=True)
class TagRecord:
    """A data element's identity, the one tag record of the project: where it is and what the dictionary calls it.

    ``tag`` is ``"(gggg,eeee)"`` ("" for a row derived from a whole volume),
    ``path`` the sequence path of a nested element
    (``"SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]"``), "" at the top level.
    """

    tag: str
    keyword: str
    name: str
    vr: str
    private_creator: str = ""
    path: str = ""

    @property
    def group(self) -> int | None:
        """The group number (0x0008 of ``(0008,0016)``; None for a derived row)."""
        return int(self.tag[1:5], 16) if self.tag else None

    @property
    def element(self) -> int | None:
        """The element number (0x0016 of ``(0008,0016)``; None for a derived row)."""
        return int(self.tag[6:10], 16) if self.tag else None

    @property
    def is_private(self) -> bool:
        """Whether the tag is private (odd group)."""
        return bool(self.tag) and (self.group or 0) % 2 == 1


@dataclass(frozen=True, slots=True)
class TagRow(TagRecord):
    """One data element of a file as ``inspect`` shows it: its :class:`TagRecord` and its value as text."""

    value: str = ""


@dataclass
class FileReport:
    """Everything ``inspect`` shows about one file."""

    path: str
    size_bytes: int
    transfer_syntax_uid: str
    sop_class_uid: str
    image_shape: list[int] = field(default_factory=list)
    spacing: list[float] = field(default_factory=list)
    origin: list[float] = field(default_factory=list)
    direction: list[float] = field(default_factory=list)
    pixel_type: str = ""
    tags: list[TagRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``inspect --json`` prints)."""
        d = asdict(self)
        d["tags"] = [asdict(t) for t in self.tags]
        return d


def format_value(elem: DataElement) -> str:
    """A one-line text of an element's value (bytes and long values shortened)."""
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    try:
        v = elem.value
    except Exception as exc:  # noqa: BLE001
        return f"<unreadable value: {exc}>"
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    if is_multivalue(v):
        items = list(v)
        if items and isinstance(items[0], (bytes, bytearray)):
            return f"<{len(items)} binary values>"
        text = "\\".join(str(x) for x in items)
    else:
        text = str(v)
    text = text.replace("\n", " ").replace("\r", " ").replace("\x00", "")
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def private_creator(ds: Dataset, elem: DataElement) -> str:
    """The private creator of a private element ("" for a public one; the creator element names itself)."""
    tag = elem.tag
    if tag.group % 2 == 0:
        return ""
    if tag.element < 0x0100:  # the creator element itself
        return str(elem.value) if 0x10 <= tag.element <= 0xFF else ""
    creator_tag = (tag.group << 16) | (tag.element >> 8)
    try:
        c: DataElement | None = ds.get(creator_tag)  # pydicom types get() as Any | DataElement
    except Exception:  # noqa: BLE001
        return ""
    return str(c.value) if c is not None else "(no private creator)"


def tag_rows(ds: Dataset, *, private: bool = False, nested: bool = False, _path: str = "") -> Iterator[TagRow]:
    """Rows for the elements of ``ds`` (the file meta first), in tag order.

    With ``nested`` the items of sequences are flattened as rows with a
    ``path`` such as ``PerFrameFunctionalGroupsSequence[3].PlanePositionSequence[0]``.
    """
    from pydicom.datadict import keyword_for_tag

    meta = getattr(ds, "file_meta", None) if not _path else None
    sources = ([meta] if meta else []) + [ds]
    for src in sources:
        for elem in src:
            tag = elem.tag
            if tag.group % 2 == 1 and not private:
                continue
            if tag == 0x7FE00010:
                continue
            kw = keyword_for_tag(tag) or ""
            name = (
                elem.name
                if not (tag.group % 2 == 1 and elem.name in ("Private tag data", "Private Creator"))
                else ("Private Creator" if tag.element < 0x100 else "Private tag")
            )
            yield TagRow(
                tag=f"({tag.group:04X},{tag.element:04X})",
                keyword=kw,
                name=name,
                vr=str(elem.VR),
                value=format_value(elem),
                private_creator=private_creator(src, elem),
                path=_path,
            )
            if nested and elem.VR == "SQ":
                for i, item in enumerate(elem.value):
                    sub = f"{_path + '.' if _path else ''}{kw or f'({tag.group:04X},{tag.element:04X})'}[{i}]"
                    yield from tag_rows(item, private=private, nested=True, _path=sub)


def inspect_file(path: str | os.PathLike[str], *, private: bool = False) -> FileReport:
    """Report every tag of one file (no pixels read), with its geometry and pixel type.

    Raises
    ------
    NotDicomError
        If the file is not a readable DICOM file.
    """
    from .build import build_volumes
    from .scan import read_header

    f = read_header(path)
    rep = FileReport(
        path=f.path,
        size_bytes=f.size,
        transfer_syntax_uid=f.transfer_syntax_uid,
        sop_class_uid=f.sop_class_uid,
        tags=list(tag_rows(f.dataset, private=private)),
        warnings=list(f.warnings),
    )
    if f.is_image:
        vols = [v for v in build_volumes([f]) if v.is_image]
        if vols:
            v = vols[0]
            rep.image_shape = list(v.shape)
            rep.spacing = [round(x, 6) for x in v.spacing]
            rep.origin = [round(x, 6) for x in v.origin]
            rep.direction = [round(x, 6) for x in v.direction]
            rep.warnings += v.warning_messages
        signed = "int" if f.pixel_representation == 1 else "uint"
        rep.pixel_type = f"{signed}{f.bits_allocated}" + (f" x {f.samples_per_pixel} samples" if f.samples_per_pixel > 1 else "")
    return rep

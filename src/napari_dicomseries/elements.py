"""Element values: one accessor interface over both header readers, and the converters the scan uses.

A header is read either by the fast parser (:mod:`rawheader`: raw bytes per
tag) or by pydicom (a data set). :class:`RawItem` and :class:`DsItem` put one
interface over both — ``get(tag)`` (the value as pydicom gives it, plain
Python types, several values as a tuple or list), ``text(tag)`` (the value as
written), ``vr(tag)``, ``item(tag)`` and ``items(tag)`` for sequences — so
the frame builder (:func:`frame.build_frame`) and the enhanced multi-frame
reader (:mod:`enhanced`) read both the same way, and a test checks that both
give identical frames on every real file.

The converters (:func:`to_float`, :func:`floats`, :func:`orientation`, ...)
turn such values into the numbers a :class:`~frame.Frame` holds; a value that
cannot be converted counts as missing. Nothing here imports pydicom.
"""

from __future__ import annotations

import functools
import math
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .tags import VR

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "Item",
    "RawItem",
    "DsItem",
    "is_multivalue",
    "to_float",
    "to_int",
    "floats",
    "first",
    "orientation",
    "spacing",
    "image_type",
    "decode_text",
    "element_value",
    "Opaque",
    "ORTHOGONALITY_TOLERANCE",
    "MEMO_LIMIT",
    "remember",
    "memo_lookup",
]

#: Largest |cos| between the row and column directions of ImageOrientationPatient still taken as perpendicular.
ORTHOGONALITY_TOLERANCE = 0.01
#: Text VRs (``pydicom.valuerep.STR_VR``; a test checks it).
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"})
#: struct formats of the binary number VRs (pydicom's FLOAT_VR and INT_VR less DS, IS and AT; tested).
NUMBER_FORMATS = {"FD": "d", "FL": "f", "UL": "I", "US": "H", "SL": "i", "SS": "h", "SV": "q", "UV": "Q"}
_SIZES = {f: struct.calcsize(f) for f in NUMBER_FORMATS.values()}
#: SpecificCharacterSet values Python decodes directly (the default repertoire is read as Latin-1, as pydicom does).
_PLAIN_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
#: Entries a memo of converted values keeps before it starts afresh (see :func:`remember`).
MEMO_LIMIT = 4096


def remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """Store ``value`` under ``key`` in ``memo`` and return it; a memo holding :data:`MEMO_LIMIT` entries is emptied first.

    The scan converts and checks the values that repeat across the files of a series (orientation, spacing,
    rescale, descriptive text ...) once, keyed by their raw bytes. Only immutable values (numbers, strings,
    tuples, None) are stored, so files never share a mutable object; the bound keeps memory flat over an
    archive of millions of files (a value that changes in every file, at worst, empties its memo every
    :data:`MEMO_LIMIT` files).
    """
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


#: What a memo lookup gives for an element its memo does not hold (a memo may hold None).
_MISSED = object()


def _memo_lookup_py(d: dict[int, Any], specs: tuple[tuple[int, dict[Any, Any] | None, Any], ...]) -> tuple[list[Any], list[int]]:
    values: list[Any] = []
    missed: list[int] = []
    for i, (tag, memo, absent) in enumerate(specs):
        e = d.get(tag)
        if e is None:
            values.append(absent)
            continue
        v = _MISSED
        if memo is not None:
            try:
                v = memo.get(e, _MISSED)
            except TypeError:  # an unhashable element
                pass
        if v is _MISSED:
            missed.append(i)
            v = None
        values.append(v)
    return values, missed


_Lookup = Callable[[dict[int, Any], tuple[tuple[int, dict[Any, Any] | None, Any], ...]], tuple[list[Any], list[int]]]
_memo_lookup_c: _Lookup | None
try:  # the same loop in C (_walk.c), built with the package where a compiler is at hand
    from ._walk import lookup as _memo_lookup_c
except ImportError:  # pragma: no cover - depends on the build
    _memo_lookup_c = None

#: ``memo_lookup(d, specs) -> (values, missed)``: the values of the raw elements ``d`` (tag -> element) remembered
#: in per-tag memos. ``specs`` is a tuple of ``(tag, memo or None, absent)``: ``values[i]`` is ``absent`` when ``d``
#: has no element ``tag``, ``memo[d[tag]]`` when the memo holds it, else None with ``i`` listed in ``missed`` (the
#: caller converts those elements and :func:`remember` s them; a memo of None: converted for every file). The scan
#: reads most of a file's values this way (:func:`frame.build_raw_frame`, :func:`checks.raw_value_warnings`, the
#: descriptive texts), in C where the extension is built (one call instead of a Python loop over ~40 tags).
memo_lookup: _Lookup = _memo_lookup_c if _memo_lookup_c is not None else _memo_lookup_py


class Item(Protocol):
    """What the frame builder reads: a data set or a sequence item, from either reader."""

    def get(self, tag: int) -> Any:
        """The value of ``tag`` (None when absent, empty or unconvertible; sequences give None)."""

    def text(self, tag: int) -> str | None:
        """The value of ``tag`` as written (several values joined by backslashes), None when absent."""

    def vr(self, tag: int) -> str | None:
        """The VR of ``tag``, None when absent."""

    def item(self, tag: int) -> Item | None:
        """The first item of sequence ``tag``, or None."""

    def items(self, tag: int) -> list[Any]:
        """The items of sequence ``tag`` (empty when absent)."""

    def string(self, tag: int) -> str:
        """The value as a person reads it (character set applied), "" when absent."""

    def private(self, group: int, creator: str, elem: int) -> bytes | None:
        """The raw bytes of a private element of the block ``creator`` reserved, or None."""


# ----------------------------------------------------------------------------- the fast reader's bytes


class RawItem:
    """Elements read by :mod:`rawheader` (``tag -> (vr, bytes)``), converted on request as pydicom would.

    An element of an implicit VR file (no VR written) or written as ``UN`` is
    read with its dictionary VR (:data:`tags.VR`), as pydicom does.
    """

    __slots__ = ("d", "charset")

    def __init__(self, d: dict[int, tuple[bytes, Any]], charset: str = "") -> None:
        self.d = d
        self.charset = charset  # SpecificCharacterSet of the file, for string()

    def vr(self, tag: int) -> str | None:
        """The VR of ``tag`` (the dictionary's for an implicit or ``UN`` element), None when absent."""
        e = self.d.get(tag)
        if e is None:
            return None
        vr = e[0]
        if vr == b"" or vr == b"UN":
            return VR.get(tag, "UN")
        return _vr_text(vr)

    def get(self, tag: int) -> Any:
        """The value of ``tag``: text (a tuple when multi-valued), numbers, a tag as int; None when absent."""
        e = self.d.get(tag)
        if e is None:
            return None
        vr, b = e
        if vr == b"SQ":
            return None
        if vr == b"" or vr == b"UN":
            return convert_bytes(VR.get(tag, "UN"), b)
        return convert_bytes(_vr_text(vr), b)

    def text(self, tag: int) -> str | None:
        """The value as written (Latin-1, each value stripped, joined by backslashes); None when absent."""
        e = self.d.get(tag)
        if e is None or e[0] == b"SQ":
            return None
        t: str = e[1].decode("latin-1").strip("\x00 ")
        if "\\" not in t:
            return t
        return "\\".join([x.strip("\x00 ") for x in t.split("\\")])

    def string(self, tag: int) -> str:
        """The value as a person reads it: decoded with the file's character set, values joined by backslashes, stripped."""
        e = self.d.get(tag)
        if e is None or e[0] == b"SQ":
            return ""
        return decode_text(e[1], self.charset).strip()

    def private(self, group: int, creator: str, elem: int) -> bytes | None:
        """The bytes of private element ``(group, xx elem)`` of the block ``creator`` reserved (blocks 10-12 are read)."""
        for block in (0x10, 0x11, 0x12):
            e = self.d.get((group << 16) | block)
            if e is not None and e[1].decode("latin-1").strip("\x00 ") == creator:
                found = self.d.get((group << 16) | (block << 8) | elem)
                return found[1] if found is not None else None
        return None

    def item(self, tag: int) -> RawItem | None:
        """The first item of sequence ``tag``, or None."""
        e = self.d.get(tag)
        if e is None or e[0] != b"SQ" or not e[1]:
            return None
        return RawItem(e[1][0])

    def items(self, tag: int) -> list[RawItem]:
        """The items of sequence ``tag`` (empty when absent)."""
        e = self.d.get(tag)
        if e is None or e[0] != b"SQ":
            return []
        return [RawItem(x) for x in e[1]]


@functools.lru_cache(maxsize=64)
def _vr_text(vr: bytes) -> str:
    """A VR as text (the few VRs of a header, decoded once)."""
    return vr.decode("ascii", "replace")


@functools.lru_cache(maxsize=8192)
def convert_bytes(vr: str, b: bytes) -> Any:
    """A raw value as pydicom gives it: text (a tuple when multi-valued), numbers, or an AT tag as an int.

    Cached: the frames of one file repeat most values (orientation, spacing, rescale ...).
    """
    fmt = NUMBER_FORMATS.get(vr)
    if fmt:
        size = _SIZES[fmt]
        n = len(b) // size
        if n == 0:
            return None
        vals = struct.unpack(f"<{n}{fmt}", b[: n * size])
        return vals[0] if n == 1 else vals
    if vr == "AT":
        n = len(b) // 4
        tags = tuple((g << 16) | e for g, e in struct.iter_unpack("<HH", b[: n * 4]))
        return (tags[0] if n == 1 else tags) if n else None
    if vr in TEXT_VRS:
        text = b.decode("latin-1")
        if vr not in ("LT", "ST", "UT"):
            text = text.strip("\x00 ")
            if not text:
                return None
            parts = tuple(x.strip("\x00 ") for x in text.split("\\"))
            return parts if len(parts) > 1 else parts[0]
        text = text.rstrip("\x00 ")
        return text or None
    return b


def decode_text(b: bytes, charset: str) -> str:
    """Text bytes decoded with SpecificCharacterSet ``charset`` (backslash-separated terms), values split as pydicom does.

    Each value is stripped of trailing padding and the values are joined by
    backslashes. Latin-1 and UTF-8 are decoded here; other character sets
    (ISO 2022 escapes, GB18030, ...) through pydicom, imported for those files only.
    """
    encoding = _PLAIN_CHARSETS.get(charset.strip())
    if encoding is not None and b"\\" not in b:  # one value: the common case
        return b.decode(encoding, "replace").rstrip("\x00 ")
    if encoding is not None:
        parts = [p.decode(encoding, "replace") for p in b.split(b"\\")]
    else:
        import warnings

        from pydicom.charset import convert_encodings, decode_bytes
        from pydicom.valuerep import TEXT_VR_DELIMS

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                encodings = convert_encodings([x.strip() for x in charset.split("\\")])
                parts = [decode_bytes(p, encodings, TEXT_VR_DELIMS) for p in b.split(b"\\")]
        except Exception:  # noqa: BLE001 - a character set pydicom cannot use either: read as Latin-1
            parts = [p.decode("latin-1") for p in b.split(b"\\")]
    return "\\".join(p.rstrip("\x00 ") for p in parts)


# ----------------------------------------------------------------------------- pydicom's data sets


class DsItem:
    """A pydicom data set behind the same interface; a value pydicom cannot convert counts as missing."""

    __slots__ = ("ds",)

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def _elem(self, tag: int) -> Any:
        try:
            return self.ds.get(tag)
        except Exception:  # noqa: BLE001 - a damaged value counts as missing
            return None

    def vr(self, tag: int) -> str | None:
        """The VR of ``tag``, None when absent."""
        e = self._elem(tag)
        return None if e is None else str(e.VR)

    def get(self, tag: int) -> Any:
        """The value of ``tag`` in the raw reader's types (text as str, numbers, a tag as int); None when absent."""
        e = self._elem(tag)
        if e is None:
            return None
        try:
            v = e.value
        except Exception:  # noqa: BLE001
            return None
        if e.VR == "SQ" or v is None or v == "":
            return None
        if is_multivalue(v):
            vals = [_plain(x) for x in v]
            return vals if len(vals) > 1 else (vals[0] if vals else None)
        return _plain(v)

    def text(self, tag: int) -> str | None:
        """The value as text, without pydicom's conversion (several values joined by backslashes); None when absent."""
        try:
            elem = self.ds.get_item(tag)
        except Exception:  # noqa: BLE001 - unreadable element: treat as absent
            return None
        if elem is None:
            return None
        v = elem.value
        if isinstance(v, bytes):
            return v.decode("latin-1")
        if v is None:
            return None
        if is_multivalue(v):
            return "\\".join(str(x) for x in v)
        return str(v)

    def string(self, tag: int) -> str:
        """The value as a person reads it (pydicom's text, values joined by backslashes, stripped); "" when absent."""
        e = self._elem(tag)
        try:
            v = e.value if e is not None else None
        except Exception:  # noqa: BLE001 - a damaged value counts as missing
            return ""
        if v is None:
            return ""
        if is_multivalue(v):
            return "\\".join(str(x) for x in v)
        return str(v).strip()

    def private(self, group: int, creator: str, elem: int) -> bytes | None:
        """The raw bytes of private element ``(group, xx elem)`` of the block reserved by ``creator``."""
        try:
            value = self.ds.get_private_item(group, elem, creator).value
        except (KeyError, ValueError, TypeError):
            return None
        if isinstance(value, bytes):
            return value
        if isinstance(value, int):  # a US value pydicom already converted
            return struct.pack("<H", value)
        if isinstance(value, str):  # a text value pydicom's private dictionary already converted
            return value.encode("latin-1", "replace")
        return None

    def item(self, tag: int) -> DsItem | None:
        """The first item of sequence ``tag``, or None."""
        e = self._elem(tag)
        try:
            seq = e.value if e is not None and e.VR == "SQ" else None
            return DsItem(seq[0]) if seq else None
        except Exception:  # noqa: BLE001
            return None

    def items(self, tag: int) -> list[DsItem]:
        """The items of sequence ``tag`` (empty when absent)."""
        e = self._elem(tag)
        try:
            return [DsItem(x) for x in e.value] if e is not None and e.VR == "SQ" else []
        except Exception:  # noqa: BLE001
            return []


def _plain(v: Any) -> Any:
    """A pydicom value as the raw reader gives it (text as str, numbers as int/float, a tag as int)."""
    from pydicom.tag import BaseTag
    from pydicom.valuerep import IS, DSdecimal, DSfloat

    if isinstance(v, BaseTag):
        return int(v)
    if isinstance(v, (DSfloat, DSdecimal, IS)):
        s = getattr(v, "original_string", None)
        return s.strip() if isinstance(s, str) else str(v)
    if isinstance(v, (bytes, int, float)):
        return v
    return str(v).strip("\x00 ")


# ----------------------------------------------------------------------------- converters


def is_multivalue(v: Any) -> bool:
    """True for a multi-valued element value (pydicom MultiValue, list, tuple), not for text or a PersonName."""
    if isinstance(v, (list, tuple)):
        return True
    multival = sys.modules.get("pydicom.multival")  # a MultiValue exists only once pydicom is imported
    return multival is not None and isinstance(v, multival.MultiValue)


def to_float(v: Any) -> float | None:
    """A finite float from ``v``, or None."""
    if v is None:  # the usual missing value, without the cost of an exception
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def to_int(v: Any) -> int | None:
    """An int from ``v`` (``"3.0"`` gives 3), or None."""
    if v is None:
        return None
    try:
        return int(float(v))
    except (TypeError, ValueError, OverflowError):
        return None


def floats(v: Any, n: int) -> tuple[float, ...] | None:
    """Exactly ``n`` finite floats from ``v``, or None."""
    if v is None:
        return None
    try:
        vals = [float(x) for x in (v if is_multivalue(v) else [v])]
    except (TypeError, ValueError):
        return None
    if len(vals) != n or not all(math.isfinite(x) for x in vals):
        return None
    return tuple(vals)


def first(v: Any) -> Any:
    """The first value of a multi-valued ``v``, else ``v``."""
    if v is None:
        return None
    if is_multivalue(v):
        v = list(v)
        return v[0] if v else None
    return v


def orientation(v: Any) -> tuple[float, float, float, float, float, float] | None:
    """ImageOrientationPatient as two unit vectors, or None unless six numbers give two perpendicular directions."""
    o = floats(v, 6)
    if o is None:
        return None
    r = sum(x * x for x in o[:3]) ** 0.5
    c = sum(x * x for x in o[3:]) ** 0.5
    if r < 1e-6 or c < 1e-6:
        return None
    if abs(sum(a * b for a, b in zip(o[:3], o[3:], strict=True))) / (r * c) > ORTHOGONALITY_TOLERANCE:
        return None  # row and column not perpendicular: no usable plane
    return (o[0] / r, o[1] / r, o[2] / r, o[3] / c, o[4] / c, o[5] / c)


def spacing(v: Any) -> tuple[float, float] | None:
    """A PixelSpacing-like pair of positive numbers, or None."""
    s = floats(v, 2)
    return (s[0], s[1]) if s is not None and s[0] > 0 and s[1] > 0 else None


def image_type(v: Any) -> tuple[str, ...]:
    """ImageType (or FrameType) values, upper case, stripped."""
    if v is None:
        return ()
    if isinstance(v, str):
        return tuple(x.strip().upper() for x in v.split("\\"))
    try:
        return tuple(str(x).strip().upper() for x in v)
    except TypeError:
        return (str(v).upper(),)


# ----------------------------------------------------------------------------- element values as data

_FLOAT_VRS = frozenset({"DS", "FL", "FD", "OF", "OD"})
_INT_VRS = frozenset({"IS", "US", "SS", "UL", "SL", "UV", "SV"})
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"})


@dataclass(frozen=True, slots=True)
class Opaque:
    """A value that is not data to show or compare: binary bytes, a sequence, or unreadable (``text`` says which)."""

    text: str


def element_value(elem: Any, *, strip: bool = False) -> Any:
    """The value of a pydicom data element as JSON-friendly data: the one converter of the project.

    Decimal and float VRs become floats, integer VRs ints, everything else
    text (``strip`` removes surrounding spaces); multi-valued elements give
    lists. An empty element gives None. Binary values, sequences and values
    pydicom cannot read give an :class:`Opaque` saying so (``"<n bytes>"``,
    ``"<n binary values>"``, ``"<sequence>"``, ``"<unreadable>"``): the
    per-slice table shows that text, the sidecar leaves such elements out.

    Parameters
    ----------
    elem : pydicom.dataelem.DataElement
        The element.
    strip : bool
        Strip surrounding spaces from text values.
    """
    vr = str(elem.VR)
    try:
        v = elem.value
    except Exception:  # noqa: BLE001 - whatever pydicom raises, the value is unreadable
        return Opaque("<unreadable>")
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return Opaque(f"<{len(v)} bytes>")
    if vr == "SQ":
        return Opaque("<sequence>")
    multi = is_multivalue(v)
    items = list(v) if multi else [v]
    if items and isinstance(items[0], (bytes, bytearray)):
        return Opaque(f"<{len(items)} binary values>")
    if vr in _BINARY_VRS:
        return Opaque(f"<{vr} value>")
    out: list[Any] = []
    for x in items:
        if hasattr(x, "VR"):  # a nested data set
            return Opaque("<sequence>")
        if vr in _FLOAT_VRS or vr in _INT_VRS:
            try:
                x = float(x) if vr in _FLOAT_VRS else int(x)
            except (TypeError, ValueError):
                x = str(x).strip() if strip else str(x)
        else:
            x = str(x).strip() if strip else str(x)
        out.append(x)
    return out if multi else out[0]

"""A fast, minimal reader of a DICOM file's top-level header elements.

The scan needs some thirty tags of each file. pydicom builds a full data set
and converts values through its hooks, which costs about a millisecond per
file; this reader walks the top-level elements of little-endian files with
``struct``, skips sequences (defined or undefined length) without building
them, keeps the raw bytes of the tags asked for, and stops at the pixel data
(recording its offset). Anything it does not handle (big endian, deflate, odd
encodings) returns ``None`` so the caller falls back on pydicom; it never guesses.

Top-level sequences named in ``parse(..., sequences=...)`` (an enhanced
multi-frame file's functional groups) are read into nested items instead of
being skipped: explicit VR little endian only, every element's raw bytes kept
(``RawHeader.sequences``), values converted by the caller.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from . import uids

__all__ = ["RawHeader", "RawItem", "parse", "LONG_VRS", "CHUNK"]

#: VRs with a 32-bit length in an explicit VR element header (``pydicom.valuerep.EXPLICIT_VR_LENGTH_32``; tested).
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
IMPLICIT_LE = uids.ImplicitVRLittleEndian
#: Transfer syntaxes whose data set is explicit VR little endian (the JPEG family and RLE encapsulate only the pixels).
_EXPLICIT_LE_PREFIXES = (uids.ExplicitVRLittleEndian, "1.2.840.10008.1.2.4.", uids.RLELossless)
#: Bytes read at once from the start of a file (most headers fit).
CHUNK = 4096
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")
#: An element header read at once: group, element, the two VR bytes, the 16-bit length, the 32-bit length of a long VR.
_ELEM = struct.Struct("<HH2sHI")
#: Size of an explicit VR element header by its VR bytes: 12 for a long VR (32-bit length), 8 for any other pair of
#: capital letters; anything else is not a VR (the element-by-element checks this table replaces, precomputed).
_HEADER_SIZE = {bytes((a, b)): 12 if bytes((a, b)) in LONG_VRS else 8 for a in range(65, 91) for b in range(65, 91)}


#: The same 12 bytes for the top-level loop: the tag as one little-endian 32-bit number (element << 16 | group, see
#: :func:`_kinds`), the VR as a 16-bit number (its two bytes, little endian), the 16-bit and the 32-bit length.
_ELEM_FAST = struct.Struct("<IHHI")
#: ``_HEADER_SIZE`` keyed by the VR as a 16-bit number, and the VR bytes of each such number.
_HEADER_SIZE_16 = {_U16.unpack(vr)[0]: size for vr, size in _HEADER_SIZE.items()}
_VR_BYTES = {_U16.unpack(vr)[0]: vr for vr in _HEADER_SIZE}
_PIXEL, _SEQUENCE, _WANTED = 0, 1, 2
#: :func:`_kinds` of the frozen tag sets asked for (the scan asks with the same sets for every file).
_KINDS_MEMO: dict[tuple[frozenset[int], frozenset[int]], tuple[dict[int, tuple[int, int]], bytes]] = {}

_walk_c: Callable[..., int] | None
_meta_c: Callable[[bytes | bytearray, int], tuple[int, bytes | None] | None] | None
try:  # the element walk in C (``_walk.c``), built when the package is installed with a C compiler at hand
    from ._walk import meta as _meta_c
    from ._walk import walk as _walk_c
except ImportError:  # pragma: no cover - no compiler at install time: the same loops in Python
    _walk_c = _meta_c = None


def _kinds(wanted: set[int] | frozenset[int], sequences: set[int] | frozenset[int]) -> tuple[dict[int, tuple[int, int]], bytes]:
    """What the top-level loop does with each tag it looks for: ``swapped tag -> (_PIXEL | _SEQUENCE | _WANTED, tag)``.

    Keyed by the tag as :data:`_ELEM_FAST` reads it (element << 16 | group); a pixel tag wins over a sequence
    asked for, which wins over a wanted tag, as in the checks this table replaces. Also the table's keys as sorted
    little-endian 32-bit numbers (for the C walk). Built once per pair of frozensets, else per call.
    """
    key = (wanted, sequences) if isinstance(wanted, frozenset) and isinstance(sequences, frozenset) else None
    if key is not None:
        found = _KINDS_MEMO.get(key)
        if found is not None:
            return found
    kinds: dict[int, tuple[int, int]] = {}
    for what, tags in ((_WANTED, wanted), (_SEQUENCE, sequences), (_PIXEL, PIXEL_TAGS)):
        for tag in tags:
            kinds[((tag & 0xFFFF) << 16) | (tag >> 16)] = (what, tag)
    out = kinds, struct.pack(f"<{len(kinds)}I", *sorted(kinds))
    if key is not None:
        if len(_KINDS_MEMO) > 16:
            _KINDS_MEMO.clear()
        _KINDS_MEMO[key] = out
    return out


class _NeedMore(Exception):
    pass


class _Unsupported(Exception):
    pass


#: One item of a sequence: ``item[tag] = (vr, raw value bytes)``, or ``(b"SQ", [items])`` for a nested sequence.
RawItem = dict[int, tuple[bytes, bytes | list]]


@dataclass(slots=True)
class RawHeader:
    """Top-level elements of one file: ``values[tag] = (vr or b"", raw value bytes)`` for the wanted tags.

    ``sequences[tag]`` holds the items of each top-level sequence asked for (see :func:`parse`). ``present``
    holds the tags asked for (wanted, sequences, pixel data) that the file has at its top level, whatever
    their length (an undefined-length sequence among the wanted tags is present but has no value).
    """

    transfer_syntax_uid: str
    explicit: bool
    values: dict[int, tuple[bytes, bytes]]
    present: set[int]
    pixel_offset: int | None
    has_meta: bool
    sequences: dict[int, list[RawItem]] = field(default_factory=dict)
    #: the first 12 bytes of the pixel data element when they were read with the header (None when not)
    pixel_element: bytes | None = None


class _Buf:
    """The bytes of a file read so far: the first read as it came (no copy), a bytearray once more is read."""

    def __init__(self, fh: BinaryIO, first: bytes) -> None:
        self.fh = fh
        self.data: bytes | bytearray = first
        self.eof = len(first) < CHUNK

    def need(self, end: int) -> None:
        while end > len(self.data):
            if self.eof:
                raise _NeedMore
            more = self.fh.read(max(CHUNK, end - len(self.data), len(self.data)))
            if not more:
                self.eof = True
                raise _NeedMore
            self.growable()
            self.data += more

    def growable(self) -> bytearray:
        """``data`` as a bytearray, which :meth:`need` extends in place from then on."""
        if not isinstance(self.data, bytearray):
            self.data = bytearray(self.data)
        return self.data


def _skip_undefined(buf: _Buf, p: int, explicit: bool, depth: int = 0) -> int:
    """Skip a sequence (or encapsulated data) of undefined length starting at ``p``; return the end."""
    if depth > 16:
        raise _Unsupported
    while True:
        buf.need(p + 8)
        g, e = _TAG.unpack_from(buf.data, p)
        tag = (g << 16) | e
        (length,) = _U32.unpack_from(buf.data, p + 4)
        p += 8
        if tag == SEQ_END:
            return p
        if tag != ITEM:
            raise _Unsupported
        if length != 0xFFFFFFFF:
            p += length
            continue
        p = _skip_elements(buf, p, explicit, depth + 1)


def _skip_elements(buf: _Buf, p: int, explicit: bool, depth: int) -> int:
    """Skip the elements of an item of undefined length; return the position after its delimiter."""
    data = buf.growable()  # extended in place by buf.need()
    elem_at, u32_at, long_vrs = _ELEM.unpack_from, _U32.unpack_from, LONG_VRS
    while True:
        if p + 12 > len(data):  # near the end of the bytes read so far: the careful way
            buf.need(p + 8)
            g, e = _TAG.unpack_from(data, p)
            if (g << 16) | e == ITEM_END:
                return p + 8
            p, length, _vr = _element_header(buf, p, explicit, g)
        else:
            g, e, vr, short, long = elem_at(data, p)
            if g == 0xFFFE and e == 0xE00D:  # item delimiter
                return p + 8
            if not explicit or g == 0xFFFE:
                p, length = p + 8, u32_at(data, p + 4)[0]
            elif vr in long_vrs:
                p, length = p + 12, long
            elif 65 <= vr[0] <= 90 and 65 <= vr[1] <= 90:
                p, length = p + 8, short
            else:
                raise _Unsupported
        if length == 0xFFFFFFFF:
            p = _skip_undefined(buf, p, explicit, depth)
        else:
            p += length


def _element_header(buf: _Buf, p: int, explicit: bool, group: int) -> tuple[int, int, bytes]:
    buf.need(p + 12)
    if explicit and group != 0xFFFE:
        vr = bytes(buf.data[p + 4 : p + 6])
        if vr in LONG_VRS:
            return p + 12, _U32.unpack_from(buf.data, p + 8)[0], vr
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise _Unsupported
        return p + 8, _U16.unpack_from(buf.data, p + 6)[0], vr
    return p + 8, _U32.unpack_from(buf.data, p + 4)[0], b""


def _read_items(data: bytes, p: int, length: int, depth: int = 0) -> tuple[list[RawItem], int]:
    """Read the items of an explicit VR sequence value starting at ``p`` in ``data``; return them and the end.

    ``data`` holds the rest of the file, so no bounds are fetched on the way: a value running past its end
    raises :class:`_NeedMore` (the file is cut short), any encoding this reader does not follow :class:`_Unsupported`.
    """
    if depth > 16:
        raise _Unsupported
    n = len(data)
    undefined = length == 0xFFFFFFFF
    end = n if undefined else p + length
    if end > n:
        raise _NeedMore
    tag_at, u32_at, u16_at = _TAG.unpack_from, _U32.unpack_from, _U16.unpack_from
    elem_at, header_size = _ELEM.unpack_from, _HEADER_SIZE
    items: list[RawItem] = []
    while p < end:
        if p + 8 > n:
            raise _NeedMore
        g, e = tag_at(data, p)
        (ilen,) = u32_at(data, p + 4)
        p += 8
        if g == 0xFFFE and e == 0xE0DD:  # sequence delimiter
            if not undefined:
                raise _Unsupported
            return items, p
        if g != 0xFFFE or e != 0xE000:
            raise _Unsupported
        item: RawItem = {}
        item_undefined = ilen == 0xFFFFFFFF
        iend = n if item_undefined else p + ilen
        while p < iend:
            if p + 8 > n:
                raise _NeedMore
            if p + 12 <= n:  # the whole element header at hand (the usual case): read at once
                g, e, vr, short, vlen = elem_at(data, p)
                if g == 0xFFFE:
                    if e != 0xE00D or not item_undefined:
                        raise _Unsupported
                    p += 8
                    break
                size = header_size.get(vr)
                if size == 8:
                    vlen, start = short, p + 8
                elif size == 12:
                    start = p + 12
                else:
                    raise _Unsupported
            else:
                g, e = tag_at(data, p)
                if g == 0xFFFE:
                    if e != 0xE00D or not item_undefined:
                        raise _Unsupported
                    p += 8
                    break
                vr = data[p + 4 : p + 6]
                if vr in LONG_VRS:
                    raise _NeedMore  # p + 12 > n
                if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                    raise _Unsupported
                (vlen,) = u16_at(data, p + 6)
                start = p + 8
            if vr == b"SQ":
                item[(g << 16) | e], p = _read_items_sq(data, start, vlen, depth + 1)
                continue
            if vlen == 0xFFFFFFFF:
                raise _Unsupported  # undefined-length UN (implicit VR inside): pydicom decides
            p = start + vlen
            if p > n:
                raise _NeedMore
            item[(g << 16) | e] = (vr, data[start:p])
        else:
            if item_undefined or p != iend:
                raise _NeedMore if item_undefined else _Unsupported
        items.append(item)
    if undefined or p != end:
        raise _NeedMore if undefined else _Unsupported
    return items, p


def _read_items_sq(data: bytes, p: int, length: int, depth: int) -> tuple[tuple[bytes, list[RawItem]], int]:
    items, end = _read_items(data, p, length, depth)
    return (b"SQ", items), end


def parse(
    fh: BinaryIO,
    wanted: set[int] | frozenset[int],
    sequences: frozenset[int] | set[int] = frozenset(),
    first: bytes | None = None,
) -> RawHeader | None:
    """Parse the header of an open file; ``None`` when pydicom should do it instead.

    ``wanted`` top-level tags keep their raw bytes; the top-level sequences in
    ``sequences`` are read into items (explicit VR files only; in an implicit
    VR file, or a sequence encoded in a way this reader does not follow, the
    result is ``None``). ``first``: the first :data:`CHUNK` bytes of the file
    (all of it when shorter) when the caller has read them, ``fh`` positioned
    after them; else the file is read from its start.
    """
    try:
        return _parse(fh, wanted, sequences, first)
    except (_NeedMore, _Unsupported, struct.error, UnicodeDecodeError, IndexError):
        return None


def _parse(
    fh: BinaryIO,
    wanted: set[int] | frozenset[int],
    sequences: frozenset[int] | set[int] = frozenset(),
    first: bytes | None = None,
) -> RawHeader | None:
    if first is None:
        fh.seek(0)
        first = fh.read(CHUNK)
    buf = _Buf(fh, first)
    head = buf.data
    has_meta = len(head) >= 132 and head[128:132] == b"DICM"
    p = 132 if has_meta else 0
    ts = ""
    if has_meta:
        # (the meta group in C only with the element walk in C: switching ``_walk_c`` off switches both off)
        plain = _meta_c(buf.data, p) if _meta_c is not None and _walk_c is not None else None
        if plain is not None:  # the meta group in C (the usual case)
            p, raw_ts = plain
            ts = "" if raw_ts is None else raw_ts.decode("ascii").strip("\x00 ")
        else:
            while True:
                if p + 12 <= len(buf.data):  # the element header at hand (the usual case): read at once
                    g, e, vr, short, long = _ELEM.unpack_from(buf.data, p)
                    if g != 0x0002:
                        break
                    size = _HEADER_SIZE.get(vr)
                    if size is None:
                        raise _Unsupported
                    start, length = (p + 8, short) if size == 8 else (p + 12, long)
                else:
                    buf.need(p + 8)
                    g, e = _TAG.unpack_from(buf.data, p)
                    if g != 0x0002:
                        break
                    start, length, _vr = _element_header(buf, p, True, g)
                if length == 0xFFFFFFFF:
                    raise _Unsupported
                buf.need(start + length)
                if e == 0x0010:
                    ts = bytes(buf.data[start : start + length]).decode("ascii").strip("\x00 ")
                p = start + length
        if ts == IMPLICIT_LE:
            explicit = False
        elif ts.startswith(_EXPLICIT_LE_PREFIXES) and ts != uids.DeflatedExplicitVRLittleEndian:
            explicit = True
        else:
            return None  # big endian, deflate, unknown: pydicom decides
    else:
        buf.need(8)
        g, _e = _TAG.unpack_from(buf.data, 0)
        if g not in (0x0002, 0x0008):
            return None
        explicit = bytes(buf.data[4:6]).isalpha() and bytes(buf.data[4:6]).isupper()
        ts = uids.ExplicitVRLittleEndian if explicit else IMPLICIT_LE
        if g == 0x0002:
            return None  # a meta group without preamble: let pydicom sort it out
    values: dict[int, tuple[bytes, bytes]] = {}
    seqs: dict[int, list[RawItem]] = {}
    present: set[int] = set()
    pixel_offset = None
    # The loop below is the hot path of the scan (a hundred elements or more per file, most of them not kept): one
    # unpack per element header (tag as one swapped 32-bit number, VR as a 16-bit number: no bytes object made for
    # an element not kept) and one dict look-up says whether the element is kept; bounds are checked against the
    # bytes at hand and more read only when an element runs past them. The order of the checks (8 bytes, pixel tag,
    # item tag, VR, sequence asked for, wanted) is that of the element-by-element reader this loop replaces.
    kinds, keys = _kinds(wanted, sequences)
    elem_at, header_size, vr_bytes = _ELEM_FAST.unpack_from, _HEADER_SIZE_16, _VR_BYTES
    add = present.add
    data = bytes(buf.data)  # the bytes read so far (slices of bytes are bytes: one copy per value kept)
    n = len(data)
    walk = _walk_c
    while True:
        if walk is not None:  # the plain elements in C; the loop below takes the element it stopped at
            p = walk(data, p, explicit, keys, kinds, values, present)
        if p + 12 > n:  # near the end of the bytes read so far: the careful way
            try:
                buf.need(p + 8)
            except _NeedMore:
                if p == len(buf.data):
                    break  # a clean end: no pixel data
                raise
            data = bytes(buf.data)
            g, e = _TAG.unpack_from(data, p)
            tag = (g << 16) | e
            if tag in PIXEL_TAGS:
                pixel_offset = p
                add(tag)
                break
            if g == 0xFFFE:
                raise _Unsupported
            buf.need(p + 12)
            data = bytes(buf.data)
            n = len(data)
        swapped, vr16, short, long = elem_at(data, p)
        kind = kinds.get(swapped)  # None: an element not kept; else (what, tag)
        if kind is not None and kind[0] == _PIXEL:
            pixel_offset = p
            add(kind[1])
            break
        if swapped & 0xFFFF == 0xFFFE:
            raise _Unsupported
        if explicit:
            size = header_size.get(vr16)  # 12 for a long VR, 8 for another VR, None for bytes that are no VR
            if size == 8:
                start, length = p + 8, short
            elif size == 12:
                start, length = p + 12, long
            else:
                raise _Unsupported
        else:
            start, length = p + 8, vr16 | (short << 16)
        if kind is not None:
            what, tag = kind
            add(tag)
            vr = vr_bytes[vr16] if explicit else b""
            if what == _SEQUENCE:  # a sequence asked for (pixel tags were handled above)
                if not explicit or vr != b"SQ":
                    raise _Unsupported
                if not buf.eof:  # functional groups: the rest of the header is wanted, read the file at once
                    buf.data += fh.read()
                    buf.eof = True
                data = bytes(buf.data)
                n = len(data)
                seqs[tag], p = _read_items(data, start, length)
                continue
            if length != 0xFFFFFFFF:  # wanted
                p = start + length
                if p > n:
                    buf.need(p)
                    data = bytes(buf.data)
                    n = len(data)
                values[tag] = (vr, data[start:p])
                continue
        if length == 0xFFFFFFFF:
            p = _skip_undefined(buf, start, explicit)
            if len(buf.data) != n:  # read further while skipping
                data = bytes(buf.data)
                n = len(data)
            continue
        p = start + length
    tail = data[pixel_offset : pixel_offset + 12] if pixel_offset is not None and pixel_offset + 12 <= n else None
    return RawHeader(ts, explicit, values, present, pixel_offset, has_meta, seqs, tail)

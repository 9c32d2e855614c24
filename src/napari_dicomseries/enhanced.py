"""Enhanced multi-frame headers: one :class:`~napari_dicomseries.scan.Frame` per frame from the functional groups.

An enhanced file (Enhanced MR/CT/PET, Legacy Converted Enhanced) keeps each
frame's geometry, rescale, echo, diffusion and dimension indices in the items
of PerFrameFunctionalGroupsSequence (one item per frame) and
SharedFunctionalGroupsSequence (values common to all frames). Large files hold
tens of thousands of elements there, and building them as pydicom data sets
costs a quarter of a second per file; so the scan reads them with the fast
little-endian parser (:func:`rawheader.parse` with ``sequences``) and
:func:`frames_from_raw` converts only the values it needs.
:func:`frames_from_dataset` does the same from a pydicom data set (big
endian, implicit VR or otherwise odd files); both go through one function,
:func:`_build`, through two small accessors, so they give identical frames
(a test checks this on every enhanced file of the real test data).

Dimensions: DimensionIndexSequence names what each value of a frame's
DimensionIndexValues counts (Stack ID, In-Stack Position Number, Temporal
Position Index, Effective Echo Time, a private label type ...). Each frame
keeps the indices, the dimension names and the values they point to, so the
volume builder can arrange frames by what varies and name that axis.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import rawheader
from . import scan as _scan

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from .scan import Frame

__all__ = ["SEQUENCES", "GROUP_TAGS", "SPATIAL_DIMENSIONS", "frames_from_raw", "frames_from_dataset", "dimension_name"]

PER_FRAME = 0x52009230
SHARED = 0x52009229
DIMENSION_INDEX = 0x00209222
#: Top-level sequences the fast parser reads into items for an enhanced file.
SEQUENCES = frozenset({PER_FRAME, SHARED, DIMENSION_INDEX})
#: Tags that make a file enhanced.
GROUP_TAGS = frozenset({PER_FRAME, SHARED})
#: Dimension pointers that place a frame in space (StackID, InStackPositionNumber): not a time axis.
SPATIAL_DIMENSIONS = frozenset({0x00209056, 0x00209057})
EFFECTIVE_ECHO_TIME = 0x00189082

# functional groups and the attributes read from them
_PLANE_POSITION, _PLANE_ORIENTATION, _PIXEL_MEASURES = 0x00209113, 0x00209116, 0x00289110
_FRAME_CONTENT, _PIXEL_VALUE, _VOI = 0x00209111, 0x00289145, 0x00289132
_MR_ECHO, _MR_DIFFUSION, _CARDIAC = 0x00189114, 0x00189117, 0x00189118
_FRAME_TYPES = (0x00189226, 0x00189329, 0x00209071)  # MRImageFrameType, CTImageFrameType, FrameType(Sequence)
_IPP, _IOP, _PIXEL_SPACING, _THICKNESS, _SBS = 0x00200032, 0x00200037, 0x00280030, 0x00180050, 0x00180088
_INSTANCE, _ACQUISITION, _ECHO_NUMBERS, _IMAGE_TYPE, _FRAME_TYPE = 0x00200013, 0x00200012, 0x00180086, 0x00080008, 0x00089007
_TEMPORAL_INDEX, _DIM_VALUES, _TRIGGER_DELAY = 0x00209128, 0x00209157, 0x00209153
_SLOPE, _INTERCEPT, _CENTER, _WIDTH = 0x00281053, 0x00281052, 0x00281050, 0x00281051
_B_VALUE, _DIRECTIONALITY, _DIRECTION_SEQ, _ORIENTATION = 0x00189087, 0x00189075, 0x00189076, 0x00189089
_DIM_POINTER, _GROUP_POINTER, _DIM_CREATOR, _GROUP_CREATOR, _DIM_LABEL = (
    0x00209165,
    0x00209167,
    0x00209213,
    0x00209238,
    0x00209421,
)

_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_NUMBER_FORMATS = {"FD": "d", "FL": "f", "UL": "I", "US": "H", "SL": "i", "SS": "h", "SV": "q", "UV": "Q"}
_SIZES = {f: struct.calcsize(f) for f in _NUMBER_FORMATS.values()}


# ----------------------------------------------------------------------------- accessors


class _RawItem:
    """An item read by :mod:`rawheader`: values converted on request, as pydicom would give them."""

    __slots__ = ("d",)

    def __init__(self, d: dict[int, tuple[bytes, Any]]) -> None:
        self.d = d

    def vr(self, tag: int) -> str | None:
        e = self.d.get(tag)
        return None if e is None else e[0].decode("ascii", "replace")

    def get(self, tag: int) -> Any:
        e = self.d.get(tag)
        if e is None:
            return None
        vr, b = e
        if vr == b"SQ":
            return None
        return _convert_bytes(vr.decode("ascii", "replace"), b)

    def item(self, tag: int) -> _RawItem | None:
        e = self.d.get(tag)
        if e is None or e[0] != b"SQ" or not e[1]:
            return None
        return _RawItem(e[1][0])

    def items(self, tag: int) -> list[_RawItem]:
        e = self.d.get(tag)
        if e is None or e[0] != b"SQ":
            return []
        return [_RawItem(x) for x in e[1]]


@functools.lru_cache(maxsize=8192)
def _convert_bytes(vr: str, b: bytes) -> Any:
    """A raw value as pydicom gives it: text (a tuple when multi-valued), numbers, or an AT tag as an int.

    Cached: the frames of one file repeat most values (orientation, spacing, rescale ...).
    """
    fmt = _NUMBER_FORMATS.get(vr)
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
    if vr in _TEXT_VRS:
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


class _DsItem:
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
        e = self._elem(tag)
        return None if e is None else str(e.VR)

    def get(self, tag: int) -> Any:
        e = self._elem(tag)
        if e is None:
            return None
        try:
            v = e.value
        except Exception:  # noqa: BLE001
            return None
        if e.VR == "SQ" or v is None or v == "":
            return None
        if _scan.is_multivalue(v):
            vals = [_plain(x) for x in v]
            return vals if len(vals) > 1 else (vals[0] if vals else None)
        return _plain(v)

    def item(self, tag: int) -> _DsItem | None:
        e = self._elem(tag)
        try:
            seq = e.value if e is not None and e.VR == "SQ" else None
            return _DsItem(seq[0]) if seq else None
        except Exception:  # noqa: BLE001
            return None

    def items(self, tag: int) -> list[_DsItem]:
        e = self._elem(tag)
        try:
            return [_DsItem(x) for x in e.value] if e is not None and e.VR == "SQ" else []
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


# ----------------------------------------------------------------------------- entry points


def frames_from_raw(
    path: str, raw: rawheader.RawHeader, sop_uid: str, nframes: int, rows: int, cols: int, warns: list[str]
) -> tuple[Frame, ...]:
    """The frames of an enhanced file read by :func:`rawheader.parse` with ``sequences=SEQUENCES``."""
    top = _RawItem(dict(raw.values))
    for tag, items in raw.sequences.items():
        top.d[tag] = (b"SQ", items)
    return _build(path, top, sop_uid, nframes, rows, cols, warns)


def frames_from_dataset(
    path: str, ds: Dataset, sop_uid: str, nframes: int, rows: int, cols: int, warns: list[str]
) -> tuple[Frame, ...]:
    """The frames of an enhanced file from its pydicom data set (the path for files the fast parser leaves)."""
    return _build(path, _DsItem(ds), sop_uid, nframes, rows, cols, warns)


#: Top-level tags :func:`frames_from_raw` reads besides the scan's own (``rawheader.parse`` ``wanted``).
TOP_TAGS = frozenset({_IPP, _IOP, _PIXEL_SPACING, _THICKNESS, _SBS, _INSTANCE, _ACQUISITION, _ECHO_NUMBERS, _IMAGE_TYPE,
                      _SLOPE, _INTERCEPT, _CENTER, _WIDTH})  # fmt: skip


def dimension_name(pointer: int, label: str | None) -> str:
    """The keyword of a dimension pointer (``TemporalPositionIndex``), else its label or its tag number."""
    from pydicom.datadict import keyword_for_tag

    kw = keyword_for_tag(pointer) if not (pointer >> 16) & 1 else ""
    return kw or (label or "").strip() or f"({pointer >> 16:04X},{pointer & 0xFFFF:04X})"


# ----------------------------------------------------------------------------- the one builder


def _private(item: Any, tag: int, creator: str | None) -> int | None:
    """The tag of private element ``tag`` in the block ``creator`` reserved in ``item`` (None if not there)."""
    group = tag >> 16
    if not group & 1 or not creator:
        return tag
    for block in range(0x10, 0x100):
        v = item.get((group << 16) | block)
        if v is None:
            continue
        if str(v).strip() == creator.strip():
            return (group << 16) | (block << 8) | (tag & 0xFF)
    return None


class _Dim:
    __slots__ = ("pointer", "group", "dim_creator", "group_creator", "name")

    def __init__(self, pointer: int, group: int | None, dim_creator: str | None, group_creator: str | None, name: str) -> None:
        self.pointer, self.group, self.dim_creator, self.group_creator, self.name = (
            pointer,
            group,
            dim_creator,
            group_creator,
            name,
        )


def _dimensions(top: Any) -> list[_Dim]:
    out = []
    for it in top.items(DIMENSION_INDEX):
        pointer = it.get(_DIM_POINTER)
        if not isinstance(pointer, int):
            return []  # a dimension without a usable pointer: indices cannot be interpreted
        group = it.get(_GROUP_POINTER)
        label = it.get(_DIM_LABEL)
        out.append(
            _Dim(
                pointer,
                group if isinstance(group, int) else None,
                _str_or_none(it.get(_DIM_CREATOR)),
                _str_or_none(it.get(_GROUP_CREATOR)),
                dimension_name(pointer, label if isinstance(label, str) else None),
            )
        )
    return out


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _dim_value(dim: _Dim, shared: Any, pf: Any, top: Any) -> Any:
    """The value a dimension points to in one frame: in its functional group (per-frame first), else at the top."""
    holders: list[Any] = []
    if dim.group is not None:
        for parent in (pf, shared):
            if parent is None:
                continue
            gtag = _private(parent, dim.group, dim.group_creator)
            holder = parent.item(gtag) if gtag is not None else None
            if holder is not None:
                holders.append(holder)
    else:
        holders.append(top)
    for h in holders:
        tag = _private(h, dim.pointer, dim.dim_creator or dim.group_creator)
        if tag is None:
            continue
        v = h.get(tag)
        if v is not None:
            vr = h.vr(tag)
            return _typed(vr, v)
    return None


def _typed(vr: str | None, v: Any) -> Any:
    """A dimension value in one form for both readers: numbers for DS/IS, stripped text, tuples for several values."""
    if isinstance(v, (list, tuple)):
        return tuple(_typed(vr, x) for x in v)
    if vr == "DS":
        f = _scan._float(v)
        return f if f is not None else str(v)
    if vr == "IS":
        i = _scan._int(v)
        return i if i is not None else str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (int, float)):
        return v
    return str(v).strip()


def _first_item(shared: Any, pf: Any, tag: int) -> Any:
    if pf is not None:
        it = pf.item(tag)
        if it is not None:
            return it
    return shared.item(tag) if shared is not None else None


def _g(item: Any, tag: int) -> Any:
    return None if item is None else item.get(tag)


def _build(path: str, top: Any, sop_uid: str, nframes: int, rows: int, cols: int, warns: list[str]) -> tuple[Frame, ...]:
    from .scan import Frame, _first, _float, _floats, _image_type, _int, _orientation, _spacing

    shared = top.item(SHARED)
    per_frame = top.items(PER_FRAME)
    if len(per_frame) != nframes:
        warns.append(
            f"{path}: PerFrameFunctionalGroupsSequence has {len(per_frame)} items for {nframes} frames; "
            "frames without an item use the shared groups"
        )
    dims = _dimensions(top)
    names = tuple(d.name for d in dims)
    echo_dim = next((i for i, d in enumerate(dims) if d.pointer == EFFECTIVE_ECHO_TIME), None)
    file_image_type = _image_type(top.get(_IMAGE_TYPE))
    top_position = _floats(top.get(_IPP), 3)
    top_orientation = _orientation(top.get(_IOP))
    top_spacing = _spacing(top.get(_PIXEL_SPACING))
    top_thickness, top_sbs = _float(top.get(_THICKNESS)), _float(top.get(_SBS))
    instance, acquisition = _int(top.get(_INSTANCE)), _int(top.get(_ACQUISITION))
    top_echo = _int(_first(top.get(_ECHO_NUMBERS)))
    top_slope, top_intercept = _float(top.get(_SLOPE)), _float(top.get(_INTERCEPT))
    top_center, top_width = _float(_first(top.get(_CENTER))), _float(_first(top.get(_WIDTH)))
    frames = []
    bad_dims = 0
    for i in range(nframes):
        pf = per_frame[i] if i < len(per_frame) else None
        pos = _first_item(shared, pf, _PLANE_POSITION)
        ori = _first_item(shared, pf, _PLANE_ORIENTATION)
        meas = _first_item(shared, pf, _PIXEL_MEASURES)
        content = _first_item(shared, pf, _FRAME_CONTENT)
        pvt = _first_item(shared, pf, _PIXEL_VALUE)
        voi = _first_item(shared, pf, _VOI)
        echo = _first_item(shared, pf, _MR_ECHO)
        diff = _first_item(shared, pf, _MR_DIFFUSION)
        trigger = _first_item(shared, pf, _CARDIAC)
        ftype = None
        for key in _FRAME_TYPES:
            it = _first_item(shared, pf, key)
            if it is not None:
                ftype = it.get(_FRAME_TYPE)
                break
        direction = None
        directionality = None
        if diff is not None:
            direction = _floats(_g(diff.item(_DIRECTION_SEQ), _ORIENTATION), 3)
            d = diff.get(_DIRECTIONALITY)
            directionality = str(d).strip().upper() if d is not None else None
        index: tuple[int, ...] = ()
        values: tuple[Any, ...] = ()
        if dims:
            raw_index = _g(content, _DIM_VALUES)
            idx = list(raw_index) if isinstance(raw_index, (list, tuple)) else ([raw_index] if raw_index is not None else [])
            if len(idx) == len(dims) and all(isinstance(x, int) for x in idx):
                index = tuple(idx)
                values = tuple(_dim_value(d, shared, pf, top) for d in dims)
            else:
                bad_dims += 1
        echo_number = top_echo
        if echo_number is None and echo_dim is not None and index:
            echo_number = index[echo_dim]
        frames.append(
            Frame(
                path=path,
                index=i,
                sop_instance_uid=sop_uid,
                position=_floats(_g(pos, _IPP), 3) or top_position,  # type: ignore[arg-type]
                orientation=_orientation(_g(ori, _IOP)) or top_orientation,
                pixel_spacing=_spacing(_g(meas, _PIXEL_SPACING)) or top_spacing,
                slice_thickness=_float(_g(meas, _THICKNESS)) or top_thickness,
                spacing_between_slices=_float(_g(meas, _SBS)) or top_sbs,
                instance_number=instance,
                acquisition_number=acquisition,
                echo_number=echo_number,
                echo_time=_float(_g(echo, EFFECTIVE_ECHO_TIME)),
                temporal_position=_int(_g(content, _TEMPORAL_INDEX)),
                trigger_time=_float(_g(trigger, _TRIGGER_DELAY)),
                b_value=_float(_g(diff, _B_VALUE)),
                diffusion_direction=direction,  # type: ignore[arg-type]
                image_type=_image_type(ftype) or file_image_type,
                rescale_slope=_float(_g(pvt, _SLOPE)) or top_slope or 1.0,
                rescale_intercept=_float(_g(pvt, _INTERCEPT)) or top_intercept or 0.0,
                window_center=_float(_first(_g(voi, _CENTER))) or top_center,
                window_width=_float(_first(_g(voi, _WIDTH))) or top_width,
                rows=rows,
                columns=cols,
                dimension_index=index,
                dimension_names=names if index else (),
                dimension_values=values,
                diffusion_directionality=directionality,
            )
        )
    if bad_dims:
        warns.append(
            f"{path}: {bad_dims} of {nframes} frame(s) lack DimensionIndexValues matching the {len(dims)} dimensions of "
            "DimensionIndexSequence; those frames are placed by position and the other tags only"
        )
    return tuple(frames)


def varying_dimensions(frames: Sequence[Frame]) -> list[int] | None:
    """Positions of the non-spatial dimensions whose index differs between ``frames``; None without usable indices."""
    if not frames or not frames[0].dimension_names:
        return None
    names = frames[0].dimension_names
    if any(f.dimension_names != names or len(f.dimension_index) != len(names) for f in frames):
        return None
    spatial = {dimension_name(t, None) for t in SPATIAL_DIMENSIONS}
    return [i for i, n in enumerate(names) if n not in spatial and len({f.dimension_index[i] for f in frames}) > 1]

"""Enhanced multi-frame headers: one :class:`~napari_dicomseries.frame.Frame` per frame from the functional groups.

An enhanced file (Enhanced MR/CT/PET, Legacy Converted Enhanced) keeps each
frame's geometry, rescale, echo, diffusion and dimension indices in the items
of PerFrameFunctionalGroupsSequence (one item per frame) and
SharedFunctionalGroupsSequence (values common to all frames). Large files hold
tens of thousands of elements there, and building them as pydicom data sets
costs a quarter of a second per file; so the scan reads them with the fast
little-endian parser (:func:`rawheader.parse` with ``sequences``) and
:func:`frames_from_raw` converts only the values it needs.
:func:`frames_from_dataset` does the same from a pydicom data set (big
endian, implicit VR or otherwise odd files). Both read through the accessors
of :mod:`elements`, and every frame is built by :func:`frame.build_frame`, the
builder of classic frames too, from a view that answers the classic tags from
the frame's functional groups; so they give identical frames (a test checks
this on every enhanced file of the real test data).

Dimensions: DimensionIndexSequence names what each value of a frame's
DimensionIndexValues counts (Stack ID, In-Stack Position Number, Temporal
Position Index, Effective Echo Time, a private label type ...). Each frame
keeps the indices, the dimension names and the values they point to, so the
volume builder can arrange frames by what varies and name that axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import rawheader
from . import tags as t
from .elements import DsItem, Item, RawItem, first, to_float, to_int
from .frame import Frame, build_frame

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "SEQUENCES",
    "GROUP_TAGS",
    "SPATIAL_DIMENSIONS",
    "frames",
    "frames_from_raw",
    "frames_from_dataset",
    "raw_top",
    "dimension_name",
    "varying_dimensions",
]

#: Top-level sequences the fast parser reads into items for an enhanced file.
SEQUENCES = frozenset({t.PerFrameFunctionalGroupsSequence, t.SharedFunctionalGroupsSequence, t.DimensionIndexSequence})
#: Tags that make a file enhanced.
GROUP_TAGS = frozenset({t.PerFrameFunctionalGroupsSequence, t.SharedFunctionalGroupsSequence})
#: Dimension pointers that place a frame in space (StackID, InStackPositionNumber): not a time axis.
SPATIAL_DIMENSIONS = frozenset({t.StackID, t.InStackPositionNumber})
#: Functional groups that may hold FrameType, in the order they are looked for.
_FRAME_TYPE_GROUPS = (t.MRImageFrameTypeSequence, t.CTImageFrameTypeSequence, t.FrameAnatomySequence)
#: Where an enhanced frame keeps what a classic file has at its top level. Functional group -> the classic tags
#: it holds under their own keyword; when a frame's group lacks one, the file's top level is the fallback.
_WITH_FALLBACK = {
    t.PlanePositionSequence: (t.ImagePositionPatient,),
    t.PlaneOrientationSequence: (t.ImageOrientationPatient,),
    t.PixelMeasuresSequence: (t.PixelSpacing, t.SliceThickness, t.SpacingBetweenSlices),
    t.PixelValueTransformationSequence: (t.RescaleSlope, t.RescaleIntercept),
    t.FrameVOILUTSequence: (t.WindowCenter, t.WindowWidth),
}
#: Per-frame values only: classic tag -> (functional group, the tag inside it), no top-level fallback.
_PER_FRAME_ONLY = {
    t.EchoTime: (t.MREchoSequence, t.EffectiveEchoTime),
    t.TemporalPositionIdentifier: (t.FrameContentSequence, t.TemporalPositionIndex),
    t.TriggerTime: (t.CardiacSynchronizationSequence, t.NominalCardiacTriggerDelayTime),
    t.DiffusionBValue: (t.MRDiffusionSequence, t.DiffusionBValue),
}
#: Both: classic tag -> (functional group, tag inside it, whether the file's top level is the fallback).
_IN_GROUPS = {tag: (group, tag, True) for group, tags in _WITH_FALLBACK.items() for tag in tags} | {
    tag: (group, inner, False) for tag, (group, inner) in _PER_FRAME_ONLY.items()
}
#: Keywords of the tags this package names (dimension pointers among them), so most files need no pydicom dictionary.
_KEYWORDS = {getattr(t, name): name for name in t.__all__ if name != "VR"}


class _FrameView:
    """One frame of an enhanced file answering the classic tags (see ``_IN_GROUPS``) for :func:`frame.build_frame`.

    Each functional group is taken from the frame's PerFrameFunctionalGroupsSequence item, else from
    SharedFunctionalGroupsSequence.
    """

    __slots__ = ("top", "shared", "pf", "_groups")

    def __init__(self, top: Item, shared: Item | None, pf: Item | None) -> None:
        self.top, self.shared, self.pf = top, shared, pf
        self._groups: dict[int, Any] = {}

    def group(self, tag: int) -> Any:
        """The functional group ``tag`` of this frame (its per-frame item, else the shared one), or None."""
        try:
            return self._groups[tag]
        except KeyError:
            it = self._groups[tag] = _first_item(self.shared, self.pf, tag)
            return it

    def get(self, tag: int) -> Any:
        where = _IN_GROUPS.get(tag)
        if where is not None:
            group, inner, fallback = where
            it = self.group(group)
            v = it.get(inner) if it is not None else None
            return v if v is not None or not fallback else self.top.get(tag)
        if tag == t.ImagerPixelSpacing:
            return None  # PixelSpacing only, in PixelMeasuresSequence or at the top
        if tag == t.DiffusionGradientOrientation:
            diff = self.group(t.MRDiffusionSequence)
            return _g(diff.item(t.DiffusionGradientDirectionSequence), t.DiffusionGradientOrientation) if diff else None
        if tag == t.ImageType:
            for key in _FRAME_TYPE_GROUPS:
                it = self.group(key)
                if it is not None:
                    v = it.get(t.FrameType)
                    return v if v is not None else self.top.get(t.ImageType)
            return self.top.get(t.ImageType)
        return self.top.get(tag)  # InstanceNumber, AcquisitionNumber, EchoNumbers: the file's


# ----------------------------------------------------------------------------- entry points


def raw_top(raw: rawheader.RawHeader) -> RawItem:
    """The top level of a file read by :func:`rawheader.parse`, its sequences (``raw.sequences``) included."""
    top = RawItem(dict(raw.values))
    for tag, items in raw.sequences.items():
        top.d[tag] = (b"SQ", items)
    return top


def frames_from_raw(
    path: str, raw: rawheader.RawHeader, sop_uid: str, nframes: int, rows: int, cols: int, warns: list[str]
) -> tuple[Frame, ...]:
    """The frames of an enhanced file read by :func:`rawheader.parse` with ``sequences=SEQUENCES``."""
    return frames(path, raw_top(raw), sop_uid, nframes, rows, cols, warns)


def frames_from_dataset(
    path: str, ds: Dataset, sop_uid: str, nframes: int, rows: int, cols: int, warns: list[str]
) -> tuple[Frame, ...]:
    """The frames of an enhanced file from its pydicom data set (the path for files the fast parser leaves)."""
    return frames(path, DsItem(ds), sop_uid, nframes, rows, cols, warns)


def dimension_name(pointer: int, label: str | None) -> str:
    """The keyword of a dimension pointer (``TemporalPositionIndex``), else its label or its tag number."""
    kw = ""
    if not (pointer >> 16) & 1:
        kw = _KEYWORDS.get(pointer, "")
        if not kw:
            from pydicom.datadict import keyword_for_tag

            kw = keyword_for_tag(pointer)
    return kw or (label or "").strip() or f"({pointer >> 16:04X},{pointer & 0xFFFF:04X})"


# ----------------------------------------------------------------------------- dimensions and frames


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
    for it in top.items(t.DimensionIndexSequence):
        pointer = it.get(t.DimensionIndexPointer)
        if not isinstance(pointer, int):
            return []  # a dimension without a usable pointer: indices cannot be interpreted
        group = it.get(t.FunctionalGroupPointer)
        label = it.get(t.DimensionDescriptionLabel)
        out.append(
            _Dim(
                pointer,
                group if isinstance(group, int) else None,
                _str_or_none(it.get(t.DimensionIndexPrivateCreator)),
                _str_or_none(it.get(t.FunctionalGroupPrivateCreator)),
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
        f = to_float(v)
        return f if f is not None else str(v)
    if vr == "IS":
        i = to_int(v)
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


def frames(path: str, top: Item, sop_uid: str, nframes: int, rows: int, cols: int, warns: list[str]) -> tuple[Frame, ...]:
    """The frames of an enhanced file, each built by :func:`frame.build_frame` from a view of its functional groups.

    Parameters
    ----------
    path : str
        The file (named in warnings).
    top : Item
        The file's top level, read by either reader (:func:`raw_top` or :class:`elements.DsItem`).
    sop_uid : str
        SOPInstanceUID of the file.
    nframes, rows, cols : int
        NumberOfFrames, Rows and Columns.
    warns : list of str
        Warnings are appended here (missing per-frame items, frames without usable DimensionIndexValues).

    Returns
    -------
    tuple of Frame
    """
    shared = top.item(t.SharedFunctionalGroupsSequence)
    per_frame = top.items(t.PerFrameFunctionalGroupsSequence)
    if len(per_frame) != nframes:
        warns.append(
            f"{path}: PerFrameFunctionalGroupsSequence has {len(per_frame)} items for {nframes} frames; "
            "frames without an item use the shared groups"
        )
    dims = _dimensions(top)
    names = tuple(d.name for d in dims)
    echo_dim = next((i for i, d in enumerate(dims) if d.pointer == t.EffectiveEchoTime), None)
    top_echo = to_int(first(top.get(t.EchoNumbers)))
    out = []
    bad_dims = 0
    for i in range(nframes):
        pf = per_frame[i] if i < len(per_frame) else None
        view = _FrameView(top, shared, pf)
        extra: dict[str, Any] = {}
        diff = view.group(t.MRDiffusionSequence)
        if diff is not None:
            d = diff.get(t.DiffusionDirectionality)
            extra["diffusion_directionality"] = str(d).strip().upper() if d is not None else None
        if dims:
            raw_index = _g(view.group(t.FrameContentSequence), t.DimensionIndexValues)
            idx = list(raw_index) if isinstance(raw_index, (list, tuple)) else ([raw_index] if raw_index is not None else [])
            if len(idx) == len(dims) and all(isinstance(x, int) for x in idx):
                extra["dimension_index"] = tuple(idx)
                extra["dimension_names"] = names
                extra["dimension_values"] = tuple(_dim_value(d, shared, pf, top) for d in dims)
                if top_echo is None and echo_dim is not None:
                    extra["echo_number"] = idx[echo_dim]
            else:
                bad_dims += 1
        out.append(build_frame(view, path, i, sop_uid, rows, cols, **extra))
    if bad_dims:
        warns.append(
            f"{path}: {bad_dims} of {nframes} frame(s) lack DimensionIndexValues matching the {len(dims)} dimensions of "
            "DimensionIndexSequence; those frames are placed by position and the other tags only"
        )
    return tuple(out)


def varying_dimensions(frames: Sequence[Frame]) -> list[int] | None:
    """Positions of the non-spatial dimensions whose index differs between ``frames``; None without usable indices."""
    if not frames or not frames[0].dimension_names:
        return None
    names = frames[0].dimension_names
    if any(f.dimension_names != names or len(f.dimension_index) != len(names) for f in frames):
        return None
    spatial = {dimension_name(t, None) for t in SPATIAL_DIMENSIONS}
    return [i for i, n in enumerate(names) if n not in spatial and len({f.dimension_index[i] for f in frames}) > 1]

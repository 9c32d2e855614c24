"""Compare DICOM tags: across the slices of one volume, and between two volumes.

Every frame (2-D image) of a volume gets a flat set of tag values, one row
per tag and sequence path, per-frame functional groups included
(:func:`frame_tags`, in :mod:`.frametags`).

:func:`volume_tags` says which tags are constant over a volume and which vary
(with the number of distinct values and, for numbers, the range);
:func:`diff_volumes` sets two volumes side by side. Numbers (VR DS, IS, FD,
FL, US, SS, UL, SL, UV, SV) that agree within ``tolerance`` are equal.
Keywords and names come from pydicom's data dictionary.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .frametags import (
    DEFAULT_TOLERANCE,
    FrameTags,
    TagInfo,
    TagValue,
    format_numbers,
    frame_tags,
    values_equal,
)
from .jobs import CancelFn, ProgressFn, Stages, check_cancel
from .volume import Volume

__all__ = [
    "TagSummary",
    "VolumeTags",
    "TagDifference",
    "TagDiff",
    "volume_tags",
    "diff_volumes",
    "rows_to_csv",
    "iter_text_rows",
    # the flattened rows and their values (frametags.py) and the volume matcher (selection.py), for this module's callers
    "DEFAULT_TOLERANCE",
    "TagInfo",
    "TagValue",
    "values_equal",
]

#: Key prefix of the derived rows that describe a whole volume (slices, shape, spacing, ...).
_VOLUME = "(volume)"


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
    nums = [v.numbers for v in present if v.numbers is not None]
    if len(nums) == len(present) and len({len(x) for x in nums}) == 1:
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
    nums = [v.numbers for v in present if v.numbers is not None and len(v.numbers) > 0]
    numeric = bool(present) and len(nums) == len(present) and len({len(x) for x in nums}) == 1
    if constant:
        return TagSummary(info, True, first.text if first else "", 1, 0)
    n_distinct = _distinct(values, tolerance)
    if numeric:
        arr = np.asarray(nums, float)
        lo, hi = format_numbers(arr.min(axis=0)), format_numbers(arr.max(axis=0))
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


def volume_tags(
    volume: Volume,
    *,
    private: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> VolumeTags:
    """Summarise every tag over the frames of ``volume``: constant with its value, or varying.

    Parameters
    ----------
    volume : Volume
        A volume from :func:`napari_dicomseries.open_folder`.
    private : bool
        Include private tags (with their private creator).
    tolerance : float
        Numbers that differ by at most this much count as equal.
    progress : callable, optional
        ``progress(done, total)`` per frame whose header was read (see :mod:`napari_dicomseries.jobs`).
    cancel : callable, optional
        Asked before each frame; True raises :class:`~napari_dicomseries.errors.Cancelled`.

    Returns
    -------
    VolumeTags
        Rows sorted with geometry first, then by tag number.
    """
    ft = frame_tags(volume, private=private, progress=progress, cancel=cancel)
    check_cancel(cancel, f"reading the tags of series {volume.key}")
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
        return TagInfo(key=f"{_VOLUME} {name}", tag="", keyword=f"{_VOLUME} {name}", name=desc, vr="", category="volume")

    def nums(x: Sequence[float], digits: int = 6) -> TagValue:
        vals = tuple(round(float(a), digits) + 0.0 for a in x)
        return TagValue(format_numbers(vals), vals)

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
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> TagDiff:
    """Set every tag of volumes ``a`` and ``b`` side by side and say which differ.

    A tag constant in both volumes is the same when the values agree (numbers
    within ``tolerance``); a tag that varies over the slices is the same only
    when both volumes have the same number of frames and agree frame by frame.
    Derived rows ``(volume) slices``, ``shape``, ``spacing``, ``origin`` and
    ``direction`` compare the volumes' geometry.

    ``progress(done, total)`` follows the headers read (A's frames, then B's; a
    progress callable with a ``stage`` method hears "tags of A 40/120"), and
    ``cancel()`` is asked between frames (see :mod:`napari_dicomseries.jobs`).

    Returns
    -------
    TagDiff
        All rows (use :meth:`TagDiff.filtered` for the differing ones without
        per-instance identifiers), geometry first, then by tag number.

    Raises
    ------
    Cancelled
        When ``cancel()`` returned True.
    """
    na = 0 if tags_a else len(a.frames) or len(a.files)
    nb = 0 if tags_b else len(b.frames) or len(b.files)
    job = Stages([("A", na), ("B", nb), ("compare", 0.02 * (na + nb))], progress=progress, cancel=cancel,
                 what=f"tag comparison of {a.key} and {b.key}")  # fmt: skip
    ta = tags_a or volume_tags(a, private=private, tolerance=tolerance, progress=job.reporter("A", "tags of A"), cancel=cancel)
    tb = tags_b or volume_tags(b, private=private, tolerance=tolerance, progress=job.reporter("B", "tags of B"), cancel=cancel)
    job.start("compare", "comparing tags")
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
        info = sa[key].info if key in sa else sb[key].info
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
    job.finish()
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

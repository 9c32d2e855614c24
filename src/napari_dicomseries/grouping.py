"""Group the frames of one series into volumes: split where they cannot form one, and arrange each part.

Rules (after 3D Slicer's DICOMScalarVolumePlugin and dcm2niix):

1. A series is split where its frames cannot form one volume (:func:`split_series`):
   a localizer ImageType, a different echo number, image orientation,
   rows/columns, pixel spacing or ImageType. Each part records its reason.
2. Copies of the same SOP instance are dropped with a warning (:func:`arrange`).
3. Frames are sorted along the slice normal (position . normal). Where the
   same set of positions repeats k times, the dimension that varies is named
   (enhanced DimensionIndexValues, TemporalPositionIndex, TriggerTime,
   DiffusionBValue, AcquisitionNumber, EchoTime, file) and the part is 4-D
   (time, slices, rows, columns). Where acquisitions overlap without
   repeating consistently, the series is split by AcquisitionNumber;
   otherwise duplicate positions keep the first image (lowest InstanceNumber)
   with a warning. Diffusion trace images go to a part of their own.

Where the parts lie in space is :mod:`positions`' business; :mod:`build` makes volumes of them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .frame import Frame
from .positions import cluster, distances_along, fmt_mm, slice_normal
from .warning import VolumeWarning, WarningCode

__all__ = ["TIME_TAGS", "Part", "split_series", "arrange"]

#: Tags that can tell apart the images at one slice position (the leading axis of a 4-D volume), in order of preference.
TIME_TAGS = ("TemporalPositionIndex", "TriggerTime", "DiffusionBValue", "AcquisitionNumber", "EchoTime", "file")


def _round_tuple(v: tuple[float, ...] | None, nd: int) -> tuple[float, ...] | None:
    return None if v is None else tuple(round(x, nd) + 0.0 for x in v)


def _finite(v: tuple[float, ...] | None) -> bool:
    return v is None or all(math.isfinite(x) for x in v)


_SPLIT_KEYS = (
    ("ImageType", lambda f: "LOCALIZER" if "LOCALIZER" in f.image_type else ""),
    ("EchoNumbers", lambda f: f.echo_number),
    ("ImageOrientationPatient", lambda f: _round_tuple(f.orientation, 3)),
    ("Rows/Columns", lambda f: (f.rows, f.columns)),
    ("PixelSpacing", lambda f: _round_tuple(f.pixel_spacing, 4)),
    ("ImageType ", lambda f: "\\".join(f.image_type)),
    # images without a usable position cannot join those with one: they go apart (with default geometry)
    ("ImagePositionPatient", lambda f: "" if f.position is None else "present"),
)


def _describe(name: str, value: Any) -> str:
    name = name.strip()
    if value in ("", None):
        return f"{name}=(none)"
    if name == "Rows/Columns":
        return f"Rows/Columns={value[0]}x{value[1]}"
    if isinstance(value, tuple):
        return f"{name}=" + "\\".join(fmt_mm(v) if isinstance(v, float) else str(v) for v in value)
    return f"{name}={value}"


def split_series(frames: list[Frame]) -> list[tuple[list[Frame], str | None]]:
    r"""Split the frames of one series by the keys that prevent one volume.

    Parameters
    ----------
    frames : list of Frame
        The image frames of one series.

    Returns
    -------
    list of (list of Frame, str or None)
        Each group with its reason (``"ImageType=LOCALIZER, ImageOrientationPatient=1\0\0\0\0\-1"``), or
        the frames with None when nothing splits them.
    """
    keyed: dict[tuple[Any, ...], list[Frame]] = defaultdict(list)
    # The key depends only on these fields, which most frames of a series share: it is computed (rounding and all)
    # once per distinct combination, not per frame (equal fields give an equal key, so the groups are the same).
    memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for f in frames:
        fields = (f.image_type, f.echo_number, f.orientation, f.rows, f.columns, f.pixel_spacing, f.position is None)
        key = memo.get(fields)
        if key is None:
            key = tuple(fn(f) for _, fn in _SPLIT_KEYS)
            if _finite(f.orientation) and _finite(f.pixel_spacing):  # a NaN is unequal to itself: never shared
                memo[fields] = key
        keyed[key].append(f)
    if len(keyed) == 1:
        return [(frames, None)]
    keys = list(keyed)
    varying = [i for i in range(len(_SPLIT_KEYS)) if len({k[i] for k in keys}) > 1]
    # the full ImageType only counts when the localizer flag does not explain the split already
    if 0 in varying and 5 in varying:
        varying.remove(5)
    out: list[tuple[list[Frame], str | None]] = []
    for k in sorted(keys, key=lambda k: (min((f.instance_number or 0) for f in keyed[k]), str(k))):
        reason = ", ".join(_describe(_SPLIT_KEYS[i][0], k[i]) for i in varying)
        out.append((keyed[k], reason))
    return out


def _time_value(f: Frame, tag: str) -> Any:
    """The value of ``tag`` that tells the images at one position apart (None when the frame lacks it)."""
    if tag == "TemporalPositionIndex":
        return f.temporal_position
    if tag == "TriggerTime":
        return f.trigger_time
    if tag == "DiffusionBValue":
        return None if f.b_value is None else (f.b_value, f.diffusion_direction)
    if tag == "AcquisitionNumber":
        return f.acquisition_number
    if tag == "EchoTime":
        return f.echo_time
    return f.sop_instance_uid  # "file"


def _sort_value(v: Any) -> Any:
    if isinstance(v, tuple):
        return (v[0], tuple(v[1] or ()))
    return v


@dataclass
class Part:
    """Frames of one volume in array order ([time][slice], flattened), with what the leading axis is and why."""

    frames: list[Frame]  # array order
    n_time: int
    time_tag: str | None
    time_values: list[Any]
    split_reason: str | None
    warnings: list[VolumeWarning]


def _frame_numbers(numbers: list[int]) -> str:
    """``1, 3-5, 9`` from frame numbers."""
    numbers = sorted(set(numbers))
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _name_frames(frames: list[Frame], multi: set[str]) -> str:
    """The files of ``frames``; a multi-frame file with the (1-based) numbers of its frames."""
    by_path: dict[str, list[int]] = {}
    for f in frames:
        by_path.setdefault(f.path, []).append(f.index + 1)
    parts = []
    for path, numbers in by_path.items():
        if path in multi:
            parts.append(f"{path} (frame{'s' if len(numbers) > 1 else ''} {_frame_numbers(numbers)})")
        else:
            parts.append(path)
    return ", ".join(parts)


def _files_and_frames(frames: list[Frame], multi: set[str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The files of ``frames`` and the (1-based) numbers of those frames that lie in multi-frame files."""
    return tuple(dict.fromkeys(f.path for f in frames)), tuple(f.index + 1 for f in frames if f.path in multi)


def _by_dimensions(
    frames: list[Frame], clusters: list[list[int]], split_reason: str | None, warnings: list[VolumeWarning]
) -> Part | None:
    """A 4-D part from the DimensionIndexValues of enhanced frames, or None when they do not make a regular grid.

    The leading axis runs over the non-spatial dimensions that vary (e.g. TemporalPositionIndex and a private
    label/control type), named after them, in acquisition order: the order in which the files (InstanceNumber)
    and their frames hold each combination of index values.
    """
    from .enhanced import varying_dimensions

    varying = varying_dimensions(frames)
    if not varying:
        return None

    def key(i: int) -> tuple[int, ...]:
        return tuple(frames[i].dimension_index[d] for d in varying)

    keys = sorted({key(i) for i in clusters[0]})
    first_seen: dict[tuple[int, ...], tuple[int, int]] = {}
    for c in clusters:
        ks = [key(i) for i in c]
        if len(set(ks)) != len(ks) or sorted(ks) != keys:
            return None
        for i, k in zip(c, ks, strict=True):
            order = (frames[i].instance_number or 0, frames[i].index)
            first_seen[k] = min(first_seen.get(k, order), order)
    # acquisition order, as dcm2niix writes the volumes: the order the frames come in (InstanceNumber, then frame)
    keys.sort(key=lambda k: (first_seen[k], k))
    rank = {k: n for n, k in enumerate(keys)}
    by_pos = [sorted(c, key=lambda i: rank[key(i)]) for c in clusters]
    grid = [frames[c[t]] for t in range(len(keys)) for c in by_pos]
    first = frames[0]
    names = [first.dimension_names[d] for d in varying]
    values: list[Any] = []
    for t in range(len(keys)):
        f = grid[t * len(clusters)]
        vals = tuple(f.dimension_values[d] for d in varying)
        values.append(vals[0] if len(vals) == 1 else vals)
    return Part(grid, len(keys), ", ".join(names), values, split_reason, warnings)


def _acquisition_order(frames: list[Frame], clusters: list[list[int]], tag: str, ordered: list[Any]) -> list[Any]:
    """``ordered`` (values of ``tag``) in acquisition order: by their mean InstanceNumber, when every frame has one."""
    if any(f.instance_number is None for f in frames):
        return ordered
    sums: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for c in clusters:
        for i in c:
            s = sums[_time_value(frames[i], tag)]
            s[0] += frames[i].instance_number or 0
            s[1] += 1
    return sorted(ordered, key=lambda v: (sums[v][0] / max(sums[v][1], 1), _sort_value(v)))


def arrange(frames: list[Frame], split_reason: str | None) -> list[Part]:
    """Order the frames of one homogeneous group (see :func:`split_series`) into one or more volumes.

    Parameters
    ----------
    frames : list of Frame
        Frames that share orientation, size, spacing and image type.
    split_reason : str or None
        Why the group is apart from the rest of its series; parts split further add their own reason.

    Returns
    -------
    list of Part
        One part per volume, its frames in array order, with its warnings (copies ignored, duplicate positions, ...).
    """
    from .diffusion import has_direction, is_trace

    warnings: list[VolumeWarning] = []
    # copies of one SOP instance (a file copied under another name)
    seen: dict[tuple[str, int], Frame] = {}
    dups: list[str] = []
    for f in frames:
        key = (f.sop_instance_uid, f.index)
        if key in seen:
            dups.append(f.path)
        else:
            seen[key] = f
    frames = list(seen.values())
    if dups:
        warnings.append(
            VolumeWarning(
                WarningCode.DUPLICATE_FILES,
                f"{len(dups)} duplicate file(s) with an SOPInstanceUID already seen were ignored: "
                + ", ".join(sorted(dups)[:5])
                + (" ..." if len(dups) > 5 else ""),
                files=tuple(sorted(dict.fromkeys(dups))),
            )
        )
    # diffusion: the isotropic (trace / ADC) images of a DWI series go to a volume of their own, as dcm2niix does
    trace = [f for f in frames if is_trace(f)]
    if trace and len(trace) < len(frames) and any(has_direction(f) for f in frames):
        rest = [f for f in frames if not is_trace(f)]
        reason = ", ".join(x for x in (split_reason, "DiffusionDirectionality=ISOTROPIC (trace image put aside)") if x)
        out = arrange(rest, split_reason) + arrange(trace, reason)
        for p in out:
            p.warnings = warnings + p.warnings
        return out
    multi = {f.path for f in frames if f.index > 0}
    orientation = frames[0].orientation
    if orientation is None or any(f.position is None or f.orientation is None for f in frames):
        # no geometry: order by InstanceNumber, one slice per image
        lacking = [f for f in frames if f.position is None or f.orientation is None]
        frames.sort(key=lambda f: (f.instance_number or 0, f.path, f.index))
        warnings.append(
            VolumeWarning(
                WarningCode.NO_GEOMETRY,
                f"{len(lacking)} of {len(frames)} image(s) lack ImagePositionPatient or ImageOrientationPatient: "
                "slices are ordered by InstanceNumber and placed with default geometry",
                files=tuple(dict.fromkeys(f.path for f in lacking)),
            )
        )
        return [Part(frames, 1, None, [], split_reason, warnings)]
    normal = slice_normal(orientation)
    dists = distances_along(normal, frames)
    clusters = cluster(dists)
    counts = {len(c) for c in clusters}
    if counts == {1}:
        return [Part([frames[c[0]] for c in clusters], 1, None, [], split_reason, warnings)]
    # the same positions repeat: a 4-D series? Enhanced files say how their frames are organised
    part = _by_dimensions(frames, clusters, split_reason, warnings)
    if part is not None:
        return [part]
    if len(counts) == 1:
        k = counts.pop()
        for tag in TIME_TAGS:
            vals = [[_time_value(frames[i], tag) for i in c] for c in clusters]
            if any(v is None for vs in vals for v in vs):
                continue
            if any(len(set(vs)) != k for vs in vals):
                continue
            ordered = sorted(set(vals[0]), key=_sort_value)
            if any(set(vs) != set(ordered) for vs in vals) and tag != "file":
                continue
            grid: list[Frame] = []
            if tag == "file":
                # several files of one series repeat the positions: order by the file's time
                for c in clusters:
                    c.sort(key=lambda i: (frames[i].acquisition_number or 0, frames[i].instance_number or 0, frames[i].path))
                for t in range(k):
                    grid.extend(frames[c[t]] for c in clusters)
                values: list[Any] = list(range(1, k + 1))
                if all(f.index == 0 for f in frames):  # single-frame files: nothing but their order tells the times apart
                    warnings.append(
                        VolumeWarning(
                            WarningCode.TIME_FROM_ORDER,
                            f"each of the {len(clusters)} slice position(s) holds {k} images and no tag tells them apart "
                            "(TemporalPositionIndex, TriggerTime, DiffusionBValue, AcquisitionNumber, EchoTime): "
                            f"read as {k} time points in InstanceNumber order",
                        )
                    )
            else:
                if tag == "DiffusionBValue":  # diffusion volumes in acquisition order, as dcm2niix writes them
                    ordered = _acquisition_order(frames, clusters, tag, ordered)
                rank = {v: n for n, v in enumerate(ordered)}
                by_pos = [sorted(c, key=lambda i: rank[_time_value(frames[i], tag)]) for c in clusters]
                for t in range(k):
                    grid.extend(frames[c[t]] for c in by_pos)
                values = ordered
            return [Part(grid, k, tag, values, split_reason, warnings)]
    # overlapping acquisitions: split by AcquisitionNumber when that makes each part unique
    acq: dict[int | None, list[Frame]] = defaultdict(list)
    for f in frames:
        acq[f.acquisition_number].append(f)
    if len(acq) > 1:
        parts_ok = all(len(cluster(distances_along(normal, fs))) == len(fs) for fs in acq.values())
        if parts_ok:
            out = []
            for a in sorted(acq, key=lambda a: (a is None, a)):
                reason = ", ".join(x for x in (split_reason, f"AcquisitionNumber={a}") if x)
                out.extend(arrange(acq[a], reason))
            for p in out:
                p.warnings = warnings + p.warnings
            return out
    # several images at one position that nothing above explains: keep the first by InstanceNumber (and frame),
    # and say which images (files, and frame numbers of multi-frame files) were left out
    kept = []
    dup_positions = []
    for c in clusters:
        c.sort(key=lambda i: (frames[i].instance_number or 0, frames[i].path, frames[i].index))
        kept.append(frames[c[0]])
        if len(c) > 1:
            dup_positions.append((dists[c[0]], [frames[i] for i in c]))
    if dup_positions:
        dropped = [f for _, fs in dup_positions for f in fs[1:]]
        warnings.append(
            VolumeWarning(
                WarningCode.FRAMES_LEFT_OUT,
                f"{len(dropped)} of {len(frames)} images left out: {len(dup_positions)} slice position(s) hold several "
                "images that no tag or dimension index tells apart; the first at each position is kept",
                *_files_and_frames(dropped, multi),
            )
        )
    for d, fs in dup_positions[:5]:
        warnings.append(
            VolumeWarning(
                WarningCode.DUPLICATE_POSITION,
                f"{len(fs)} different images at the same position ({fmt_mm(d)} mm along the slice normal): "
                f"kept {_name_frames(fs[:1], multi)}, ignored {_name_frames(fs[1:], multi)}",
                *_files_and_frames(fs[1:], multi),
            )
        )
    if len(dup_positions) > 5:
        more = [f for _, fs in dup_positions[5:] for f in fs[1:]]
        warnings.append(
            VolumeWarning(
                WarningCode.MORE_DUPLICATE_POSITIONS,
                f"... and {len(dup_positions) - 5} more positions with several images",
                *_files_and_frames(more, multi),
            )
        )
    return [Part(kept, 1, None, [], split_reason, warnings)]

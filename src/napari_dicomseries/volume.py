"""Group scanned frames into volumes: one series may become several volumes, or one 4-D volume.

Rules (after 3D Slicer's DICOMScalarVolumePlugin and dcm2niix):

1. Frames are grouped by SeriesInstanceUID. Files without pixel data (SR,
   RTSTRUCT, presentation states, ...) become one ``non-image`` entry per series.
2. A series is split where its frames cannot form one volume: a localizer
   ImageType, a different echo number, image orientation, rows/columns, pixel
   spacing or ImageType. Each part records ``split_reason``.
3. Copies of the same SOP instance are dropped with a warning.
4. Frames are sorted along the slice normal (position . normal). Where the
   same set of positions repeats k times, the dimension that varies is named
   (TemporalPositionIndex, TriggerTime, DiffusionBValue, AcquisitionNumber,
   file) and the volume is 4-D (time, slices, rows, columns). Where
   acquisitions overlap without repeating consistently, the series is split by
   AcquisitionNumber; otherwise duplicate positions keep the first image
   (lowest InstanceNumber) with a warning.
5. Spacing between slices comes from positions; gaps, irregular spacing and
   gantry tilt are reported as warnings.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .diffusion import gradient_table
from .elements import is_multivalue
from .labels import KernelClass, Kind, Orientation, ThicknessClass
from .scan import NON_IMAGE_SOP_CLASSES, DicomFile, Frame, ScanResult
from .segmentation import Segment, is_segmentation, seg_grid, segment_layout, segments_of
from .syntax import decoder_for
from .warning import VolumeWarning, WarningCode

__all__ = ["Volume", "build_volumes", "index_to_lps", "TIME_TAGS"]

POSITION_TOLERANCE = 0.01  # mm: positions closer than this are the same slice
TIME_TAGS = ("TemporalPositionIndex", "TriggerTime", "DiffusionBValue", "AcquisitionNumber", "EchoTime", "file")


def index_to_lps(
    direction: Sequence[float], spacing: Sequence[float], slice_step: Sequence[float], origin: Sequence[float]
) -> np.ndarray:
    """4 x 4 matrix mapping array index (k, j, i, 1) to patient LPS (x, y, z, 1) in mm.

    ``direction`` is the ITK 3 x 3 (row-major; columns: row cosine, column cosine,
    normal), ``spacing`` (slice, row, column), ``slice_step`` the vector between
    slices (it carries any gantry-tilt shear), ``origin`` the position of voxel 0.
    """
    d = np.asarray(direction, float).reshape(3, 3)
    a = np.eye(4)
    a[:3, 0] = slice_step
    a[:3, 1] = d[:, 1] * spacing[1]
    a[:3, 2] = d[:, 0] * spacing[2]
    a[:3, 3] = origin
    return a


@dataclass(eq=False)
class Volume:
    """One volume (3-D, or 4-D with a leading time/direction axis) built from frames of one series.

    Geometry is in the DICOM patient system (LPS, mm) and in array order:
    ``shape`` is (slices, rows, columns) or (time, slices, rows, columns);
    ``spacing`` is (slice, row, column) spacing; ``origin`` is the patient
    position of voxel [0, 0, 0]; ``direction`` is the 3 x 3 ITK direction
    matrix (row-major; its columns are the row cosine, the column cosine and
    the slice normal). ``slice_step`` is the patient-space vector from one
    slice to the next: ``spacing[0] * normal`` unless the gantry was tilted.
    """

    key: str
    series_instance_uid: str
    files: list[DicomFile]
    frames: list[Frame]
    shape: tuple[int, ...]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    slice_step: tuple[float, float, float]
    time_tag: str | None = None
    time_values: list[Any] = field(default_factory=list)
    split_reason: str | None = None
    #: warnings as records (code, message, files, frames); ``summary()["warnings"]`` holds their messages
    warnings: list[VolumeWarning] = field(default_factory=list)
    is_image: bool = True
    # descriptive tags
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    manufacturer: str = ""
    convolution_kernel: str = ""
    study_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    sop_class_uid: str = ""
    transfer_syntax_uid: str = ""
    image_type: tuple[str, ...] = ()
    slice_thickness: float | None = None
    acquisition_datetime: str = ""
    content_time: str = ""
    instance_creation_time: str = ""
    window: tuple[float, float] | None = None
    rescale: tuple[float, float] = (1.0, 0.0)
    gantry_tilt: float = 0.0
    # classes (filled by classify)
    kind: Kind = Kind.IMAGE
    orientation: Orientation = Orientation.NONE
    kernel_class: KernelClass = KernelClass.NONE
    thickness_class: ThicknessClass = ThicknessClass.NONE
    acquisition_group: str = ""
    reasons: dict[str, str] = field(default_factory=dict)
    confidence: float = 1.0
    #: what was done about missing slices / irregular spacing ("" when there are none; see :mod:`gaps`)
    gap_policy: str = ""
    #: segments of a segmentation volume (kind ``segmentation``), and the series it references
    segments: list[Segment] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    @property
    def n_slices(self) -> int:
        """Number of slices (the length of the slice axis)."""
        return self.shape[-3] if len(self.shape) >= 3 else 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def paths(self) -> list[str]:
        """Paths of the files that make the volume, in array order, without repeats."""
        seen: dict[str, None] = {}
        for f in self.frames:
            seen.setdefault(f.path, None)
        return list(seen)

    @property
    def normal(self) -> tuple[float, float, float]:
        d = self.direction
        return (d[2], d[5], d[8])

    @property
    def photometric_interpretation(self) -> str:
        """PhotometricInterpretation of the first file (MONOCHROME1/2, RGB, YBR_FULL, PALETTE COLOR, ...)."""
        return self.files[0].photometric_interpretation if self.files else ""

    @property
    def samples_per_pixel(self) -> int:
        """Samples of one loaded voxel: 3 for colour (RGB, YBR converted to RGB, PALETTE COLOR looked up), else 1."""
        return 3 if self.files and is_colour(self.files[0]) else 1

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one loaded frame: (rows, columns), or (rows, columns, 3) for colour."""
        rows, cols = self.shape[-2:]
        return (rows, cols, 3) if self.samples_per_pixel == 3 else (rows, cols)

    @property
    def array_shape(self) -> tuple[int, ...]:
        """Shape of the loaded array: :attr:`shape`, plus a trailing RGB axis for colour."""
        return tuple(self.shape) + ((3,) if self.samples_per_pixel == 3 else ())

    @property
    def loadable(self) -> bool:
        if self.kind == "segmentation":  # decoded by pydicom (1-bit frames included)
            return bool(self.shape)
        return self.is_image and all(decoder_for(f.transfer_syntax_uid) and not pixel_format_problem(f) for f in self.files)

    @property
    def warning_messages(self) -> list[str]:
        """The messages of :attr:`warnings`, in order (what people read, and JSON holds)."""
        return [str(w) for w in self.warnings]

    def affine_lps(self) -> np.ndarray:
        """4 x 4 matrix mapping array index (k, j, i, 1) to patient LPS (x, y, z, 1) in mm."""
        return index_to_lps(self.direction, self.spacing, self.slice_step, self.origin)

    def world_position(self, index: Iterable[float]) -> tuple[float, float, float]:
        """Patient LPS position (mm) of array index (k, j, i) (a leading time index is ignored)."""
        idx = list(index)[-3:]
        p = self.affine_lps() @ np.array([*idx, 1.0])
        return (float(p[0]), float(p[1]), float(p[2]))

    def frame_grid(self) -> list[list[Frame]]:
        """Frames as [time][slice] (one time point for a 3-D volume)."""
        nz = self.n_slices
        return [self.frames[t * nz : (t + 1) * nz] for t in range(len(self.frames) // max(nz, 1))]

    def summary(self) -> dict[str, Any]:
        """Everything ``ls --json`` reports about the volume, JSON-serialisable."""
        return {
            "key": self.key,
            "series_instance_uid": self.series_instance_uid,
            "series_number": self.series_number,
            "series_description": self.series_description,
            "modality": self.modality,
            "manufacturer": self.manufacturer,
            "convolution_kernel": self.convolution_kernel,
            "sop_class_uid": self.sop_class_uid,
            "transfer_syntax_uid": self.transfer_syntax_uid,
            "study_instance_uid": self.study_instance_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "image_type": list(self.image_type),
            "n_files": len(self.files),
            "n_slices": self.n_slices,
            "shape": list(self.shape),
            "spacing": [round(v, 6) for v in self.spacing],
            "origin": [round(v, 6) for v in self.origin],
            "direction": [round(v, 6) for v in self.direction],
            "slice_step": [round(v, 6) for v in self.slice_step],
            "slice_thickness": self.slice_thickness,
            "time_tag": self.time_tag,
            "time_values": [str(v) for v in self.time_values],
            "orientation": str(self.orientation),
            "kind": str(self.kind),
            "kernel_class": str(self.kernel_class),
            "thickness_class": str(self.thickness_class),
            "acquisition_group": self.acquisition_group,
            "acquisition_datetime": self.acquisition_datetime,
            "content_time": self.content_time,
            "instance_creation_time": self.instance_creation_time,
            "window": list(self.window) if self.window else None,
            "rescale_slope": self.rescale[0],
            "rescale_intercept": self.rescale[1],
            "gantry_tilt": round(self.gantry_tilt, 4),
            "gap_policy": self.gap_policy,
            "segments": [seg.to_dict() for seg in self.segments],
            "references": list(self.references),
            "split_reason": self.split_reason,
            "reasons": dict(self.reasons),
            "confidence": round(self.confidence, 3),
            "loadable": self.loadable,
            "warnings": self.warning_messages,
            "warning_codes": [str(w.code) for w in self.warnings],
            # diffusion series: b-value and LPS gradient direction of each volume (see diffusion.gradient_table)
            "gradients": [g.to_dict() for g in gradient_table(self) or []] or None,
        }


# ----------------------------------------------------------------------------- helpers


def _str(ds: Any, keyword: str) -> str:
    try:
        v = ds.get(keyword)
    except Exception:  # noqa: BLE001
        return ""
    if v is None:
        return ""
    if is_multivalue(v):
        return "\\".join(str(x) for x in v)
    return str(v).strip()


def _tag_number(ds: Any, keyword: str, conv: type[int] | type[float]) -> Any:
    """A finite number from tag ``keyword``, or None when it is absent or unusable (text, NaN, a damaged element)."""
    try:
        v = ds.get(keyword)
        if v is None or v == "":
            return None
        x = conv(v)
    except Exception:  # noqa: BLE001 - pydicom raises many kinds of errors on damaged values
        return None
    return x if math.isfinite(x) else None


def _round_tuple(v: tuple[float, ...] | None, nd: int) -> tuple[float, ...] | None:
    return None if v is None else tuple(round(x, nd) + 0.0 for x in v)


def _normal(o: tuple[float, ...]) -> np.ndarray:
    n = np.cross(np.asarray(o[:3]), np.asarray(o[3:]))
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v - round(v)) > 1e-9 else f"{v:.1f}"


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
        return f"{name}=" + "\\".join(_fmt(v) if isinstance(v, float) else str(v) for v in value)
    return f"{name}={value}"


def _split_series(frames: list[Frame]) -> list[tuple[list[Frame], str | None]]:
    """Split frames of one series by the keys that prevent one volume; return (frames, reason)."""
    keyed: dict[tuple[Any, ...], list[Frame]] = defaultdict(list)
    for f in frames:
        keyed[tuple(fn(f) for _, fn in _SPLIT_KEYS)].append(f)
    if len(keyed) == 1:
        return [(frames, None)]
    keys = list(keyed)
    varying = [i for i in range(len(_SPLIT_KEYS)) if len({k[i] for k in keys}) > 1]
    # the full ImageType only counts when the localizer flag does not explain the split already
    if 0 in varying and 5 in varying:
        varying.remove(5)
    out = []
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


def _cluster(dists: np.ndarray) -> list[list[int]]:
    order = np.argsort(dists, kind="stable")
    clusters: list[list[int]] = []
    last = None
    for i in order:
        if last is None or dists[i] - last > POSITION_TOLERANCE:
            clusters.append([int(i)])
        else:
            clusters[-1].append(int(i))
        last = dists[i]
    return clusters


@dataclass
class _Part:
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
) -> _Part | None:
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
    return _Part(grid, len(keys), ", ".join(names), values, split_reason, warnings)


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


def _arrange(frames: list[Frame], split_reason: str | None) -> list[_Part]:
    """Order the frames of one homogeneous group into one or more volumes."""
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
        out = _arrange(rest, split_reason) + _arrange(trace, reason)
        for p in out:
            p.warnings = warnings + p.warnings
        return out
    multi = {f.path for f in frames if f.index > 0}
    if any(f.position is None or f.orientation is None for f in frames):
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
        return [_Part(frames, 1, None, [], split_reason, warnings)]
    normal = _normal(frames[0].orientation)  # type: ignore[arg-type]
    dists = np.array([np.dot(normal, f.position) for f in frames])  # type: ignore[arg-type]
    clusters = _cluster(dists)
    counts = {len(c) for c in clusters}
    if counts == {1}:
        return [_Part([frames[c[0]] for c in clusters], 1, None, [], split_reason, warnings)]
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
            return [_Part(grid, k, tag, values, split_reason, warnings)]
    # overlapping acquisitions: split by AcquisitionNumber when that makes each part unique
    acq: dict[int | None, list[Frame]] = defaultdict(list)
    for f in frames:
        acq[f.acquisition_number].append(f)
    if len(acq) > 1:
        parts_ok = all(len(_cluster(np.array([np.dot(normal, f.position) for f in fs]))) == len(fs) for fs in acq.values())  # type: ignore[arg-type]
        if parts_ok:
            out = []
            for a in sorted(acq, key=lambda a: (a is None, a)):
                reason = ", ".join(x for x in (split_reason, f"AcquisitionNumber={a}") if x)
                out.extend(_arrange(acq[a], reason))
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
                f"{len(fs)} different images at the same position ({_fmt(d)} mm along the slice normal): "
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
    return [_Part(kept, 1, None, [], split_reason, warnings)]


def _geometry(frames: list[Frame], n_time: int, warnings: list[VolumeWarning], axis_name: str) -> dict[str, Any]:
    nz = len(frames) // n_time
    first = frames[0]
    rows, cols = first.rows, first.columns
    ps = first.pixel_spacing
    if ps is None:
        warnings.append(
            VolumeWarning(
                WarningCode.NO_PIXEL_SPACING, "no PixelSpacing: in-plane spacing set to 1 mm (sizes and distances are not in mm)"
            )
        )
        ps = (1.0, 1.0)
    if any(f.orientation is None or f.position is None for f in frames[:nz]):
        o = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        normal = _normal(o)
        step_len = first.spacing_between_slices or first.slice_thickness or 1.0
        return {
            "shape": ((n_time,) if n_time > 1 else ()) + (nz, rows, cols),
            "spacing": (step_len, ps[0], ps[1]),
            "origin": (0.0, 0.0, 0.0),
            "direction": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
            "slice_step": tuple(float(x) for x in normal * step_len),
            "tilt": 0.0,
        }
    o = first.orientation
    row, col = np.asarray(o[:3]), np.asarray(o[3:])
    normal = _normal(o)
    positions = np.array([f.position for f in frames[:nz]], float)
    dists = positions @ normal
    if nz > 1:
        diffs = np.diff(dists)
        spacing = float(np.median(diffs))
        step = (positions[-1] - positions[0]) / (nz - 1)
        _check_spacing(dists, diffs, spacing, warnings, axis_name)
        cosang = float(np.clip(np.dot(step, normal) / max(np.linalg.norm(step), 1e-12), -1, 1))
        tilt = math.degrees(math.acos(cosang))
        if tilt > 0.01:
            warnings.append(
                VolumeWarning(
                    WarningCode.GANTRY_TILT,
                    f"gantry tilt of {tilt:.2f} degrees: slices are sheared; the volume keeps the shear "
                    "(napari shows it in place, exporters resample or store the sheared affine)",
                )
            )
        # a slice step along the normal of exactly the median spacing, unless tilted: then the mean of the regular
        # steps between neighbours (a gap's longer step left out), so that spacing and step agree with a missing slice
        if tilt > 0.01:
            regular = np.abs(diffs - spacing) <= max(POSITION_TOLERANCE * 5, 0.01 * abs(spacing))
            if regular.any() and not regular.all():
                step = np.diff(positions, axis=0)[regular].mean(axis=0)
        step_vec = step if tilt > 0.01 else normal * spacing
    else:
        spacing = first.spacing_between_slices or first.slice_thickness or 1.0
        step_vec = normal * spacing
        tilt = 0.0
    direction = np.column_stack([row, col, normal])
    return {
        "shape": ((n_time,) if n_time > 1 else ()) + (nz, rows, cols),
        "spacing": (abs(spacing), ps[0], ps[1]),
        "origin": tuple(float(x) for x in positions[0]),
        "direction": tuple(float(x) for x in direction.reshape(-1)),
        "slice_step": tuple(float(x) for x in step_vec),
        "tilt": tilt,
    }


def _check_spacing(dists: np.ndarray, diffs: np.ndarray, spacing: float, warnings: list[VolumeWarning], axis: str) -> None:
    if spacing <= 0:
        return
    tol = max(POSITION_TOLERANCE * 5, 0.01 * spacing)
    gaps = []
    irregular = []
    for i, d in enumerate(diffs):
        if abs(d - spacing) <= tol:
            continue
        ratio = d / spacing
        if ratio > 1.5 and abs(ratio - round(ratio)) * spacing <= tol:
            gaps.append((int(round(ratio)) - 1, dists[i], dists[i + 1]))
        else:
            irregular.append((d, dists[i], dists[i + 1]))
    for n, a, b in gaps:
        warnings.append(
            VolumeWarning(
                WarningCode.MISSING_SLICES,
                f"missing {n} slice{'s' if n > 1 else ''} between {axis} = {_fmt(a)} and {axis} = {_fmt(b)}",
            )
        )
    if irregular:
        d, a, b = irregular[0]
        warnings.append(
            VolumeWarning(
                WarningCode.IRREGULAR_SPACING,
                f"irregular slice spacing: {len(irregular)} step(s) differ from the usual {_fmt(spacing)} mm "
                f"(e.g. {_fmt(d)} mm between {axis} = {_fmt(a)} and {axis} = {_fmt(b)})",
            )
        )


# ----------------------------------------------------------------------------- build


def _axis_name(orientation: tuple[float, ...] | None) -> str:
    if orientation is None:
        return "position"
    n = np.abs(_normal(orientation))
    return "xyz"[int(np.argmax(n))] if n.max() > 0.99 else "position"


def _volume_from_part(part: _Part, files_by_path: dict[str, DicomFile], series_uid: str) -> Volume:
    frames = part.frames
    warnings = list(part.warnings)
    geo = _geometry(frames, part.n_time, warnings, _axis_name(frames[0].orientation))
    files = [files_by_path[p] for p in dict.fromkeys(f.path for f in frames)]
    first = files[0]
    ds = first.tags  # descriptive text read with the header: no pydicom data set needed
    ts = sorted({f.transfer_syntax_uid for f in files})
    for t in ts:
        if decoder_for(t) is None:
            warnings.append(
                VolumeWarning(
                    WarningCode.NO_DECODER,
                    f"transfer syntax {t} ({_ts_name(t)}) has no installed decoder: the volume is listed but cannot be loaded",
                    files=tuple(f.path for f in files if f.transfer_syntax_uid == t),
                )
            )
    if len(ts) > 1:
        warnings.append(
            VolumeWarning(
                WarningCode.MIXED_TRANSFER_SYNTAXES,
                f"files use {len(ts)} transfer syntaxes ({', '.join(ts)}); each is decoded with its engine",
            )
        )
    for f in files:
        problem = pixel_format_problem(f)
        if problem:
            warnings.append(
                VolumeWarning(
                    WarningCode.PIXEL_FORMAT,
                    f"{problem}: the volume is listed but cannot be loaded (files such as {f.path})",
                    files=tuple(g.path for g in files if pixel_format_problem(g)),
                )
            )
            break
    warnings.extend(_file_warnings(files))
    f0 = frames[0]
    acq_dt = _str(ds, "AcquisitionDateTime") or (_str(ds, "AcquisitionDate") + _str(ds, "AcquisitionTime"))
    tilt_tag = _tag_number(ds, "GantryDetectorTilt", float)
    number = _tag_number(ds, "SeriesNumber", int)
    return Volume(
        key="",
        series_instance_uid=series_uid,
        files=files,
        frames=frames,
        shape=geo["shape"],
        spacing=tuple(float(x) for x in geo["spacing"]),  # type: ignore[arg-type]
        origin=geo["origin"],
        direction=geo["direction"],
        slice_step=geo["slice_step"],
        # classic files carry TemporalPositionIdentifier, enhanced ones TemporalPositionIndex: name the one read
        time_tag="TemporalPositionIdentifier"
        if part.time_tag == "TemporalPositionIndex" and not any(f.enhanced for f in files)
        else part.time_tag,
        time_values=part.time_values,
        split_reason=part.split_reason,
        warnings=warnings,
        series_number=number,
        series_description=_str(ds, "SeriesDescription"),
        modality=first.modality,
        manufacturer=_str(ds, "Manufacturer"),
        convolution_kernel=_str(ds, "ConvolutionKernel"),
        study_instance_uid=first.study_instance_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        sop_class_uid=first.sop_class_uid,
        transfer_syntax_uid=ts[0] if len(ts) == 1 else ",".join(ts),
        image_type=f0.image_type,
        slice_thickness=f0.slice_thickness,
        acquisition_datetime=acq_dt,
        content_time=_str(ds, "ContentTime"),
        instance_creation_time=_str(ds, "InstanceCreationTime"),
        window=(f0.window_center, f0.window_width) if f0.window_center is not None and f0.window_width else None,
        rescale=(f0.rescale_slope, f0.rescale_intercept),
        gantry_tilt=geo["tilt"] if geo["tilt"] > 0.01 else (abs(tilt_tag) if tilt_tag else 0.0),
    )


#: Colour photometric interpretations (loaded as RGB).
COLOUR_PHOTOMETRIC = (
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_PARTIAL_422",
    "YBR_PARTIAL_420",
    "YBR_ICT",
    "YBR_RCT",
    "PALETTE COLOR",
)


def is_colour(f: DicomFile) -> bool:
    """True for a colour image (3 samples per pixel, or PALETTE COLOR looked up to RGB)."""
    return f.samples_per_pixel == 3 or f.photometric_interpretation == "PALETTE COLOR"


def pixel_format_problem(f: DicomFile) -> str | None:
    """Why the pixels of ``f`` cannot be loaded whatever the decoder (unsupported bit depth or colour), or None."""
    if f.bits_allocated not in (8, 16, 32):
        return f"BitsAllocated {f.bits_allocated} is not supported (8, 16 or 32 only)"
    if f.samples_per_pixel not in (1, 3):
        return f"{f.samples_per_pixel} samples per pixel ({f.photometric_interpretation or 'no PhotometricInterpretation'}) are not supported"
    if f.samples_per_pixel == 3 and f.photometric_interpretation not in COLOUR_PHOTOMETRIC:
        return f"3 samples per pixel with PhotometricInterpretation {f.photometric_interpretation or '(none)'} are not supported"
    return None


def _file_warnings(files: list[DicomFile]) -> list[VolumeWarning]:
    """The files' own warnings (strings of the scan) as records; one for a message that several files repeat."""
    by_msg: dict[str, list[str]] = {}
    for f in files:
        prefix = f"{f.path}: "
        for w in f.warnings:
            by_msg.setdefault(w[len(prefix) :] if w.startswith(prefix) else w, []).append(f.path)
    out = []
    for msg, paths in by_msg.items():
        text = f"{paths[0]}: {msg}" if len(paths) == 1 else f"{len(paths)} files, e.g. {paths[0]}: {msg}"
        out.append(VolumeWarning(WarningCode.FILE_PROBLEM, text, files=tuple(dict.fromkeys(paths))))
    return out


def _ts_name(uid: str) -> str:
    try:
        from pydicom.uid import UID

        return UID(uid).name
    except Exception:  # noqa: BLE001
        return "unknown"


def _segmentation_volume(series_uid: str, f: DicomFile, split_reason: str | None) -> Volume:
    """One SEG object as a volume on the grid of its frames (see :mod:`segmentation` for the overlap rule)."""
    ds = f.dataset
    grid = seg_grid(f.frames)
    warnings: list[VolumeWarning] = []
    present, overlapping = segment_layout(f)
    # binary / fractional: the segments that have frames; a label map: every segment but its background (0)
    segments = [seg for seg in segments_of(ds) if (seg.number in present if present else seg.number != 0)]
    rows, cols = f.frames[0].rows, f.frames[0].columns
    ps = f.frames[0].pixel_spacing or (1.0, 1.0)
    if grid is None:
        warnings.append(
            VolumeWarning(
                WarningCode.NO_GEOMETRY,
                "segmentation frames lack plane position or orientation: placed with default geometry",
                files=(f.path,),
            )
        )
        nz, spacing, origin, normal = len(f.frames), 1.0, (0.0, 0.0, 0.0), np.array([0.0, 0.0, 1.0])
        row, col = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    else:
        warnings.extend(grid.warnings)
        nz, spacing, origin, normal = grid.n_slices, grid.spacing, grid.origin, np.asarray(grid.normal)
        o = f.frames[0].orientation or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        row, col = np.asarray(o[:3]), np.asarray(o[3:])
    n_frames_slices = len(set(grid.slice_of)) if grid is not None else nz
    if n_frames_slices < nz:
        warnings.append(
            VolumeWarning(
                WarningCode.SPARSE_SEGMENTATION,
                f"sparse segmentation: frames on {n_frames_slices} of {nz} slices; the others are empty",
                files=(f.path,),
            )
        )
    shape: tuple[int, ...] = (nz, rows, cols)
    time_values: list[Any] = []
    if overlapping:
        shape = (len(present), *shape)
        time_values = list(present)
        warnings.append(
            VolumeWarning(
                WarningCode.OVERLAPPING_SEGMENTS,
                f"segments {', '.join(map(str, present))} share slices and may overlap: one mask per segment "
                "(never merged into one label map)",
                files=(f.path,),
            )
        )
    refs = [str(r.get("SeriesInstanceUID", "")) for r in ds.get("ReferencedSeriesSequence") or [] if r.get("SeriesInstanceUID")]
    number = _tag_number(ds, "SeriesNumber", int)
    what = (
        "label map" if str(ds.get("SegmentationType", "")).upper() == "LABELMAP" else str(ds.get("SegmentationType", "")).lower()
    )
    return Volume(
        key="",
        series_instance_uid=series_uid,
        files=[f],
        frames=list(f.frames),
        shape=shape,
        spacing=(float(spacing), float(ps[0]), float(ps[1])),
        origin=tuple(float(x) for x in origin),  # type: ignore[arg-type]
        direction=tuple(float(x) for x in np.column_stack([row, col, normal]).reshape(-1)),
        slice_step=tuple(float(x) for x in normal * spacing),  # type: ignore[arg-type]
        time_tag="ReferencedSegmentNumber" if overlapping else None,
        time_values=time_values,
        split_reason=split_reason,
        warnings=warnings,
        series_number=number,
        series_description=_str(ds, "SeriesDescription") or f"{what} segmentation".strip(),
        modality=f.modality,
        manufacturer=_str(ds, "Manufacturer"),
        study_instance_uid=f.study_instance_uid,
        frame_of_reference_uid=f.frame_of_reference_uid,
        sop_class_uid=f.sop_class_uid,
        transfer_syntax_uid=f.transfer_syntax_uid,
        content_time=_str(ds, "ContentTime"),
        instance_creation_time=_str(ds, "InstanceCreationTime"),
        kind=Kind.SEGMENTATION,
        segments=segments,
        references=refs,
    )


def _non_image_volume(series_uid: str, files: list[DicomFile]) -> Volume:
    first = files[0]
    ds = first.tags
    what = NON_IMAGE_SOP_CLASSES.get(first.sop_class_uid) or _ts_name(first.sop_class_uid)
    number = _tag_number(ds, "SeriesNumber", int)
    return Volume(
        key="",
        series_instance_uid=series_uid,
        files=files,
        frames=[],
        shape=(),
        spacing=(0.0, 0.0, 0.0),
        origin=(0.0, 0.0, 0.0),
        direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        slice_step=(0.0, 0.0, 0.0),
        warnings=[
            VolumeWarning(
                WarningCode.NO_PIXEL_DATA,
                f"{len(files)} file(s) without pixel data ({what}): listed, not loadable as an image",
                files=tuple(f.path for f in files),
            )
        ],
        is_image=False,
        series_number=number,
        series_description=_str(ds, "SeriesDescription"),
        modality=first.modality,
        manufacturer=_str(ds, "Manufacturer"),
        study_instance_uid=first.study_instance_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        sop_class_uid=first.sop_class_uid,
        transfer_syntax_uid=first.transfer_syntax_uid,
        content_time=_str(ds, "ContentTime"),
        instance_creation_time=_str(ds, "InstanceCreationTime"),
        kind=Kind.NON_IMAGE,
    )


def build_volumes(result: ScanResult | Iterable[DicomFile]) -> list[Volume]:
    """Group the files of a scan into volumes (unclassified; see :func:`classify.classify`).

    Volumes are ordered by series number, then by the order of their parts.
    """
    files = result.files if isinstance(result, ScanResult) else list(result)
    by_series: dict[tuple[str, str], list[DicomFile]] = defaultdict(list)
    for f in files:
        by_series[(f.series_instance_uid, f.series_number)].append(f)
    numbers = Counter(uid for uid, _ in by_series)
    volumes: list[Volume] = []
    for (uid, number), sfiles in by_series.items():
        # one SeriesInstanceUID with several SeriesNumbers: each number is its own series
        series_reason = f"SeriesNumber={number or '(none)'}" if numbers[uid] > 1 else None
        images = [f for f in sfiles if f.is_image and not is_segmentation(f)]
        others = [f for f in sfiles if not f.is_image]
        if others:
            volumes.append(_non_image_volume(uid, others))
        segs: dict[str, list[DicomFile]] = defaultdict(list)
        for f in sfiles:
            if f.is_image and is_segmentation(f):
                segs[f.sop_instance_uid].append(f)  # a copy of one SEG object under another name counts once
        for copies in segs.values():
            copies.sort(key=lambda f: f.path)
            vol = _segmentation_volume(uid, copies[0], series_reason)
            if len(copies) > 1:
                vol.warnings.append(
                    VolumeWarning(
                        WarningCode.DUPLICATE_FILES,
                        f"{len(copies)} files hold this SEG object (one SOPInstanceUID): {copies[0].path} is used, "
                        + ", ".join(f.path for f in copies[1:])
                        + " ignored",
                        files=tuple(f.path for f in copies[1:]),
                    )
                )
            volumes.append(vol)
        if not images:
            continue
        files_by_path = {f.path: f for f in images}
        frames = [fr for f in images for fr in f.frames]
        for group, reason in _split_series(frames):
            reason = ", ".join(r for r in (series_reason, reason) if r) or None
            for part in _arrange(group, reason):
                volumes.append(_volume_from_part(part, files_by_path, uid))
    volumes.sort(key=lambda v: (v.series_number is None, v.series_number or 0, v.series_instance_uid, not v.is_image))
    counts = Counter(v.series_number for v in volumes)
    seen: Counter[Any] = Counter()
    for v in volumes:
        seen[v.series_number] += 1
        base = str(v.series_number) if v.series_number is not None else v.series_instance_uid
        v.key = base if counts[v.series_number] == 1 else f"{base}.{seen[v.series_number]}"
    return volumes

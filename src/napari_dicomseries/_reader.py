"""napari reader: one image layer per DICOM volume, placed in patient space, with its DICOM metadata.

Opens a folder (dragged in, File > Open Folder, ``napari --plugin
napari-dicomseries DIR``), a single DICOM file or a list of files.
:func:`get_reader` only peeks at a few files, so paths without DICOM go to
other readers.

Every layer maps array index (k, j, i) -- or (t, k, j, i) -- to DICOM patient
coordinates (LPS, mm) in napari world axis order (z, y, x): ``layer.scale``
holds the voxel size (slice step, row spacing, column spacing) and
``layer.affine`` the orientation (direction cosines, gantry-tilt shear) and
the position of voxel 0. Non-axial volumes are transposed to the array axis
order closest to the world's (``metadata["dicom"]["axes"]``), since napari
draws 2-D views from a layer's last two array axes.

Options (environment variables, read at each call):

``NAPARI_DICOMSERIES_LOCALIZERS=1``
    also open localizers (scouts) and secondary captures (screenshots, dose reports), hidden.
``NAPARI_DICOMSERIES_GAPS=keep|split|resample``
    what to do with missing slices or irregular spacing: ``keep`` (default:
    load with a warning, slices at the usual spacing), ``split`` (one layer
    per regular part) or ``resample`` (linear interpolation to uniform
    spacing; loads into memory).
``NAPARI_DICOMSERIES_LAZY=auto|1|0``
    ``auto`` (default) reads volumes above :data:`LAZY_THRESHOLD_BYTES`
    (128 MiB) slice by slice on demand (dask), smaller ones at once; ``1``/``0`` force.
``NAPARI_DICOMSERIES_PRIVATE_TAGS=1``
    put private tags in the per-slice header table too.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import load, open_folder
from .errors import DecodeError, DicomSeriesError
from .gaps import DEFAULT_GAP_POLICY, GAP_POLICIES, Geometry, find_gaps, resample_uniform
from .scan import DicomFile, Skipped, is_dicom, is_multivalue, iter_paths
from .volume import Volume

__all__ = [
    "get_reader",
    "read_dicom",
    "read_volumes",
    "volume_layer_data",
    "layer_geometry",
    "world_axis_order",
    "slice_table",
    "SliceTable",
    "DicomReaderWarning",
    "LAZY_THRESHOLD_BYTES",
]

ENV_LOCALIZERS = "NAPARI_DICOMSERIES_LOCALIZERS"
ENV_GAPS = "NAPARI_DICOMSERIES_GAPS"
ENV_LAZY = "NAPARI_DICOMSERIES_LAZY"
ENV_PRIVATE = "NAPARI_DICOMSERIES_PRIVATE_TAGS"

#: Volumes whose loaded voxels take more bytes than this are read lazily (slice by slice, on demand).
#: 128 MiB = 256 slices of 512 x 512 int16. Measured with benchmarks/bench_load.py (2 shared cores, warm page
#: cache), layer data + ``ViewerModel.add_image`` until the first slice is shown, eager vs lazy:
#: 32 MiB 0.061 vs 0.039 s, 128 MiB 0.082 vs 0.072 s, 500 MiB (1,001 slices, with the scan) 1.30 vs 0.34 s.
#: Eager costs ~0.6-2 ms per MiB while the lazy first slice stays flat, so up to 128 MiB eager adds at most
#: ~0.25 s and buys instant scrolling and 3-D rendering; above it lazy wins and memory stays bounded.
LAZY_THRESHOLD_BYTES = 128 * 2**20
#: How many files :func:`get_reader` looks at before deciding a folder holds no DICOM.
PEEK_FILES = 64

LayerDataTuple = tuple[Any, dict[str, Any], str]


class DicomReaderWarning(UserWarning):
    """A problem the reader worked around (napari shows it as a notification)."""


# ----------------------------------------------------------------------------- options


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _gaps_mode() -> str:
    mode = os.environ.get(ENV_GAPS, "").strip().lower() or DEFAULT_GAP_POLICY
    if mode not in GAP_POLICIES:
        warnings.warn(
            f"{ENV_GAPS}={mode!r} is not one of {', '.join(GAP_POLICIES)}: using {DEFAULT_GAP_POLICY}",
            DicomReaderWarning,
            stacklevel=3,
        )
        mode = DEFAULT_GAP_POLICY
    return mode


def _lazy_choice() -> bool | None:
    v = os.environ.get(ENV_LAZY, "auto").strip().lower()
    if v in ("1", "true", "yes", "on", "always"):
        return True
    if v in ("0", "false", "no", "off", "never"):
        return False
    return None


# ----------------------------------------------------------------------------- npe2 entry points


def _has_dicom(paths: Sequence[str], limit: int = PEEK_FILES) -> bool:
    n = 0
    for p, problem in iter_paths(paths, recursive=True):
        if problem:
            continue
        if is_dicom(p):
            return True
        n += 1
        if n >= limit:
            return False
    return False


def get_reader(path: str | Sequence[str]) -> Callable[[str | Sequence[str]], list[LayerDataTuple]] | None:
    """Return :func:`read_dicom` when ``path`` holds DICOM, else None (so other readers can take it).

    Cheap and never raises: looks at the first 132 bytes of at most
    :data:`PEEK_FILES` files.
    """
    try:
        paths = [os.fspath(path)] if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path]
        if paths and _has_dicom(paths):
            return read_dicom
    except Exception:  # noqa: BLE001 - a reader hook must never raise
        return None
    return None


def read_dicom(path: str | Sequence[str]) -> list[LayerDataTuple]:
    """The npe2 reader function: every volume under ``path`` as image layer data (options from the environment)."""
    return read_volumes(path, include_localizers=_env_flag(ENV_LOCALIZERS))


# ----------------------------------------------------------------------------- reading


def read_volumes(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    include_localizers: bool = False,
    lazy: bool | None = None,
    gaps: str | None = None,
    private_tags: bool | None = None,
) -> list[LayerDataTuple]:
    """Scan ``paths`` and return one image ``(data, kwargs, "image")`` per loadable volume.

    Parameters
    ----------
    paths : path or iterable of paths
        A folder, a file or a list of them.
    include_localizers : bool
        Also return localizers (scouts) and secondary captures (screenshots, dose reports), hidden.
        Secondary captures are returned anyway when the folder holds no other image.
    lazy : bool, optional
        Force dask (True) or numpy (False) data; default: lazy above :data:`LAZY_THRESHOLD_BYTES`
        (or as ``NAPARI_DICOMSERIES_LAZY`` says).
    gaps : {"split", "resample", "keep"}, optional
        Treatment of missing slices and irregular spacing (default: ``NAPARI_DICOMSERIES_GAPS`` or split;
        see :func:`napari_dicomseries.gaps.apply_gap_policy`).
    private_tags : bool, optional
        Put private tags in the per-slice table (default: ``NAPARI_DICOMSERIES_PRIVATE_TAGS``).

    Returns
    -------
    list of (data, dict, "image")
        Only the thinnest axial volume is visible; the others are added hidden.
        Volumes that cannot be loaded are left out with a :class:`DicomReaderWarning`.
    """
    gaps = gaps or _gaps_mode()
    lazy = _lazy_choice() if lazy is None else lazy
    private_tags = _env_flag(ENV_PRIVATE) if private_tags is None else private_tags
    volumes, result = open_folder(paths, progress=False, gaps=gaps)
    chosen: list[Volume] = []
    # screenshots, dose reports and document pages have no place in patient space: left out like scouts,
    # unless the folder holds nothing else
    only_secondary = all(v.kind in ("secondary", "localizer", "non-image") or not v.is_image for v in volumes)
    for v in volumes:
        if v.kind == "non-image" or not v.is_image:
            continue
        if v.kind == "localizer" and not include_localizers:
            continue
        if v.kind == "secondary" and not (include_localizers or only_secondary):
            continue
        if not v.loadable:
            # the scan's warning says why: no decoder for the transfer syntax, or an unsupported pixel format
            why = next((w for w in v.warnings if "cannot be loaded" in w), "its pixel data cannot be decoded here")
            warnings.warn(f"{_label(v)} not opened: {why}", DicomReaderWarning, stacklevel=2)
            continue
        chosen.append(v)
    if not chosen and result.skipped and not result.files:
        warnings.warn(
            f"no DICOM image in {result.root}: {len(result.skipped)} file(s) skipped, e.g. "
            f"{result.skipped[0].path} ({result.skipped[0].reason})",
            DicomReaderWarning,
            stacklevel=2,
        )
    broken = _broken_files(result.skipped)
    uids = {v.series_instance_uid for v in chosen}
    orphans = [msg for uid, msgs in broken.items() if uid not in uids for msg in msgs]
    if orphans:
        warnings.warn(
            f"{len(orphans)} DICOM file(s) could not be read and were left out: " + "; ".join(orphans),
            DicomReaderWarning,
            stacklevel=2,
        )
    segmentations = [v for v in chosen if v.kind == "segmentation"]
    chosen = [v for v in chosen if v.kind != "segmentation"]
    shown = _pick_visible(chosen)
    out: list[LayerDataTuple] = []
    names: set[str] = set()
    for v in chosen:
        name = _unique(_layer_name(v), names)
        extra = broken.get(v.series_instance_uid, [])
        if extra:
            extra = [f"{len(extra)} file(s) of this series could not be read and were left out: " + "; ".join(extra)]
        try:
            layer = volume_layer_data(
                v,
                lazy=lazy,
                visible=v is shown,
                private_tags=private_tags,
                name=name,
                extra_warnings=extra,
            )
        except DicomSeriesError as exc:
            warnings.warn(f"{name} not opened: {exc}", DicomReaderWarning, stacklevel=2)
            continue
        except Exception as exc:  # noqa: BLE001 - one volume that fails in an unforeseen way must not take the others down
            warnings.warn(
                f"{name} ({_label(v)}, {len(v.files)} file(s), e.g. {v.paths[0] if v.paths else '?'}) not opened: "
                f"{type(exc).__name__}: {exc}",
                DicomReaderWarning,
                stacklevel=2,
            )
            continue
        names.add(name)
        out.append(layer)
    out = _visible_last(out)
    for v in segmentations:  # on top of the images they segment
        name = _unique(_layer_name(v), names)
        try:
            layers = segmentation_layer_data(v, name=name)
        except DicomSeriesError as exc:
            warnings.warn(f"{name} not opened: {exc}", DicomReaderWarning, stacklevel=2)
            continue
        names.update(kw["name"] for _, kw, _ in layers)
        out.extend(layers)
    return out


def segmentation_layer_data(volume: Volume, *, name: str | None = None) -> list[LayerDataTuple]:
    """Labels layer data for a segmentation volume, in patient space on the grid of its frames.

    A label map gives one layer whose values are the segment numbers; a SEG
    whose segments share slices gives one layer per segment (never merged).
    Names and colours come from the SegmentSequence (RecommendedDisplayCIELabValue);
    ``features`` lists the segments.
    """
    name = name or _layer_name(volume)
    data = np.asarray(load.load_volume(volume))
    axes = world_axis_order(volume)
    scale, affine = layer_geometry(volume, 3, axes)
    colors: dict[int | None, tuple[float, ...]] = {None: (0.0, 0.0, 0.0, 0.0)}
    for seg in volume.segments:
        if seg.color:
            colors[seg.number] = (*(c / 255 for c in seg.color), 1.0)
    summary = volume.summary()
    base = {
        "scale": scale.tolist(),
        "affine": affine,
        "units": ("mm", "mm", "mm"),
        "axis_labels": ("z", "y", "x"),
        "opacity": 0.6,
        "metadata": {
            "dicom": {
                "volume": summary,
                "files": volume.paths,
                "warnings": list(volume.warnings),
                "affine_lps": volume.affine_lps().round(6).tolist(),
                "axes": list(axes),
                "segments": [seg.to_dict() for seg in volume.segments],
                "references": list(volume.references),
            }
        },
    }
    for w in volume.warnings:
        warnings.warn(f"{name}: {w}", DicomReaderWarning, stacklevel=2)

    def one(arr: np.ndarray, layer_name: str, segs: list[Any]) -> LayerDataTuple:
        kw = dict(base, name=layer_name)
        if len(colors) > 1:
            kw["colormap"] = {k: v for k, v in colors.items() if k is None or any(s.number == k for s in segs)}
        kw["features"] = {
            "index": [s.number for s in segs],
            "label": [s.label for s in segs],
            "category": [s.category for s in segs],
            "type": [s.type for s in segs],
        }
        return arr.transpose(axes) if axes != (0, 1, 2) else arr, kw, "labels"

    if volume.ndim == 4:  # one mask per segment: label value = segment number
        by_number = {seg.number: seg for seg in volume.segments}
        out = []
        for j, number in enumerate(volume.time_values):
            seg = by_number.get(number)
            label = seg.label if seg else f"segment {number}"
            mask = (data[j] > 0).astype(np.uint8 if number < 256 else np.uint16) * number
            out.append(one(mask, f"{name} {label}", [seg] if seg else []))
        return out
    return [one(data, name, list(volume.segments))]


def _visible_last(out: list[LayerDataTuple]) -> list[LayerDataTuple]:
    """Make exactly one layer visible (the chosen one, else the first) and put it last.

    napari makes the last layer it adds the active (selected) one: the layer a
    user sees must be that one, not a hidden layer.
    """
    if not out:
        return out
    shown = next((i for i, (_, kw, _) in enumerate(out) if kw.get("visible", True)), 0)
    out[shown][1]["visible"] = True
    return [t for i, t in enumerate(out) if i != shown] + [out[shown]]


def _broken_files(skipped: Sequence[Skipped]) -> dict[str, list[str]]:
    """Files the scan skipped although they start like DICOM (truncated, corrupt header), by SeriesInstanceUID.

    Junk (no DICOM marker) and DICOMDIR indexes are not reported. The series
    comes from whatever pydicom can still read of the header ('' if nothing).
    """
    import pydicom

    out: dict[str, list[str]] = {}
    for s in skipped:
        if "DICOMDIR" in s.reason or not is_dicom(s.path):
            continue
        uid = ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(s.path, stop_before_pixels=True, force=True, specific_tags=["SeriesInstanceUID"])
            uid = str(ds.get("SeriesInstanceUID", "") or "")
        except Exception:  # noqa: BLE001 - the header is broken too: report the file without its series
            uid = ""
        out.setdefault(uid, []).append(f"{s.path} ({s.reason})")
    return out


def _label(v: Volume) -> str:
    return f"series {v.key} ({v.series_description!r})"


def _layer_name(v: Volume) -> str:
    """``S{SeriesNumber} {SeriesDescription}`` (+ ``[key]`` for a split series).

    A series without SeriesNumber is named by its description, modality and
    date/time instead (its key is the long SeriesInstanceUID, no help to a reader).
    """
    if v.series_number is None:
        parts = [v.series_description, v.modality, _series_when(v)]
        name = " ".join(p for p in parts if p) or "DICOM series"
        uid = v.series_instance_uid
        if v.key.startswith(uid) and v.key != uid and v.key[len(uid) :].startswith("."):
            name += f" [{v.key[len(uid) + 1 :]}]"
        return name
    name = f"S{v.series_number} {v.series_description}".strip()
    if v.key != str(v.series_number):
        name += f" [{v.key}]"
    return name


def _series_when(v: Volume) -> str:
    """``YYYY-MM-DD HH:MM`` of the acquisition (else series, content or study date), '' if none."""
    dt = v.acquisition_datetime
    if not dt and v.files:
        ds = v.files[0].dataset
        for date_kw, time_kw in (("SeriesDate", "SeriesTime"), ("ContentDate", "ContentTime"), ("StudyDate", "StudyTime")):
            date = str(ds.get(date_kw, "") or "").strip()
            if date:
                dt = date + str(ds.get(time_kw, "") or "").strip()
                break
    digits = "".join(c for c in dt if c.isdigit())
    if len(digits) < 8:
        return ""
    out = f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    if len(digits) >= 12:
        out += f" {digits[8:10]}:{digits[10:12]}"
    return out


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def _thickness(v: Volume) -> float:
    return v.slice_thickness or v.spacing[0] or float("inf")


def _pick_visible(volumes: Sequence[Volume]) -> Volume | None:
    """The thinnest non-localizer axial volume with more than one slice; else the first."""
    cands = [v for v in volumes if v.kind != "localizer" and v.orientation == "axial"]
    multi = [v for v in cands if v.n_slices > 1] or cands
    if multi:
        return min(multi, key=lambda v: (_thickness(v), -v.n_slices))  # min keeps the first of equals
    return volumes[0] if volumes else None


# ----------------------------------------------------------------------------- one volume


def world_axis_order(geometry: Volume | Geometry) -> tuple[int, int, int]:
    """The DICOM array axes (0 = slices, 1 = rows, 2 = columns) closest to world z, y, x, in that order.

    napari draws a 2-D view from a layer's last two array axes: they must run
    roughly along the displayed world axes (y, x), or the view is singular.
    An axial volume gives (0, 1, 2); a coronal one (1, 0, 2); a sagittal one
    (1, 2, 0). The permutation maximises the summed |cosine| between array
    and world axes, so oblique volumes get their nearest axis order.
    """
    from itertools import permutations

    lin = geometry.affine_lps()[[2, 1, 0], :3]  # rows (z, y, x), columns (k, j, i)
    norms = np.linalg.norm(lin, axis=0)
    cos = np.abs(lin / np.where(norms == 0, 1.0, norms))
    best = max(permutations(range(3)), key=lambda p: (sum(cos[w, p[w]] for w in range(3)), p == (0, 1, 2)))
    return best  # type: ignore[return-value]


def layer_geometry(
    geometry: Volume | Geometry, ndim: int | None = None, axes: Sequence[int] = (0, 1, 2)
) -> tuple[np.ndarray, np.ndarray]:
    """napari ``scale`` and ``affine`` that put array index (k, j, i) at patient LPS, world axes (z, y, x), in mm.

    ``scale`` is the voxel size (|slice step|, row spacing, column spacing);
    ``affine`` the rest: direction cosines (with the gantry-tilt shear) and
    the position of voxel 0. With ``ndim`` 4 a leading time axis of scale 1
    is added. ``world = affine @ diag(scale) @ index``. With ``axes`` (see
    :func:`world_axis_order`) the layer's array is the DICOM array transposed
    to that axis order, and the geometry follows it.
    """
    a = geometry.affine_lps()  # index (k, j, i) -> (x, y, z)
    m = a[[2, 1, 0], :]  # rows (z, y, x)
    lin = m[:, list(axes)]
    scale = np.linalg.norm(lin, axis=0)
    scale[scale == 0] = 1.0
    aff = np.eye(4)
    aff[:3, :3] = lin / scale
    aff[:3, 3] = m[:, 3]
    ndim = ndim or len(geometry.shape)
    if ndim == 4:
        aff4 = np.eye(5)
        aff4[1:, 1:] = aff
        return np.concatenate([[1.0], scale]), aff4
    return scale, aff


def _fill_value(volume: Volume, dtype: np.dtype) -> Any:
    """What an undecodable slice is filled with: stored value 0 after rescale (air in CT, black in MR)."""
    v = volume.rescale[1]
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(np.clip(round(v), info.min, info.max))
    return v


class _SafeReader:
    """Reads frames through :func:`load.read_frame`; a frame that cannot be decoded becomes a blank slice and a warning."""

    def __init__(self, volume: Volume, dtype: np.dtype, name: str) -> None:
        self.volume = volume
        self.dtype = dtype
        self.name = name
        self.fill = _fill_value(volume, dtype)
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, k: int, *, warn: bool = True) -> np.ndarray:
        frame = self.volume.frames[k]
        try:
            return load.read_frame(self.volume, frame, self.dtype)
        except DecodeError as exc:
            with self._lock:
                new = frame.path not in self.failed
                self.failed.setdefault(frame.path, str(exc))
            if new and warn:
                warnings.warn(f"{self.name}: {exc} -- slice {k + 1} shown blank", DicomReaderWarning, stacklevel=2)
            return np.full(self.volume.shape[-2:], self.fill, dtype=self.dtype)

    def into(self, k: int, out: np.ndarray) -> None:
        """Frame ``k`` into ``out`` (the fast path of :func:`load.read_frame_into`), blank if it cannot be decoded."""
        try:
            load.read_frame_into(self.volume, self.volume.frames[k], out)
        except DecodeError as exc:
            with self._lock:
                self.failed.setdefault(self.volume.frames[k].path, str(exc))
            out[...] = self.fill


def _eager(volume: Volume, dtype: np.dtype, name: str, workers: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Read every frame into one preallocated array (:func:`load.load_volume`); undecodable frames blank."""
    reader = _SafeReader(volume, dtype, name)
    out = load.load_volume(volume, dtype=dtype, workers=workers, read_into=reader.into)
    if not reader.failed:
        return out, []
    if len(reader.failed) == len(volume.files):
        raise DecodeError(f"no slice could be decoded: {next(iter(reader.failed.values()))}")
    problems = [
        f"{len(reader.failed)} file(s) could not be decoded and are shown blank: "
        + "; ".join(reader.failed[p] for p in sorted(reader.failed))
    ]
    return out, problems


def _lazy(volume: Volume, dtype: np.dtype, name: str) -> Any:
    """A dask array read frame by frame on demand (:func:`load.load_lazy`); undecodable frames blank."""
    return load.load_lazy(volume, dtype=dtype, read=_SafeReader(volume, dtype, name))


def _contrast_limits(volume: Volume, data: Any) -> tuple[float, float]:
    """From the first WindowCenter/WindowWidth, else the 1-99.5 percentiles of a few slices."""
    if volume.window:
        c, w = volume.window
        return (float(c - w / 2), float(c + w / 2))
    n = volume.n_slices
    ks = sorted({n // 2, n // 4, (3 * n) // 4})
    lead = (0,) * (len(volume.shape) - 3)
    sample = np.concatenate([np.asarray(data[(*lead, k)]).ravel() for k in ks])
    lo, hi = (float(x) for x in np.percentile(sample, [1.0, 99.5]))
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def _json_value(elem: Any) -> Any:
    vr = str(elem.VR)
    try:
        v = elem.value
    except Exception:  # noqa: BLE001 - an unreadable value is shown as such
        return "<unreadable>"
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    multi = is_multivalue(v)
    items = list(v) if multi else [v]
    if items and isinstance(items[0], (bytes, bytearray)):
        return f"<{len(items)} binary values>"
    out: list[Any] = []
    for x in items:
        if vr in ("DS", "FL", "FD", "OF", "OD"):
            try:
                x = float(x)
            except (TypeError, ValueError):
                x = str(x)
        elif vr in ("IS", "US", "SS", "UL", "SL", "UV", "SV"):
            try:
                x = int(x)
            except (TypeError, ValueError):
                x = str(x)
        else:
            x = str(x)
        out.append(x)
    return out if multi else out[0]


def _file_row(f: DicomFile, private: bool) -> dict[str, Any]:
    row: dict[str, Any] = {}
    ds = f.dataset
    for elem in ds:
        if elem.VR == "SQ" or elem.tag == 0x7FE00010:
            continue
        if elem.tag.group % 2 == 1 and not private:
            continue
        key = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
        row[key] = _json_value(elem)
    return row


def slice_table(volume: Volume, *, private: bool = False) -> list[dict[str, Any]]:
    """One dict per slice (array order, time-major): top-level non-sequence tags keyword -> value.

    Values are numbers, strings or lists of them; binary values are given as
    ``"<n bytes>"``. Each row also names its ``file`` (and ``frame``, 1-based,
    for multi-frame files, whose per-frame geometry is filled in from the
    functional groups).
    """
    rows_of: dict[str, dict[str, Any]] = {}
    files = {f.path: f for f in volume.files}
    out = []
    for fr in volume.frames:
        base = rows_of.get(fr.path)
        if base is None:
            base = rows_of[fr.path] = _file_row(files[fr.path], private)
        row = dict(base)
        row["file"] = fr.path
        if files[fr.path].number_of_frames > 1:
            row["frame"] = fr.index + 1
            extra = {
                "ImagePositionPatient": list(fr.position) if fr.position else None,
                "ImageOrientationPatient": list(fr.orientation) if fr.orientation else None,
                "PixelSpacing": list(fr.pixel_spacing) if fr.pixel_spacing else None,
                "SliceThickness": fr.slice_thickness,
                "RescaleSlope": fr.rescale_slope,
                "RescaleIntercept": fr.rescale_intercept,
                "WindowCenter": fr.window_center,
                "WindowWidth": fr.window_width,
                "TemporalPositionIndex": fr.temporal_position,
            }
            row.update({k: v for k, v in extra.items() if v is not None})
        out.append(row)
    return out


class SliceTable(Sequence):
    """The per-slice header table of :func:`slice_table`, built on first use.

    Re-reading every header and converting its values costs about 1 ms per
    file, which would double the time to open a study; most layers never need
    the table, so it is a read-only sequence of dicts that fills itself when
    first indexed or iterated. ``list(table)`` (or :meth:`to_list`) gives a
    plain, JSON-serialisable list; copying or pickling gives a list too.
    """

    def __init__(self, volume: Volume, *, private: bool = False) -> None:
        self._volume: Volume | None = volume
        self._private = private
        self._n = len(volume.frames)
        self._rows: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def to_list(self) -> list[dict[str, Any]]:
        """The rows as a plain list (built now if needed)."""
        if self._rows is None:
            with self._lock:
                if self._rows is None:
                    assert self._volume is not None
                    self._rows = slice_table(self._volume, private=self._private)
                    self._volume = None
        return self._rows

    @property
    def built(self) -> bool:
        """True once the rows have been read."""
        return self._rows is not None

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        return self.to_list()[index]

    def __iter__(self) -> Any:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SliceTable):
            other = other.to_list()
        return isinstance(other, list) and self.to_list() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = "read" if self.built else "not read yet"
        return f"<SliceTable of {self._n} slices ({state})>"

    def __deepcopy__(self, memo: dict[int, Any]) -> list[dict[str, Any]]:
        import copy

        return copy.deepcopy(self.to_list(), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (self.to_list(),))


def volume_layer_data(
    volume: Volume,
    *,
    lazy: bool | None = None,
    visible: bool = True,
    resample: bool | None = None,
    private_tags: bool = False,
    name: str | None = None,
    extra_warnings: Sequence[str] = (),
) -> LayerDataTuple:
    """Image layer data ``(data, kwargs, "image")`` for one volume, in patient space.

    Parameters
    ----------
    volume : Volume
        A loadable image volume (from :func:`napari_dicomseries.open_folder`).
    lazy : bool, optional
        Dask array read slice by slice on demand (True) or numpy array read now
        (False); default: lazy when the voxels take more than :data:`LAZY_THRESHOLD_BYTES`.
    visible : bool
        The layer's initial visibility.
    resample : bool, optional
        When slices are missing or irregularly spaced, interpolate to uniform
        spacing (loads eagerly) instead of keeping the usual spacing; default:
        as the volume's gap policy says (``Volume.gap_policy == "resample"``).
    private_tags : bool
        Include private tags in the per-slice header table.
    name : str, optional
        Layer name; default ``"S{SeriesNumber} {SeriesDescription}"`` (+ ``[key]`` for split series).
    extra_warnings : sequence of str
        More warnings to show and keep in the metadata (e.g. files of the series the scan could not read).

    Returns
    -------
    (data, dict, "image")
        ``data`` keeps the stored integer type after rescale where exact
        (int16 Hounsfield units for CT) and float32 otherwise. ``dict`` holds
        name, scale, affine, units, axis_labels, ``rgb`` (always given: True only for colour data
        with a trailing channel axis), contrast limits and colormap (``gray``; ``gray_r`` for
        MONOCHROME1) of grey-scale data, visibility and ``metadata["dicom"]`` (``volume`` summary, per-slice
        ``slices`` table -- a :class:`SliceTable`, read on first use --, ``files``,
        ``warnings``, ``affine_lps`` (DICOM index order), ``axes`` (the DICOM axes in the layer's
        array order: ``[0, 1, 2]`` for axial volumes, ``[1, 0, 2]`` for coronal, ``[1, 2, 0]`` for
        sagittal), ``lazy``).

    Raises
    ------
    DecodeError
        If the volume has no pixel data, no decoder, or no slice can be decoded.
    """
    load._check_loadable(volume)
    name = name or _layer_name(volume)
    dtype = load.output_dtype(volume)
    gaps = find_gaps(volume)
    if resample is None:
        resample = volume.gap_policy == "resample"
    if lazy is None:
        lazy = load.voxel_bytes(volume) > LAZY_THRESHOLD_BYTES
    if resample and gaps:
        lazy = False
    problems: list[str] = list(extra_warnings)
    if lazy:
        data = _lazy(volume, dtype, name)  # the scan already skipped files too short for their pixel data
    else:
        data, eager_problems = _eager(volume, dtype, name)
        problems += eager_problems
    geometry: Volume | Geometry = volume
    resampled = None
    if resample and gaps:
        data, geometry = resample_uniform(volume, data)
        resampled = {
            "shape": list(geometry.shape),
            "spacing": list(geometry.spacing),
            "origin": list(geometry.origin),
            "slice_step": list(geometry.slice_step),
        }
        problems.append(
            f"{len(gaps)} gap(s) in slice spacing: resampled linearly from {volume.n_slices} to {geometry.shape[-3]} slices "
            f"of {geometry.spacing[0]:.4g} mm"
        )
    rgb = _is_rgb(volume, data)
    contrast = None if rgb else _contrast_limits(volume, data)
    # non-axial volumes: array axes in the order of the closest world axes, so napari can draw 2-D views
    axes = world_axis_order(geometry)
    if axes != (0, 1, 2):
        lead = tuple(range(len(volume.shape) - 3))
        channel = (data.ndim - 1,) if rgb else ()
        data = data.transpose((*lead, *(a + len(lead) for a in axes), *channel))
    scale, affine = layer_geometry(geometry, len(volume.shape), axes)
    all_warnings = list(volume.warnings) + problems
    for w in all_warnings:
        warnings.warn(f"{name}: {w}", DicomReaderWarning, stacklevel=2)
    summary = volume.summary()
    summary["warnings"] = all_warnings
    labels = ("z", "y", "x")
    units: tuple[str, ...] = ("mm", "mm", "mm")
    if len(volume.shape) == 4:
        labels = (volume.time_tag or "time", *labels)
        units = ("", *units)
    meta = {
        "volume": summary,
        "slices": SliceTable(volume, private=private_tags),
        "files": volume.paths,
        "warnings": all_warnings,
        "affine_lps": geometry.affine_lps().round(6).tolist(),
        "axes": list(axes),
        "world_axes": "z, y, x in the DICOM patient system (LPS: x to the patient's left, y posterior, z superior), mm",
        "lazy": bool(lazy),
        "resampled": resampled,
    }
    kwargs: dict[str, Any] = {
        "name": name,
        "scale": scale.tolist(),
        "affine": affine,
        "units": units,
        "axis_labels": labels,
        # always explicit: napari guesses RGB(A) for any array whose last axis has 3 or 4 elements
        # (a sagittal volume of 4 slices, once transposed), and then fails to add it
        "rgb": rgb,
        "visible": visible,
        "metadata": {"dicom": meta},
    }
    if not rgb:
        kwargs["contrast_limits"] = contrast
        kwargs["colormap"] = _colormap(volume)
    return data, kwargs, "image"


def _photometric(volume: Volume) -> str:
    """PhotometricInterpretation of the volume (its own field when the core has it, else its first file's header)."""
    pi = getattr(volume, "photometric_interpretation", "") or ""
    if not pi and volume.files:
        try:
            pi = volume.files[0].dataset.get("PhotometricInterpretation", "") or ""
        except Exception:  # noqa: BLE001 - a header that cannot be re-read: no inversion rather than no layer
            pi = ""
    return str(pi).strip().upper()


def _colormap(volume: Volume) -> str:
    """``gray_r`` for MONOCHROME1 (the lowest value is white), else ``gray``."""
    return "gray_r" if _photometric(volume) == "MONOCHROME1" else "gray"


def _is_rgb(volume: Volume, data: Any) -> bool:
    """True only for colour data: 3 or 4 samples per pixel, held in a trailing channel axis of ``data``."""
    spp = getattr(volume, "samples_per_pixel", None)
    if spp is None:
        spp = volume.files[0].samples_per_pixel if volume.files else 1
    return int(spp or 1) in (3, 4) and data.ndim == len(volume.shape) + 1 and data.shape[-1] == int(spp)

"""How volumes are shown: which ones open, their names, which one is visible first, placement, contrast, colours.

Everything a viewer needs to show a volume in patient space, as plain data:
:func:`plan_layers` chooses the volumes of a folder to open (and says why
others are left out), :func:`image_layer` and :func:`segmentation_layers`
return arrays and keyword dicts (``scale``, ``affine``, ``contrast_limits``,
``colormap``, ``rgb``, ``metadata`` ...) in napari's vocabulary, but import no
napari: the napari reader only wraps them as layer data tuples.

World coordinates are DICOM patient coordinates (LPS, mm) in axis order
(z, y, x). ``layer.scale`` holds the voxel size and ``layer.affine`` the
direction cosines (with a gantry-tilt shear) and the position of voxel 0.
Non-axial volumes are transposed to the array axis order closest to the
world's (:meth:`Geometry.axis_order`), since viewers draw 2-D views from an
array's last two axes; :meth:`Geometry.layer_transform` gives the scale and
affine.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from . import load
from .slices import SliceTable
from .tolerant import read_tolerant

if TYPE_CHECKING:
    from .geometry import Geometry
    from .scan import ScanResult, Skipped
    from .volume import Volume

__all__ = [
    "LAZY_THRESHOLD_BYTES",
    "MAX_LAYERS_AT_OPEN",
    "LayerPlan",
    "plan_layers",
    "pick_visible",
    "visible_last",
    "layer_name",
    "unique_name",
    "contrast_limits",
    "colormap",
    "is_rgb",
    "image_layer",
    "ImageLayerOptions",
    "segmentation_layers",
]

#: Volumes whose loaded voxels take more bytes than this are read lazily (slice by slice, on demand).
#: 128 MiB = 256 slices of 512 x 512 int16. Measured with benchmarks/bench_load.py (2 shared cores, warm page
#: cache), layer data + ``ViewerModel.add_image`` until the first slice is shown, eager vs lazy:
#: 32 MiB 0.061 vs 0.039 s, 128 MiB 0.082 vs 0.072 s, 500 MiB (1,001 slices, with the scan) 1.30 vs 0.34 s.
#: Eager costs ~0.6-2 ms per MiB while the lazy first slice stays flat, so up to 128 MiB eager adds at most
#: ~0.25 s and buys instant scrolling and 3-D rendering; above it lazy wins and memory stays bounded.
LAZY_THRESHOLD_BYTES = 128 * 2**20
#: A folder with more image volumes than this opens only the most likely one (:func:`pick_visible`) and the
#: segmentations that reference it; the others are listed (``LayerPlan.held_back``) for the series browser to load
#: on demand. Each napari image layer costs 0.1-0.5 s to add (more as layers pile up): on a flat folder of
#: 6,600 files and 160 volumes (benchmarks/bench_open_big.py, 2 shared cores) one layer per volume took 34 s
#: before the first image was drawn, one layer 1.5-4.5 s, most of it the header scan. 12 keeps every ordinary
#: study (a scout and a handful of reconstructions; the largest folder of ../shared/data has 9) opening as before.
#: The napari reader reads ``NAPARI_DICOMSERIES_MAX_LAYERS`` to override it.
MAX_LAYERS_AT_OPEN = 12
WORLD_AXES = "z, y, x in the DICOM patient system (LPS: x to the patient's left, y posterior, z superior), mm"

# ----------------------------------------------------------------------------- which volumes, which names


@dataclass
class LayerPlan:
    """The volumes of a folder a viewer opens, in order, and why the others are not opened.

    Attributes
    ----------
    images : list of Volume
        Image volumes to open, in series order.
    segmentations : list of Volume
        Segmentations to open on top of the images.
    shown : Volume or None
        The image volume visible at first (:func:`pick_visible`).
    warnings : list of str
        Folder-level problems: volumes left out (no decoder, ...), files that start like DICOM but could not be read.
    unreadable : dict
        SeriesInstanceUID -> the unreadable files of that series (``"path (reason)"``); '' for files without series.
    held_back : list of Volume
        Volumes that would have opened but were held back because the folder has more image volumes than
        ``max_layers`` (empty otherwise): a browser lists them to load on demand.
    """

    images: list[Volume] = field(default_factory=list)
    segmentations: list[Volume] = field(default_factory=list)
    shown: Volume | None = None
    warnings: list[str] = field(default_factory=list)
    unreadable: dict[str, list[str]] = field(default_factory=dict)
    held_back: list[Volume] = field(default_factory=list)

    @property
    def limited(self) -> bool:
        """True when volumes were held back by the layer limit (:data:`MAX_LAYERS_AT_OPEN`)."""
        return bool(self.held_back)

    def extra_warnings(self, volume: Volume) -> list[str]:
        """The warning to add to ``volume``'s own: files of its series that could not be read (none if all were)."""
        lost = self.unreadable.get(volume.series_instance_uid, [])
        if not lost:
            return []
        return [f"{len(lost)} file(s) of this series could not be read and were left out: " + "; ".join(lost)]


def volume_label(v: Volume) -> str:
    """``series KEY ('Description')``, for messages."""
    return f"series {v.key} ({v.series_description!r})"


def plan_layers(
    volumes: Sequence[Volume], result: ScanResult, *, include_localizers: bool = False, max_layers: int | None = None
) -> LayerPlan:
    """Choose the volumes to open as layers from the output of :func:`napari_dicomseries.open_folder`.

    Objects without pixels never open; localizers (scouts) only on request;
    secondary captures (screenshots, dose reports, document pages: no place
    in patient space) on request or when the folder holds nothing else;
    volumes without a decoder are left out with a warning. When more than
    ``max_layers`` image volumes remain, only the one shown first
    (:func:`pick_visible`) and the segmentations that reference its series
    open; the others go to ``held_back``.

    Parameters
    ----------
    volumes : sequence of Volume
        The classified volumes.
    result : ScanResult
        The scan they come from (its skipped files are reported when they look like broken DICOM).
    include_localizers : bool
        Also open localizers and secondary captures.
    max_layers : int, optional
        The most image volumes to open (default: no limit; the napari reader passes
        :data:`MAX_LAYERS_AT_OPEN`). Values below 1 count as 1.

    Returns
    -------
    LayerPlan
    """
    plan = LayerPlan()
    chosen: list[Volume] = []
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
            why = next((str(w) for w in v.warnings if w.prevents_loading), "its pixel data cannot be decoded here")
            plan.warnings.append(f"{volume_label(v)} not opened: {why}")
            continue
        chosen.append(v)
    if not chosen and result.skipped and not result.files:
        s = result.skipped[0]
        plan.warnings.append(
            f"no DICOM image in {result.root}: {len(result.skipped)} file(s) skipped, e.g. {s.path} ({s.reason})"
        )
    plan.unreadable = unreadable_by_series(result.skipped)
    uids = {v.series_instance_uid for v in chosen}
    orphans = [msg for uid, msgs in plan.unreadable.items() if uid not in uids for msg in msgs]
    if orphans:
        plan.warnings.append(f"{len(orphans)} DICOM file(s) could not be read and were left out: " + "; ".join(orphans))
    plan.segmentations = [v for v in chosen if v.kind == "segmentation"]
    plan.images = [v for v in chosen if v.kind != "segmentation"]
    plan.shown = pick_visible(plan.images)
    if max_layers is not None and plan.shown is not None and len(plan.images) > max(1, max_layers):
        shown = plan.shown
        segs = [v for v in plan.segmentations if shown.series_instance_uid in v.references]
        plan.held_back = [v for v in chosen if v is not shown and not any(v is s for s in segs)]
        plan.images, plan.segmentations = [shown], segs
    return plan


def unreadable_by_series(skipped: Sequence[Skipped]) -> dict[str, list[str]]:
    """Files the scan skipped although they start like DICOM (truncated, corrupt header), by SeriesInstanceUID.

    Junk (no DICOM marker) and DICOMDIR indexes are not reported. The series
    comes from whatever pydicom can still read of the header ('' if nothing).
    """
    from .files import is_dicom

    out: dict[str, list[str]] = {}
    for s in skipped:
        if "DICOMDIR" in s.reason or not is_dicom(s.path):
            continue
        out.setdefault(_series_uid_of_broken(s.path), []).append(f"{s.path} ({s.reason})")
    return out


def _series_uid_of_broken(path: str) -> str:
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=["SeriesInstanceUID"])
        return str(ds.get("SeriesInstanceUID", "") or "")
    except Exception:  # noqa: BLE001 - the header is broken too: report the file without its series
        return ""


def _thickness(v: Volume) -> float:
    return v.slice_thickness or v.spacing[0] or float("inf")


def pick_visible(volumes: Sequence[Volume]) -> Volume | None:
    """The volume to show first: the thinnest non-localizer axial volume with more than one slice; else the first.

    Gantry-tilted axial series count as axial; of equally thin volumes the
    one with more slices wins, then the first.
    """
    cands = [v for v in volumes if v.kind != "localizer" and v.orientation == "axial"]
    multi = [v for v in cands if v.n_slices > 1] or cands
    if multi:
        return min(multi, key=lambda v: (_thickness(v), -v.n_slices))  # min keeps the first of equals
    return volumes[0] if volumes else None


def visible_last(visible: Sequence[bool]) -> list[int]:
    """The order to add layers in so that exactly one is shown and it is added last: indices, the shown one last.

    The shown layer is the first whose flag is true, else the first. Viewers
    make the last layer added the selected one: the layer a user sees must be
    that one, not a hidden layer. Make the last index's layer visible.
    """
    if not visible:
        return []
    shown = next((i for i, flag in enumerate(visible) if flag), 0)
    return [i for i in range(len(visible)) if i != shown] + [shown]


def layer_name(v: Volume) -> str:
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


def unique_name(name: str, taken: set[str] | Sequence[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)`` ... when it is taken."""
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


# ----------------------------------------------------------------------------- placement and appearance


def contrast_limits(volume: Volume, data: Any) -> tuple[float, float]:
    """The limits an image layer opens with.

    The image's own window (the first WindowCenter/WindowWidth, when it makes one), else the 1-99.5 percentiles of
    a few slices (3 read, at most; none when the window decides): :func:`windowing.window_limits` and
    :func:`windowing.sample_limits`, the rule the thumbnails follow too.
    """
    from .windowing import sample_limits, window_limits

    n = volume.n_slices
    ks = sorted({n // 2, n // 4, (3 * n) // 4})
    lead = (0,) * (len(volume.shape) - 3)
    return window_limits(volume.window) or sample_limits(np.concatenate([np.asarray(data[(*lead, k)]).ravel() for k in ks]))


def _photometric(volume: Volume) -> str:
    """PhotometricInterpretation of the volume (its own field, else its first file's header)."""
    pi = getattr(volume, "photometric_interpretation", "") or ""
    if not pi and volume.files:
        try:
            pi = volume.files[0].dataset.get("PhotometricInterpretation", "") or ""
        except Exception:  # noqa: BLE001 - a header that cannot be re-read: no inversion rather than no layer
            pi = ""
    return str(pi).strip().upper()


def colormap(volume: Volume) -> str:
    """``gray_r`` for MONOCHROME1 (the lowest value is white), else ``gray``."""
    return "gray_r" if _photometric(volume) == "MONOCHROME1" else "gray"


def is_rgb(volume: Volume, data: Any) -> bool:
    """True only for colour data: 3 or 4 samples per pixel, held in a trailing channel axis of ``data``."""
    spp = getattr(volume, "samples_per_pixel", None)
    if spp is None:
        spp = volume.files[0].samples_per_pixel if volume.files else 1
    return int(spp or 1) in (3, 4) and data.ndim == len(volume.shape) + 1 and data.shape[-1] == int(spp)


# ----------------------------------------------------------------------------- layer data


class ImageLayerOptions(TypedDict, total=False):
    """The keywords of :func:`image_layer` an adapter passes on (``**options: Unpack[ImageLayerOptions]``)."""

    lazy: bool | None
    visible: bool
    resample: bool | None
    private_tags: bool
    name: str | None
    extra_warnings: Sequence[str]


def image_layer(
    volume: Volume,
    *,
    lazy: bool | None = None,
    visible: bool = True,
    resample: bool | None = None,
    private_tags: bool = False,
    name: str | None = None,
    extra_warnings: Sequence[str] = (),
    on_failure: Callable[[str], object] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The array and the image layer keywords of one volume, in patient space.

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
        Layer name; default :func:`layer_name`.
    extra_warnings : sequence of str
        More warnings to keep in the metadata (e.g. files of the series the scan could not read).
    on_failure : callable, optional
        Called with a message when a slice of a lazy array cannot be decoded (it is shown blank).

    Returns
    -------
    (array, dict)
        ``array`` keeps the stored integer type after rescale where exact
        (int16 Hounsfield units for CT) and float32 otherwise; undecodable
        slices are blank (:mod:`tolerant`). ``dict`` holds name, scale, affine,
        units, axis_labels, ``rgb`` (always given: True only for colour data
        with a trailing channel axis), contrast limits and colormap of
        grey-scale data, visibility and ``metadata["dicom"]`` (``volume``
        summary, per-slice ``slices`` table -- a :class:`SliceTable`, read on
        first use --, ``files``, ``warnings`` (all of them, to be shown),
        ``affine_lps`` (DICOM index order), ``axes`` (the DICOM axes in the
        array's order: ``[0, 1, 2]`` axial, ``[1, 0, 2]`` coronal, ``[1, 2, 0]``
        sagittal), ``lazy``, ``resampled``).

    Raises
    ------
    DecodeError
        If the volume has no pixel data, no decoder, or no slice can be decoded.
    """
    from .gaps import find_gaps, resample_uniform

    load._check_loadable(volume)
    name = name or layer_name(volume)
    gaps = find_gaps(volume)
    if resample is None:
        resample = volume.gap_policy == "resample"
    if lazy is None:
        lazy = load.voxel_bytes(volume) > LAZY_THRESHOLD_BYTES
    if resample and gaps:
        lazy = False
    data, problems = read_tolerant(volume, lazy=lazy, on_failure=on_failure)
    problems = [*extra_warnings, *problems]
    geometry: Geometry = volume.geometry
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
    rgb = is_rgb(volume, data)
    contrast = None if rgb else contrast_limits(volume, data)
    axes = geometry.axis_order()
    if axes != (0, 1, 2):
        lead = tuple(range(len(volume.shape) - 3))
        channel = (data.ndim - 1,) if rgb else ()
        data = data.transpose((*lead, *(a + len(lead) for a in axes), *channel))
    scale, affine = geometry.layer_transform(axes, len(volume.shape))
    all_warnings = [str(w) for w in volume.warnings] + problems
    summary = volume.summary()
    summary["warnings"] = all_warnings
    labels: tuple[str, ...] = ("z", "y", "x")
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
        "world_axes": WORLD_AXES,
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
        kwargs["colormap"] = colormap(volume)
    return data, kwargs


def segmentation_layers(volume: Volume, *, name: str | None = None) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Label arrays and keywords for a segmentation volume, in patient space on the grid of its frames.

    A label map gives one array whose values are the segment numbers; a SEG
    whose segments share slices gives one array per segment (never merged).
    ``colormap`` maps segment numbers to the SegmentSequence's colours
    (RecommendedDisplayCIELabValue), ``features`` lists the segments, and
    ``metadata["dicom"]`` holds the summary, files, warnings, segments and the
    series segmented (``references``).

    Raises
    ------
    DecodeError
        If the segmentation cannot be decoded.
    """
    name = name or layer_name(volume)
    data = np.asarray(load.load_volume(volume))
    grid = volume.geometry
    axes = grid.axis_order()
    scale, affine = grid.layer_transform(axes, 3)
    colors: dict[int | None, tuple[float, ...]] = {None: (0.0, 0.0, 0.0, 0.0)}
    for seg in volume.segments:
        if seg.color:
            colors[seg.number] = (*(c / 255 for c in seg.color), 1.0)
    base = {
        "scale": scale.tolist(),
        "affine": affine,
        "units": ("mm", "mm", "mm"),
        "axis_labels": ("z", "y", "x"),
        "opacity": 0.6,
        "metadata": {
            "dicom": {
                "volume": volume.summary(),
                "files": volume.paths,
                "warnings": [str(w) for w in volume.warnings],
                "affine_lps": grid.affine_lps().round(6).tolist(),
                "axes": list(axes),
                "segments": [seg.to_dict() for seg in volume.segments],
                "references": list(volume.references),
            }
        },
    }

    def one(arr: np.ndarray, layer_name: str, segs: list[Any]) -> tuple[np.ndarray, dict[str, Any]]:
        kw = dict(base, name=layer_name)
        if len(colors) > 1:
            kw["colormap"] = {k: v for k, v in colors.items() if k is None or any(s.number == k for s in segs)}
        kw["features"] = {
            "index": [s.number for s in segs],
            "label": [s.label for s in segs],
            "category": [s.category for s in segs],
            "type": [s.type for s in segs],
        }
        return (arr.transpose(axes) if axes != (0, 1, 2) else arr), kw

    if volume.ndim == 4:  # one mask per segment: label value = segment number
        by_number = {seg.number: seg for seg in volume.segments}
        out = []
        for j, number in enumerate(volume.time_values):
            found = by_number.get(number)
            label = found.label if found is not None else f"segment {number}"
            mask = (data[j] > 0).astype(np.uint8 if number < 256 else np.uint16) * number
            out.append(one(mask, f"{name} {label}", [found] if found is not None else []))
        return out
    return [one(data, name, list(volume.segments))]

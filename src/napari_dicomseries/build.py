"""Build volumes from scanned files: one series may become several volumes, or one 4-D volume.

:func:`build_volumes` groups the files of a scan by SeriesInstanceUID (and
SeriesNumber, which some exports reuse a UID for) and makes one
:class:`~volume.Volume` per

* group of image frames that forms a volume (:mod:`grouping` splits and
  arranges them, :mod:`positions` places them and warns about gaps and
  gantry tilt);
* DICOM SEG object (on the grid of its frames, see :mod:`segmentation`);
* RTSTRUCT object (its ROIs rasterised on the grid of the image volume it
  references, see :mod:`rtstruct`; listed without voxels when that series is
  not in the scan);
* series of files without pixel data (SR, RTSTRUCT, presentation states, ...):
  one ``non-image`` entry.

Volumes come back unclassified (see :func:`classify.classify`), ordered by series number.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from .geometry import Geometry
from .grouping import Part, arrange, split_series
from .labels import Kind
from .positions import TILT_MIN_DEGREES, axis_name, stack_geometry
from .rtstruct import ROI_AXIS, contours_of, is_rtstruct, plan_contours, reference_volume, rois_of
from .scan import NON_IMAGE_SOP_CLASSES, DicomFile, ScanResult
from .segmentation import is_segmentation, seg_grid, segment_layout, segments_of
from .syntax import decoder_for
from .volume import Volume, pixel_format_problem
from .warning import VolumeWarning, WarningCode

__all__ = ["build_volumes"]


def build_volumes(result: ScanResult | Iterable[DicomFile]) -> list[Volume]:
    """Group the files of a scan into volumes (unclassified; see :func:`classify.classify`).

    Parameters
    ----------
    result : ScanResult or iterable of DicomFile
        What :func:`scan.scan` found, or some of its files.

    Returns
    -------
    list of Volume
        Ordered by series number, then by the order of their parts; each with a unique ``key``
        (``"3"``, or ``"3.1"``, ``"3.2"`` for the parts of series 3).
    """
    files = result.files if isinstance(result, ScanResult) else list(result)
    by_series: dict[tuple[str, str], list[DicomFile]] = defaultdict(list)
    for f in files:
        by_series[(f.series_instance_uid, f.series_number)].append(f)
    numbers = Counter(uid for uid, _ in by_series)
    volumes: list[Volume] = []
    structure_sets: dict[str, list[tuple[str, str | None, DicomFile]]] = defaultdict(list)
    for (uid, number), sfiles in by_series.items():
        # one SeriesInstanceUID with several SeriesNumbers: each number is its own series
        series_reason = f"SeriesNumber={number or '(none)'}" if numbers[uid] > 1 else None
        # one pass sorts the files (is_image is a property worth asking once per file)
        images: list[DicomFile] = []
        others: list[DicomFile] = []
        segs: dict[str, list[DicomFile]] = defaultdict(list)
        for f in sfiles:
            if f.is_image:
                if is_segmentation(f):
                    segs[f.sop_instance_uid].append(f)  # a copy of one SEG object under another name counts once
                else:
                    images.append(f)
            elif is_rtstruct(f):  # placed on the grid of its series once every image volume is built
                structure_sets[f.sop_instance_uid].append((uid, series_reason, f))
            else:
                others.append(f)
        if others:
            volumes.append(_non_image_volume(uid, others))
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
        for group, reason in split_series(frames):
            reason = ", ".join(r for r in (series_reason, reason) if r) or None
            for part in arrange(group, reason):
                volumes.append(_image_volume(part, files_by_path, uid))
    image_volumes = [v for v in volumes if v.kind == Kind.IMAGE and v.is_image]
    for entries in structure_sets.values():
        entries.sort(key=lambda e: e[2].path)
        uid, reason, first = entries[0]
        vol = _rtstruct_volume(uid, first, reason, image_volumes)
        if len(entries) > 1:
            vol.warnings.append(
                VolumeWarning(
                    WarningCode.DUPLICATE_FILES,
                    f"{len(entries)} files hold this RTSTRUCT object (one SOPInstanceUID): {first.path} is used, "
                    + ", ".join(e[2].path for e in entries[1:])
                    + " ignored",
                    files=tuple(e[2].path for e in entries[1:]),
                )
            )
        volumes.append(vol)
    volumes.sort(key=lambda v: (v.series_number is None, v.series_number or 0, v.series_instance_uid, not v.is_image))
    counts = Counter(v.series_number for v in volumes)
    seen: Counter[Any] = Counter()
    for v in volumes:
        seen[v.series_number] += 1
        base = str(v.series_number) if v.series_number is not None else v.series_instance_uid
        v.key = base if counts[v.series_number] == 1 else f"{base}.{seen[v.series_number]}"
    return volumes


# ----------------------------------------------------------------------------- descriptive values


def _tag_number(tags: dict[str, str], keyword: str, conv: type[int] | type[float]) -> Any:
    """A finite number from the text of tag ``keyword``, or None when it is absent or unusable (text, NaN)."""
    try:
        v = tags.get(keyword)
        if v is None or v == "":
            return None
        x = conv(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


#: The place of a volume without pixel data: no grid.
_NO_GRID: dict[str, Any] = {
    "shape": (),
    "spacing": (0.0, 0.0, 0.0),
    "origin": (0.0, 0.0, 0.0),
    "direction": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
    "slice_step": (0.0, 0.0, 0.0),
}


def _described(f: DicomFile, series_uid: str, geometry: Geometry | None, **fields: Any) -> Volume:
    """A :class:`Volume` of ``f``'s series placed on ``geometry`` (None: no grid), described by ``f``'s tags, and ``fields``."""
    grid = (
        _NO_GRID
        if geometry is None
        else {
            "shape": geometry.shape,
            "spacing": geometry.spacing,
            "origin": geometry.origin,
            "direction": geometry.direction,
            "slice_step": geometry.slice_step,
        }
    )
    tags = f.tags  # descriptive text read with the header: no pydicom data set needed
    described: dict[str, Any] = {
        "series_number": _tag_number(tags, "SeriesNumber", int),
        "series_description": tags.get("SeriesDescription", ""),
        "modality": f.modality,
        "manufacturer": tags.get("Manufacturer", ""),
        "study_instance_uid": f.study_instance_uid,
        "frame_of_reference_uid": f.frame_of_reference_uid,
        "sop_class_uid": f.sop_class_uid,
        "transfer_syntax_uid": f.transfer_syntax_uid,
        "content_time": tags.get("ContentTime", ""),
        "instance_creation_time": tags.get("InstanceCreationTime", ""),
    }
    return Volume(key="", series_instance_uid=series_uid, **grid, **(described | fields))


def _uid_name(uid: str) -> str:
    """The name pydicom gives a UID (``"JPEG 2000 Image Compression"``), or ``"unknown"``."""
    try:
        from pydicom.uid import UID

        return str(UID(uid).name)
    except Exception:  # noqa: BLE001 - not a UID pydicom can name
        return "unknown"


# ----------------------------------------------------------------------------- one volume of each kind


def _image_volume(part: Part, files_by_path: dict[str, DicomFile], series_uid: str) -> Volume:
    """The volume of one arranged part of an image series, with the warnings of its geometry, encodings and files."""
    frames = part.frames
    warnings = list(part.warnings)
    geometry = stack_geometry(frames, part.n_time, warnings, axis_name(frames[0].orientation))
    files = [files_by_path[p] for p in dict.fromkeys([f.path for f in frames])]
    first = files[0]
    ts = sorted({f.transfer_syntax_uid for f in files})
    for t in ts:
        if decoder_for(t) is None:
            warnings.append(
                VolumeWarning(
                    WarningCode.NO_DECODER,
                    f"transfer syntax {t} ({_uid_name(t)}) has no installed decoder: the volume is listed but cannot be loaded",
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
    # the first file with a problem, asked once per distinct pixel format (all a problem depends on), not per file
    formats: dict[tuple[Any, ...], DicomFile] = {}
    for f in files:
        formats.setdefault((f.bits_allocated, f.samples_per_pixel, f.photometric_interpretation), f)
    for f in formats.values():
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
    tags = first.tags
    tilt = geometry.tilt_degrees
    tilt_tag = _tag_number(tags, "GantryDetectorTilt", float)
    return _described(
        first,
        series_uid,
        geometry,
        files=files,
        frames=frames,
        # classic files carry TemporalPositionIdentifier, enhanced ones TemporalPositionIndex: name the one read
        time_tag="TemporalPositionIdentifier"
        if part.time_tag == "TemporalPositionIndex" and not any(f.enhanced for f in files)
        else part.time_tag,
        time_values=part.time_values,
        split_reason=part.split_reason,
        warnings=warnings,
        convolution_kernel=tags.get("ConvolutionKernel", ""),
        transfer_syntax_uid=ts[0] if len(ts) == 1 else ",".join(ts),
        image_type=f0.image_type,
        slice_thickness=f0.slice_thickness,
        acquisition_datetime=tags.get("AcquisitionDateTime")
        or (tags.get("AcquisitionDate", "") + tags.get("AcquisitionTime", "")),
        window=(f0.window_center, f0.window_width) if f0.window_center is not None and f0.window_width else None,
        rescale=(f0.rescale_slope, f0.rescale_intercept),
        gantry_tilt=tilt if tilt > TILT_MIN_DEGREES else (abs(tilt_tag) if tilt_tag else 0.0),
    )


def _file_warnings(files: list[DicomFile]) -> list[VolumeWarning]:
    """The files' own warnings (strings of the scan) as records; one for a message that several files repeat."""
    by_msg: dict[str, list[str]] = {}
    for f in files:
        if not f.warnings:  # most files have none: skip building the prefix
            continue
        prefix = f"{f.path}: "
        for w in f.warnings:
            by_msg.setdefault(w[len(prefix) :] if w.startswith(prefix) else w, []).append(f.path)
    out = []
    for msg, paths in by_msg.items():
        text = f"{paths[0]}: {msg}" if len(paths) == 1 else f"{len(paths)} files, e.g. {paths[0]}: {msg}"
        out.append(VolumeWarning(WarningCode.FILE_PROBLEM, text, files=tuple(dict.fromkeys(paths))))
    return out


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
    shape, time_values = _overlap_layout((nz, rows, cols), present, overlapping, "segments", "share slices", f, warnings)
    refs = [str(r.get("SeriesInstanceUID", "")) for r in ds.get("ReferencedSeriesSequence") or [] if r.get("SeriesInstanceUID")]
    what = (
        "label map" if str(ds.get("SegmentationType", "")).upper() == "LABELMAP" else str(ds.get("SegmentationType", "")).lower()
    )
    direction = np.column_stack([row, col, normal]).reshape(-1).tolist()
    geometry = Geometry.from_parts(shape, (float(spacing), float(ps[0]), float(ps[1])), origin, direction)
    return _described(
        f,
        series_uid,
        geometry,
        files=[f],
        frames=list(f.frames),
        time_tag="ReferencedSegmentNumber" if overlapping else None,
        time_values=time_values,
        split_reason=split_reason,
        warnings=warnings,
        series_description=f.tags.get("SeriesDescription") or f"{what} segmentation".strip(),
        kind=Kind.SEGMENTATION,
        segments=segments,
        references=refs,
    )


def _overlap_layout(
    grid_shape: tuple[int, ...],
    present: list[int],
    overlapping: bool,
    what: str,
    why: str,
    f: DicomFile,
    warnings: list[VolumeWarning],
) -> tuple[tuple[int, ...], list[Any]]:
    """The shape and leading-axis values of a segmentation (SEG or RTSTRUCT): one label map, or one mask per segment.

    The one overlap rule: segments (ROIs) that may overlap are kept as one mask each along a leading axis, never
    merged; the warning says so. ``what`` names them ("segments", "ROIs"), ``why`` says why they may overlap.
    """
    if not overlapping:
        return grid_shape, []
    unit = "segment" if what == "segments" else "ROI"
    warnings.append(
        VolumeWarning(
            WarningCode.OVERLAPPING_SEGMENTS,
            f"{what} {', '.join(map(str, present))} {why} and may overlap: one mask per {unit} (never merged into one label map)",
            files=(f.path,),
        )
    )
    return (len(present), *grid_shape), list(present)


def _rtstruct_volume(series_uid: str, f: DicomFile, split_reason: str | None, images: list[Volume]) -> Volume:
    """One RTSTRUCT object as a segmentation volume on the grid of the image volume it references (see :mod:`rtstruct`)."""
    ds = f.dataset
    rois = rois_of(ds)
    contours, skipped = contours_of(ds)
    ref, refs, warnings = reference_volume(ds, images, f.path)
    label = str(ds.get("StructureSetLabel", "") or "")
    described = {
        "files": [f],
        "frames": [],
        "split_reason": split_reason,
        "series_description": f.tags.get("SeriesDescription") or label or "RT structure set",
        "kind": Kind.SEGMENTATION,
        "references": refs,
    }
    if ref is None:
        # listed with what it references, no grid: not loadable (the warning says why, as for a missing decoder)
        segments = [seg for seg in rois if seg.number in contours] or rois
        return _described(f, series_uid, None, warnings=warnings, segments=segments, **described)
    shape3 = tuple(ref.shape[-3:])
    grid = ref.geometry.with_shape(shape3)
    if any(w.code in (WarningCode.MISSING_SLICES, WarningCode.IRREGULAR_SPACING) for w in ref.warnings):
        warnings.append(
            VolumeWarning(
                WarningCode.REFERENCE_AMBIGUOUS,
                f"the referenced series {ref.key} has missing slices or irregular spacing: the ROIs are placed on its "
                "uniform grid from its first slice, so contours beyond a gap may fall on the wrong slice",
                files=(f.path,),
            )
        )
    plan = plan_contours(contours, grid.affine_lps(), shape3, rois=rois, path=f.path, skipped=skipped)
    warnings.extend(plan.warnings)
    present = sorted(plan.polygons)
    segments = [seg for seg in rois if seg.number in present]
    empty = [seg for seg in rois if seg.number not in present and seg.number not in skipped]
    if empty:
        warnings.append(
            VolumeWarning(
                WarningCode.CONTOURS_SKIPPED,
                f"{len(empty)} ROI(s) without contours on the referenced grid: "
                + ", ".join(f"{seg.number} {seg.label!r}" for seg in empty),
                files=(f.path,),
            )
        )
    shape, time_values = _overlap_layout(shape3, present, plan.overlapping, "ROIs", "have contours on common slices", f, warnings)
    geometry = grid.with_shape(shape)
    return _described(
        f,
        series_uid,
        geometry,
        warnings=warnings,
        segments=segments,
        time_tag=ROI_AXIS if plan.overlapping else None,
        time_values=time_values,
        **described,
    )


def _non_image_volume(series_uid: str, files: list[DicomFile]) -> Volume:
    """One ``non-image`` entry for the files of a series without pixel data (listed, not loadable)."""
    first = files[0]
    what = NON_IMAGE_SOP_CLASSES.get(first.sop_class_uid) or _uid_name(first.sop_class_uid)
    return _described(
        first,
        series_uid,
        None,
        files=files,
        frames=[],
        warnings=[
            VolumeWarning(
                WarningCode.NO_PIXEL_DATA,
                f"{len(files)} file(s) without pixel data ({what}): listed, not loadable as an image",
                files=tuple(f.path for f in files),
            )
        ],
        is_image=False,
        kind=Kind.NON_IMAGE,
    )

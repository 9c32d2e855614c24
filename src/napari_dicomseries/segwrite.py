"""DICOM SEG writing: a label array on the grid of a DICOM image volume, saved as a Segmentation that references it.

:func:`write_seg` turns a label array (slices, rows, columns) of non-negative
integers, in the array order of a source :class:`~volume.Volume` (slices
sorted along the slice normal, as :func:`load.load_volume` gives them), into
a BINARY DICOM Segmentation written by highdicom: one segment per label value
present, its frames placed on the source slices (each frame references the
source image it was drawn on), patient, study and frame of reference copied
from the source series. Empty slices are left out (highdicom's default).

Segment numbers: DICOM asks BINARY segments to be numbered 1, 2, ... N, so
the label values present are numbered in ascending order; values 1..N keep
their number (a SEG read by this project and saved again keeps every voxel
value), other values are renumbered and :attr:`SegWriteResult.numbers` says
how. Names and colours come from ``segments`` ({label value: (name, rgb)});
the default name is ``label N`` (N the label value) and the default is no
colour. Every segment is written with the generic category and type
``Tissue`` (SNOMED CT 85756007) and algorithm type MANUAL.

The write is atomic: the file is written beside the target under a hidden
temporary name and renamed into place; a failure leaves neither a partial
file nor a temporary one.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DicomSeriesError, OutputExistsError
from .nifti import temp_path_beside
from .segmentation import Segment

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["SegWriteResult", "SegmentSpec", "write_seg", "label_values", "place_on_grid"]

#: {label value: (name, (r, g, b) 0-255 or None)}, as :func:`write_seg` takes segment names and colours
SegmentSpec = Mapping[int, tuple[str, Sequence[int] | None]]

SOURCE_KINDS = ("image", "localizer")
#: patient and study attributes the SEG copies from its source (type 2: present, possibly empty)
PATIENT_STUDY_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
)


@dataclass(frozen=True, slots=True)
class SegWriteResult:
    """What :func:`write_seg` wrote: the file, its UIDs, the segments and how label values became segment numbers."""

    path: str
    series_instance_uid: str
    sop_instance_uid: str
    #: the SeriesInstanceUID of the source series (the series segmented)
    references: str
    #: the segments written, in segment-number order (``color`` as given, or None)
    segments: list[Segment] = field(default_factory=list)
    #: label value -> segment number (the identity when the values present are 1..N)
    numbers: dict[int, int] = field(default_factory=dict)
    #: frames written (one per segment and slice where the segment has voxels)
    n_frames: int = 0
    #: what highdicom warned about while building the SEG (e.g. odd values copied from the source headers)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "path": self.path,
            "series_instance_uid": self.series_instance_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "references": self.references,
            "segments": [s.to_dict() for s in self.segments],
            "numbers": {str(k): v for k, v in self.numbers.items()},
            "n_frames": self.n_frames,
            "warnings": list(self.warnings),
        }


def label_values(labels: np.ndarray) -> list[int]:
    """The non-zero values of an integer label array, ascending."""
    return [int(v) for v in np.unique(labels) if v != 0]


def place_on_grid(labels: Any, world_zyx: np.ndarray, volume: Volume, *, atol: float = 0.01) -> np.ndarray:
    """Labels given on their own voxel grid, put on the grid of ``volume`` (same voxels, no resampling).

    ``world_zyx`` maps the labels' array index (a, b, c, 1) to patient LPS
    world coordinates in napari's axis order (z, y, x, 1), as a napari layer's
    data-to-world transform does. The two grids must share their voxels: the
    labels' axes are the volume's axes (in any order, either direction) and
    their first voxel lies on a voxel of the volume, within ``atol`` of a voxel.
    A labels grid that is a part of the volume's (a SEG covering some slices
    only) is padded with 0; voxels outside the volume must be 0.

    Returns
    -------
    numpy.ndarray
        The labels in the volume's array order and shape (slices, rows, columns).

    Raises
    ------
    DicomSeriesError
        When the grids do not share their voxels, or labelled voxels lie outside the volume.
    """
    arr = np.asarray(labels)
    what = f"series {volume.key} ({volume.series_description!r})"
    shape = tuple(int(n) for n in volume.shape)
    if arr.ndim != 3 or len(shape) != 3:
        raise DicomSeriesError(f"labels of shape {arr.shape} cannot be put on the {len(shape)}-D grid of {what}: 3-D only")
    source = volume.geometry.affine_lps()[[2, 1, 0, 3], :]  # (k, j, i) -> world (z, y, x)
    m = np.linalg.solve(source, np.asarray(world_zyx, float))  # labels index -> volume index
    perm = [int(np.argmax(np.abs(m[s, :3]))) for s in range(3)]
    sign = np.sign([m[s, perm[s]] for s in range(3)])
    expected = np.zeros((3, 3))
    expected[range(3), perm] = sign
    offset = m[:3, 3]
    if (
        sorted(perm) != [0, 1, 2]
        or not np.allclose(m[:3, :3], expected, atol=atol)
        or not np.allclose(offset, np.round(offset), atol=atol)
    ):
        raise DicomSeriesError(
            f"the labels' voxel grid is not the grid of {what}: their voxels do not fall on its voxels "
            "(a SEG is written on the source's own slices, rows and columns; resampling is not done)"
        )
    a = arr.transpose(perm)
    for s in range(3):
        if sign[s] < 0:
            a = np.flip(a, axis=s)
    start = [int(round(offset[s])) - (a.shape[s] - 1 if sign[s] < 0 else 0) for s in range(3)]
    out = np.zeros(shape, dtype=a.dtype)
    src = tuple(slice(max(0, -start[s]), min(a.shape[s], shape[s] - start[s])) for s in range(3))
    dst = tuple(slice(max(0, start[s]), max(0, start[s]) + max(0, src[s].stop - src[s].start)) for s in range(3))
    if any(sl.stop <= sl.start for sl in src):
        inside = 0
    else:
        out[dst] = a[src]
        inside = int(np.count_nonzero(a[src]))
    outside = int(np.count_nonzero(a)) - inside
    if outside:
        raise DicomSeriesError(f"{outside} labelled voxel(s) lie outside the slices of {what}: they cannot be saved on it")
    return out


def _check_labels(labels: Any, volume: Volume) -> np.ndarray:
    """The labels as an integer array of the volume's shape, or a DicomSeriesError saying what is wrong."""
    arr = np.asarray(labels)
    what = f"series {volume.key} ({volume.series_description!r})"
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind not in "iu":
        raise DicomSeriesError(f"labels must be integers (label values), not {arr.dtype}: cannot save them as DICOM SEG")
    if tuple(arr.shape) != tuple(volume.shape):
        raise DicomSeriesError(
            f"labels of shape {tuple(arr.shape)} do not fit the grid of {what}, shape {tuple(volume.shape)} "
            "(slices, rows, columns): a SEG is written on the slices of its source series"
        )
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        raise DicomSeriesError(
            f"labels hold negative values (lowest {int(arr.min())}): label values must be 0 (background) or more"
        )
    if not arr.any():
        raise DicomSeriesError("the labels are empty (every voxel is 0): there is no segment to save")
    return arr


def _check_source(volume: Volume) -> None:
    what = f"series {volume.key} ({volume.series_description!r})"
    if str(volume.kind) not in SOURCE_KINDS:
        raise DicomSeriesError(f"{what} is a {volume.kind} volume, not an image: it cannot be the source of a SEG")
    if len(volume.shape) != 3:
        raise DicomSeriesError(
            f"{what} is {len(volume.shape)}-D {tuple(volume.shape)}: a SEG is written on a 3-D image volume "
            "(slices, rows, columns); pick one time point as its own series"
        )
    if not volume.frames or len(volume.frames) != volume.shape[0]:
        raise DicomSeriesError(f"{what} has {len(volume.frames)} frames for {volume.shape[0]} slices: no source image per slice")
    missing = [fr.path for fr in volume.frames if not os.path.isfile(fr.path)]
    if missing:
        raise DicomSeriesError(f"{missing[0]}: source image of {what} not found ({len(missing)} file(s) missing)")
    if not volume.frame_of_reference_uid:
        raise DicomSeriesError(
            f"{volume.frames[0].path}: {what} has no FrameOfReferenceUID: a DICOM SEG must share its source's frame of reference"
        )
    if volume.samples_per_pixel != 1:
        raise DicomSeriesError(f"{what} is a colour image: DICOM SEG needs a grey-scale source")


def _read_sources(volume: Volume) -> dict[str, Any]:
    """The source datasets (headers only) by path, read with pydicom."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    out: dict[str, Any] = {}
    for fr in volume.frames:
        if fr.path in out:
            continue
        try:
            ds = pydicom.dcmread(fr.path, stop_before_pixels=True)
        except (OSError, InvalidDicomError, ValueError, EOFError) as exc:
            raise DicomSeriesError(f"{fr.path}: cannot read the source image header ({exc})") from exc
        if "SpecificCharacterSet" in ds and not ds.SpecificCharacterSet:
            del ds.SpecificCharacterSet  # empty: the default repertoire, which highdicom wants absent
        for keyword in PATIENT_STUDY_TYPE2:  # type 2 in the SEG, copied from the source: empty when the source lacks them
            if keyword not in ds:
                setattr(ds, keyword, None)
        _share_frame_groups(ds)
        out[fr.path] = ds
    return out


def _share_frame_groups(ds: Any) -> None:
    """Copy the first frame's pixel measures and plane orientation to the shared groups, when only frames hold them.

    Philips enhanced files keep them per frame; highdicom reads them from the shared groups (the copy is in memory).
    """
    shared = ds.get("SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not shared or not per_frame:
        return
    for keyword in ("PixelMeasuresSequence", "PlaneOrientationSequence"):
        if keyword not in shared[0] and keyword in per_frame[0]:
            setattr(shared[0], keyword, per_frame[0][keyword].value)


def _explicit_geometry(volume: Volume) -> dict[str, Any]:
    """Plane positions, orientation and pixel measures of every slice (for multi-frame or mosaic sources)."""
    import highdicom as hd

    geo = volume.geometry
    a = geo.affine_lps()
    row_cos = a[:3, 2] / (np.linalg.norm(a[:3, 2]) or 1.0)
    col_cos = a[:3, 1] / (np.linalg.norm(a[:3, 1]) or 1.0)
    positions = [
        hd.PlanePositionSequence("PATIENT", [float(x) for x in a[:3, :3] @ [k, 0, 0] + a[:3, 3]]) for k in range(volume.shape[0])
    ]
    return {
        "plane_positions": positions,
        "plane_orientation": hd.PlaneOrientationSequence("PATIENT", [*map(float, row_cos), *map(float, col_cos)]),
        "pixel_measures": hd.PixelMeasuresSequence(
            pixel_spacing=[float(volume.spacing[1]), float(volume.spacing[2])],
            slice_thickness=float(volume.slice_thickness or volume.spacing[0]),
            spacing_between_slices=float(volume.spacing[0]),
        ),
    }


def write_seg(
    labels: Any,
    volume: Volume,
    path: str | os.PathLike[str],
    *,
    segments: SegmentSpec | None = None,
    series_description: str = "Segmentation",
    series_number: int | None = None,
    force: bool = False,
) -> SegWriteResult:
    """Write ``labels`` (on the grid of ``volume``) as a BINARY DICOM SEG referencing the volume's series.

    Parameters
    ----------
    labels : array-like of int
        Label values, 0 for background, shaped ``volume.shape`` (slices, rows,
        columns) in the volume's array order (slices sorted along the normal,
        as :func:`load.load_volume` gives them, not file order).
    volume : Volume
        The source image volume (from :func:`napari_dicomseries.open_folder`);
        its files must still exist (their headers are copied and referenced).
    path : path
        The ``.dcm`` file to write.
    segments : mapping, optional
        {label value: (name, (r, g, b) or None)}: segment labels and display
        colours (sRGB 0-255); values not given are named ``label N``.
    series_description : str
        SeriesDescription (and ContentDescription) of the SEG.
    series_number : int, optional
        SeriesNumber of the SEG; default the source's + 1000 (1000 without one).
    force : bool
        Replace an existing file.

    Returns
    -------
    SegWriteResult
        The file, its UIDs, the segments and the label value -> segment number map.

    Raises
    ------
    DicomSeriesError
        Labels that are not integers, negative, empty or not of the volume's
        shape; a source that is not a 3-D grey-scale image volume or whose
        files are gone; a failure to build or write the SEG (no partial file
        is left). :class:`OutputExistsError` when ``path`` exists and
        ``force`` is false.
    """
    _check_source(volume)
    arr = _check_labels(labels, volume)
    target = Path(path)
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: exists already (use force to replace it)")
    if target.is_dir():
        raise DicomSeriesError(f"{target}: is a folder, not a file name")

    import highdicom as hd
    from pydicom.sr.codedict import codes

    from . import __version__
    from .sidecar import SOFTWARE

    values = label_values(arr)
    numbers = {v: i + 1 for i, v in enumerate(values)}
    if values == list(range(1, len(values) + 1)):
        relabelled = arr
    else:
        lut_keys = np.asarray(values)
        relabelled = np.zeros(arr.shape, np.uint16 if len(values) > 255 else np.uint8)
        nz = arr != 0
        relabelled[nz] = np.searchsorted(lut_keys, arr[nz]) + 1
    relabelled = relabelled.astype(np.uint16 if len(values) > 255 else np.uint8, copy=False)

    given = dict(segments or {})
    written: list[Segment] = []
    descriptions = []
    for v in values:
        name, rgb = given.get(v, (f"label {v}", None))
        name = str(name or f"label {v}")[:64]
        color = None
        if rgb is not None:
            color = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
            if not all(0 <= c <= 255 for c in color):
                raise DicomSeriesError(f"segment {v} ({name!r}): colour {color} is not sRGB 0-255")
        written.append(Segment(numbers[v], name, category="Tissue", type="Tissue", algorithm_type="MANUAL", color=color))
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=numbers[v],
                segment_label=name,
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                display_color=hd.color.CIELabColor.from_rgb(*color) if color else None,
            )
        )

    sources = _read_sources(volume)
    one_frame_per_file = len(sources) == len(volume.frames) and all(fr.index == 0 for fr in volume.frames)
    if one_frame_per_file:
        source_images = [sources[fr.path] for fr in volume.frames]  # pixel_array[k] is drawn on source_images[k]
        geometry: dict[str, Any] = {}
    else:  # a multi-frame (or mosaic) source: the frames' planes are given explicitly
        source_images = list(sources.values())
        geometry = _explicit_geometry(volume)
    if series_number is None:
        series_number = (volume.series_number or 0) + 1000
    description = (series_description or "Segmentation")[:64]
    seg_uid = hd.UID()
    sop_uid = hd.UID()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            seg = hd.seg.Segmentation(
                source_images=source_images,
                pixel_array=relabelled,
                segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                segment_descriptions=descriptions,
                series_instance_uid=seg_uid,
                series_number=int(series_number),
                sop_instance_uid=sop_uid,
                instance_number=1,
                manufacturer=SOFTWARE,
                manufacturer_model_name=SOFTWARE,
                software_versions=__version__,
                device_serial_number="0",
                content_description=description,
                content_label="SEGMENTATION",
                series_description=description,
                **geometry,
            )
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise DicomSeriesError(
                f"{target}: cannot build the DICOM SEG on series {volume.key} ({volume.series_description!r}): {exc}"
            ) from exc
    notes = list(dict.fromkeys(f"highdicom: {w.message}" for w in caught))
    n_frames = int(getattr(seg, "NumberOfFrames", 0) or 0)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(target, ".dcm")
    try:
        try:
            seg.save_as(tmp, enforce_file_format=True)
        except (OSError, ValueError) as exc:
            raise DicomSeriesError(f"{target}: cannot write the DICOM SEG ({exc})") from exc
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise DicomSeriesError(f"{target}: cannot move the written file into place ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()
    return SegWriteResult(
        path=str(target),
        series_instance_uid=str(seg_uid),
        sop_instance_uid=str(sop_uid),
        references=volume.series_instance_uid,
        segments=written,
        numbers=numbers,
        n_frames=n_frames,
        warnings=notes,
    )

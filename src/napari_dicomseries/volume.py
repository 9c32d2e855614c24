"""The volume record: one 3-D (or 4-D) image built from frames of one series, its geometry, classes and warnings.

A :class:`Volume` is what the scan, the builder (:mod:`build`) and the
classifier (:mod:`classify`) produce and what every later stage uses: loading
(:mod:`load`), comparing, exporting, the napari reader. Its place in the
patient is :attr:`Volume.geometry` (a :class:`geometry.Geometry`); the DICOM
style parts (``shape``, ``spacing``, ``origin``, ``direction``,
``slice_step``) are kept as fields, as ``ls --json`` reports them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .diffusion import gradient_table
from .frame import Frame
from .geometry import Geometry, index_to_lps
from .labels import KernelClass, Kind, Orientation, ThicknessClass
from .scan import DicomFile
from .segmentation import Segment
from .syntax import decoder_for
from .warning import VolumeWarning

__all__ = ["Volume", "COLOUR_PHOTOMETRIC", "is_colour", "pixel_format_problem"]


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
        """Number of axes of :attr:`shape` (3, or 4 with a leading time, gradient or segment axis)."""
        return len(self.shape)

    @property
    def paths(self) -> list[str]:
        """Paths of the files that make the volume, in array order, without repeats."""
        seen: dict[str, None] = {}
        for f in self.frames:
            seen.setdefault(f.path, None)
        return list(seen) or [f.path for f in self.files]  # no frames (an RTSTRUCT, objects without pixels): its files

    @property
    def normal(self) -> tuple[float, float, float]:
        """The slice axis' unit direction in patient LPS (the third column of :attr:`direction`)."""
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
        """Whether the pixels can be decoded: an image (or segmentation) whose transfer syntax has a decoder."""
        if self.kind == "segmentation":  # decoded by pydicom (1-bit frames included)
            return bool(self.shape)
        if not self.is_image:
            return False
        # asked once per distinct encoding (what both checks read), not per file: a series shares one or two
        encodings = {
            (f.transfer_syntax_uid, f.bits_allocated, f.samples_per_pixel, f.photometric_interpretation): f for f in self.files
        }
        return all(decoder_for(f.transfer_syntax_uid) and not pixel_format_problem(f) for f in encodings.values())

    @property
    def warning_messages(self) -> list[str]:
        """The messages of :attr:`warnings`, in order (what people read, and JSON holds)."""
        return [str(w) for w in self.warnings]

    @property
    def geometry(self) -> Geometry:
        """The voxel grid in patient space (:class:`geometry.Geometry`): shape and index -> LPS affine."""
        return Geometry(tuple(self.shape), index_to_lps(self.direction, self.spacing, self.slice_step, self.origin))

    def affine_lps(self) -> np.ndarray:
        """4 x 4 matrix mapping array index (k, j, i, 1) to patient LPS (x, y, z, 1) in mm."""
        return self.geometry.affine_lps()

    def world_position(self, index: Iterable[float]) -> tuple[float, float, float]:
        """Patient LPS position (mm) of array index (k, j, i) (a leading time index is ignored)."""
        return self.geometry.world_position(list(index))

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

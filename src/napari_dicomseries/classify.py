"""Classify volumes: kind, orientation, kernel class, thickness class, acquisition group.

Every label comes with a reason (``volume.reasons[label]``) so a user can see
why a series was called what it was called, and a confidence that drops with
each warning that matters for loading (by its code: :data:`PENALTIES`).

The labels are enums (:mod:`labels`) whose members equal their string values.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .geometry import cross3, norm3
from .labels import KernelClass, Kind, Orientation, ThicknessClass
from .volume import Volume
from .warning import WarningCode

__all__ = [
    "classify", "kernel_class", "orientation_class", "secondary_reason", "KINDS", "THIN_MAX_MM", "OBLIQUE_DEGREES",
    "MULTIPLANE_LOCALIZER_MAX_SLICES", "SECONDARY_CAPTURE_SOP_CLASSES", "PENALTIES", "DEFAULT_PENALTY", "confidence",
    "Kind", "Orientation", "KernelClass", "ThicknessClass",
]  # fmt: skip

THIN_MAX_MM = 1.5
OBLIQUE_DEGREES = 10.0
#: A series whose images fall into 2-3 orientation planes of at most this many slices each is a multi-plane
#: (GE "3-plane") localizer, even without LOCALIZER in its ImageType.
MULTIPLANE_LOCALIZER_MAX_SLICES = 5

#: The values of ``Volume.kind``.
KINDS = tuple(Kind)

#: How much each warning lowers a volume's confidence (from 1), by code: a volume that cannot be loaded or placed
#: weighs most, missing slices and irregular spacing next, then geometry that is kept but unusual.
PENALTIES: dict[WarningCode, float] = {
    WarningCode.NO_DECODER: 0.5,
    WarningCode.PIXEL_FORMAT: 0.5,
    WarningCode.NO_GEOMETRY: 0.5,
    WarningCode.MISSING_SLICES: 0.2,
    WarningCode.IRREGULAR_SPACING: 0.2,
    WarningCode.GANTRY_TILT: 0.15,
    WarningCode.NO_PIXEL_SPACING: 0.15,
    WarningCode.DUPLICATE_POSITION: 0.15,
}
#: The penalty of any other warning.
DEFAULT_PENALTY = 0.05

#: Secondary Capture Image Storage and its multi-frame variants (single bit, grayscale byte/word, true colour).
SECONDARY_CAPTURE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
}
#: ImageType values that mark a screenshot or a report page rather than an acquired image.
_SCREEN_IMAGE_TYPES = ("SCREEN SAVE", "SCREENSAVE", "CSA REPORT", "DOSE REPORT", "DOSE INFO")
#: Series descriptions of dose reports, exam summaries and protocol pages (Philips, GE, Siemens, Canon).
_REPORT_DESCRIPTION = re.compile(
    r"\b(DOSE\s*(REPORT|INFO|INFORMATION|SUMMARY|RECORD|SR)|RADIATION\s*DOSE|EXAM\s*SUMMARY|PATIENT\s*PROTOCOL|"
    r"SCREEN\s*(SAVE|SHOT|CAPTURE)|SCREENSHOT|SCREENSAVE)\b"
)

_GE: dict[str, KernelClass] = {
    "STANDARD": KernelClass.STANDARD,
    "STND": KernelClass.STANDARD,
    "SOFT": KernelClass.STANDARD,
    "SOFT TISSUE": KernelClass.STANDARD,
    "SMOOTH": KernelClass.STANDARD,
    "CHEST": KernelClass.STANDARD,
    "LUNG": KernelClass.LUNG,
    "BONE": KernelClass.BONE,
    "BONEPLUS": KernelClass.BONE,
    "BONE PLUS": KernelClass.BONE,
    "EDGE": KernelClass.BONE,
    "DETAIL": KernelClass.BONE,
    "HD STANDARD": KernelClass.STANDARD,
    "HD LUNG": KernelClass.LUNG,
    "HD BONE": KernelClass.BONE,
}


def kernel_class(kernel: str, description: str = "") -> tuple[KernelClass, str]:
    """Class of a reconstruction kernel ('standard', 'lung', 'bone', 'other') and the reason.

    Knows GE (STANDARD, SOFT, LUNG, BONE, BONEPLUS, EDGE, DETAIL), Siemens
    (B/Br/Bf/Bl/Bv/Hr/I/Qr + sharpness number), Philips (A, B, C, D, L, YA-YD)
    and Canon/Toshiba (FC##) names; falls back on words in the series
    description; says 'unknown kernel' when neither helps.
    """
    k = (kernel or "").strip().upper().replace("\\", " ")
    k = re.sub(r"\s+", " ", k)
    if k:
        if k in _GE:
            return _GE[k], f"ConvolutionKernel {kernel!r}: GE {k.title()} kernel"
        # GE's "plus" variants (STD+, BONE+, SOFT+, LUNG+, DETAIL+) and STD: the class of the base kernel
        base = k[:-1].strip() if k.endswith("+") else k
        base = {"STD": "STANDARD"}.get(base, base)
        if base in _GE:
            return _GE[base], f"ConvolutionKernel {kernel!r}: GE {base.title()} kernel" + (" (plus variant)" if base != k else "")
        m = re.fullmatch(r"(BL|IL)(\d{2})[A-Z]?( \d)?", k)
        if m:
            return KernelClass.LUNG, f"ConvolutionKernel {kernel!r}: Siemens lung kernel"
        m = re.fullmatch(r"(B|BR|BF|BV|BH|I|IR|QR|HR|H|HC|J|D|T)(\d{2})[A-Z]?( \d)?( [A-Z0-9 ]+)?", k)
        if m:
            fam, sharp = m.group(1), int(m.group(2))
            if fam in ("H", "HR", "HC", "J") and sharp >= 60:
                return KernelClass.BONE, f"ConvolutionKernel {kernel!r}: Siemens head/bone kernel, sharpness {sharp}"
            if sharp < 50:
                return (
                    KernelClass.STANDARD,
                    f"ConvolutionKernel {kernel!r}: Siemens kernel of sharpness {sharp} (< 50, soft to medium)",
                )
            if sharp < 80:
                return KernelClass.LUNG, f"ConvolutionKernel {kernel!r}: Siemens sharp kernel of sharpness {sharp} (50-79, lung)"
            return KernelClass.BONE, f"ConvolutionKernel {kernel!r}: Siemens very sharp kernel of sharpness {sharp} (>= 80, bone)"
        m = re.fullmatch(r"FC(\d{1,2})", k.replace(" ", ""))
        if m:
            n = int(m.group(1))
            if n < 30:
                return KernelClass.STANDARD, f"ConvolutionKernel {kernel!r}: Canon/Toshiba body kernel FC{n:02d}"
            if n < 50:
                return KernelClass.BONE, f"ConvolutionKernel {kernel!r}: Canon/Toshiba bone kernel FC{n:02d}"
            if n < 60:
                return KernelClass.LUNG, f"ConvolutionKernel {kernel!r}: Canon/Toshiba lung kernel FC{n:02d}"
            return KernelClass.OTHER, f"ConvolutionKernel {kernel!r}: Canon/Toshiba kernel FC{n:02d} of no known class"
        m = re.fullmatch(r"(YA|YB|YC|YD|YE|YF|A|B|C|D|E|L|LA|UB|UC)", k)
        if m:
            cls = {"A": "standard", "B": "standard", "UB": "standard", "YA": "standard", "YB": "standard",
                   "C": "lung", "L": "lung", "LA": "lung", "YC": "lung", "UC": "lung",
                   "D": "bone", "E": "bone", "YD": "bone", "YE": "bone", "YF": "bone"}[k]  # fmt: skip
            return KernelClass(cls), f"ConvolutionKernel {kernel!r}: Philips filter {k}"
    d = (description or "").upper()
    for word, word_class in (
        ("LUNG", KernelClass.LUNG),
        ("BONE", KernelClass.BONE),
        ("STANDARD", KernelClass.STANDARD),
        ("STND", KernelClass.STANDARD),
        ("SOFT", KernelClass.STANDARD),
        ("STD", KernelClass.STANDARD),
    ):
        if re.search(rf"\b{word}\b", d):
            src = f"unknown kernel {kernel!r}" if k else "no ConvolutionKernel"
            return word_class, f"{src}; SeriesDescription {description!r} says {word.lower()}"
    if k:
        return KernelClass.OTHER, f"unknown kernel {kernel!r} (not a known GE, Siemens, Philips or Canon name)"
    return KernelClass.OTHER, "no ConvolutionKernel and no kernel word in SeriesDescription"


def _plane(direction: Sequence[float]) -> tuple[int, float]:
    """The patient axis (0 LR, 1 AP, 2 SI) closest to the image-plane normal, and the angle between them (degrees)."""
    d = [float(x) for x in direction]  # row-major 3 x 3: column k is d[k], d[k + 3], d[k + 6] (plain floats: see cross3)
    normal = cross3(d[0::3], d[1::3])  # the image plane's normal: row x column cosines, whatever the slice step
    norm = norm3(normal)
    normal = (normal[0] / norm, normal[1] / norm, normal[2] / norm) if norm > 0 else (d[2], d[5], d[8])
    axis = max(range(3), key=lambda i: abs(normal[i]))  # the first of equal ones, as numpy's argmax
    return axis, math.degrees(math.acos(min(1.0, abs(normal[axis]))))


def orientation_class(direction: Sequence[float], gantry_tilt: float = 0.0) -> tuple[Orientation, str]:
    """'axial', 'coronal', 'sagittal' or 'oblique' from the normal of the image plane, and the reason.

    Parameters
    ----------
    direction : sequence of 9 float
        The ITK direction (row-major 3 x 3; columns: row cosine, column cosine, slice normal). The normal
        used is the image plane's (row x column cosines), never the slice step (sheared by a gantry tilt).
    gantry_tilt : float
        Gantry tilt in degrees (``Volume.gantry_tilt``). A CT gantry tilts the image plane about the
        patient's left-right axis while the table moves head to foot: a tilted axial series is
        axial, not oblique, when its deviation from axial is the tilt (within :data:`OBLIQUE_DEGREES`).
    """
    axis, angle = _plane(direction)
    name = (Orientation.SAGITTAL, Orientation.CORONAL, Orientation.AXIAL)[axis]
    if angle > OBLIQUE_DEGREES:
        d = np.asarray(direction, float).reshape(3, 3)
        row_off_lr = math.degrees(math.acos(min(1.0, abs(float(d[0, 0])) / max(float(np.linalg.norm(d[:, 0])), 1e-12))))
        tilt = abs(float(gantry_tilt or 0.0))
        if name == Orientation.AXIAL and tilt > 0.01 and abs(angle - tilt) <= OBLIQUE_DEGREES and row_off_lr <= OBLIQUE_DEGREES:
            return Orientation.AXIAL, (
                f"image plane {angle:.1f} degrees from axial, {tilt:.1f} of them gantry tilt (a tilt about the LR axis "
                "is not obliquity)"
            )
        return Orientation.OBLIQUE, f"slice normal {angle:.1f} degrees from the {name} axis (closest: {name})"
    return name, f"slice normal within {angle:.1f} degrees of the {'LR AP SI'.split()[axis]} axis"


def secondary_reason(v: Volume) -> str | None:
    """Why ``v`` is a secondary capture (screenshot, dose report, exam summary, document page); None if it is not."""
    if v.sop_class_uid in SECONDARY_CAPTURE_SOP_CLASSES:
        return f"SOPClassUID {v.sop_class_uid} ({SECONDARY_CAPTURE_SOP_CLASSES[v.sop_class_uid]})"
    image_type = {t.strip().upper() for t in v.image_type}
    screen = sorted(image_type & set(_SCREEN_IMAGE_TYPES))
    if screen:
        return f"ImageType contains {screen[0]}"
    desc = (v.series_description or "").upper()
    m = _REPORT_DESCRIPTION.search(desc)
    if m and ("SECONDARY" in image_type or "DERIVED" in image_type):
        return "ImageType " + "\\".join(v.image_type) + f" and SeriesDescription {v.series_description!r} ({m.group(0).lower()})"
    if m and v.ndim == 3 and v.n_slices <= 2:
        return f"SeriesDescription {v.series_description!r} ({m.group(0).lower()}) on a lone image"
    return None


def _multiplane_localizers(images: Sequence[Volume]) -> dict[int, str]:
    """Parts of one series in 2-3 different planes of few slices each (a 3-plane localizer): id(volume) -> reason."""
    by_series: dict[tuple[str, int | None], list[Volume]] = {}
    for v in images:
        by_series.setdefault((v.series_instance_uid, v.series_number), []).append(v)
    out: dict[int, str] = {}
    for parts in by_series.values():
        if not 2 <= len(parts) <= 6 or any(p.ndim != 3 or p.n_slices > MULTIPLANE_LOCALIZER_MAX_SLICES for p in parts):
            continue
        planes = [("sagittal", "coronal", "axial")[_plane(p.direction)[0]] for p in parts]
        if len(set(planes)) < 2:
            continue
        summary = ", ".join(f"{plane} {p.n_slices}" for plane, p in zip(planes, parts, strict=True))
        for plane, p in zip(planes, parts, strict=True):
            out[id(p)] = (
                f"one {plane} part of a series whose images lie in {len(set(planes))} planes with few slices each "
                f"({summary}; at most {MULTIPLANE_LOCALIZER_MAX_SLICES}): a multi-plane localizer"
            )
    return out


def _acq_key(v: Volume) -> tuple[str, str, str]:
    return (v.study_instance_uid, v.frame_of_reference_uid, v.acquisition_datetime)


def confidence(v: Volume) -> float:
    """How sure the classes of ``v`` are: 1 less the :data:`PENALTIES` of its warnings' codes, at least 0."""
    conf = 1.0
    for w in v.warnings:
        conf -= PENALTIES.get(w.code, DEFAULT_PENALTY)
    return max(0.0, round(conf, 3))


def classify(volumes: list[Volume]) -> list[Volume]:
    """Fill the classes, reasons and confidence of ``volumes`` in place; return them."""
    images = [v for v in volumes if v.is_image and v.kind != "segmentation"]
    secondary = {id(v): why for v in images if (why := secondary_reason(v))}
    multiplane = _multiplane_localizers([v for v in images if id(v) not in secondary and "LOCALIZER" not in v.image_type])
    # the study's usual volume geometry: orientation and size of multi-slice volumes
    usual: dict[str, Counter[tuple[str, tuple[int, ...]]]] = {}
    for v in images:
        if v.n_slices > 1 and "LOCALIZER" not in v.image_type and id(v) not in secondary and id(v) not in multiplane:
            usual.setdefault(v.study_instance_uid, Counter())[
                (orientation_class(v.direction, v.gantry_tilt)[0], v.shape[-2:])
            ] += 1
    groups: dict[tuple[str, str, str], str] = {}
    for v in volumes:
        if v.kind == Kind.SEGMENTATION:
            v.orientation, v.reasons["orientation"] = orientation_class(v.direction, v.gantry_tilt)
            v.reasons["kind"] = f"{len(v.segments)} segment(s): " + ", ".join(seg.label for seg in v.segments)
            if v.references:
                v.reasons["kind"] += f"; references series {', '.join(v.references)}"
            continue
        if not v.is_image:
            v.kind = Kind.NON_IMAGE
            v.reasons["kind"] = "no pixel data (" + (v.warnings[0].message if v.warnings else v.sop_class_uid) + ")"
            v.confidence = 1.0
            key = _acq_key(v)
            v.acquisition_group = ""
            continue
        v.orientation, v.reasons["orientation"] = orientation_class(v.direction, v.gantry_tilt)
        if id(v) in secondary:
            v.kind, v.reasons["kind"] = (
                Kind.SECONDARY,
                secondary[id(v)] + ": a screenshot, report or document page, not an acquisition",
            )
        elif "LOCALIZER" in v.image_type:
            v.kind, v.reasons["kind"] = Kind.LOCALIZER, "ImageType contains LOCALIZER"
        elif id(v) in multiplane:
            v.kind, v.reasons["kind"] = Kind.LOCALIZER, multiplane[id(v)]
        elif (
            v.n_slices == 1
            and v.ndim == 3
            and usual.get(v.study_instance_uid)
            and ((v.orientation, v.shape[-2:]) not in usual[v.study_instance_uid])
        ):
            v.kind = Kind.LOCALIZER
            v.reasons["kind"] = (
                f"a lone {v.orientation} slice of {v.shape[-2]}x{v.shape[-1]} while the study's volumes are "
                + ", ".join(f"{o} {s[0]}x{s[1]}" for (o, s) in usual[v.study_instance_uid])
            )
        else:
            v.kind = Kind.IMAGE
            v.reasons["kind"] = f"{v.n_slices} slice(s) of {v.shape[-2]}x{v.shape[-1]}" + (
                f" x {v.shape[0]} {v.time_tag}" if v.ndim == 4 else ""
            )
        v.kernel_class, v.reasons["kernel_class"] = kernel_class(v.convolution_kernel, v.series_description)
        thickness = v.slice_thickness if v.slice_thickness else v.spacing[0]
        src = "SliceThickness" if v.slice_thickness else "slice spacing"
        if v.kind in (Kind.LOCALIZER, Kind.SECONDARY):
            # a scout or a screenshot is no slab of a volume: never "thin" (nor "thick")
            v.thickness_class = ThicknessClass.NONE
            v.reasons["thickness_class"] = f"none for a {v.kind} ({src} {thickness:g} mm)"
        else:
            v.thickness_class = ThicknessClass.THIN if thickness <= THIN_MAX_MM else ThicknessClass.THICK
            v.reasons["thickness_class"] = f"{src} {thickness:g} mm {'<=' if thickness <= THIN_MAX_MM else '>'} {THIN_MAX_MM} mm"
        key = _acq_key(v)
        if key not in groups:
            groups[key] = f"A{len(groups) + 1}"
        v.acquisition_group = groups[key]
        v.reasons["acquisition_group"] = (
            f"study {v.study_instance_uid[-8:] or '?'}, frame of reference {v.frame_of_reference_uid[-8:] or '?'}, "
            f"acquired {v.acquisition_datetime or '?'}"
        )
        v.confidence = confidence(v)
    return volumes

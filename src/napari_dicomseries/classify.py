"""Classify volumes: kind, orientation, kernel class, thickness class, acquisition group.

Every label comes with a reason (``volume.reasons[label]``) so a user can see
why a series was called what it was called, and a confidence that drops with
each warning that matters for loading.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .volume import Volume

__all__ = ["classify", "kernel_class", "orientation_class", "THIN_MAX_MM", "OBLIQUE_DEGREES"]

THIN_MAX_MM = 1.5
OBLIQUE_DEGREES = 10.0

_GE = {
    "STANDARD": "standard",
    "STND": "standard",
    "SOFT": "standard",
    "SOFT TISSUE": "standard",
    "SMOOTH": "standard",
    "CHEST": "standard",
    "LUNG": "lung",
    "BONE": "bone",
    "BONEPLUS": "bone",
    "BONE PLUS": "bone",
    "EDGE": "bone",
    "DETAIL": "bone",
    "HD STANDARD": "standard",
    "HD LUNG": "lung",
    "HD BONE": "bone",
}


def kernel_class(kernel: str, description: str = "") -> tuple[str, str]:
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
        m = re.fullmatch(r"(BL|IL)(\d{2})[A-Z]?( \d)?", k)
        if m:
            return "lung", f"ConvolutionKernel {kernel!r}: Siemens lung kernel"
        m = re.fullmatch(r"(B|BR|BF|BV|BH|I|IR|QR|HR|H|HC|J|D|T)(\d{2})[A-Z]?( \d)?( [A-Z0-9 ]+)?", k)
        if m:
            fam, sharp = m.group(1), int(m.group(2))
            if fam in ("H", "HR", "HC", "J") and sharp >= 60:
                return "bone", f"ConvolutionKernel {kernel!r}: Siemens head/bone kernel, sharpness {sharp}"
            if sharp < 50:
                return "standard", f"ConvolutionKernel {kernel!r}: Siemens kernel of sharpness {sharp} (< 50, soft to medium)"
            if sharp < 80:
                return "lung", f"ConvolutionKernel {kernel!r}: Siemens sharp kernel of sharpness {sharp} (50-79, lung)"
            return "bone", f"ConvolutionKernel {kernel!r}: Siemens very sharp kernel of sharpness {sharp} (>= 80, bone)"
        m = re.fullmatch(r"FC(\d{1,2})", k.replace(" ", ""))
        if m:
            n = int(m.group(1))
            if n < 30:
                return "standard", f"ConvolutionKernel {kernel!r}: Canon/Toshiba body kernel FC{n:02d}"
            if n < 50:
                return "bone", f"ConvolutionKernel {kernel!r}: Canon/Toshiba bone kernel FC{n:02d}"
            if n < 60:
                return "lung", f"ConvolutionKernel {kernel!r}: Canon/Toshiba lung kernel FC{n:02d}"
            return "other", f"ConvolutionKernel {kernel!r}: Canon/Toshiba kernel FC{n:02d} of no known class"
        m = re.fullmatch(r"(YA|YB|YC|YD|YE|YF|A|B|C|D|E|L|LA|UB|UC)", k)
        if m:
            cls = {"A": "standard", "B": "standard", "UB": "standard", "YA": "standard", "YB": "standard",
                   "C": "lung", "L": "lung", "LA": "lung", "YC": "lung", "UC": "lung",
                   "D": "bone", "E": "bone", "YD": "bone", "YE": "bone", "YF": "bone"}[k]  # fmt: skip
            return cls, f"ConvolutionKernel {kernel!r}: Philips filter {k}"
    d = (description or "").upper()
    for word, cls in (("LUNG", "lung"), ("BONE", "bone"), ("STANDARD", "standard"), ("STND", "standard"), ("SOFT", "standard"), ("STD", "standard")):
        if re.search(rf"\b{word}\b", d):
            src = f"unknown kernel {kernel!r}" if k else "no ConvolutionKernel"
            return cls, f"{src}; SeriesDescription {description!r} says {word.lower()}"
    if k:
        return "other", f"unknown kernel {kernel!r} (not a known GE, Siemens, Philips or Canon name)"
    return "other", "no ConvolutionKernel and no kernel word in SeriesDescription"


def orientation_class(direction: Sequence[float]) -> tuple[str, str]:
    """'axial', 'coronal', 'sagittal' or 'oblique' from the slice normal, and the reason."""
    d = np.asarray(direction, float).reshape(3, 3)
    normal = d[:, 2]
    axis = int(np.argmax(np.abs(normal)))
    name = ("sagittal", "coronal", "axial")[axis]
    angle = math.degrees(math.acos(min(1.0, abs(float(normal[axis])))))
    if angle > OBLIQUE_DEGREES:
        return "oblique", f"slice normal {angle:.1f} degrees from the {name} axis (closest: {name})"
    return name, f"slice normal within {angle:.1f} degrees of the {'LR AP SI'.split()[axis]} axis"


def _acq_key(v: Volume) -> tuple[str, str, str]:
    return (v.study_instance_uid, v.frame_of_reference_uid, v.acquisition_datetime)


def classify(volumes: list[Volume]) -> list[Volume]:
    """Fill the classes, reasons and confidence of ``volumes`` in place; return them."""
    images = [v for v in volumes if v.is_image]
    # the study's usual volume geometry: orientation and size of multi-slice volumes
    usual: dict[str, Counter[tuple[str, tuple[int, ...]]]] = {}
    for v in images:
        if v.n_slices > 1 and "LOCALIZER" not in v.image_type:
            usual.setdefault(v.study_instance_uid, Counter())[(orientation_class(v.direction)[0], v.shape[-2:])] += 1
    groups: dict[tuple[str, str, str], str] = {}
    for v in volumes:
        if not v.is_image:
            v.kind = "non-image"
            v.reasons["kind"] = "no pixel data (" + (v.warnings[0] if v.warnings else v.sop_class_uid) + ")"
            v.confidence = 1.0
            key = _acq_key(v)
            v.acquisition_group = ""
            continue
        v.orientation, v.reasons["orientation"] = orientation_class(v.direction)
        if "LOCALIZER" in v.image_type:
            v.kind, v.reasons["kind"] = "localizer", "ImageType contains LOCALIZER"
        elif v.n_slices == 1 and v.ndim == 3 and usual.get(v.study_instance_uid) and (
            (v.orientation, v.shape[-2:]) not in usual[v.study_instance_uid]
        ):
            v.kind = "localizer"
            v.reasons["kind"] = (
                f"a lone {v.orientation} slice of {v.shape[-2]}x{v.shape[-1]} while the study's volumes are "
                + ", ".join(f"{o} {s[0]}x{s[1]}" for (o, s) in usual[v.study_instance_uid])
            )
        else:
            v.kind = "image"
            v.reasons["kind"] = f"{v.n_slices} slice(s) of {v.shape[-2]}x{v.shape[-1]}" + (f" x {v.shape[0]} {v.time_tag}" if v.ndim == 4 else "")
        v.kernel_class, v.reasons["kernel_class"] = kernel_class(v.convolution_kernel, v.series_description)
        thickness = v.slice_thickness if v.slice_thickness else v.spacing[0]
        src = "SliceThickness" if v.slice_thickness else "slice spacing"
        v.thickness_class = "thin" if thickness <= THIN_MAX_MM else "thick"
        v.reasons["thickness_class"] = f"{src} {thickness:g} mm {'<=' if thickness <= THIN_MAX_MM else '>'} {THIN_MAX_MM} mm"
        key = _acq_key(v)
        if key not in groups:
            groups[key] = f"A{len(groups) + 1}"
        v.acquisition_group = groups[key]
        v.reasons["acquisition_group"] = (
            f"study {v.study_instance_uid[-8:] or '?'}, frame of reference {v.frame_of_reference_uid[-8:] or '?'}, "
            f"acquired {v.acquisition_datetime or '?'}"
        )
        conf = 1.0
        for w in v.warnings:
            if w.startswith(("missing", "irregular")):
                conf -= 0.2
            elif "cannot be loaded" in w or "lack ImagePositionPatient" in w:
                conf -= 0.5
            elif w.startswith(("gantry tilt", "no PixelSpacing")) or "same position" in w:
                conf -= 0.15
            else:
                conf -= 0.05
        v.confidence = max(0.0, round(conf, 3))
    return volumes

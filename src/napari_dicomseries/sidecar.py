"""The JSON sidecar of an exported volume: its constant DICOM tags under BIDS / dcm2niix names, and the scan's view.

:func:`constant_tags` reads the headers of a volume's files again (no pixels)
and keeps every public top-level tag whose value is the same in all of them
(compared as stored bytes, so only the constant values are decoded); enhanced
multi-frame files add their shared functional groups and the per-frame
elements equal in every frame. :func:`sidecar_from_rows` turns such rows (or
the reader's per-slice table) into the sidecar: keywords renamed where BIDS /
dcm2niix have a convention (``ManufacturersModelName``, ``BodyPart``, ...),
values converted (times in seconds, ``AcquisitionTime`` as
``HH:MM:SS.ffffff``, dates as ``YYYY-MM-DD``), dcm2niix's leading keys first,
and the volume's summary (kind, classes, warnings, ...) under
``"DicomSeries"``. Tags of one image rather than the volume, and tags that
identify the patient (person names, IDs, birth date, address, accession
number), are left out unless patient tags are asked for. :func:`sidecar` does
both for a :class:`Volume`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .elements import Opaque, element_value
from .errors import HeaderError
from .scan import DicomFile
from .volume import Volume

__all__ = [
    "SOFTWARE",
    "BIDS_NAMES",
    "MS_TO_S",
    "LEADING",
    "PER_IMAGE",
    "PATIENT_TAGS",
    "EARLIEST",
    "constant_tags",
    "sidecar_from_rows",
    "sidecar",
]

#: ``ConversionSoftware`` of the sidecar (and the NIfTI ``descrip`` prefix).
SOFTWARE = "napari-dicomseries"

#: DICOM keyword -> BIDS / dcm2niix name.
BIDS_NAMES = {
    "ManufacturerModelName": "ManufacturersModelName",
    "BodyPartExamined": "BodyPart",
    "ImageOrientationPatient": "ImageOrientationPatientDICOM",
    "PerformedProcedureStepDescription": "ProcedureStepDescription",
    "EchoNumbers": "EchoNumber",
    "PercentPhaseFieldOfView": "PercentPhaseFOV",
    "NumberOfPhaseEncodingSteps": "PhaseEncodingSteps",
    "InPlanePhaseEncodingDirection": "InPlanePhaseEncodingDirectionDICOM",
    "EffectiveEchoTime": "EchoTime",
    "TransmitterFrequency": "ImagingFrequency",
}
#: Tags in milliseconds in DICOM, in seconds in BIDS.
MS_TO_S = {"EchoTime", "RepetitionTime", "InversionTime", "ExposureTime", "EffectiveEchoTime"}
#: Sidecar keys dcm2niix puts first, in its order; the other tags follow in tag order.
LEADING = (
    "Modality", "MagneticFieldStrength", "ImagingFrequency", "Manufacturer", "ManufacturersModelName",
    "InstitutionName", "InstitutionalDepartmentName", "InstitutionAddress", "DeviceSerialNumber", "StationName",
    "BodyPart", "PatientPosition", "ProcedureStepDescription", "SoftwareVersions", "MRAcquisitionType",
    "StudyDescription", "SeriesDescription", "ProtocolName", "ScanningSequence", "SequenceVariant", "ScanOptions",
    "SequenceName", "ImageType", "SeriesNumber", "AcquisitionTime", "AcquisitionNumber", "ConvolutionKernel",
    "SliceThickness", "SpacingBetweenSlices", "EchoTime", "RepetitionTime", "InversionTime", "FlipAngle",
    "ExposureTime", "XRayTubeCurrent", "XRayExposure", "ImageOrientationPatientDICOM",
)  # fmt: skip
#: Tags of one image, not of the volume, or describing stored values the export has already converted.
PER_IMAGE = {
    "SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation", "RescaleSlope",
    "RescaleIntercept", "LargestImagePixelValue", "SmallestImagePixelValue", "PixelPaddingValue",
    "PixelPaddingRangeLimit", "NumberOfFrames", "DimensionIndexValues", "InStackPositionNumber", "TemporalPositionIndex",
    "FrameAcquisitionNumber", "PixelData", "FloatPixelData", "DoubleFloatPixelData", "InConcatenationNumber",
    "ConcatenationFrameOffsetNumber", "FrameReferenceDateTime", "FrameAcquisitionDateTime", "FrameAcquisitionDuration",
    "FrameContentSequence", "StackID", "ImagePositionVolume", "DataSetTrailingPadding", "PixelValueTransformationSequence",
    "SpecificCharacterSet",
}  # fmt: skip
#: Tags that identify the patient (left out unless patient tags are asked for); every PN value too.
PATIENT_TAGS = {
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
    "PatientBirthDate", "PatientBirthTime", "PatientBirthName", "PatientAddress", "PatientTelephoneNumbers",
    "PatientMotherBirthName", "MedicalRecordLocator", "AccessionNumber", "PatientComments", "EthnicGroup",
    "PatientReligiousPreference", "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "PatientInsurancePlanCodeSequence",
}  # fmt: skip
#: Time tags that may change from slice to slice: the sidecar gives the earliest (when acquisition started).
EARLIEST = {"AcquisitionTime", "AcquisitionDate", "AcquisitionDateTime", "ContentTime", "ContentDate"}
_MISSING = object()


def _row_value(elem: Any) -> Any:
    """:func:`elements.element_value` (text stripped), or _MISSING for an empty, binary or unreadable value."""
    v = element_value(elem, strip=True)
    return _MISSING if v is None or v == "" or isinstance(v, Opaque) else v


def _leaves(item: Any, row: dict[str, Any]) -> None:
    """Add the non-sequence elements of the functional-group macros of ``item`` (not already in ``row``)."""
    for elem in item:
        if elem.VR == "SQ" and elem.value and elem.keyword and not elem.keyword.startswith("Referenced"):
            for e in elem.value[0]:
                if e.VR != "SQ" and e.keyword and e.tag.group % 2 == 0 and e.keyword not in row:
                    v = _row_value(e)
                    if v is not _MISSING:
                        row[e.keyword] = v


def _read_fresh(path: str) -> Any:
    """The header of ``path`` read again by pydicom, elements left raw (unconverted)."""
    import warnings

    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:  # any failure to re-read is the file's
        raise HeaderError(f"{path}: cannot read the header again for the sidecar ({type(exc).__name__}: {exc})") from exc


def _value_of(ds: Any, tag: Any) -> Any:
    """The value of ``ds[tag]`` as :func:`_row_value` gives it; _MISSING when pydicom cannot decode it."""
    try:
        elem = ds[tag]
    except Exception:  # noqa: BLE001 - an undecodable element (bad VR, bad value) is left out
        return _MISSING
    return _row_value(elem)


def _groups_row(ds: Any) -> dict[str, Any]:
    """Elements of an enhanced file's shared functional groups and the per-frame ones equal in every frame."""
    try:
        return _groups_row_unsafe(ds)
    except Exception:  # noqa: BLE001 - functional groups pydicom cannot decode add nothing
        return {}


def _groups_row_unsafe(ds: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        _leaves(shared[0], row)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        frame_rows = []
        for item in per_frame:
            r: dict[str, Any] = {}
            _leaves(item, r)
            frame_rows.append(r)
        for k, v in _constant(frame_rows).items():
            row.setdefault(k, v)
    return row


def constant_tags(files: Volume | Iterable[DicomFile | str | os.PathLike[str]]) -> dict[str, Any]:
    """Public top-level tags with the same value in every file: keyword -> value (numbers, text or lists).

    Headers are read again (no pixels) and compared as stored bytes, so only
    the constant values are decoded. Tags of :data:`EARLIEST` that change from
    file to file give their earliest value. Enhanced multi-frame files add the
    elements of their shared functional groups and the per-frame ones that are
    the same in every frame (EchoTime, RepetitionTime, FlipAngle,
    SliceThickness ...).

    Raises
    ------
    HeaderError
        If a header cannot be read again (the message names the file).
    """
    from pydicom.datadict import keyword_for_tag
    from pydicom.dataelem import RawDataElement

    items = files.files if isinstance(files, Volume) else list(files)
    paths = [x.path if isinstance(x, DicomFile) else os.fspath(x) for x in items]
    if not paths:
        return {}

    def raw_items(ds: Any) -> dict[Any, Any]:
        out = {}
        for e in ds.elements():
            tag = e.tag
            if tag.group % 2 == 1 or tag.group <= 0x0002 or e.VR == "SQ":
                continue
            out[tag] = (e.VR, bytes(e.value or b"")) if isinstance(e, RawDataElement) else ("=", repr(e.value))
        return out

    first = _read_fresh(paths[0])
    ref = raw_items(first)
    keep = set(ref)
    varying: dict[Any, list[Any]] = {}
    earliest_tags = {t for t in ref if keyword_for_tag(t) in EARLIEST}
    groups = [_groups_row(first)] if "PerFrameFunctionalGroupsSequence" in first else []
    for path in paths[1:]:
        ds = _read_fresh(path)
        cur = raw_items(ds)
        for t in list(keep):
            if cur.get(t) != ref[t]:
                keep.discard(t)
        for t in earliest_tags:
            if t in cur:
                varying.setdefault(t, []).append(_value_of(ds, t))
        if groups:
            groups.append(_groups_row(ds))
    out: dict[str, Any] = {}
    for t in ref:  # tag order
        kw = keyword_for_tag(t)
        if not kw:
            continue
        if t in keep:
            v = _value_of(first, t)
        elif t in earliest_tags and len(varying.get(t, [])) == len(paths) - 1:
            vals = [v for v in [_value_of(first, t), *varying[t]] if v is not _MISSING]
            v = min(vals, key=str) if len(vals) == len(paths) else _MISSING
        else:
            continue
        if v is not _MISSING:
            out[kw] = v
    for k, v in _constant(groups).items():
        out.setdefault(k, v)
    return out


def _constant(rows: Sequence[Mapping[str, Any]], earliest: Iterable[str] = ()) -> dict[str, Any]:
    """Keys with the same value in every row (first row's order); keys in ``earliest`` take their smallest value."""
    if not rows:
        return {}
    earliest = set(earliest)
    out: dict[str, Any] = {}
    for k, v in rows[0].items():
        same = True
        vals = [v]
        for r in rows[1:]:
            w = r.get(k, _MISSING)
            if w is _MISSING:
                same = False
                break
            if w != v:
                same = False
                vals.append(w)
        if same:
            out[k] = v
        elif k in earliest and all(k in r for r in rows):
            vals = [r[k] for r in rows]
            try:
                out[k] = min(vals, key=lambda x: str(x))
            except TypeError:
                pass
    return out


def _vr(keyword: str) -> str:
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(keyword))
    except (KeyError, ValueError):  # not a dictionary keyword
        return ""


def _time(v: str) -> str:
    """DICOM TM (HHMMSS.ffffff) as HH:MM:SS.ffffff."""
    s = str(v).strip().replace(":", "")
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", s)
    if not m:
        return str(v)
    hh, mm, ss, frac = m.group(1), m.group(2) or "00", m.group(3) or "00", m.group(4) or ""
    return f"{hh}:{mm}:{ss}.{frac.ljust(6, '0')}"


def _date(v: str) -> str:
    s = str(v).strip()
    if re.fullmatch(r"\d{8}", s):
        return f"{s[:4]}-{s[4:6]}-{s[6:]}"
    return s


def _datetime(v: str) -> str:
    s = str(v).strip()
    m = re.fullmatch(r"(\d{8})(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?", s)
    if not m:
        return s
    out = _date(m.group(1))
    if m.group(2):
        out += "T" + _time(m.group(2))
    return out + (m.group(3) or "")


def _number(x: Any) -> Any:
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


def _ms_to_s(x: Any) -> Any:
    return _number(round(x / 1000.0, 9)) if isinstance(x, (int, float)) else x


def _convert(keyword: str, value: Any) -> Any:
    vr = _vr(keyword)
    if keyword in MS_TO_S:
        return [_ms_to_s(x) for x in value] if isinstance(value, list) else _ms_to_s(value)
    conv = {"TM": _time, "DA": _date, "DT": _datetime}.get(vr)
    if conv is not None:
        return [conv(x) for x in value] if isinstance(value, list) else conv(value)
    if isinstance(value, list):
        return [_number(x) for x in value]
    return _number(value)


def sidecar_from_rows(
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any] | None = None,
    *,
    patient_tags: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar dict from per-file (or per-slice) header rows and a :meth:`Volume.summary` dict.

    Parameters
    ----------
    rows : sequence of mapping
        Keyword -> value (:func:`constant_tags`) or per slice (the
        reader's ``metadata["dicom"]["slices"]`` table); keys that are not DICOM
        keywords (``file``, ``frame``, private tags) are ignored, and so are
        rows without any keyword (files that could not be read).
    summary : mapping, optional
        :meth:`Volume.summary` of the volume: becomes the ``"DicomSeries"`` entry.
    patient_tags : bool
        Keep tags that identify the patient (names, IDs, birth date, ...).
    extra : mapping, optional
        Added to the ``"DicomSeries"`` entry (e.g. export warnings).
    """
    clean = [{k: v for k, v in r.items() if k and k[0].isalpha() and _vr(k)} for r in rows]
    unread = sum(not c for c in clean)
    clean = [c for c in clean if c]  # rows of files that could not be read hold no tag at all
    const = _constant(clean, EARLIEST)
    tags: dict[str, Any] = {}
    for k, v in const.items():
        if k in PER_IMAGE or k.startswith("Referenced"):
            continue
        if not patient_tags and (k in PATIENT_TAGS or _vr(k) == "PN"):
            continue
        name = BIDS_NAMES.get(k, k)
        if name in tags and name != k:  # e.g. EffectiveEchoTime when EchoTime is there
            continue
        tags[name] = _convert(k, v)
    if "AcquisitionTime" not in tags and "T" in str(tags.get("AcquisitionDateTime", "")):
        tags["AcquisitionTime"] = str(tags["AcquisitionDateTime"]).split("T", 1)[1][:15]
    out: dict[str, Any] = {k: tags[k] for k in LEADING if k in tags}
    out.update((k, v) for k, v in tags.items() if k not in out)
    if summary:
        out.setdefault("Modality", summary.get("modality") or None)
        out.setdefault("SeriesNumber", summary.get("series_number"))
        out.setdefault("SeriesDescription", summary.get("series_description") or None)
        out.setdefault("Manufacturer", summary.get("manufacturer") or None)
        out.setdefault("SeriesInstanceUID", summary.get("series_instance_uid") or None)
        if summary.get("convolution_kernel"):
            out.setdefault("ConvolutionKernel", summary["convolution_kernel"])
        if summary.get("slice_thickness"):
            out.setdefault("SliceThickness", _number(float(summary["slice_thickness"])))
        out = {k: v for k, v in out.items() if v is not None}
    out["ConversionSoftware"] = SOFTWARE
    from . import __version__

    out["ConversionSoftwareVersion"] = __version__
    ds_block: dict[str, Any] = {}
    if summary:
        for k in (
            "key", "kind", "kernel_class", "thickness_class", "orientation", "acquisition_group", "split_reason",
            "warnings", "reasons", "confidence", "shape", "spacing", "slice_step", "gantry_tilt", "time_tag",
            "time_values", "n_files", "series_instance_uid", "transfer_syntax_uid",
        ):  # fmt: skip
            if k in summary:
                ds_block[k] = summary[k]
        slope, inter = summary.get("rescale_slope"), summary.get("rescale_intercept")
        if slope is not None:
            ds_block["values"] = (
                f"rescaled: RescaleSlope {_number(float(slope))} and RescaleIntercept {_number(float(inter or 0))} "
                "already applied (NIfTI scl_slope unset)"
            )
    if unread:
        ds_block["tags_from"] = f"{len(clean)} of {len(clean) + unread} slices (the others could not be read)"
    if extra:
        for k, v in extra.items():
            if k == "warnings":
                ds_block["warnings"] = list(ds_block.get("warnings", [])) + list(v)
            else:
                ds_block[k] = v
    out["DicomSeries"] = ds_block
    return out


def sidecar(volume: Volume, *, patient_tags: bool = False, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON sidecar of ``volume``: its constant DICOM tags (BIDS names) and ``"DicomSeries"``.

    Reads the full headers of the volume's files (no pixels).
    """
    return sidecar_from_rows([constant_tags(volume)], volume.summary(), patient_tags=patient_tags, extra=extra)

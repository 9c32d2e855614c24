r"""Deterministic synthetic archive: many studies of several vendors' layouts, fast enough for 100,000+ files.

A research group's PACS exports on a NAS, in miniature: patients with one to
three studies each, CT (chest, abdomen, head) and MR (brain) studies written as
three vendors write them:

* ``ge``: GE-like, explicit VR little endian, GEMS private blocks, kernels
  STANDARD/LUNG/BONE, a two-image scout (AP and lateral), a flat PACS export
  folder per study with random file names (``ge/<accession>/<hex>.dcm``);
* ``siemens``: Siemens-like, explicit VR little endian, ``SIEMENS CT VA1 DUMMY``
  / ``SIEMENS MR HEADER`` private blocks, kernels ``Br40d\3``/``Bl57d\3``/
  ``Hr68d\3``, a ``PATIENT/STUDY/SERIES`` tree (``siemens/<patient>/<date>_<accession>/<nr>_<desc>/IM-...dcm``);
* ``philips``: Philips-like, *implicit* VR little endian, ``ELSCINT1`` /
  ``Philips Imaging DD 001`` private blocks, filters B/L/D, a nested export without
  DICOMDIR and without file extensions (``philips/<patient>/DICOM/S<study>/S<series>/I<n>``).

A CT study holds a scout (localizer), axial 5 mm and 1.25 mm reconstructions with
standard and lung kernels (chest), bone and coronal/sagittal reformats
(abdomen), a 0.625 mm bone series (head) and often a dose report (secondary
capture); an MR study a three-plane localizer, a 1 mm sagittal T1, axial T2 and
coronal FLAIR. Every file is 32 x 32 pixels (CT int16 with RescaleIntercept -1024,
MR uint16) sampled from the phantom of :mod:`napari_dicomseries.synthetic`.

Speed: pydicom writes one *template* per series; each instance is the template
with its per-instance values (SOPInstanceUID in the file meta and the data set,
InstanceNumber, ImagePositionPatient, SliceLocation, pixels) patched into the
bytes at fixed offsets. UIDs have a fixed width, decimal strings are padded with
spaces to the template's even length, so every element length stays valid.

Each series of the plan records what it is (:class:`ArchiveSeries`: kind,
orientation, kernel class, thin/thick), so tests can check a reader against the
construction rather than against its own output. ``layout="flat"`` writes every
file into one folder with random names (the "6,600-file folder with 160 volumes"
of issue 14: ``write_archive(out, files=6600, volumes=160, layout="flat")``).
"""

from __future__ import annotations

import io
import math
import os
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .synthetic import phantom_hu

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["ArchiveSeries", "ArchiveSummary", "LAYOUTS", "VENDORS", "plan_archive", "write_archive"]

UID_ROOT = "1.2.826.0.1.3680043.10.1505.7."
#: Directory layouts: one per vendor in a mixed archive, or everything in one flat folder.
LAYOUTS = ("mixed", "flat")
VENDORS = ("ge", "siemens", "philips")
MATRIX = 32

_CT = "1.2.840.10008.5.1.4.1.1.2"
_MR = "1.2.840.10008.5.1.4.1.1.4"
_SC = "1.2.840.10008.5.1.4.1.1.7"
_EXPLICIT, _IMPLICIT = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"

#: ConvolutionKernel per vendor and kernel class.
_KERNELS = {
    "ge": {"standard": "STANDARD", "lung": "LUNG", "bone": "BONE"},
    "siemens": {"standard": "Br40d\\3", "lung": "Bl57d\\3", "bone": "Hr68d\\3"},
    "philips": {"standard": "B", "lung": "L", "bone": "D"},
}
_MODELS = {
    "ge": ("GE MEDICAL SYSTEMS", "Revolution CT", "SIGNA Premier"),
    "siemens": ("SIEMENS", "SOMATOM Force", "MAGNETOM Skyra"),
    "philips": ("Philips", "iCT 256", "Ingenia"),
}
#: Row and column direction cosines of each orientation (LPS).
_PLANES = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}
#: Fixed widths of the patched values (even, so no padding byte moves).
_W_INSTANCE = 6
_W_POSITION = 40
_W_LOCATION = 14
_W_ORIENT = 12
#: Placeholders of exactly those widths in the template (pydicom strips padding, so they fill the width themselves).
_PH_POSITION = "-9191.9191919191\\-9292.92929\\-9393.93939"
_PH_LOCATION = "-8181.81818181"
_PH_ORIENT = "9\\9\\9\\9\\9\\99"
_SOP_BASE = 1_000_000  # SOPInstanceUID suffix: 7 digits, fixed width up to 8,999,999 instances per series


@dataclass(frozen=True)
class ArchiveSeries:
    """One series of the plan and what a correct reader must make of it.

    ``kind`` is ``image``, ``localizer`` or ``secondary``; ``kernel_class`` is
    ``None`` for MR, localizers and secondary captures; ``thickness_class`` is
    ``thin`` (slice spacing <= 1.5 mm) or ``thick`` for images, else ``None``.
    ``planes`` lists the orientation of each plane of a multi-plane localizer.
    """

    study_index: int
    series_number: int
    vendor: str
    modality: str
    description: str
    kind: str
    orientation: str
    kernel_class: str | None
    thickness_class: str | None
    spacing: float
    n_files: int
    series_uid: str
    study_uid: str
    folder: str
    planes: tuple[str, ...] = ()


@dataclass
class _Study:
    index: int
    vendor: str
    recipe: str
    patient: int
    date: str
    extent: float
    uid: str
    for_uid: str
    accession: str
    series: list[ArchiveSeries] = field(default_factory=list)
    specs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ArchiveSummary:
    """What :func:`write_archive` wrote."""

    root: Path
    files: int
    junk_files: int
    studies: int
    series: list[ArchiveSeries]
    seconds: float
    bytes_written: int

    @property
    def dicom_files(self) -> int:
        """Files holding DICOM (``files`` minus the junk files)."""
        return self.files - self.junk_files


# ----------------------------------------------------------------------------- plan

#: Series of each study recipe: (description, modality, kind, orientation, kernel class, spacing mm, image type).
_RECIPES: dict[str, list[tuple[str, str, str, str, str | None, float, str]]] = {
    "ct_chest": [
        ("Scout", "CT", "localizer", "coronal", None, 0.0, "ORIGINAL\\PRIMARY\\LOCALIZER"),
        ("5mm STANDARD", "CT", "image", "axial", "standard", 5.0, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("5mm LUNG", "CT", "image", "axial", "lung", 5.0, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("1.25mm STANDARD", "CT", "image", "axial", "standard", 1.25, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("1.25mm LUNG", "CT", "image", "axial", "lung", 1.25, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("Dose Report", "CT", "secondary", "", None, 0.0, "DERIVED\\SECONDARY\\SCREEN SAVE"),
    ],
    "ct_abdomen": [
        ("Scout", "CT", "localizer", "coronal", None, 0.0, "ORIGINAL\\PRIMARY\\LOCALIZER"),
        ("5mm STANDARD", "CT", "image", "axial", "standard", 5.0, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("5mm BONE", "CT", "image", "axial", "bone", 5.0, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("1.25mm STANDARD", "CT", "image", "axial", "standard", 1.25, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("COR 3mm STANDARD", "CT", "image", "coronal", "standard", 3.0, "DERIVED\\SECONDARY\\REFORMATTED"),
        ("SAG 3mm STANDARD", "CT", "image", "sagittal", "standard", 3.0, "DERIVED\\SECONDARY\\REFORMATTED"),
        ("Dose Report", "CT", "secondary", "", None, 0.0, "DERIVED\\SECONDARY\\SCREEN SAVE"),
    ],
    "ct_head": [
        ("Scout", "CT", "localizer", "sagittal", None, 0.0, "ORIGINAL\\PRIMARY\\LOCALIZER"),
        ("5mm STANDARD", "CT", "image", "axial", "standard", 5.0, "ORIGINAL\\PRIMARY\\AXIAL"),
        ("0.625mm BONE", "CT", "image", "axial", "bone", 0.625, "ORIGINAL\\PRIMARY\\AXIAL"),
    ],
    "mr_brain": [
        ("3-plane localizer", "MR", "localizer", "axial", None, 0.0, "ORIGINAL\\PRIMARY\\LOCALIZER"),
        ("T1 3D SAG 1mm", "MR", "image", "sagittal", None, 1.0, "ORIGINAL\\PRIMARY\\M\\ND"),
        ("T2 TSE AX 5mm", "MR", "image", "axial", None, 5.0, "ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
        ("FLAIR COR 4mm", "MR", "image", "coronal", None, 4.0, "ORIGINAL\\PRIMARY\\M\\ND\\NORM"),
    ],
}
#: Extent (mm, along the slice normal) of each recipe: low, high.
_EXTENTS = {"ct_chest": (280.0, 380.0), "ct_abdomen": (380.0, 520.0), "ct_head": (130.0, 170.0), "mr_brain": (140.0, 180.0)}
#: Reconstructions of the "many volumes" study (``volumes=`` of :func:`plan_archive`): a CT study exported with all
#: its reformats, as in a folder of 6,600 files with 160 volumes.
_RICH = [
    ("5mm STANDARD", "standard", 5.0, "axial"),
    ("5mm LUNG", "lung", 5.0, "axial"),
    ("5mm BONE", "bone", 5.0, "axial"),
    ("2.5mm STANDARD", "standard", 2.5, "axial"),
    ("2.5mm LUNG", "lung", 2.5, "axial"),
    ("1.25mm STANDARD", "standard", 1.25, "axial"),
    ("1.25mm LUNG", "lung", 1.25, "axial"),
    ("COR 3mm STANDARD", "standard", 3.0, "coronal"),
    ("COR 3mm LUNG", "lung", 3.0, "coronal"),
    ("SAG 3mm STANDARD", "standard", 3.0, "sagittal"),
    ("SAG 3mm BONE", "bone", 3.0, "sagittal"),
    ("COR 5mm BONE", "bone", 5.0, "coronal"),
    ("SAG 5mm LUNG", "lung", 5.0, "sagittal"),
    ("2mm BONE", "bone", 2.0, "axial"),
    ("1mm LUNG", "lung", 1.0, "axial"),
]


def _n_slices(extent: float, spacing: float) -> int:
    return int(round(extent / spacing)) + 1


def _mpr_extent(description: str, extent: float) -> float:
    return min(extent, 300.0) if description.startswith(("COR", "SAG")) else extent


def plan_archive(
    files: int = 10_000,
    *,
    seed: int = 0,
    volumes: int | None = None,
    vendors: tuple[str, ...] = VENDORS,
    extent_scale: float = 1.0,
) -> list[_Study]:
    """The studies of an archive of about ``files`` files (deterministic in ``seed``).

    Patients take the vendors in turn; the first four studies are one of each
    recipe (CT chest, CT abdomen, CT head, MR brain), later ones are drawn at
    random. ``extent_scale`` shortens every study's extent (fewer slices, for
    small test archives). With ``volumes``, every study is a CT export with a scout and up to 15
    reconstructions (see ``_RICH``), and the slice counts are chosen so the
    archive holds about ``files`` files in exactly ``volumes`` volumes (scouts
    included).
    """
    rng = random.Random(seed)
    studies: list[_Study] = []
    total = 0
    if volumes is not None:
        n_studies = max(1, math.ceil(volumes / (len(_RICH) + 1)))
        left = volumes
        for s in range(n_studies):
            n_vol = min(len(_RICH) + 1, left - (n_studies - s - 1))
            left -= n_vol
            recons = _RICH[: max(0, n_vol - 1)]
            per_study = files / n_studies - 1 - len(recons)
            extent = max(per_study / max(sum(1 / sp for _, _, sp, _ in recons), 1e-9), 10.0)
            study = _new_study(rng, seed, s, "ge", "ct_rich", s, extent)
            study.specs = [
                {"desc": "Scout", "modality": "CT", "kind": "localizer", "orientation": "coronal", "kernel": None,
                 "spacing": 0.0, "image_type": "ORIGINAL\\PRIMARY\\LOCALIZER", "n": 1},
            ] + [
                {"desc": d, "modality": "CT", "kind": "image", "orientation": o, "kernel": k, "spacing": sp,
                 "image_type": "ORIGINAL\\PRIMARY\\AXIAL" if o == "axial" else "DERIVED\\SECONDARY\\REFORMATTED",
                 "n": _n_slices(extent, sp)}
                for d, k, sp, o in recons
            ]  # fmt: skip
            studies.append(study)
        return studies
    patient = 0
    while total < files:
        vendor = vendors[patient % len(vendors)]
        n_studies = rng.choice((1, 1, 1, 2, 2, 3))
        for _ in range(n_studies):
            if len(studies) < len(_RECIPES):
                recipe = tuple(_RECIPES)[len(studies)]
            else:
                recipe = rng.choices(tuple(_RECIPES), weights=(4, 3, 2, 3))[0]
            lo, hi = _EXTENTS[recipe]
            extent = max(20.0, round(rng.uniform(lo, hi) * extent_scale / 5.0) * 5.0)
            study = _new_study(rng, seed, len(studies), vendor, recipe, patient, extent)
            for desc, modality, kind, orient, kclass, spacing, image_type in _RECIPES[recipe]:
                if kind == "secondary" and (vendor == "siemens" or rng.random() < 0.3):
                    continue  # not every export keeps its dose report
                if kind == "localizer":
                    n = 9 if modality == "MR" else (2 if vendor == "ge" else 1)
                elif kind == "secondary":
                    n = 1
                else:
                    n = _n_slices(_mpr_extent(desc, extent), spacing)
                study.specs.append(
                    {"desc": desc, "modality": modality, "kind": kind, "orientation": orient, "kernel": kclass,
                     "spacing": spacing, "image_type": image_type, "n": n}
                )  # fmt: skip
            studies.append(study)
            total += sum(s["n"] for s in study.specs)
            if total >= files:
                break
        patient += 1
    return studies


def _new_study(rng: random.Random, seed: int, index: int, vendor: str, recipe: str, patient: int, extent: float) -> _Study:
    year = 2015 + rng.randrange(11)
    date = f"{year}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    return _Study(
        index=index,
        vendor=vendor,
        recipe=recipe,
        patient=patient,
        date=date,
        extent=extent,
        uid=f"{UID_ROOT}1.{seed}.{index}",
        for_uid=f"{UID_ROOT}3.{seed}.{index}",
        accession=f"A{seed % 100:02d}{index:07d}",
    )


# ----------------------------------------------------------------------------- templates


def _ds(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def _iop(plane: str) -> str:
    row, col = _PLANES[plane]
    return "\\".join(_ds(v) for v in (*row, *col))


def _pad(text: str, width: int) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > width:
        raise ValueError(f"value {text!r} longer than its fixed width {width}")
    return raw.ljust(width, b" ")


def _common(ds: Dataset, study: _Study, spec: dict[str, Any], number: int, series_uid: str, rng: random.Random) -> None:
    from pydicom.dataset import Dataset as DS
    from pydicom.sequence import Sequence

    vendor = study.vendor
    maker, ct_model, mr_model = _MODELS[vendor]
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = spec["image_type"].split("\\")
    ds.InstanceCreationDate = study.date
    ds.InstanceCreationTime = f"{8 + study.index % 10:02d}{number:02d}00"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study.date
    ds.StudyTime = f"{8 + study.index % 10:02d}0000"
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = f"{8 + study.index % 10:02d}{number:02d}30.250000"
    ds.AccessionNumber = study.accession
    ds.Modality = spec["modality"]
    ds.Manufacturer = maker
    ds.InstitutionName = "Synthetic General Hospital"
    ds.InstitutionAddress = "1 Example Road^^Springfield^^12345^XX"
    ds.ReferringPhysicianName = "REFERRER^ANNE"
    ds.StationName = f"{vendor.upper()}CT01" if spec["modality"] == "CT" else f"{vendor.upper()}MR01"
    ds.StudyDescription = {"ct_chest": "CT CHEST W/O CONTRAST", "ct_abdomen": "CT ABDOMEN PELVIS W CONTRAST",
                           "ct_head": "CT HEAD W/O CONTRAST", "mr_brain": "MRI BRAIN W/O CONTRAST",
                           "ct_rich": "CT CHEST ABDOMEN PELVIS"}[study.recipe]  # fmt: skip
    code = DS()
    code.CodeValue = study.recipe.upper()
    code.CodingSchemeDesignator = "99SYNTH"
    code.CodeMeaning = ds.StudyDescription
    ds.ProcedureCodeSequence = Sequence([code])
    ds.SeriesDescription = spec["desc"]
    ds.PerformingPhysicianName = ""
    ds.OperatorsName = "TECH^ONE"
    ds.ManufacturerModelName = ct_model if spec["modality"] == "CT" else mr_model
    ref = DS()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    ref.ReferencedSOPInstanceUID = f"{UID_ROOT}5.{study.index}"
    ds.ReferencedPerformedProcedureStepSequence = Sequence([ref])
    ds.PatientName = f"SYNTH^PATIENT{study.patient:06d}"
    ds.PatientID = f"SYN{study.patient:07d}"
    ds.PatientBirthDate = f"{1940 + study.patient % 60}0{1 + study.patient % 9}15"
    ds.PatientSex = "MF"[study.patient % 2]
    ds.PatientAge = f"{int(study.date[:4]) - 1940 - study.patient % 60:03d}Y"
    ds.PatientWeight = str(55 + study.patient % 40)
    ds.BodyPartExamined = {"ct_head": "HEAD", "mr_brain": "BRAIN", "ct_abdomen": "ABDOMEN"}.get(study.recipe, "CHEST")
    ds.DeviceSerialNumber = f"{rng.randrange(10**6, 10**7)}"
    ds.SoftwareVersions = {"ge": "revo_ct_22mw.40", "siemens": "syngo CT VA50A", "philips": "4.1.8"}[vendor]
    ds.ProtocolName = f"{ds.StudyDescription} {spec['desc']}"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = str(1000 + study.index)
    ds.SeriesNumber = number
    ds.AcquisitionNumber = 1
    ds.RequestedProcedureDescription = ds.StudyDescription


def _private(ds: Dataset, vendor: str, modality: str) -> None:
    if vendor == "ge":
        ds.private_block(0x0009, "GEMS_IDEN_01", create=True).add_new(0x01, "LO", "CT_LIGHTSPEED")
        blk = ds.private_block(0x0009, "GEMS_IDEN_01")
        blk.add_new(0x02, "SH", "CT01")
        blk.add_new(0x04, "SH", "Revolution")
        acq = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        for i, (vr, value) in enumerate(
            [
                ("DS", "1.0"),
                ("SS", 0),
                ("DS", "0.984375"),
                ("LO", "HELICAL"),
                ("DS", "541.0"),
                ("DS", "949.0"),
                ("SS", 1),
                ("DS", "39.37"),
                ("DS", "0.5"),
                ("LO", "Large Body"),
            ]  # fmt: skip
        ):
            acq.add_new(0x02 + i * 2, vr, value)
        parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        parm.add_new(0x10, "US", 3)
        parm.add_new(0x28, "OB", bytes(range(256)) * 2)  # the "unique image identifier" / histogram blob
        parm.add_new(0x2A, "OB", b"\x00\x01" * 64)
        ds.private_block(0x0045, "GEMS_HELIOS_01", create=True).add_new(0x01, "SS", 64)
    elif vendor == "siemens":
        if modality == "CT":
            blk = ds.private_block(0x0019, "SIEMENS CT VA1 DUMMY", create=True)
            blk.add_new(0x90, "LO", "Y")
            blk.add_new(0x92, "LO", "AutoLung")
            med = ds.private_block(0x0021, "SIEMENS MED", create=True)
            med.add_new(0x11, "DS", ["0", "0"])
            ds.private_block(0x0029, "SIEMENS CSA NON-IMAGE", create=True).add_new(0x08, "CS", "CT_SOM5 HEADER")
        else:
            blk = ds.private_block(0x0051, "SIEMENS MR HEADER", create=True)
            blk.add_new(0x08, "CS", "IMAGE NUM 4")
            blk.add_new(0x0A, "LO", "TA 04:12")
            blk.add_new(0x0F, "LO", "HC1-7")
            blk.add_new(0x11, "LO", "p2 M")
            blk.add_new(0x13, "LO", "+LPH")
    else:
        if modality == "CT":
            el = ds.private_block(0x01F1, "ELSCINT1", create=True)
            el.add_new(0x01, "CS", "SPIRAL")
            el.add_new(0x26, "DS", "0.993")
            el.add_new(0x27, "DS", "0.5")
            ds.private_block(0x01F7, "ELSCINT1", create=True).add_new(0x22, "UI", "1.3.46.670589.33.1.1")
        dd = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
        dd.add_new(0x0B, "CS", "TRANSVERSAL")
        dd.add_new(0x63, "CS", "PRIMARY")
        ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x0D, "FL", 0.0)


def _template(study: _Study, spec: dict[str, Any], number: int, series_uid: str, sop_prefix: str, rng: random.Random) -> bytes:
    """The bytes of the series' first instance, with fixed-width placeholders for the per-instance values."""
    from pydicom.dataset import Dataset as DS
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

    ds = DS()
    modality, kind = spec["modality"], spec["kind"]
    sop_class = _SC if kind == "secondary" else (_CT if modality == "CT" else _MR)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = f"{sop_prefix}.{_SOP_BASE}"
    _common(ds, study, spec, number, series_uid, rng)
    if kind == "secondary":
        ds.ConversionType = "WSD"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = MATRIX
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.InstanceNumber = "1".ljust(_W_INSTANCE)
        ds.PixelData = b"\x00" * (MATRIX * MATRIX)
    else:
        if modality == "CT":
            ds.ScanOptions = "HELICAL MODE" if kind == "image" else "SCOUT MODE"
            ds.KVP = "120"
            ds.DataCollectionDiameter = "500"
            ds.ReconstructionDiameter = "360"
            ds.DistanceSourceToDetector = "1085.6"
            ds.DistanceSourceToPatient = "541"
            ds.GantryDetectorTilt = "0"
            ds.TableHeight = "160"
            ds.RotationDirection = "CW"
            ds.ExposureTime = "500"
            ds.XRayTubeCurrent = "280"
            ds.Exposure = "140"
            ds.FilterType = "BODY FILTER"
            ds.GeneratorPower = "33600"
            ds.FocalSpots = "1.2"
            if spec["kernel"]:
                ds.ConvolutionKernel = _KERNELS[study.vendor][spec["kernel"]].split("\\")
            ds.RevolutionTime = 0.5
            ds.SingleCollimationWidth = 0.625
            ds.TotalCollimationWidth = 40.0
            ds.SpiralPitchFactor = 0.992188
            ds.CTDIvol = 7.5
        else:
            ds.ScanningSequence = ["SE"] if "T2" in spec["desc"] or "FLAIR" in spec["desc"] else ["GR"]
            ds.SequenceVariant = ["SK", "SP"]
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "3D" if "3D" in spec["desc"] else "2D"
            ds.RepetitionTime = "2300" if "T1" in spec["desc"] else "6000"
            ds.EchoTime = "2.98" if "T1" in spec["desc"] else "95"
            ds.NumberOfAverages = "1"
            ds.ImagingFrequency = "123.2"
            ds.ImagedNucleus = "1H"
            ds.EchoNumbers = "1"
            ds.MagneticFieldStrength = "3"
            ds.EchoTrainLength = "1"
            ds.FlipAngle = "9"
            ds.ReceiveCoilName = "Head_32"
            ds.TransmitCoilName = "Body"
        spacing = spec["spacing"] or 1.0
        ds.SliceThickness = _ds(spacing)
        if kind == "image":
            ds.SpacingBetweenSlices = _ds(spacing)
        ds.InstanceNumber = "987654"
        ds.ImagePositionPatient = _PH_POSITION
        ds.ImageOrientationPatient = _PH_ORIENT
        ds.FrameOfReferenceUID = study.for_uid
        ds.PositionReferenceIndicator = "SN" if modality == "CT" else ""
        ds.SliceLocation = _PH_LOCATION
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = MATRIX
        pix = spec["fov"] / MATRIX
        ds.PixelSpacing = [_ds(pix), _ds(pix)]
        ds.BitsAllocated = 16
        if modality == "CT":
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 1
            ds.PixelPaddingValue = -2000
            win = {"lung": ("-600", "1600"), "bone": ("300", "1500")}.get(spec["kernel"] or "", ("40", "400"))
            ds.WindowCenter, ds.WindowWidth = win
            ds.RescaleIntercept = "-1024"
            ds.RescaleSlope = "1"
            ds.RescaleType = "HU"
        else:
            ds.BitsStored = 12
            ds.HighBit = 11
            ds.PixelRepresentation = 0
            ds.WindowCenter, ds.WindowWidth = "600", "1200"
        ds.PixelData = b"\x00" * (MATRIX * MATRIX * 2)
    _private(ds, study.vendor, modality)
    ds.PerformedProcedureStepStartDate = study.date
    ds.PerformedProcedureStepID = f"PPS{study.index}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)  # FileMetaDataset declares its UIDs as UID (pydicom converts a str too)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(_IMPLICIT if study.vendor == "philips" else _EXPLICIT)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = {"ge": "REVO_CT_22", "siemens": "SIEMENS_SWFVA50A", "philips": "PHILIPS_4.1"}[study.vendor]
    meta.SourceApplicationEntityTitle = f"{study.vendor.upper()}_PACS"
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _locate(data: bytes, group: int, elem: int, vr: str, value: bytes, explicit: bool, limit: int) -> int:
    """Offset of the value of the top-level element (group, elem) holding ``value`` (exactly one)."""
    tag = struct.pack("<HH", group, elem)
    head = tag + (vr.encode() + struct.pack("<H", len(value)) if explicit else struct.pack("<I", len(value)))
    pattern = head + value
    at = data.find(pattern, 0, limit)
    if at < 0 or data.find(pattern, at + 1, limit) >= 0:
        raise RuntimeError(f"template: element ({group:04X},{elem:04X}) not found exactly once")
    return at + len(head)


@dataclass
class _Patches:
    sop: list[int]
    sop_len: int
    instance: int | None
    position: int | None
    location: int | None
    orientation: int | None
    pixels: int
    npix: int


def _patches(data: bytes, spec: dict[str, Any], sop_placeholder: str, explicit: bool) -> _Patches:
    npix = MATRIX * MATRIX * (1 if spec["kind"] == "secondary" else 2)
    limit = len(data) - npix
    uid = sop_placeholder.encode() + (b"\0" if len(sop_placeholder) % 2 else b"")
    sop = [_locate(data, 0x0002, 0x0003, "UI", uid, True, limit), _locate(data, 0x0008, 0x0018, "UI", uid, explicit, limit)]
    if spec["kind"] == "secondary":
        return _Patches(sop, len(sop_placeholder), None, None, None, None, limit, npix)
    return _Patches(
        sop=sop,
        sop_len=len(sop_placeholder),
        instance=_locate(data, 0x0020, 0x0013, "IS", b"987654", explicit, limit),
        position=_locate(data, 0x0020, 0x0032, "DS", _PH_POSITION.encode(), explicit, limit),
        location=_locate(data, 0x0020, 0x1041, "DS", _PH_LOCATION.encode(), explicit, limit),
        orientation=_locate(data, 0x0020, 0x0037, "DS", _PH_ORIENT.encode(), explicit, limit),
        pixels=limit,
        npix=npix,
    )


# ----------------------------------------------------------------------------- geometry and pixels


def _positions(spec: dict[str, Any], study: _Study, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Top-left voxel positions (n, 3) and pixel values (n, MATRIX, MATRIX) of every instance, in instance order."""
    n = spec["n"]
    fov = spec["fov"]
    pix = fov / MATRIX
    if spec["kind"] == "localizer":
        planes = spec["planes"]
        origins, images = [], []
        for k, plane in enumerate(planes):
            row, col = (np.asarray(v) for v in _PLANES[plane])
            normal = np.cross(row, col)
            # three parallel slices per plane for an MR localizer, one for a CT scout
            per = planes[:k].count(plane)
            centre = np.array([0.0, 0.0, -study.extent / 2]) + (per - 1) * 10.0 * normal * (spec["modality"] == "MR")
            origins.append(centre - (MATRIX - 1) / 2 * pix * (row + col))
            images.append(_sample(origins[-1][None], row, col, pix, spec["modality"], study.extent)[0])
        return np.asarray(origins), np.asarray(images)
    row, col = (np.asarray(v) for v in _PLANES[spec["orientation"]])
    normal = np.cross(row, col)
    step = spec["spacing"]
    extent = (n - 1) * step
    # GE and Philips write instance 1 at the head end (highest position along the normal), Siemens at the feet
    sign = 1.0 if study.vendor == "siemens" else -1.0
    start = -extent / 2 if sign > 0 else extent / 2
    offsets = start + sign * np.arange(n) * step
    centre = np.array([0.0, 0.0, -study.extent / 2])
    plane_centres = centre[None] + offsets[:, None] * normal[None]
    origins = plane_centres - (MATRIX - 1) / 2 * pix * (row + col)[None]
    return origins, _sample(origins, row, col, pix, spec["modality"], study.extent)


def _sample(origins: np.ndarray, row: np.ndarray, col: np.ndarray, pix: float, modality: str, extent: float) -> np.ndarray:
    ii = np.arange(MATRIX) * pix
    pts = origins[:, None, None, :] + ii[None, None, :, None] * row + ii[None, :, None, None] * col
    # the study's extent (centred on z = -extent / 2) is mapped onto the phantom's 320 mm (centred on z = -160)
    hu = phantom_hu(pts[..., 0], pts[..., 1], (pts[..., 2] + extent / 2) * (320.0 / extent) - 160.0)
    if modality == "CT":
        return np.clip(np.rint(hu + 1024.0), -2000, 4000).astype("<i2")
    mr = np.interp(hu, [-1000, -100, 40, 700], [0, 900, 500, 150])
    out: np.ndarray = np.clip(np.rint(mr), 0, 4095).astype("<u2")  # numpy types np.interp / np.rint of an array as Any
    return out


# ----------------------------------------------------------------------------- writing


def _series_folder(root: Path, layout: str, study: _Study, number: int, desc: str) -> Path:
    if layout == "flat":
        return root
    if study.vendor == "ge":
        return root / "ge" / study.accession
    if study.vendor == "siemens":
        clean = "".join(c if c.isalnum() else "_" for c in desc).strip("_")
        return root / "siemens" / f"SYN{study.patient:07d}" / f"{study.date}_{study.accession}" / f"{number:03d}_{clean}"
    return root / "philips" / f"P{study.patient:06d}" / "DICOM" / f"S{study.index:05d}" / f"S{number:03d}"


def _file_name(rng: random.Random, layout: str, vendor: str, number: int, k: int) -> str:
    if layout == "flat" or vendor == "ge":
        return f"{rng.getrandbits(64):016X}.dcm"
    if vendor == "siemens":
        return f"IM-{number:04d}-{k + 1:04d}.dcm"
    return f"I{(k + 1) * 10}"


def write_archive(
    out: str | os.PathLike[str],
    files: int = 10_000,
    *,
    seed: int = 0,
    layout: str = "mixed",
    volumes: int | None = None,
    junk: bool = True,
    extent_scale: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> ArchiveSummary:
    """Write a synthetic archive of about ``files`` files into ``out``.

    Parameters
    ----------
    out : path
        Folder to write into (created; must be empty or absent).
    files : int
        Approximate number of files (whole studies are written, so a little more).
    seed : int
        Everything (studies, names, UIDs, dates) is deterministic in the seed.
    layout : {'mixed', 'flat'}
        ``mixed``: each vendor's own folder layout; ``flat``: every file in ``out``
        with random names.
    volumes : int, optional
        Write CT exports with many reconstructions instead, about ``files`` files in
        exactly ``volumes`` series (e.g. 6,600 files and 160 volumes).
    extent_scale : float
        Shorten every study (fewer slices per series) for small test archives.
    junk : bool
        Add a few non-DICOM files (an export log per Siemens patient, a README per
        Philips patient), as real exports have; never in the flat layout.
    progress : callable, optional
        Called as ``progress(done, total)`` after each series.

    Returns
    -------
    ArchiveSummary
        The files written and every series with what a reader must make of it.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    t0 = time.perf_counter()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root}: not empty; write a synthetic archive into a new folder")
    studies = plan_archive(files, seed=seed, volumes=volumes, extent_scale=extent_scale)
    total = sum(s["n"] for st in studies for s in st.specs)
    rng = random.Random(seed + 1)
    written = junk_files = nbytes = 0
    all_series: list[ArchiveSeries] = []
    made: set[Path] = set()
    for study in studies:
        for number, spec in enumerate(study.specs, start=1):
            spec["fov"] = 360.0 if study.recipe != "mr_brain" and study.recipe != "ct_head" else 240.0
            if spec["kind"] == "localizer":
                if spec["modality"] == "MR":
                    spec["planes"] = ("axial",) * 3 + ("coronal",) * 3 + ("sagittal",) * 3
                elif spec["n"] == 2:
                    spec["planes"] = ("coronal", "sagittal")
                else:
                    spec["planes"] = (spec["orientation"],)
                spec["fov"] = 500.0 if spec["modality"] == "CT" else 260.0
            series_uid = f"{UID_ROOT}2.{seed}.{study.index}.{number}"
            sop_prefix = f"{UID_ROOT}4.{seed}.{study.index}.{number}"
            explicit = study.vendor != "philips"
            data = _template(study, spec, number, series_uid, sop_prefix, rng)
            where = _patches(data, spec, f"{sop_prefix}.{_SOP_BASE}", explicit)
            folder = _series_folder(root, layout, study, number, spec["desc"])
            if folder not in made:
                folder.mkdir(parents=True, exist_ok=True)
                made.add(folder)
            n = spec["n"]
            if spec["kind"] == "secondary":
                origins = np.zeros((1, 3))
                pixels = (np.arange(MATRIX * MATRIX, dtype=np.uint8) * 7).reshape(1, MATRIX, MATRIX)
            else:
                origins, pixels = _positions(spec, study, rng)
            buf = bytearray(data)
            for k in range(n):
                uid = f"{sop_prefix}.{_SOP_BASE + k}".encode()
                for off in where.sop:
                    buf[off : off + where.sop_len] = uid
                if where.instance is not None:
                    buf[where.instance : where.instance + _W_INSTANCE] = _pad(str(k + 1), _W_INSTANCE)
                    o = origins[k]
                    buf[where.position : where.position + _W_POSITION] = _pad("\\".join(_ds(v) for v in o), _W_POSITION)  # type: ignore[operator]
                    plane = spec["planes"][k] if spec["kind"] == "localizer" else spec["orientation"]
                    r, c = (np.asarray(v) for v in _PLANES[plane])
                    loc = float(o @ np.cross(r, c))
                    buf[where.orientation : where.orientation + _W_ORIENT] = _pad(_iop(plane), _W_ORIENT)  # type: ignore[operator]
                    buf[where.location : where.location + _W_LOCATION] = _pad(_ds(loc), _W_LOCATION)  # type: ignore[operator]
                buf[where.pixels :] = pixels[k].tobytes()
                path = folder / _file_name(rng, layout, study.vendor, number, k)
                with open(path, "xb") as fh:
                    fh.write(buf)
                nbytes += len(buf)
            written += n
            kclass = spec["kernel"] if spec["modality"] == "CT" and spec["kind"] == "image" else None
            tclass = ("thin" if spec["spacing"] <= 1.5 else "thick") if spec["kind"] == "image" else None
            all_series.append(
                ArchiveSeries(
                    study_index=study.index,
                    series_number=number,
                    vendor=study.vendor,
                    modality=spec["modality"],
                    description=spec["desc"],
                    kind=spec["kind"],
                    orientation=spec["orientation"] if spec["kind"] == "image" else "",
                    kernel_class=kclass,
                    thickness_class=tclass,
                    spacing=spec["spacing"],
                    n_files=n,
                    series_uid=series_uid,
                    study_uid=study.uid,
                    folder=str(folder.relative_to(root)),
                    planes=tuple(spec.get("planes", ())),
                )
            )
            if progress is not None:
                progress(written, total)
        if junk and layout != "flat" and study.vendor in ("siemens", "philips"):
            base = root / study.vendor / (f"SYN{study.patient:07d}" if study.vendor == "siemens" else f"P{study.patient:06d}")
            name = base / ("export.log" if study.vendor == "siemens" else "README.TXT")
            if not name.exists():
                name.write_text(f"synthetic export of patient {study.patient}, study {study.accession}\n")
                junk_files += 1
    return ArchiveSummary(
        root=root,
        files=written + junk_files,
        junk_files=junk_files,
        studies=len(studies),
        series=all_series,
        seconds=time.perf_counter() - t0,
        bytes_written=nbytes,
    )

"""Classification: multi-plane localizers, secondary captures, gantry tilt, GE kernels, thickness of scouts.

Synthetic cases are tiny DICOM files written here with pydicom (headers as scanners write them); the tilted
series is the real ``missing_slice/002`` export.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from napari_dicomseries import open_folder
from napari_dicomseries.classify import (
    DEFAULT_PENALTY,
    KINDS,
    MULTIPLANE_LOCALIZER_MAX_SLICES,
    PENALTIES,
    classify,
    kernel_class,
    orientation_class,
)
from napari_dicomseries.labels import KernelClass, Kind, Orientation, ThicknessClass
from napari_dicomseries.warning import VolumeWarning, WarningCode

from ..dicom_cases import (
    AXIAL,
    SAGITTAL,
    SIZE,
    axial_volume,
    by_number,
    lone_secondary_capture,
    secondary_captures,
    three_plane_localizer,
    tilted_axial_and_oblique,
    write_stack,
)

# ----------------------------------------------------------------------------- multi-plane localizer


@pytest.mark.parametrize("per_plane", [(3, 3, 3), (1, 1, 1), (5, 2)])
def test_three_plane_localizer_without_localizer_image_type(tmp_path: Path, per_plane: tuple[int, ...]) -> None:
    three_plane_localizer(tmp_path, per_plane)
    volumes, _ = open_folder(tmp_path)
    series = by_number(volumes)
    parts = series[1]
    assert len(parts) == len(per_plane)
    assert sorted(v.n_slices for v in parts) == sorted(per_plane)
    assert {v.orientation for v in parts} == {"axial", "coronal", "sagittal"}.intersection({v.orientation for v in parts})
    assert len({v.orientation for v in parts}) == len(per_plane)
    for v in parts:
        assert v.kind == "localizer", v.reasons["kind"]
        assert "multi-plane localizer" in v.reasons["kind"] and "planes" in v.reasons["kind"]
        assert v.thickness_class == "", "a localizer is never thin (SliceThickness 1 mm here)"
    (image,) = series[2]
    assert image.kind == "image" and image.thickness_class == "thick"
    # what the reader makes of it: tests/napari/test_reader_classes.py


def test_two_planes_of_many_slices_are_images(tmp_path: Path) -> None:
    """A series holding two real volumes in two planes is no localizer: only few slices per plane make one."""
    uid = generate_uid()
    n = MULTIPLANE_LOCALIZER_MAX_SLICES + 3
    write_stack(tmp_path, n, orientation=AXIAL, step=(0, 0, 3), series_uid=uid, number=7, thickness=3.0)
    write_stack(tmp_path, n, orientation=SAGITTAL, step=(3, 0, 0), start=n + 1, series_uid=uid, number=7, thickness=3.0)
    volumes, _ = open_folder(tmp_path)
    assert len(volumes) == 2
    assert sorted(v.orientation for v in volumes) == ["axial", "sagittal"]
    assert {v.kind for v in volumes} == {"image"}
    assert {v.thickness_class for v in volumes} == {"thick"}


def test_labelled_localizer_is_never_thin(synthetic_study: Path) -> None:
    volumes, _ = open_folder(synthetic_study)
    scouts = [v for v in volumes if v.kind == "localizer"]
    assert scouts and all(v.slice_thickness is not None and v.slice_thickness <= 1.5 for v in scouts)
    assert all(v.thickness_class == "" for v in scouts), [v.reasons["thickness_class"] for v in scouts]
    assert all(v.thickness_class in ("thin", "thick") for v in volumes if v.kind == "image")


# ----------------------------------------------------------------------------- secondary captures


def test_secondary_captures_and_dose_reports(tmp_path: Path) -> None:
    secondary_captures(tmp_path)
    volumes, _ = open_folder(tmp_path)
    kinds = {v.series_number: v.kind for v in volumes}
    assert kinds == {1: "localizer", 2: "image", 501: "secondary", 999: "secondary", 1001: "secondary"}
    reasons = {v.series_number: v.reasons["kind"] for v in volumes}
    assert SecondaryCaptureImageStorage in reasons[501]
    assert "SCREEN SAVE" in reasons[999]
    assert "Dose Info" in reasons[1001]
    assert all(v.thickness_class == "" for v in volumes if v.kind in ("secondary", "localizer"))
    assert set(kinds.values()) <= set(KINDS)
    # what the reader makes of it: tests/napari/test_reader_classes.py


def test_a_secondary_capture_alone_still_opens(tmp_path: Path) -> None:
    """The core lists a lone screenshot as a loadable secondary capture, its one frame SIZE x SIZE (the reader opens it:
    tests/napari/test_reader_classes.py)."""
    lone_secondary_capture(tmp_path)
    ((v,), _) = open_folder(tmp_path)
    assert v.kind == "secondary" and v.loadable
    assert v.shape == (1, SIZE, SIZE)


# ----------------------------------------------------------------------------- gantry tilt is not obliquity


def test_tilted_axial_ct_is_axial(tmp_path: Path) -> None:
    """GE-style tilt: the image plane turns about the LR axis, the table steps along SI (sheared volume)."""
    tilted_axial_and_oblique(tmp_path)
    volumes, _ = open_folder(tmp_path)
    v3, v4 = by_number(volumes)[3][0], by_number(volumes)[4][0]
    assert v3.gantry_tilt == pytest.approx(20.0, abs=0.1)
    assert v3.orientation == "axial" and "gantry tilt" in v3.reasons["orientation"]
    assert v4.gantry_tilt == 0.0 and v4.orientation == "oblique"
    # a single tilted slice: the tilt comes from GantryDetectorTilt
    assert orientation_class(v3.direction, 20.0)[0] == "axial"
    assert orientation_class(v3.direction, 0.0)[0] == "oblique"
    assert orientation_class(v3.direction, 45.0)[0] == "oblique"  # a tilt that does not explain the angle
    # which one the reader shows: tests/napari/test_reader_classes.py


def test_real_gantry_tilt_is_axial(shared_data: Path) -> None:
    import pydicom

    folder = shared_data / "missing_slice" / "002"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    iop = np.asarray(ds.ImageOrientationPatient, float)
    plane_angle = math.degrees(math.acos(abs(np.cross(iop[:3], iop[3:])[2])))
    assert plane_angle > 10  # the image plane itself is tilted: a naive classification says oblique
    volumes, _ = open_folder(folder)
    assert volumes and {v.series_number for v in volumes} == {int(ds.SeriesNumber)}  # one series (parts if split at its gap)
    assert max(v.gantry_tilt for v in volumes) == pytest.approx(plane_angle, abs=0.2)
    for v in volumes:
        assert v.orientation == "axial", v.reasons["orientation"]
        assert v.kind == "image"


# ----------------------------------------------------------------------------- kernels


@pytest.mark.parametrize(
    ("kernel", "cls"),
    [("STD+", "standard"), ("BONE+", "bone"), ("SOFT+", "standard"), ("STD", "standard"), ("STANDARD", "standard"),
     ("LUNG", "lung"), ("BONEPLUS", "bone"), ("B30f", "standard"), ("XYZ+", "other")],
)  # fmt: skip
def test_ge_plus_kernels(kernel: str, cls: str) -> None:
    got, reason = kernel_class(kernel)
    assert got == cls, reason
    assert repr(kernel) in reason


# ----------------------------------------------------------------------------- labels and warnings as data


def test_confidence_follows_warning_codes_not_text(tmp_path: Path) -> None:
    """Confidence is read from the warnings' codes: a sentence that reads like another warning changes nothing."""
    axial_volume(tmp_path, n=4)
    (v,) = classify(open_folder(tmp_path)[0])
    assert v.warnings == [] and v.confidence == 1.0
    # text that the former prefix matching took for missing slices, an unloadable volume and a shared position
    decoy = "missing 3 slices; irregular slice spacing; gantry tilt; cannot be loaded; lack ImagePositionPatient; same position"
    v.warnings = [VolumeWarning(WarningCode.FILE_PROBLEM, decoy)]
    assert classify([v])[0].confidence == pytest.approx(1 - DEFAULT_PENALTY)
    # and a serious code weighs what its code says, whatever its words
    for code in (WarningCode.NO_DECODER, WarningCode.MISSING_SLICES, WarningCode.GANTRY_TILT, WarningCode.SPLIT_AT_GAP):
        v.warnings = [VolumeWarning(code, "a sentence without any known prefix")]
        assert classify([v])[0].confidence == pytest.approx(1 - PENALTIES.get(code, DEFAULT_PENALTY)), code
    assert PENALTIES[WarningCode.NO_DECODER] > PENALTIES[WarningCode.MISSING_SLICES] > PENALTIES[WarningCode.GANTRY_TILT]
    assert PENALTIES[WarningCode.GANTRY_TILT] > DEFAULT_PENALTY > 0
    # penalties add up, and confidence never falls below 0
    v.warnings = [VolumeWarning(WarningCode.NO_DECODER, "a"), VolumeWarning(WarningCode.PIXEL_FORMAT, "b")] * 2
    assert classify([v])[0].confidence == 0.0


def test_labels_are_enums_with_their_string_values(shared_data: Path) -> None:
    """kind/orientation/kernel_class/thickness_class are enum members, equal to and written as their documented strings."""
    (v,) = open_folder(shared_data / "ct_ge_lightspeed_lung")[0]
    assert (v.kind, v.orientation, v.kernel_class, v.thickness_class) == ("image", "axial", "lung", "thick")  # README facts
    assert v.kind is Kind.IMAGE and v.orientation is Orientation.AXIAL
    assert v.kernel_class is KernelClass.LUNG and v.thickness_class is ThicknessClass.THICK
    assert f"{v.kind} {v.orientation}" == "image axial"
    s = v.summary()
    assert all(type(s[k]) is str for k in ("kind", "orientation", "kernel_class", "thickness_class"))
    assert set(KINDS) == {"image", "localizer", "secondary", "segmentation", "non-image"}
    assert {str(k) for k in KernelClass} == {"", "standard", "lung", "bone", "other"}


def test_ls_json_warnings_are_messages_with_codes(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ls --json``: ``warnings`` stay the sentences (as documented), ``warning_codes`` give their codes in order."""
    import json

    from napari_dicomseries.cli import main

    assert main(["ls", str(shared_data / "missing_slice"), "--json", "--gaps", "keep"]) == 0
    out = json.loads(capsys.readouterr().out)
    volumes, _ = open_folder(shared_data / "missing_slice", gaps="keep")
    by_key = {v.key: v for v in volumes}
    assert [s["key"] for s in out["series"]] == list(by_key)
    seen: set[str] = set()
    for s in out["series"]:
        v = by_key[s["key"]]
        assert all(type(w) is str for w in s["warnings"])
        assert s["warnings"] == [w.message for w in v.warnings]
        assert s["warning_codes"] == [w.code.value for w in v.warnings]
        assert s["kind"] == "image" and s["orientation"] == "axial"  # 002's 15.5 degree tilt is no obliquity
        seen.update(s["warning_codes"])
        if "missing_slices" in s["warning_codes"]:
            # README: one 5 mm slice missing (along z for 001; along the tilted slice normal for 002)
            (gap,) = [w for w, c in zip(s["warnings"], s["warning_codes"], strict=True) if c == "missing_slices"]
            assert gap.startswith("missing 1 slice between ")
        penalty = sum(PENALTIES.get(WarningCode(c), DEFAULT_PENALTY) for c in s["warning_codes"] if c != "gaps_kept")
        assert s["confidence"] == pytest.approx(max(0.0, 1 - penalty))  # classified before the gap policy added its note
    # both folders miss a slice (kept on request, with the note that says so); 002 is also tilted
    assert {"missing_slices", "gaps_kept", "gantry_tilt"} <= seen

"""Enhanced multi-frame files: the fast functional-group reader, dimensions, and volumes checked against dcm2niix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from napari_dicomseries import enhanced, open_folder, rawheader
from napari_dicomseries import scan as scan_module
from napari_dicomseries.export import export_volume
from napari_dicomseries.grouping import arrange

from ..oracle import run_dcm2niix


def _enhanced_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*.dcm")):
        ds = pydicom.dcmread(p, stop_before_pixels=True, force=True, specific_tags=["PerFrameFunctionalGroupsSequence"])
        if "PerFrameFunctionalGroupsSequence" in ds:
            out.append(p)
    return out


def _same_in_space(ours: Path, ref: Path) -> None:
    """Same affine (1e-3 mm) and values (to float32 rounding of the rescale) in the closest canonical orientation."""
    a, b = nib.as_closest_canonical(nib.load(ref)), nib.as_closest_canonical(nib.load(ours))
    assert a.shape == b.shape, (ours.name, ref.name)
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-3, rtol=0)
    np.testing.assert_allclose(b.get_fdata(), a.get_fdata(), atol=1e-3 * max(1.0, float(np.abs(a.get_fdata()).max())), rtol=0)


@pytest.mark.slow
def test_fast_and_pydicom_paths_agree_on_every_enhanced_file(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The raw functional-group reader gives exactly the frames pydicom gives, on every real enhanced file."""
    paths = _enhanced_files(shared_data)  # MR images, and SEG objects (functional groups too, but no image frames)
    fast = {p: scan_module.read_header(p) for p in paths}
    assert all(f._dataset is None and f.enhanced for f in fast.values())  # read without pydicom
    monkeypatch.setattr(rawheader, "parse", lambda fh, wanted, sequences=frozenset(), first=None: None)
    for p in paths:
        slow = scan_module.read_header(p)
        assert slow._dataset is not None and slow.enhanced
        a = fast[p]
        assert a.number_of_frames == int(pydicom.dcmread(p, stop_before_pixels=True).NumberOfFrames)
        assert len(a.frames) == (a.number_of_frames if a.sop_class_uid not in scan_module.NON_IMAGE_SOP_CLASSES else 0)
        assert a.frames == slow.frames, p
        assert a.warnings == slow.warnings, p
        for name in ("rows", "columns", "number_of_frames", "pixel_offset", "series_instance_uid", "transfer_syntax_uid"):
            assert getattr(a, name) == getattr(slow, name), (p, name)
    n_image = sum(bool(f.frames) for f in fast.values())
    assert n_image >= 4 + 3 + 21  # enhanced_siemens_xa10, philips_enhanced_asl, siemens_xa30_dwi


def test_dimensions_read_from_dimension_index_sequence(shared_data: Path) -> None:
    path = shared_data / "philips_enhanced_asl" / "1903_WIP_SOURCE_-_3DpCASL.dcm"
    f = scan_module.read_header(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    pointers = [int(it.DimensionIndexPointer) for it in ds.DimensionIndexSequence]
    assert pointers[:3] == [0x00209056, 0x00209057, 0x00209128] and pointers[3] >> 16 == 0x2005  # a private dimension
    for n in (0, 119, 120, 239):
        frame = f.frames[n]
        item = ds.PerFrameFunctionalGroupsSequence[n]
        assert frame.dimension_index == tuple(item.FrameContentSequence[0].DimensionIndexValues)
        assert frame.dimension_names[:3] == ("StackID", "InStackPositionNumber", "TemporalPositionIndex")
        label = item[0x2005, 0x140F][0][0x2005, 0x1429].value  # CONTROL / LABEL, read here with pydicom
        assert frame.dimension_values[3] == label
        assert frame.dimension_values[2] == item.FrameContentSequence[0].TemporalPositionIndex
    assert {fr.dimension_values[3] for fr in f.frames} == {"CONTROL", "LABEL"}


@pytest.mark.slow
def test_philips_asl_keeps_every_frame_and_matches_dcm2niix(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "philips_enhanced_asl"
    volumes, _ = open_folder(src)
    by_number: dict[int, list] = {}
    for v in volumes:
        by_number.setdefault(v.series_number, []).append(v)
    (asl,) = by_number[1903]
    assert asl.shape == (6, 40, 96, 96) and len(asl.frames) == len({(f.path, f.index) for f in asl.frames}) == 240
    assert asl.time_tag == "TemporalPositionIndex, Private Label Type"  # the leading axis is named after what varies
    assert sorted(asl.time_values) == sorted((t, lab) for t in (1, 2, 3) for lab in ("CONTROL", "LABEL"))
    assert not any("same position" in w.message or "left out" in w.message for w in asl.warnings)
    (real,) = by_number[1901]
    assert real.shape == (40, 96, 96)
    fmap = by_number[2001]
    assert len(fmap) == 4 and all(v.shape == (53, 80, 80) for v in fmap)
    assert sorted({f.echo_time for f in v.frames}.pop() for v in fmap) == [2.3, 2.3, 4.6, 4.6]
    assert sorted(v.image_type[-1] for v in fmap) == ["M", "M", "P", "P"]
    ref = run_dcm2niix(src, tmp_path / "dcm2niix")
    assert len(ref) == 6 == len(volumes)
    # every volume equals one dcm2niix wrote (same voxels, same place), 1903 with its six volumes in dcm2niix's order
    ours = [Path(export_volume(v, tmp_path / "ours" / f"v{v.key}").nifti) for v in volumes]  # type: ignore[arg-type]
    unmatched = list(ref)
    for p in ours:
        hits = [r for r in unmatched if _matches(p, r)]
        assert len(hits) == 1, p
        unmatched.remove(hits[0])


def _matches(ours: Path, ref: Path) -> bool:
    try:
        _same_in_space(ours, ref)
    except AssertionError:
        return False
    return True


def test_enhanced_xa10_still_one_4d_series(shared_data: Path) -> None:
    (v,) = open_folder(shared_data / "enhanced_siemens_xa10")[0]
    assert v.shape == (4, 6, 64, 64) and v.time_tag == "TemporalPositionIndex" and v.time_values == [1, 2, 3, 4]


def test_frames_left_out_are_named_with_frame_numbers(shared_data: Path) -> None:
    """Without dimension indices or tags to tell them apart, the extra frames are dropped loudly, frame by frame."""
    f = scan_module.read_header(shared_data / "philips_enhanced_asl" / "1903_WIP_SOURCE_-_3DpCASL.dcm")
    stripped = [
        dataclasses.replace(fr, dimension_index=(), dimension_names=(), dimension_values=(), temporal_position=None)
        for fr in f.frames
    ]
    (part,) = arrange(stripped, None)
    assert len(part.frames) == 40
    text = "\n".join(w.message for w in part.warnings)
    assert "200 of 240 images left out" in text
    # the first position holds frames 1, 2, 3 (CONTROL) and 121, 122, 123 (LABEL): frame 1 kept, the others named
    assert f"kept {f.path} (frame 1), ignored {f.path} (frames 2-3, 121-123)" in text


def test_raw_reader_refuses_implicit_vr_sequences(shared_data: Path, tmp_path: Path) -> None:
    """An enhanced file in implicit VR goes through pydicom (the raw reader cannot tell sequences apart there)."""
    src = shared_data / "enhanced_siemens_xa10" / "6_1.dcm"
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    out = tmp_path / "implicit.dcm"
    ds.save_as(out, enforce_file_format=True)
    with open(out, "rb") as fh:
        assert rawheader.parse(fh, set(), enhanced.SEQUENCES) is None
    f = scan_module.read_header(out)
    assert f._dataset is not None
    assert [dataclasses.replace(fr, path=str(src)) for fr in f.frames] == list(scan_module.read_header(src).frames)

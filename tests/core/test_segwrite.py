"""DICOM SEG writing: labels on a real CT saved as SEG, read back by highdicom, pydicom and this project's reader.

The reference readers are independent of the writer's own bookkeeping: highdicom places the written frames by
their PlanePositionSequence (``get_volume`` then ``match_geometry`` onto the CT's grid), pydicom gives the frames'
positions and the source images they reference, and ``open_folder`` scans the written file like any other SEG.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.errors import DicomSeriesError, OutputExistsError
from napari_dicomseries.load import load_volume
from napari_dicomseries.segwrite import place_on_grid, write_seg


@pytest.fixture(scope="module")
def liver(shared_data: Path):
    """The seg_ct_liver volumes: the CT (series 2), the Liver SEG (series 1) and its label map."""
    volumes, _ = open_folder(shared_data / "seg_ct_liver")
    by = {v.series_number: v for v in volumes}
    ct, seg = by[2], by[1]
    assert ct.kind == "image" and seg.kind == "segmentation" and seg.ndim == 3
    return ct, seg, load_volume(seg)


def _match(volume: hd.Volume, source) -> np.ndarray:
    """A highdicom volume matched (permuted, flipped, padded, cropped: never resampled) onto the source's grid."""
    grid = hd.VolumeGeometry(source.affine_lps(), source.shape, "PATIENT")
    matched = volume.match_geometry(grid, tol=1e-2)  # within 1 % of a voxel (DS-rounded positions)
    np.testing.assert_allclose(matched.affine, source.affine_lps(), atol=1e-3)
    return np.asarray(matched.array)


def _on_grid(path: str, source) -> np.ndarray:
    """The written SEG as highdicom reads it (frames placed by their PlanePositionSequence), on the source's grid."""
    return _match(hd.seg.segread(path).get_volume(combine_segments=True), source)


def _reader_on_grid(back, array: np.ndarray, source) -> np.ndarray:
    """A volume read by this project (on the grid of its frames) put onto the source's grid by highdicom."""
    return _match(hd.Volume(array, back.affine_lps(), "PATIENT"), source)


def test_liver_round_trip_highdicom_pydicom_and_reader(liver, tmp_path: Path) -> None:
    ct, seg, labels = liver
    assert int((labels == 1).sum()) == 107098  # the README's fact: the input is the real Liver segment
    out = tmp_path / "out" / "liver.dcm"
    res = write_seg(labels, ct, out, segments={1: ("Liver", (221, 130, 101))}, series_description="Liver again")
    assert res.path == str(out) and out.is_file()
    assert res.numbers == {1: 1} and [s.label for s in res.segments] == ["Liver"] and res.references == ct.series_instance_uid
    assert [p.name for p in out.parent.iterdir()] == ["liver.dcm"]  # no temporary file left

    # highdicom: every voxel, on the CT's grid
    assert np.array_equal(_on_grid(str(out), ct), labels)

    # pydicom: the header references the CT, and each frame lies on the CT slice it says it was drawn on
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY" and ds.SeriesDescription == "Liver again"
    assert ds.StudyInstanceUID == ct.study_instance_uid and ds.FrameOfReferenceUID == ct.frame_of_reference_uid
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.series_instance_uid
    assert ds.SegmentSequence[0].SegmentLabel == "Liver"
    position_of = {fr.sop_instance_uid: fr.position for fr in ct.frames}
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    assert len(frames) == res.n_frames == 3
    for item, frame in zip(ds.PerFrameFunctionalGroupsSequence, frames, strict=True):
        pos = [float(x) for x in item.PlanePositionSequence[0].ImagePositionPatient]
        ref = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        np.testing.assert_allclose(pos, position_of[ref], atol=1e-3)
        k = next(k for k, fr in enumerate(ct.frames) if fr.sop_instance_uid == ref)  # the CT slice in array order
        assert np.array_equal(frame, labels[k])

    # this project's reader: a segmentation of the CT, the same voxels, the same affine, the colour kept
    volumes, _ = open_folder([ct.paths[0], str(out)])
    (back,) = [v for v in volumes if v.kind == "segmentation"]
    assert back.references == [ct.series_instance_uid]
    assert np.array_equal(load_volume(back), labels)
    np.testing.assert_allclose(back.affine_lps(), ct.affine_lps(), atol=1e-4)
    assert back.segments[0].label == "Liver"
    assert back.segments[0].color is not None and np.abs(np.subtract(back.segments[0].color, (221, 130, 101))).max() <= 1


def test_slices_follow_the_volume_order_not_the_file_order(liver, tmp_path: Path) -> None:
    ct, _, _ = liver
    assert [Path(fr.path).name for fr in ct.frames] != sorted(Path(fr.path).name for fr in ct.frames)
    labels = np.zeros(ct.shape, np.uint8)
    labels[0, 10:20, 30:50] = 1  # only the first slice in array order: the lowest z
    out = tmp_path / "first.dcm"
    write_seg(labels, ct, out)
    ds = pydicom.dcmread(out)
    assert int(ds.NumberOfFrames) == 1
    z = float(ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient[2])
    assert z == pytest.approx(min(fr.position[2] for fr in ct.frames), abs=1e-3)
    assert np.array_equal(_on_grid(str(out), ct), labels)


def test_label_values_are_numbered_and_named(liver, tmp_path: Path) -> None:
    ct, _, _ = liver
    labels = np.zeros(ct.shape, np.int32)
    labels[1, 100:140, 200:260] = 7
    labels[1, 300:320, 10:30] = 2
    labels[2, 0:5, 0:5] = 2
    out = tmp_path / "two.dcm"
    res = write_seg(labels, ct, out, segments={7: ("Tumour", (255, 0, 0))})
    assert res.numbers == {2: 1, 7: 2}
    assert [(s.number, s.label, s.color) for s in res.segments] == [(1, "label 2", None), (2, "Tumour", (255, 0, 0))]
    ds = pydicom.dcmread(out)
    assert [(int(s.SegmentNumber), s.SegmentLabel) for s in ds.SegmentSequence] == [(1, "label 2"), (2, "Tumour")]
    assert "RecommendedDisplayCIELabValue" not in ds.SegmentSequence[0]
    renumbered = np.select([labels == 2, labels == 7], [1, 2], 0)
    assert np.array_equal(_on_grid(str(out), ct), renumbered)
    # read back by this project: the two segments share slice 1, so one mask each (the reader's overlap rule)
    volumes, _ = open_folder([ct.paths[0], str(out)])
    (back,) = [v for v in volumes if v.kind == "segmentation"]
    masks = load_volume(back)
    assert back.time_values == [1, 2] and back.shape == (2, 2, 512, 512)  # the grid of its frames: slices 1 and 2
    assert np.array_equal(_reader_on_grid(back, masks[0], ct) > 0, labels == 2)
    assert np.array_equal(_reader_on_grid(back, masks[1], ct) > 0, labels == 7)


def test_multiframe_source_interleaved_frames(shared_data: Path, tmp_path: Path) -> None:
    """A volume made of every other frame of a Philips enhanced file (per-frame pixel measures only)."""
    volumes, _ = open_folder(shared_data / "philips_enhanced_asl" / "2001_WIP_fcMRI_Field_Mapping_e2_phMag.dcm")
    v = next(v for v in volumes if v.key == "2001.2")
    assert [fr.index for fr in v.frames[:3]] == [106, 108, 110]  # frames of the file, not 0, 1, 2
    image = load_volume(v)
    labels = (image > np.percentile(image, 80)).astype(np.uint8)
    out = tmp_path / "mf.dcm"
    write_seg(labels, v, out)
    assert np.array_equal(_on_grid(str(out), v), labels)
    back = next(w for w in open_folder([v.paths[0], str(out)])[0] if w.kind == "segmentation")
    assert np.array_equal(_reader_on_grid(back, load_volume(back), v), labels)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda s: np.zeros((2, *s[1:]), np.uint8) + 1, "do not fit the grid"),
        (lambda s: np.full(s, 0.5, np.float32), "must be integers"),
        (lambda s: np.full(s, -1, np.int16), "negative"),
        (lambda s: np.zeros(s, np.uint8), "empty"),
    ],
    ids=["shape", "float", "negative", "empty"],
)
def test_bad_labels_are_named(liver, tmp_path: Path, make, words: str) -> None:
    ct, _, _ = liver
    with pytest.raises(DicomSeriesError, match=words):
        write_seg(make(ct.shape), ct, tmp_path / "x.dcm")
    assert not list(tmp_path.iterdir())


def test_bad_sources_and_existing_output(liver, shared_data: Path, tmp_path: Path) -> None:
    ct, seg, labels = liver
    with pytest.raises(DicomSeriesError, match="segmentation volume, not an image"):
        write_seg(labels, seg, tmp_path / "x.dcm")
    (four_d,) = open_folder(shared_data / "enhanced_siemens_xa10")[0]
    with pytest.raises(DicomSeriesError, match="4-D"):
        write_seg(np.ones(four_d.shape[1:], np.uint8), four_d, tmp_path / "x.dcm")
    (no_for,) = open_folder(shared_data / "sagittal_4slice" / "001")[0]
    with pytest.raises(DicomSeriesError, match="no FrameOfReferenceUID"):
        write_seg(np.ones(no_for.shape, np.uint8), no_for, tmp_path / "x.dcm")
    copy = tmp_path / "ct"
    shutil.copytree(shared_data / "seg_ct_liver" / "ct", copy)
    (gone,) = open_folder(copy)[0]
    os.remove(gone.frames[1].path)
    with pytest.raises(DicomSeriesError, match="source image .* not found"):
        write_seg(labels, gone, tmp_path / "x.dcm")
    existing = tmp_path / "exists.dcm"
    existing.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        write_seg(labels, ct, existing)
    assert existing.read_bytes() == b"keep"
    write_seg(labels, ct, existing, force=True)
    assert pydicom.dcmread(existing).Modality == "SEG"


def test_failed_write_leaves_nothing(liver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ct, _, labels = liver

    def broken(self, filename, *args, **kwargs):
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", broken)
    with pytest.raises(DicomSeriesError, match="cannot write the DICOM SEG"):
        write_seg(labels, ct, tmp_path / "x.dcm")
    assert not list(tmp_path.iterdir())


def test_place_on_grid_shifts_flips_and_refuses(liver) -> None:
    """Labels on a part of the CT's grid (its last two slices, listed top-down and columns first) go back in place."""
    ct, _, labels = liver
    world = ct.affine_lps()[[2, 1, 0, 3], :]  # (k, j, i) -> world (z, y, x), as the reader places layers
    part = labels[1:][::-1].transpose(0, 2, 1)  # slices 2, 1; axes (slice, column, row)
    index = np.eye(4)[:, [0, 2, 1, 3]]  # part index (a, b, c) -> CT index (2 - a, c, b)
    index[:, 0] *= -1
    index[0, 3] = 2
    placed = place_on_grid(part, world @ index, ct)
    expected = labels.copy()
    expected[0] = 0
    assert np.array_equal(placed, expected)
    half = world @ np.array([[1, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    with pytest.raises(DicomSeriesError, match="not the grid of"):
        place_on_grid(labels, half, ct)
    beyond = world @ np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])  # one slice up: the top one is off
    with pytest.raises(DicomSeriesError, match="outside the slices"):
        place_on_grid(labels, beyond, ct)
    top_empty = labels.copy()
    top_empty[2] = 0
    assert np.array_equal(place_on_grid(top_empty, beyond, ct)[1:], top_empty[:2])

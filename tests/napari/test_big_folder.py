"""Big folders in napari (issue 14, item 5): above a layer limit only the most likely volume opens; the scan is cached.

The expected volume is found from the files with pydicom (the thinnest non-localizer axial series, then the
one with more slices, then the lower series number), not from the reader's own choice.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from napari.components import ViewerModel

from napari_dicomseries import _reader, catalog, display, open_folder
from napari_dicomseries._reader import DicomReaderWarning
from napari_dicomseries.synthetic import SeriesSpec, write_series, write_study

PLUGIN = "napari-dicomseries"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "NAPARI_DICOMSERIES_LOCALIZERS",
        "NAPARI_DICOMSERIES_GAPS",
        "NAPARI_DICOMSERIES_LAZY",
        "NAPARI_DICOMSERIES_PRIVATE_TAGS",
        "NAPARI_DICOMSERIES_MAX_LAYERS",
    ):
        monkeypatch.delenv(name, raising=False)
    catalog.clear()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scout + 4 axial reconstructions (2 x 5 slices of 5 mm, 2 x 17 of 1.25 mm), 32 x 32: read-only."""
    out = tmp_path_factory.mktemp("big_folder")
    write_study(out, scale=0.0625)
    return out


def series_by_pydicom(folder: Path) -> dict[str, list[pydicom.Dataset]]:
    out: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            ds.filename = str(p)
            out[str(ds.SeriesInstanceUID)].append(ds)
    return out


def most_likely_files(folder: Path) -> set[str]:
    """The files of the series a reader should show first, by the rule, from pydicom alone."""
    cands = []
    for dss in series_by_pydicom(folder).values():
        ds = dss[0]
        if "LOCALIZER" in [str(t).upper() for t in ds.get("ImageType", [])] or str(ds.get("Modality")) == "SEG":
            continue
        normal = np.cross(*np.reshape([float(x) for x in ds.ImageOrientationPatient], (2, 3)))
        if abs(normal[2]) < np.cos(np.radians(10)) or len(dss) < 2:
            continue  # not axial, or one slice
        cands.append((float(ds.SliceThickness), -len(dss), int(ds.SeriesNumber), {d.filename for d in dss}))
    return min(cands, key=lambda c: c[:3])[3]


def image_series_count(folder: Path) -> int:
    return sum(
        1
        for dss in series_by_pydicom(folder).values()
        if "LOCALIZER" not in [str(t).upper() for t in dss[0].get("ImageType", [])] and str(dss[0].Modality) != "SEG"
    )


def open_model(path: Path) -> tuple[ViewerModel, list[str]]:
    viewer = ViewerModel()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viewer.open(str(path), plugin=PLUGIN)
    return viewer, [str(w.message) for w in caught if issubclass(w.category, DicomReaderWarning)]


# ----------------------------------------------------------------------------- the layer limit


def test_above_the_limit_one_layer_the_most_likely(study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n_images = image_series_count(study)
    assert n_images == 4
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", str(n_images - 1))
    viewer, messages = open_model(study)
    assert len(viewer.layers) == 1
    layer = viewer.layers[0]
    assert layer.visible
    assert set(layer.metadata["dicom"]["files"]) == most_likely_files(study)
    folder = layer.metadata["dicom"]["folder"]
    volumes, _ = open_folder(study)
    assert folder["paths"] == [str(study.resolve())]
    assert folder["volumes"] == len(volumes) == 5  # the scout is listed too
    assert folder["shown"] == [layer.metadata["dicom"]["volume"]["key"]]
    assert folder["gaps"] == "split"
    assert folder["max_layers"] == n_images - 1
    note = [m for m in messages if "most likely one is shown" in m]
    assert len(note) == 1 and note[0].startswith("5 volumes:") and "DICOM series panel" in note[0]


def test_at_the_limit_one_layer_per_volume(study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", str(image_series_count(study)))
    viewer, messages = open_model(study)
    assert len(viewer.layers) == 4
    assert [ly.visible for ly in viewer.layers] == [False, False, False, True]
    assert set(viewer.layers[-1].metadata["dicom"]["files"]) == most_likely_files(study)
    assert not any("folder" in ly.metadata["dicom"] for ly in viewer.layers)
    assert not any("most likely one is shown" in m for m in messages)


def test_default_limit_and_env_override(study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert display.MAX_LAYERS_AT_OPEN >= 4  # an ordinary study opens whole by default
    assert _reader.layer_limit() == display.MAX_LAYERS_AT_OPEN
    assert len(open_model(study)[0].layers) == 4
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "1")
    assert len(open_model(study)[0].layers) == 1
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "0")  # no limit
    assert _reader.layer_limit() is None
    assert len(open_model(study)[0].layers) == 4
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "many")
    with pytest.warns(DicomReaderWarning, match="NAPARI_DICOMSERIES_MAX_LAYERS='many' is not an integer"):
        assert _reader.layer_limit() == display.MAX_LAYERS_AT_OPEN


def test_localizers_do_not_count_and_are_held_back(study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAPARI_DICOMSERIES_LOCALIZERS", "1")
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "4")
    viewer, _ = open_model(study)  # 5 volumes with the scout: over 4
    assert len(viewer.layers) == 1
    assert set(viewer.layers[0].metadata["dicom"]["files"]) == most_likely_files(study)


def test_segmentation_of_the_shown_volume_comes_with_it(study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from napari_dicomseries.segwrite import write_seg

    folder = tmp_path / "with_seg"
    shutil.copytree(study, folder)
    volumes, result = open_folder(folder)
    shown = display.pick_visible(display.plan_layers(volumes, result).images)
    other = next(v for v in volumes if v.kind == "image" and v.series_instance_uid != shown.series_instance_uid)
    for v, name in ((shown, "seg_shown.dcm"), (other, "seg_other.dcm")):
        labels = np.zeros(v.shape, np.uint8)
        labels[:, 10:20, 10:20] = 1
        write_seg(labels, v, folder / name, series_description=f"seg of {v.key}")
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "2")
    viewer, _ = open_model(folder)
    kinds = [(ly.__class__.__name__, ly.metadata["dicom"].get("references")) for ly in viewer.layers]
    assert kinds == [("Image", None), ("Labels", [shown.series_instance_uid])]
    assert set(viewer.layers[0].metadata["dicom"]["files"]) == most_likely_files(folder)
    meta = viewer.layers[1].metadata["dicom"]["folder"]
    assert meta["volumes"] == len(volumes) + 2
    assert len(meta["shown"]) == 2


def test_plan_held_back_lists_the_rest(study: Path) -> None:
    volumes, result = open_folder(study)
    full = display.plan_layers(volumes, result)
    limited = display.plan_layers(volumes, result, max_layers=2)
    assert not full.limited and limited.limited
    assert limited.images == [full.shown] and limited.shown is full.shown
    assert {v.key for v in limited.held_back} == {v.key for v in full.images} - {full.shown.key}


# ----------------------------------------------------------------------------- the scan cache


def test_second_open_does_not_rescan(study: Path, read_path_calls: list[str]) -> None:
    n_files = sum(1 for p in study.iterdir() if p.is_file())
    first, _ = open_model(study)
    assert len(read_path_calls) == n_files
    second, _ = open_model(study)
    assert len(read_path_calls) == n_files  # no header read again
    assert [ly.name for ly in second.layers] == [ly.name for ly in first.layers]
    assert catalog.lookup([study]) is not None
    assert catalog.lookup(study, gaps="keep") is None  # another gap policy is another entry ...
    catalog.open_folder_cached(study, gaps="keep")
    assert len(read_path_calls) == n_files  # ... built from the same scan


def test_changed_folder_is_rescanned(study: Path, tmp_path: Path, read_path_calls: list[str]) -> None:
    folder = tmp_path / "grows"
    shutil.copytree(study, folder)
    viewer, _ = open_model(folder)
    before = len(read_path_calls)
    n_layers = len(viewer.layers)
    extra = SeriesSpec(9, "2.5mm LUNG", "LUNG", 2.5, (-700.0, 1500.0), 25.0, "101600")
    added = write_series(folder, extra, scale=0.0625)
    viewer, _ = open_model(folder)
    assert len(read_path_calls) == before + before + len(added)  # every file read again, the new ones too
    assert len(viewer.layers) == n_layers + 1
    assert "S9 2.5mm LUNG" in [ly.name for ly in viewer.layers]
    # files rewritten in place (same names) are noticed too
    for victim in added:
        ds = pydicom.dcmread(victim)
        ds.SeriesDescription = "2.5mm LUNG renamed"
        ds.save_as(victim)
        os.utime(victim, ns=(os.stat(victim).st_atime_ns, os.stat(victim).st_mtime_ns + 10**9))
    volumes, _ = catalog.open_folder_cached(folder)
    assert any(v.series_description == "2.5mm LUNG renamed" for v in volumes)
    assert catalog.open_folder_cached(folder)[0] == volumes  # and cached again


def test_cache_is_bounded(tmp_path: Path, study: Path) -> None:
    folders = []
    for i in range(catalog.MAX_ENTRIES + 1):
        f = tmp_path / f"f{i}"
        shutil.copytree(study, f)
        catalog.open_folder_cached(f)
        folders.append(f)
    assert catalog.lookup(folders[0]) is None  # the least recently used was dropped
    assert all(catalog.lookup(f) is not None for f in folders[1:])


# ----------------------------------------------------------------------------- in a real window


@pytest.mark.gui
def test_big_folder_in_a_window(make_napari_viewer, study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display: run under xvfb-run")
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "2")
    viewer = make_napari_viewer(show=True)
    with pytest.warns(DicomReaderWarning, match="most likely one is shown"):
        viewer.open(str(study), plugin=PLUGIN)
    assert len(viewer.layers) == 1
    assert viewer.layers.selection.active is viewer.layers[0]
    assert set(viewer.layers[0].metadata["dicom"]["files"]) == most_likely_files(study)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    gray = shot[..., :3].mean(axis=2)
    assert gray.max() - gray.min() > 100  # the CT slice is drawn: body inside air


# ----------------------------------------------------------------------------- an archive index


@pytest.fixture(scope="module")
def study_index(study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pyarrow")
    index = pytest.importorskip("napari_dicomseries.index")
    db = tmp_path_factory.mktemp("big_folder_index") / "db"
    index.build_index(study, db, workers=0)
    return db


def test_an_index_opens_like_its_folder(study: Path, study_index: Path, read_path_calls: list[str]) -> None:
    assert _reader.get_reader(str(study_index)) is _reader.read_dicom
    from_folder, _ = open_model(study)
    before = len(read_path_calls)
    from_index, _ = open_model(study_index)
    assert len(read_path_calls) == before  # no header read: the index knows them
    assert [ly.name for ly in from_index.layers] == [ly.name for ly in from_folder.layers]
    assert [ly.visible for ly in from_index.layers] == [ly.visible for ly in from_folder.layers]
    for a, b in zip(from_index.layers, from_folder.layers, strict=True):
        np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))


def test_a_big_index_opens_the_most_likely_volume(study: Path, study_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "2")
    viewer, messages = open_model(study_index)
    assert len(viewer.layers) == 1
    assert set(viewer.layers[0].metadata["dicom"]["files"]) == most_likely_files(study)
    folder = viewer.layers[0].metadata["dicom"]["folder"]
    assert folder["index"] is True and folder["paths"] == [str(study_index.resolve())] and folder["volumes"] == 5
    assert any(m.startswith("5 volumes: the most likely one is shown") for m in messages)


def test_get_reader_is_cheap_on_other_folders(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"format": "something else"}')
    (tmp_path / "notes.txt").write_text("not DICOM")
    assert _reader.get_reader(str(tmp_path)) is None

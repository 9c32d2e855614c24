"""The series browser on an archive index (``napari-dicomseries index ARCHIVE --db INDEX``) in a real viewer.

Run under ``xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest tests/qt/test_browser_index.py``. The index
is made by the command in a subprocess, as a user makes it; the expected rows and layers come from a scan of the
archive folder (the browser's own scan, and the core's ``open_folder`` with the reader's ``volume_layer_data``).
"Without parsing a header" is checked by counting the calls of :func:`napari_dicomseries.scan.read_path` (the one
header parser of the scan and of the index) in this process: the folder scan of these small folders parses in
process, so the counter is shown to count before it is asked to stay at zero.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui
napari = pytest.importorskip("napari")
pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")

import napari_dicomseries  # noqa: E402
from napari_dicomseries import open_folder  # noqa: E402
from napari_dicomseries._widgets.panel import DicomPanel  # noqa: E402
from napari_dicomseries._widgets.series_browser import COLUMNS, LoadMode, SeriesBrowser  # noqa: E402

from ..data import SHARED_DATA, tree_digest  # noqa: E402

PLUGIN = "napari-dicomseries"
TIMEOUT_MS = 120_000


def _make_index(folder: Path, db: Path) -> Path:
    """``napari-dicomseries index FOLDER --db DB --workers 0`` in a subprocess; the archive is left unchanged."""
    exe = shutil.which("napari-dicomseries")
    if exe is None:
        pytest.skip("the napari-dicomseries command is not installed")
    before = tree_digest(folder)
    p = subprocess.run([exe, "index", str(folder), "--db", str(db), "--workers", "0", "--quiet"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert tree_digest(folder) == before
    return db


@pytest.fixture(params=["synthetic", "ct_ge_lightspeed_lung"])
def archive(request: pytest.FixtureRequest, tmp_path: Path, synthetic_study: Path) -> tuple[Path, Path]:
    """(archive folder, its index): a copy of the synthetic study or of a shared folder, indexed by the command."""
    if request.param == "synthetic":
        source = synthetic_study
    else:
        source = SHARED_DATA / request.param
        if not source.is_dir():
            pytest.skip(f"real test data not found at {source}")
    folder = tmp_path / "archive"
    shutil.copytree(source, folder)
    return folder, _make_index(folder, tmp_path / "index")


def _browser(viewer) -> SeriesBrowser:
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Series browser")
    assert isinstance(panel, DicomPanel)
    return panel.browser


def _wait(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=TIMEOUT_MS)


def _described(volumes) -> list[tuple]:
    return [(v.key, v.kind, v.kernel_class, v.thickness_class, v.orientation, v.shape, v.spacing, v.series_instance_uid)
            for v in volumes]  # fmt: skip


def test_browser_lists_and_loads_an_index_like_its_folder(
    make_napari_viewer, qtbot, archive: tuple[Path, Path], read_path_calls: list[str]
) -> None:
    folder, db = archive
    viewer = make_napari_viewer()
    b = _browser(viewer)
    b.hide_localizers.value = False
    b.scan(folder)
    _wait(qtbot, b)
    assert b.volumes and len(read_path_calls) >= len(b.volumes)  # the folder's headers were parsed here, and counted
    folder_rows, folder_volumes = b.table.rows, _described(b.volumes)
    folder_studies = {uid: s.modalities for uid, s in b.studies.items()}
    assert b.index_path is None
    qtbot.waitUntil(lambda: not b.thumbnails_busy, timeout=TIMEOUT_MS)

    read_path_calls.clear()
    b.folder.value = db
    b.scan()
    _wait(qtbot, b)
    # the same volumes and rows as the folder's (keys, classes, shapes, warnings), listed without parsing a header
    assert read_path_calls == []
    assert b.index_path == str(db) and b.root == str(folder)
    assert _described(b.volumes) == folder_volumes
    assert b.table.rows == folder_rows
    assert {uid: s.modalities for uid, s in b.studies.items()} == folder_studies
    msg = b.status.message.value
    assert f"index {db}" in msg and str(folder) in msg and f"{len(folder_volumes)} volume(s)" in msg
    # the study rows are labelled from what the index holds (the acquisition date), never from a header
    tree = b.table.tree
    assert tree.topLevelItemCount() == len(folder_studies)
    for n in range(tree.topLevelItemCount()):
        assert "no study description" not in tree.topLevelItem(n).text(0)
    # thumbnails are made from the rows' files as for a folder (pixels are read; headers are not parsed by the scan)
    qtbot.waitUntil(lambda: not b.thumbnails_busy, timeout=TIMEOUT_MS)
    assert all(b.table.has_thumbnail(v) for v in b.table.payloads if v.is_image and v.loadable)

    # load a selected row: the layer equals the folder's layer (data, affine, scale)
    from napari_dicomseries._reader import volume_layer_data

    images = [v for v in b.volumes if v.is_image and v.loadable and v.kind == "image"]
    target = max(images, key=lambda v: v.shape[0])
    b.load_mode.value = LoadMode.memory
    b.table.select_payloads(lambda v: v is target)
    b.load_selected()
    _wait(qtbot, b)
    assert read_path_calls == []
    assert [lyr.metadata["dicom"]["volume"]["key"] for lyr in viewer.layers] == [target.key]
    layer = viewer.layers[0]
    expected = next(v for v in open_folder(folder)[0] if v.key == target.key)
    data, kwargs, kind = volume_layer_data(expected, lazy=False)
    assert kind == "image" and layer.name == kwargs["name"]
    np.testing.assert_array_equal(np.asarray(layer.data), np.asarray(data))
    np.testing.assert_allclose(layer.scale, kwargs["scale"])
    np.testing.assert_allclose(layer.affine.affine_matrix, np.asarray(kwargs["affine"]))
    # the loaded row names its layer and is the active layer's row
    row = b.table.rows[b.table.payloads.index(next(v for v in b.table.payloads if v.key == target.key))]
    assert row[COLUMNS.index("layer")] == layer.name
    assert b.table.highlighted is not None and b.table.highlighted.key == target.key


def test_browser_adopts_the_index_the_reader_opened(
    make_napari_viewer, qtbot, synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_path_calls: list[str]
) -> None:
    """An index opened in napari above the layer limit: one layer, and every volume listed from the index."""
    folder = tmp_path / "archive"
    shutil.copytree(synthetic_study, folder)
    db = _make_index(folder, tmp_path / "index")
    expected = sorted(v.key for v in open_folder(folder)[0])
    read_path_calls.clear()
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "1")
    viewer = make_napari_viewer()
    b = _browser(viewer)
    scans = []
    monkeypatch.setattr(napari_dicomseries, "open_folder", lambda *a, **k: scans.append(a) or pytest.fail("scanned"))
    viewer.open(str(db), plugin=PLUGIN)
    layer = viewer.layers.selection.active
    info = layer.metadata["dicom"]["folder"]
    assert info["index"] is True and info["volumes"] == len(expected) > len(viewer.layers)
    _wait(qtbot, b)  # listed as soon as the layer was added (in a worker)
    assert sorted(v.key for v in b.volumes) == expected
    assert b.index_path == str(db) and Path(b.folder.value) == db
    assert "index of the opened layer" in b.status.message.value
    assert read_path_calls == [] and scans == []
    assert b.table.highlighted is not None and b.table.highlighted.key == layer.metadata["dicom"]["volume"]["key"]
    # and again on request (Folder of selected layer)
    b.volumes = []
    b.refresh()
    b.use_selected_layer()
    _wait(qtbot, b)
    assert sorted(v.key for v in b.volumes) == expected and b.index_path == str(db)
    assert read_path_calls == [] and scans == []
    # a row not shown at open loads from the index's volumes
    other = next(v for v in b.volumes if v.key not in info["shown"] and v.is_image and v.kind == "image")
    b.load_selected([other])
    _wait(qtbot, b)
    assert other.key in [lyr.metadata["dicom"]["volume"]["key"] for lyr in viewer.layers]
    assert read_path_calls == []


def test_cancel_while_reading_an_index(
    make_napari_viewer, qtbot, synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel while the index's studies are rebuilt: no rows, idle; the next listing works."""
    from napari_dicomseries import index_query

    folder = tmp_path / "archive"
    shutil.copytree(synthetic_study, folder)
    db = _make_index(folder, tmp_path / "index")
    viewer = make_napari_viewer()
    b = _browser(viewer)
    real = index_query.open_index
    held = threading.Event()

    def open_index_held(index, *, progress=None, cancel=None, **kw):
        held.set()
        deadline = time.monotonic() + 60
        while not cancel() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(index, progress=progress, cancel=cancel, **kw)

    monkeypatch.setattr(index_query, "open_index", open_index_held)
    b.scan(db)
    qtbot.waitUntil(held.is_set, timeout=TIMEOUT_MS)
    assert "reading the index" in b.status.message.value
    b.cancel_button.native.click()
    _wait(qtbot, b)
    assert b.volumes == [] and b.table.rows == [] and b.status.message.value == "cancelled" and not b.cancel_button.enabled
    monkeypatch.setattr(index_query, "open_index", real)
    b.scan(db)
    _wait(qtbot, b)
    assert sorted(v.key for v in b.volumes) == sorted(v.key for v in open_folder(folder)[0])


def test_export_tab_writes_an_index_volumes_without_reading_headers(
    make_napari_viewer, qtbot, synthetic_study: Path, tmp_path: Path, read_path_calls: list[str]
) -> None:
    """Export tab on volumes listed from an index: the files of ``export ARCHIVE`` and no header parsed again."""
    import nibabel as nib

    from napari_dicomseries.export import export_folder

    folder = tmp_path / "archive"
    shutil.copytree(synthetic_study, folder)
    db = _make_index(folder, tmp_path / "index")
    viewer = make_napari_viewer()
    b = _browser(viewer)
    b.scan(db)
    _wait(qtbot, b)
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Export to NIfTI")  # the same panel, at its Export tab
    assert isinstance(panel, DicomPanel) and panel.browser is b and panel.current_tab == "Export"
    ex = panel.export
    b.table.select_payloads(lambda v: v.key in ("3", "5"))
    ex.gzip.value = False
    read_path_calls.clear()
    ex.export(folder / "inside")  # into the archive: refused, nothing written
    _wait(qtbot, ex)
    assert "input folder" in ex.status.message.value and not (folder / "inside").exists()
    ex.export(tmp_path / "panel")
    _wait(qtbot, ex)
    assert read_path_calls == []  # the index's volumes were written as listed
    cli = export_folder(folder, tmp_path / "cli", series=["3", "5"], gzip=False)
    assert sorted(p.name for p in (tmp_path / "panel").iterdir()) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    for r in cli:
        ours, theirs = nib.load(tmp_path / "panel" / Path(r.nifti).name), nib.load(r.nifti)
        assert np.allclose(ours.affine, theirs.affine, atol=1e-6)
        assert np.array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))


def test_export_tab_follows_the_policy_the_volumes_were_listed_with(
    make_napari_viewer, qtbot, synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_path_calls: list[str]
) -> None:
    """The Export tab writes the listed volumes when its gap policy is the one they were built with, even if
    ``NAPARI_DICOMSERIES_GAPS`` changed since: no scan again (the browser records its listing's policy)."""
    viewer = make_napari_viewer()
    b = _browser(viewer)
    b.scan(synthetic_study)
    _wait(qtbot, b)
    assert b.gaps == "split"
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Export to NIfTI")
    ex = panel.export
    assert ex.gaps.value == "split"
    monkeypatch.setenv("NAPARI_DICOMSERIES_GAPS", "keep")  # the environment changes after the listing
    b.table.select_payloads(lambda v: v.key == "3")
    read_path_calls.clear()
    ex.export(tmp_path / "out")
    _wait(qtbot, ex)
    assert read_path_calls == [] and len(list((tmp_path / "out").glob("3_*.nii*"))) == 1


# ----------------------------------------------------------------------------- a big index: listed, opened on demand
@pytest.fixture(scope="module")
def archive_of_studies(tmp_path_factory: pytest.TempPathFactory, synthetic_study: Path) -> tuple[Path, Path, str]:
    """(archive, its index, the key of a part of a gapped series): a multi-study synthetic archive plus the synthetic
    study with two slices of its 33-slice series removed (split in two parts by the index's gap policy)."""
    import pydicom

    from napari_dicomseries.synthetic_archive import write_archive

    root = tmp_path_factory.mktemp("studies")
    folder = root / "archive"
    write_archive(folder / "vendors", 400, seed=1, extent_scale=0.25)
    gapped = folder / "gapped"
    shutil.copytree(synthetic_study, gapped)
    headers = [(p, pydicom.dcmread(p, stop_before_pixels=True)) for p in sorted(gapped.rglob("*")) if p.is_file()]
    series = [(float(ds.ImagePositionPatient[2]), p) for p, ds in headers if ds.get("SeriesNumber") == 4]
    assert len(series) == 33
    for _, p in sorted(series)[10:12]:
        p.unlink()
    db = _make_index(folder, root / "index")
    from napari_dicomseries.index_query import list_index

    parts = [k for k in list_index(db).columns["key"] if k.endswith(".part2")]
    assert len(parts) == 1  # the gapped series, split by the index's policy
    return folder, db, parts[0]


@pytest.fixture
def read_files_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The studies of every :func:`index_shards.read_files` call (the one reader of the shards' files) from now on."""
    from napari_dicomseries import index_shards

    calls: list[list[str]] = []
    real = index_shards.read_files

    def counting(index_dir, shard_files, archive, studies):
        studies = list(studies)
        calls.append(sorted(set(studies)))
        return real(index_dir, shard_files, archive, studies)

    monkeypatch.setattr(index_shards, "read_files", counting)
    return calls


def _study_labels(b: SeriesBrowser) -> list[str]:
    tree = b.table.tree
    return [tree.topLevelItem(n).text(0) for n in range(tree.topLevelItemCount())]


def test_a_big_index_is_listed_from_its_volume_table_and_opens_a_study_per_use(
    make_napari_viewer,
    qtbot,
    archive_of_studies: tuple[Path, Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    read_path_calls: list[str],
    read_files_calls: list[list[str]],
) -> None:
    """Above the instance threshold (lowered here) the index is listed from its volume table: every volume of
    ``ls INDEX``, the rows and study labels of the whole-index listing, no shard file read and no header parsed;
    loading, comparing tags and exporting a row open its study only (once), and give what the folder gives."""
    import nibabel as nib

    from napari_dicomseries._reader import volume_layer_data
    from napari_dicomseries._widgets.series_browser import KernelFilter
    from napari_dicomseries.export import export_folder
    from napari_dicomseries.index_query import IndexEntry, list_index
    from napari_dicomseries.volume import Volume

    folder, db, _ = archive_of_studies
    listing = list_index(db)
    monkeypatch.setenv("NAPARI_DICOMSERIES_LAZY_INDEX_FILES", "10")
    viewer = make_napari_viewer()
    b = _browser(viewer)
    assert b.lazy_index_files == 10
    b.hide_localizers.value = False
    b.scan(db)
    _wait(qtbot, b)
    assert read_files_calls == [] and read_path_calls == []
    assert all(isinstance(v, IndexEntry) for v in b.volumes)
    assert [(v.key, v.series_description, v.study_instance_uid) for v in b.volumes] == [
        (s["key"], s["series_description"], s["study_instance_uid"]) for s in listing.series
    ]
    assert b.index_path == str(db) and b.root == str(folder) and len(b.skipped) == len(listing.skipped_rows)
    assert "opened when a row of it is loaded" in b.status.message.value
    qtbot.waitUntil(lambda: not b.thumbnails_busy, timeout=TIMEOUT_MS)
    assert not any(b.table.has_thumbnail(v) for v in b.table.payloads)  # no study opened for thumbnails
    lazy_rows, lazy_labels = b.table.rows, _study_labels(b)
    # filters and sorting work on the listed rows
    b.kernel.value = KernelFilter.lung
    assert {r[COLUMNS.index("key")] for r in b.table.rows} == {v.key for v in b.volumes if v.kernel_class == "lung"} != set()
    b.kernel.value = KernelFilter.all
    b.table.sort_by("size", descending=True)
    assert b.table.rows != lazy_rows and sorted(map(tuple, b.table.rows)) == sorted(map(tuple, lazy_rows))
    b.table._sort = None
    assert read_files_calls == [] and read_path_calls == []

    # the same rows and study labels as the index opened whole (the path of a small index)
    b.lazy_index_files = 10**9
    b.scan(db)
    _wait(qtbot, b)
    assert all(isinstance(v, Volume) for v in b.volumes) and len(read_files_calls) == 1
    assert b.table.rows == lazy_rows and _study_labels(b) == lazy_labels
    qtbot.waitUntil(lambda: not b.thumbnails_busy, timeout=TIMEOUT_MS)

    b.lazy_index_files = 10
    b.scan(db)
    _wait(qtbot, b)
    read_files_calls.clear()
    studies = list(dict.fromkeys(v.study_instance_uid for v in b.volumes))
    assert len(studies) >= 3

    # load a row: its study only is opened, and the layer is the folder's
    first = [v for v in b.volumes if v.study_instance_uid == studies[0] and v.kind == "image" and v.loadable]
    target = max(first, key=lambda v: v.shape[0])
    b.load_mode.value = LoadMode.memory
    b.table.select_payloads(lambda v: v is target)
    b.load_selected()
    _wait(qtbot, b)
    assert read_files_calls == [[studies[0]]] and read_path_calls == []
    assert [lyr.metadata["dicom"]["volume"]["key"] for lyr in viewer.layers] == [target.key]
    layer = viewer.layers[0]
    folder_volumes = open_folder(folder)[0]
    read_path_calls.clear()  # (the scan of the folder, for the expected layer)
    data, kwargs, _ = volume_layer_data(next(v for v in folder_volumes if v.key == target.key), lazy=False)
    assert layer.name == kwargs["name"]
    np.testing.assert_array_equal(np.asarray(layer.data), np.asarray(data))
    np.testing.assert_allclose(layer.affine.affine_matrix, np.asarray(kwargs["affine"]))
    # the study's rows are its volumes now (the selection and the rows kept), the others still placeholders
    assert all(isinstance(v, Volume) == (v.study_instance_uid == studies[0]) for v in b.volumes)
    assert b.table.rows == [r[:7] + [layer.name if r[8] == target.key else ""] + r[8:] for r in lazy_rows]
    [chosen] = b.table.selected_payloads()
    assert isinstance(chosen, Volume) and chosen.key == target.key and b.table.highlighted is chosen
    qtbot.waitUntil(lambda: not b.thumbnails_busy, timeout=TIMEOUT_MS)
    opened = [v for v in b.volumes if v.study_instance_uid == studies[0]]
    assert {v.key for v in b.table.payloads if b.table.has_thumbnail(v)} == {
        v.key for v in opened if v.is_image and v.loadable and v.kind != "segmentation"
    }  # thumbnails of the opened study only
    b.load_selected([next(v for v in b.volumes if v.study_instance_uid == studies[0] and v.key != target.key)])
    _wait(qtbot, b)
    assert len(viewer.layers) == 2 and read_files_calls == [[studies[0]]]  # the study is not opened again

    # compare the tags of a row of another study: that study only
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Series browser")
    second = next(v for v in b.volumes if v.study_instance_uid == studies[1] and v.kind == "image")
    b.table.select_payloads(lambda v: v is second)
    b.compare_tags()
    _wait(qtbot, b)
    tc = panel.tag_compare
    _wait(qtbot, tc)
    assert read_files_calls == [[studies[0]], [studies[1]]]
    assert isinstance(tc.source_a.value, Volume) and tc.source_a.value.key == second.key
    assert tc.result is not None and tc.result.volume_key == second.key and tc.table.rows

    # export a row of a third study: that study only, the files of ``export ARCHIVE``
    third = next(v for v in b.volumes if v.study_instance_uid == studies[2] and v.kind == "image" and v.loadable)
    b.table.select_payloads(lambda v: v is third)
    ex = panel.export
    ex.gzip.value = False
    ex.export(tmp_path / "panel")
    _wait(qtbot, ex)
    assert read_files_calls == [[studies[0]], [studies[1]], [studies[2]]] and read_path_calls == []
    assert all(isinstance(v, Volume) for v in b.volumes if v.study_instance_uid == studies[2])
    cli = export_folder(folder, tmp_path / "cli", series=[third.key], gzip=False)
    assert [p.name for p in (tmp_path / "panel").iterdir()] and sorted(p.name for p in (tmp_path / "panel").iterdir()) == sorted(
        p.name for p in (tmp_path / "cli").iterdir()
    )
    for r in cli:
        ours, theirs = nib.load(tmp_path / "panel" / Path(r.nifti).name), nib.load(r.nifti)
        assert np.allclose(ours.affine, theirs.affine, atol=1e-6)
        assert np.array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))

    # a row whose study was made (resolve) but whose rows were not replaced yet (a Cancel just after the study
    # was opened): loading it resolves it from the cache, no study opened again
    b.scan(db)
    _wait(qtbot, b)
    shown = {lyr.metadata["dicom"]["volume"]["key"] for lyr in viewer.layers}
    row = next(
        v for v in b.volumes
        if v.study_instance_uid == studies[1] and v.kind == "image" and v.loadable and v.key not in shown
    )  # fmt: skip
    read_files_calls.clear()
    b.resolve([row])
    assert isinstance(row, IndexEntry) and row in b.volumes and read_files_calls == [[studies[1]]]
    b.load_selected([row])
    _wait(qtbot, b)
    assert read_files_calls == [[studies[1]]] and viewer.layers[-1].metadata["dicom"]["volume"]["key"] == row.key


def test_a_big_index_listed_with_another_gap_policy_replaces_a_study_s_rows_when_opened(
    make_napari_viewer,
    qtbot,
    archive_of_studies: tuple[Path, Path, str],
    monkeypatch: pytest.MonkeyPatch,
    read_files_calls: list[list[str]],
) -> None:
    """The volume table holds the series as the index's policy (split) cut them: under ``keep`` the rows of a gapped
    series are its parts until its study is opened; loading a part then loads the whole series as ``keep`` makes it,
    and the study's rows become its ``keep`` volumes."""
    from napari_dicomseries._reader import volume_layer_data
    from napari_dicomseries.index_query import IndexEntry

    folder, db, part = archive_of_studies
    whole = part.removesuffix(".part2")
    monkeypatch.setenv("NAPARI_DICOMSERIES_LAZY_INDEX_FILES", "10")
    monkeypatch.setenv("NAPARI_DICOMSERIES_GAPS", "keep")
    viewer = make_napari_viewer()
    b = _browser(viewer)
    b.scan(db)
    _wait(qtbot, b)
    assert b.gaps == "keep" and "gap policy 'split'" in b.status.message.value
    keys = [v.key for v in b.volumes]
    assert part in keys and whole + ".part1" in keys and whole not in keys
    row = next(v for v in b.volumes if v.key == part)
    assert isinstance(row, IndexEntry)
    b.load_mode.value = LoadMode.memory
    b.table.select_payloads(lambda v: v is row)
    b.load_selected()
    _wait(qtbot, b)
    assert read_files_calls == [[row.study_instance_uid]]
    assert [lyr.metadata["dicom"]["volume"]["key"] for lyr in viewer.layers] == [whole]
    expected = next(v for v in open_folder(folder, gaps="keep")[0] if v.key == whole)
    data, kwargs, _ = volume_layer_data(expected, lazy=False)
    np.testing.assert_array_equal(np.asarray(viewer.layers[0].data), np.asarray(data))
    keys = [v.key for v in b.volumes]
    assert whole in keys and part not in keys and whole + ".part1" not in keys
    assert [v.key for v in b.table.selected_payloads()] == [whole]
    study_keys = [v.key for v in b.volumes if v.study_instance_uid == row.study_instance_uid]
    assert study_keys == [v.key for v in open_folder(folder, gaps="keep")[0] if v.study_instance_uid == row.study_instance_uid]

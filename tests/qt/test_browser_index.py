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
from napari_dicomseries import open_folder, scan  # noqa: E402
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


@pytest.fixture
def read_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path whose header :func:`scan.read_path` parses in this process from now on."""
    calls: list[str] = []
    real = scan.read_path

    def counting(path: str):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(scan, "read_path", counting)
    return calls


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

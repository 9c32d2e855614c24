"""The archive index (issue 14): same volumes as ``ls DIR``, exact DicomFile round trip, incremental reruns,
failures and cancels that leave a consistent index, the lock, privacy.

These tests run the index in this process (``workers=0``); the dask.distributed runs (a LocalCluster of 2
processes, a killed worker, a separately started scheduler + worker) are in ``test_index_cluster.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from napari_dicomseries import index as idx
from napari_dicomseries import index_shards, open_folder
from napari_dicomseries.commands.ls import format_summaries, ls_json, print_notes
from napari_dicomseries.errors import Cancelled, PathNotFoundError
from napari_dicomseries.index import ArchiveIndexError, IndexLockedError, build_index, is_index
from napari_dicomseries.index_query import find, list_entries, list_index, open_index
from napari_dicomseries.scan import DicomFile, scan
from napari_dicomseries.synthetic import write_study
from napari_dicomseries.synthetic_archive import write_archive

from ..corpus import Case
from ..data import SHARED_DATA, SHARED_FOLDERS

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real test data not found at {SHARED_DATA}")


def ls_dir(folder: Path) -> dict:
    """What ``ls DIR --json`` prints for the folder (given as an absolute path, as the index stores paths)."""
    volumes, result = open_folder(str(folder.resolve()))
    return ls_json(volumes, result.root, result.skipped)


def instance_rows(index: Path) -> list[dict]:
    """Every instance row of the index (the shards the manifest lists)."""
    manifest = idx.read_manifest(index)
    rows: list[dict] = []
    for s in manifest["shards"]:
        rows += pq.read_table(index / s["file"], columns=["path", "size", "mtime_ns", "error"]).to_pylist()
    return rows


def assert_index_is(index: Path, archive: Path) -> None:
    """The index lists exactly what ``ls DIR`` lists now, and holds one row per file of the archive."""
    assert list_index(index).to_json() == ls_dir(archive)
    rows = instance_rows(index)
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)), "duplicate rows"
    on_disk = sorted(str(p) for p in archive.resolve().rglob("*") if p.is_file() or p.is_symlink())
    problems = {p["path"] for p in idx.read_manifest(index)["problems"]}
    assert sorted(set(paths) | problems) == on_disk
    for r in rows:
        st = os.stat(r["path"])
        assert (r["size"], r["mtime_ns"]) == (st.st_size, st.st_mtime_ns), r["path"]


# ----------------------------------------------------------------------------- ls INDEX == ls DIR


@pytest.mark.parametrize("folder", [*SHARED_FOLDERS, "synthetic"], ids=lambda p: getattr(p, "name", str(p)))
def test_index_lists_what_ls_lists(
    folder: Path | str, synthetic_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On every shared folder and the synthetic study: the index's volume table is ``ls --json`` of the folder
    (root, every summary, skipped files), and open_index gives volumes with the same summaries as open_folder."""
    archive = synthetic_study if folder == "synthetic" else Path(folder)
    index = tmp_path / "index"
    result = build_index(archive, index, workers=0)
    expected = ls_dir(archive)
    assert is_index(index) and not is_index(archive)
    listing = list_index(index)
    assert listing.to_json() == expected
    assert result.volumes == len(expected["series"]) and result.files_parsed == result.files_seen
    # the ls table and its notes, printed from the table's columns, are those of the summaries
    table = list_index(index).table()
    assert format_summaries(table, listing.is_image) == format_summaries(expected["series"], listing.is_image)
    print_notes(table, listing.root, listing.skipped)
    from_columns = capsys.readouterr().out
    print_notes(expected["series"], listing.root, listing.skipped)
    assert from_columns == capsys.readouterr().out
    volumes, scanned = open_index(index)
    assert [v.summary() for v in volumes] == expected["series"]
    assert [s.path for s in scanned.skipped] == [s["path"] for s in expected["skipped"]]
    # the browser's listing of a big index reads the volume table's columns, no summary
    assert [(e.key, e.content_time, e.instance_creation_time) for e in list_entries(index)] == [
        (s["key"], s.get("content_time") or "", s.get("instance_creation_time") or "") for s in expected["series"]
    ]


@pytest.mark.parametrize("folder", [*SHARED_FOLDERS, "synthetic"], ids=lambda p: getattr(p, "name", str(p)))
def test_dicomfile_round_trip_is_exact(folder: Path | str, synthetic_study: Path) -> None:
    """Every DicomFile of the scan comes back from its JSON with every field equal (frames, mosaic, tags, warnings)."""
    archive = synthetic_study if folder == "synthetic" else Path(folder)
    files = scan(str(archive)).files
    assert files
    names = [f.name for f in dataclasses.fields(DicomFile) if f.name != "_dataset"]
    for f in files:
        text = index_shards.encode_file(f)
        assert "pickle" not in text
        back = index_shards.decode_file(f.path, text)
        for name in names:
            assert getattr(back, name) == getattr(f, name), (f.path, name)
        assert type(back.frames) is tuple and all(type(a) is type(b) for a, b in zip(back.frames, f.frames, strict=True))


def _plain_json(f: DicomFile) -> str:
    """The JSON of ``f``'s fields in encode_file's order, made whole (no part remembered)."""
    X = index_shards
    rows = [
        [*((None if fr.path == f.path else fr.path), *(getattr(fr, n) for n in X._FRAME_OWN[1:])),
         *(getattr(fr, n) for n in X._FRAME_SHARED)]
        for fr in f.frames
    ]  # fmt: skip
    doc = {n: getattr(f, n) for n in (*X._FILE_OWN, *X._FILE_SHARED)}
    doc["frames"] = {"fields": [*X._FRAME_OWN, *X._FRAME_SHARED], "rows": rows}
    doc["mosaic"] = None if f.mosaic is None else {n: getattr(f.mosaic, n) for n in X._MOSAIC_FIELDS}
    return json.dumps(doc, separators=(",", ":"))


@pytest.mark.parametrize("folder", [*SHARED_FOLDERS, "synthetic"], ids=lambda p: getattr(p, "name", str(p)))
def test_dicomfile_json_is_that_of_its_fields(folder: Path | str, synthetic_study: Path) -> None:
    """The JSON of a file, whose parts that repeat across a series are remembered, is the plain JSON of its fields,
    in files met in either order (a remembered part is never that of other, merely equal values: 0.0 and -0.0)."""
    archive = synthetic_study if folder == "synthetic" else Path(folder)
    files = scan(str(archive)).files
    assert files
    for order in (files, files[::-1]):
        for f in order:
            assert index_shards.encode_file(f) == _plain_json(f), f.path
    # equal values of other objects are not taken for each other: -0.0 after 0.0, int after float
    f = files[0]
    if f.frames:
        fr = f.frames[0]
        signed = dataclasses.replace(fr, rescale_intercept=-0.0)
        unsigned = dataclasses.replace(fr, rescale_intercept=0.0)
        for g in (dataclasses.replace(f, frames=(unsigned,)), dataclasses.replace(f, frames=(signed,))):
            assert index_shards.encode_file(g) == _plain_json(g)


def test_dicomfile_json_is_never_that_of_freed_values(synthetic_study: Path) -> None:
    """The remembered JSON is keyed by the identity of its values and keeps them alive: values made and freed file
    after file (CPython gives a new float the memory of the one just freed, so the same id) never get the JSON of
    the values before them."""
    f = next(f for f in scan(str(synthetic_study)).files if f.frames)
    fr = f.frames[0]
    for i in range(3000):
        frame = dataclasses.replace(fr, rescale_intercept=float(i) + 0.5, window_center=-float(i) - 0.25)
        g = dataclasses.replace(f, frames=(frame,), bits_stored=1000 + i)
        assert index_shards.encode_file(g) == _plain_json(g), i


def test_dicomfile_json_of_a_series_is_made_once(synthetic_study: Path) -> None:
    """The shared part of the JSON of the files of a series is made once, not per file: the scan gives its files the
    very same value objects (a value read again per file, such as a UID decoded afresh, would cost the index the
    JSON of every file; this happened once)."""
    files = scan(str(synthetic_study)).files
    series = {f.series_instance_uid for f in files}
    assert len(files) > 10 * len(series)
    index_shards._SHARED_JSON.clear()
    for f in files:
        index_shards.encode_file(f)
    assert len(index_shards._SHARED_JSON) <= 2 * len(series)  # the file part and the frame part of each series


def test_a_file_gone_between_the_walk_and_its_task(synthetic_study: Path, tmp_path: Path) -> None:
    """A first index's walk does not stat: its task does, once for the row and the parser. A file gone by then is
    an error row with size and mtime -1 (the next run finds it gone); the others get their own stat, and the
    shard's fingerprint is that of what the task recorded."""
    from napari_dicomseries.index_run import fingerprint

    archive, out = tmp_path / "archive", tmp_path / "index"
    shutil.copytree(synthetic_study, archive)
    (out / "instances").mkdir(parents=True)
    names = sorted(p.name for p in archive.iterdir())[:5]
    entries = [(n, None, None) for n in names[:2]] + [("gone.dcm", None, None)] + [(n, None, None) for n in names[2:]]
    res = index_shards.index_group(str(archive), str(out), [(entries, None)], False, None)
    (summary,) = res["parts"][0]
    rows = pq.read_table(out / summary["file"]).to_pylist()
    recorded = []
    for r in rows:
        rel = os.path.basename(r["path"])
        if rel == "gone.dcm":
            assert (r["size"], r["mtime_ns"]) == (-1, -1) and "No such file" in r["error"]
        else:
            st = os.stat(r["path"])
            assert (r["size"], r["mtime_ns"]) == (st.st_size, st.st_mtime_ns) and r["error"] is None
        recorded.append((rel, r["size"], r["mtime_ns"]))
    assert [rel for rel, _, _ in recorded] == [rel for rel, _, _ in entries]
    assert summary["fingerprint"] == fingerprint(recorded) and summary["errors"] == 1


def test_volume_table_written_before_the_time_columns_still_lists(tmp_path: Path) -> None:
    """An index whose volume table predates the content/creation time columns: listed with the times of its
    summaries, and a rerun that rebuilds one study fills the columns of the other study's rows, kept from it."""
    archive = tmp_path / "archive"
    write_archive(archive, 1200, junk=False, extent_scale=0.1)
    index = tmp_path / "index"
    build_index(archive, index, workers=0)
    entries = list_entries(index)
    expected = [(e.key, e.content_time, e.instance_creation_time) for e in entries]
    assert len({e.study_instance_uid for e in entries}) >= 2 and any(t for _, t, _ in expected)
    study = next(e for e in entries if e.content_time).study_instance_uid
    changed = next(f for f in scan(str(archive)).files if f.study_instance_uid == study).path
    volumes = index / idx.read_manifest(index)["volumes"]
    pq.write_table(pq.read_table(volumes).drop_columns(list(idx.SUMMARY_TEXT_COLUMNS)), volumes)
    assert "content_time" not in pq.read_schema(volumes).names
    assert [(e.key, e.content_time, e.instance_creation_time) for e in list_entries(index)] == expected
    st = os.stat(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # its study is rebuilt, the others' rows kept
    result = build_index(archive, index, workers=0)
    assert 1 <= result.studies_rebuilt < len({e.study_instance_uid for e in entries})  # the studies of one shard
    rows = pq.read_table(index / idx.read_manifest(index)["volumes"]).to_pylist()
    assert rows and all(
        (r["content_time"], r["instance_creation_time"])
        == (json.loads(r["summary"])["content_time"], json.loads(r["summary"])["instance_creation_time"])
        for r in rows
    )
    assert [(e.key, e.content_time, e.instance_creation_time) for e in list_entries(index)] == expected
    assert list_index(index).to_json() == ls_dir(archive)


@needs_shared
def test_many_studies_keys_and_groups_as_ls(synthetic_study: Path, tmp_path: Path) -> None:
    """Volumes built study by study get the keys and acquisition groups of a scan of the whole archive (series
    numbers repeat across studies: keys such as ``3.1``, ``3.2``)."""
    archive = tmp_path / "archive"
    for name in (
        "ct_ge_lightspeed_lung",
        "missing_slice",
        "transfer_syntaxes",
        "sagittal_4slice",
        "seg_ct_liver",
        "cr_monochrome1",
    ):
        shutil.copytree(SHARED_DATA / name, archive / name)
    shutil.copytree(synthetic_study, archive / "zz_synthetic")
    build_index(archive, tmp_path / "index", workers=0)
    expected = ls_dir(archive)
    assert any("." in s["key"] for s in expected["series"])  # the case that needs relabelling
    assert len({s["study_instance_uid"] for s in expected["series"]}) >= 4
    assert list_index(tmp_path / "index").to_json() == expected
    # open_index of a selection: the same volumes (keys of the whole archive), only their studies rebuilt
    thin = [s for s in expected["series"] if s["thickness_class"] == "thin" and s["modality"] == "CT"]
    volumes, scanned = open_index(tmp_path / "index", modality="ct", thin=True)
    assert [v.summary() for v in volumes] == thin
    assert {f.study_instance_uid for f in scanned.files} == {s["study_instance_uid"] for s in thin}
    rows = find(tmp_path / "index", description="^AX_ASC", kernel_class="other")
    assert [r.key for r in rows] == [s["key"] for s in expected["series"] if s["series_description"].lower().startswith("ax_asc")]


def test_mixed_corpus_skipped_files_as_ls(mixed: tuple[Path, list[Case], dict], deny_unreadable: None, tmp_path: Path) -> None:
    """The corpus of bad files: every skipped path with the scan's reason, in the scan's order, as rows (no failure)."""
    root, _, _ = mixed
    build_index(root, tmp_path / "index", workers=0)
    got, expected = list_index(tmp_path / "index").to_json(), ls_dir(root)
    assert expected["skipped"] and got == expected


# ----------------------------------------------------------------------------- incremental


def _touch(path: Path, ns: int) -> None:
    os.utime(path, ns=(ns, ns))


@needs_shared
def test_rerun_follows_additions_changes_deletions_and_corruption(
    synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pydicom

    monkeypatch.setattr(idx, "SHARD_MIN", 10)
    monkeypatch.setattr(idx, "SHARD_MAX", 30)
    archive, index = tmp_path / "archive", tmp_path / "index"
    shutil.copytree(synthetic_study, archive / "a_study")
    shutil.copytree(SHARED_DATA / "ct_ge_lightspeed_lung", archive / "b_lung")
    first = build_index(archive, index, workers=0)
    n = first.files_seen
    assert first.files_parsed == n == 85 + 40 and first.shards_written >= 4
    assert_index_is(index, archive)

    # nothing changed: no parse, no shard or table rewritten, the manifest untouched
    files_before = sorted(p.name for p in index.rglob("*.parquet"))
    manifest_before = (index / idx.MANIFEST).read_bytes()
    again = build_index(archive, index, workers=0)
    assert (again.files_parsed, again.shards_written, again.studies_rebuilt) == (0, 0, 0)
    assert again.shards_kept == first.shards_written
    assert sorted(p.name for p in index.rglob("*.parquet")) == files_before
    assert json.loads((index / idx.MANIFEST).read_bytes())["shards"] == json.loads(manifest_before)["shards"]

    # add a folder, change one file's description, delete two, corrupt one
    shutil.copytree(SHARED_DATA / "missing_slice", archive / "c_missing")
    lung = sorted((archive / "b_lung").iterdir())
    ds = pydicom.dcmread(lung[0])
    ds.SeriesDescription = "lung changed"
    ds.save_as(lung[0])
    _touch(lung[0], 2_000_000_000_000_000_000)
    lung[1].unlink()
    lung[2].unlink()
    study = sorted((archive / "a_study").iterdir())
    study[0].write_bytes(study[0].read_bytes()[:300])  # a truncated header
    _touch(study[0], 2_000_000_000_000_000_000)
    third = build_index(archive, index, workers=0)
    assert third.files_parsed == 8 + 1 + 1  # the new folder, the changed file, the corrupted one
    assert third.files_removed == 2
    assert third.files_seen == n + 8 - 2
    assert_index_is(index, archive)
    listing = list_index(index)
    assert any(s.path == str(study[0].resolve()) for s in listing.skipped)
    changed = [
        r
        for s in idx.read_manifest(index)["shards"]
        for r in pq.read_table(index / s["file"], columns=["path", "series_description"]).to_pylist()
        if r["path"] == str(lung[0].resolve())
    ]
    assert [r["series_description"] for r in changed] == ["lung changed"]

    # a whole folder vanishes
    shutil.rmtree(archive / "b_lung")
    fourth = build_index(archive, index, workers=0)
    assert fourth.files_parsed == 0 and fourth.files_removed == 40 - 2
    assert_index_is(index, archive)


@needs_shared
@pytest.mark.parametrize("how", ["exception", "cancel"])
def test_failure_mid_run_then_rerun_no_duplicate_no_loss(
    how: str, synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task failing (an exception in one partition) or a cancel mid-run keeps a consistent index (shards
    written are valid, the rest stays as before); the rerun completes it with no duplicate and no lost row."""
    monkeypatch.setattr(idx, "SHARD_MIN", 5)
    monkeypatch.setattr(idx, "SHARD_MAX", 10)
    archive, index = tmp_path / "archive", tmp_path / "index"
    shutil.copytree(synthetic_study, archive / "study")
    shutil.copytree(SHARED_DATA / "sagittal_4slice", archive / "sag")
    build_index(archive / "sag", tmp_path / "unrelated", workers=0)  # (another index: untouched by what follows)
    victim = str(sorted((archive / "study").iterdir())[40].resolve())
    real = index_shards._scan.read_path
    calls = {"n": 0}

    def failing(path: str, st=None):  # type: ignore[no-untyped-def]
        if path == victim:
            raise RuntimeError("injected failure")
        return real(path, st)

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 1  # after the first task

    if how == "exception":
        monkeypatch.setattr(index_shards._scan, "read_path", failing)
        with pytest.raises(ArchiveIndexError, match="injected failure") as err:
            build_index(archive, index, workers=0)
        assert str(index) in str(err.value)
    else:
        with pytest.raises(Cancelled, match=str(index)):
            build_index(archive, index, workers=0, cancel=cancel)
    manifest = idx.read_manifest(index)
    partial = instance_rows(index)
    assert 0 < len(partial) < 85 + 8 and len({r["path"] for r in partial}) == len(partial)
    assert manifest["pending_studies"] and manifest["volumes"] is None
    assert not (index / idx.LOCK).exists()
    monkeypatch.setattr(index_shards._scan, "read_path", real)
    done = build_index(archive, index, workers=0)
    assert done.files_parsed == 85 + 8 - len(partial)
    assert_index_is(index, archive)
    assert idx.read_manifest(index)["pending_studies"] == []


# ----------------------------------------------------------------------------- lock, errors


def test_lock_refuses_a_second_run_and_takes_over_a_stale_one(synthetic_study: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    lock = index / idx.LOCK
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
    with pytest.raises(IndexLockedError, match=f"{index}: locked by another index run .*process {os.getpid()}"):
        build_index(synthetic_study, index, workers=0)
    assert lock.exists() and not is_index(index)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "then"}))
    result = build_index(synthetic_study, index, workers=0)
    assert any("stale lock" in m and str(dead.pid) in m for m in result.messages)
    assert is_index(index) and not lock.exists()


def test_refuses_what_is_not_an_index(synthetic_study: Path, tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("x")
    with pytest.raises(idx.NotAnIndexError, match=str(other)):
        build_index(synthetic_study, other, workers=0)
    with pytest.raises(ArchiveIndexError, match="inside the archive"):
        build_index(synthetic_study, synthetic_study / "index", workers=0)
    with pytest.raises(PathNotFoundError, match="missing"):
        build_index(tmp_path / "missing", tmp_path / "index", workers=0)
    with pytest.raises(idx.NotAnIndexError, match=str(other)):
        list_index(other)


# ----------------------------------------------------------------------------- privacy


def _index_text(index: Path) -> bytes:
    """Every byte of the index folder, plus every Parquet value as text (Parquet pages are compressed)."""
    out = b""
    for p in sorted(index.rglob("*")):
        if p.is_file():
            out += p.read_bytes()
            if p.suffix == ".parquet":
                out += repr(pq.read_table(p).to_pylist()).encode()
    return out


def test_patient_tags_left_out_unless_asked(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_study(archive, scale=0.05)
    index = tmp_path / "index"
    build_index(archive, index, workers=0)
    text = _index_text(index)
    assert b"SYNTHETIC" in (archive / next(iter(os.listdir(archive)))).read_bytes()  # the name is in the files
    for value in (b"SYNTHETIC^PHANTOM", b"SYN-0001", b"19700101"):
        assert value not in text, value
    # the positive control: asked for, the values are there (so the search above can see them)
    build_index(archive, tmp_path / "with", workers=0, patient_tags=True)
    text = _index_text(tmp_path / "with")
    assert b"SYNTHETIC^PHANTOM" in text and b"SYN-0001" in text and b"19700101" in text
    assert not list((tmp_path / "with").rglob("*.dcm")) and sum(p.stat().st_size for p in (tmp_path / "with").rglob("*")) < sum(
        p.stat().st_size for p in archive.iterdir()
    )  # no pixels copied


def test_tasks_end_at_the_highest_folder_boundary_near_their_size() -> None:
    """Tasks cover the groups in order, once each; near the target size they end where a study folder ends (the
    fewest shared leading folders), not between two series of one study."""
    groups = []
    for patient in range(3):
        for study in range(2):
            for series in range(4):
                folder = os.path.join(f"P{patient}", f"ST{study}", f"SE{series}")
                groups.append(idx._Group([(os.path.join(folder, f"f{k}"), 1, 1) for k in range(300)]))
    tasks = idx._tasks(groups, 0)  # in this process: a target of TASK_SHARDS_IN_PROCESS * SHARD_MAX files
    assert [g for t in tasks for g in t] == list(range(len(groups)))
    target = idx.TASK_SHARDS_IN_PROCESS * idx.SHARD_MAX
    for t in tasks[:-1]:
        n = 300 * len(t)
        assert target // 2 <= n <= target * 3 // 2
        last, nxt = groups[t[-1]].entries[0][0], groups[t[-1] + 1].entries[0][0]
        assert last.split(os.sep)[:2] != nxt.split(os.sep)[:2]  # a study (or patient) folder ends there
    # a study bigger than the window is cut inside it, at a series boundary
    big = [idx._Group([(os.path.join("P", "ST", f"SE{s}", f"f{k}"), 1, 1) for k in range(900)]) for s in range(12)]
    tasks = idx._tasks(big, 0)
    assert [g for t in tasks for g in t] == list(range(12)) and all(900 * len(t) <= target * 3 // 2 + 900 for t in tasks)


def test_tasks_compare_the_folders_on_either_side_of_a_cut() -> None:
    """A group holding several folders: a boundary is judged by the folder of its last file, not its first."""

    def group(*folders: str) -> idx._Group:
        return idx._Group([(os.path.join(*f.split("/"), f"f{k}"), 1, 1) for f in folders for k in range(500)])

    # study A, then study B (which starts inside the group A/S6 + B/S0), then study C
    groups = [group("A/S0", "A/S1"), group("A/S2", "A/S3"), group("A/S4", "A/S5"), group("A/S6", "B/S0"),
              group("B/S1", "B/S2"), group("B/S3", "B/S4"), group("C/S0", "C/S1"), group("C/S2", "C/S3")]  # fmt: skip
    tasks = idx._tasks(groups, 0)  # a target of 4,000 files; 8,000 in all
    assert tasks == [[0, 1, 2, 3, 4, 5], [6, 7]]  # cut where B ends and C starts (not after A/S6 + B/S0, inside B)

"""``index``, ``find`` and ``ls INDEX`` (and the other commands on an index) as a user types them: each in a
subprocess, checked on exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ..data import SHARED_DATA, tree_digest
from .test_cli import assert_error, assert_ok, run

pytestmark = pytest.mark.slow  # several subprocesses each (about 1.5 s per command)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, synthetic_study: Path) -> Path:
    """The synthetic study and, when present, three shared folders (four studies), in sub-folders."""
    root = tmp_path_factory.mktemp("archive")
    shutil.copytree(synthetic_study, root / "synthetic")
    if SHARED_DATA.is_dir():
        for name in ("ct_ge_lightspeed_lung", "missing_slice", "sagittal_4slice"):
            shutil.copytree(SHARED_DATA / name, root / name)
    (root / "notes.txt").write_text("not DICOM")
    return root


@pytest.fixture(scope="module")
def index(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("db") / "index"
    before = tree_digest(archive)
    p = run("index", archive, "--db", out, "--quiet", cwd=out.parent)
    assert_ok(p)
    assert p.stderr == "" and p.stdout.startswith(f"indexed {archive} into {out} in ") and "1 skipped" in p.stdout
    assert tree_digest(archive) == before  # nothing written into the archive
    return out


def test_ls_index_prints_what_ls_dir_prints(archive: Path, index: Path) -> None:
    by_dir, by_index = run("ls", "--json", archive, cwd=archive.parent), run("ls", "--json", index, cwd=archive.parent)
    assert_ok(by_dir)
    assert_ok(by_index)
    assert json.loads(by_index.stdout) == json.loads(by_dir.stdout)
    text_dir, text_index = run("ls", archive, cwd=archive.parent), run("ls", index, cwd=archive.parent)
    assert text_index.stdout == text_dir.stdout and "notes.txt" in text_index.stdout


def test_ls_index_does_not_read_the_archive(archive: Path, index: Path, tmp_path: Path) -> None:
    """With the archive gone (moved away), ``ls INDEX`` still lists it: only the index is read."""
    expected = json.loads(run("ls", "--json", index, cwd=tmp_path).stdout)
    moved = tmp_path / "moved"
    archive.rename(moved)
    try:
        p = run("ls", "--json", index, cwd=tmp_path)
    finally:
        moved.rename(archive)
    assert_ok(p)
    assert json.loads(p.stdout) == expected


def test_find_filters(archive: Path, index: Path) -> None:
    listed = json.loads(run("ls", "--json", archive, cwd=archive.parent).stdout)["series"]
    p = run("find", index, "--modality", "ct", "--thin", "--orientation", "axial", "--json", cwd=archive.parent)
    assert_ok(p)
    got = [v["key"] for v in json.loads(p.stdout)["volumes"]]
    want = [s["key"] for s in listed if s["modality"] == "CT" and s["thickness_class"] == "thin" and s["orientation"] == "axial"]
    assert got == want and got
    p = run("find", index, "--kernel-class", "lung", "--description", "^1\\.25", "--json", cwd=archive.parent)
    got = [v["key"] for v in json.loads(p.stdout)["volumes"]]
    assert got == [s["key"] for s in listed if s["kernel_class"] == "lung" and s["series_description"].startswith("1.25")]
    study = listed[0]["study_instance_uid"]
    p = run("find", index, "--study", study, cwd=archive.parent)
    assert_ok(p)
    n = sum(s["study_instance_uid"] == study for s in listed)
    assert p.stdout.strip().endswith(f"{n} volume(s)")
    assert_error(
        run("find", index, "--description", "(", cwd=archive.parent), "--description", "regular expression", command="find"
    )


def test_other_commands_take_an_index(archive: Path, index: Path) -> None:
    """``tags`` and ``diff`` on the index print what they print on the folder."""
    listed = json.loads(run("ls", "--json", archive, cwd=archive.parent).stdout)["series"]
    a, b = [s["key"] for s in listed if s["modality"] == "CT" and s["kind"] == "image"][:2]
    for argv in (["tags", "{}", "--series", a, "--varying", "--json"], ["diff", "{}", a, b, "--json"]):
        on_dir = run(*[str(archive) if x == "{}" else x for x in argv], cwd=archive.parent)
        on_index = run(*[str(index) if x == "{}" else x for x in argv], cwd=archive.parent)
        assert_ok(on_dir)
        assert_ok(on_index)
        assert json.loads(on_index.stdout) == json.loads(on_dir.stdout), argv


def test_errors_are_one_line_naming_the_path(archive: Path, index: Path, tmp_path: Path) -> None:
    assert_error(run("find", tmp_path / "missing", cwd=tmp_path), "missing", command="find")
    assert_error(run("find", archive, cwd=tmp_path), str(archive), "not an index", command="find")
    assert_error(run("index", tmp_path / "nothing", "--db", tmp_path / "db", cwd=tmp_path), "nothing", command="index")
    locked = tmp_path / "locked"
    shutil.copytree(index, locked)
    (locked / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": "now"}))
    line = assert_error(run("index", archive, "--db", locked, cwd=tmp_path), str(locked), "locked", command="index")
    assert str(os.getpid()) in line
    assert_error(run("index", archive, "--db", tmp_path / "d", "--workers", "-1", cwd=tmp_path), "--workers", command="index")


def test_rerun_with_nothing_changed_parses_nothing(archive: Path, index: Path) -> None:
    p = run("index", archive, "--db", index, "--json", cwd=archive.parent)
    assert_ok(p)
    r = json.loads(p.stdout)
    assert r["files_parsed"] == 0 and r["shards_written"] == 0 and r["workers"] == 0 and r["files_seen"] > 0


def _readme_block(after: str, lang: str = "bash") -> list[str]:
    """The command lines of the first ``lang`` code block after the line ``after`` of the README (comments dropped)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index(f"```{lang}\n", text.index(after)) + len(f"```{lang}\n")
    block = text[start : text.index("```", start)]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_archive_scale_commands_verbatim(synthetic_study: Path, tmp_path: Path) -> None:
    """The ``## Archive scale`` commands of the README, as written (``/nas/pacs`` = a copy of the synthetic study),
    then the README's ``export INDEX`` line: every one exits 0, prints what it promises, and the archive is unchanged."""
    import shlex

    lines = _readme_block("## Archive scale")
    assert lines[0].startswith("napari-dicomseries index /nas/pacs --db /nas/pacs-index")
    export = [line for line in _readme_block("## Export to NIfTI with a JSON sidecar") if " export INDEX " in line]
    assert len(export) == 1
    archive, db = tmp_path / "pacs", tmp_path / "pacs-index"
    shutil.copytree(synthetic_study, archive)
    before = tree_digest(archive)
    outputs = []
    for line in [*lines, export[0].replace(" INDEX ", " /nas/pacs-index ")]:
        argv = shlex.split(line.replace("/nas/pacs-index", str(db)).replace("/nas/pacs", str(archive)))
        assert argv[0] == "napari-dicomseries"
        p = run(*argv[1:], cwd=tmp_path)
        assert_ok(p)
        outputs.append(p.stdout)
    ls_dir = run("ls", archive, cwd=tmp_path)
    assert outputs[1] == ls_dir.stdout  # ls INDEX prints the table of ls ARCHIVE
    assert "LUNG" in outputs[2] and json.loads(outputs[3]) is not None
    assert any((tmp_path / "nifti").glob("3_*.nii.gz"))
    assert tree_digest(archive) == before


def test_ctrl_c_during_a_first_index_then_a_rerun(tmp_path: Path) -> None:
    """SIGINT to ``index`` (no cluster) while it writes shards: exit 130 with one line ``cancelled``; ``ls INDEX``
    says the index is not built yet (never "no DICOM images"); a rerun completes it and ``ls INDEX --json`` then
    equals ``ls ARCHIVE --json``; the archive is never written."""
    import signal
    import subprocess
    import sys
    import time

    from napari_dicomseries.synthetic_archive import write_archive

    archive = tmp_path / "archive"
    write_archive(archive, 6000, seed=3)
    before = tree_digest(archive)
    db = tmp_path / "index"
    cmd = [sys.executable, "-m", "napari_dicomseries.cli", "index", str(archive), "--db", str(db), "--workers", "0"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not list((db / "instances").glob("*.parquet")) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if p.poll() is not None:
        pytest.skip("the index finished before it could be interrupted")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and err.strip().splitlines()[-1] == "cancelled" and "Traceback" not in err, err
    ls = run("ls", db, cwd=tmp_path)
    assert_ok(ls)
    assert "interrupted" in ls.stderr and "no DICOM images" not in ls.stdout
    assert_ok(run("index", db.parent / "archive", "--db", db, "--workers", "0", "--quiet", cwd=tmp_path))
    after = run("ls", db, "--json", cwd=tmp_path)
    assert_ok(after)
    assert after.stderr == "" and json.loads(after.stdout) == json.loads(run("ls", archive, "--json", cwd=tmp_path).stdout)
    assert tree_digest(archive) == before

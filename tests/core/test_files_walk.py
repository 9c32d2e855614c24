"""The archive walk: :func:`files.iter_paths` and :func:`files.walk_folders` on a tree of awkward entries (links to
files and folders, broken links, a link to itself, links back to a folder already walked, a named pipe, hidden
names), and the index's walk built on :func:`files.walk_folders` (relative paths, sizes and mtimes as ``os.stat``
gives them, the same problems)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from napari_dicomseries import index as idx
from napari_dicomseries.files import iter_paths, walk_folders
from napari_dicomseries.index_run import walk_key

needs_symlinks = pytest.mark.skipif(sys.platform.startswith("win"), reason="symbolic links need privileges on Windows")

BROKEN = "broken symbolic link (its target does not exist)"
SELF = "symbolic link loop (the link points back to itself)"
SEEN = "folder already visited (symbolic link loop)"


def _tree(root: Path) -> list[tuple[str, str | None]]:
    """Make the tree; return what a walk of ``root`` must yield, by the rule: a folder's files (and links to
    files, broken links) sorted by name, then its sub-folders (and links to folders) sorted by name, each walked
    the same way; a folder reached again through a link is a problem, not walked twice."""
    for d in ("a/b/c", "z", ".hidden", "loop"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for f, text in (("top.dcm", "t"), ("a/f1", "one"), ("a/b/f2", "two two"), (".hidden/h", "h"), ("z/0", "")):
        (root / f).write_text(text)
    (root / "link_to_top").symlink_to("top.dcm")
    (root / "broken").symlink_to("nowhere")
    (root / "self").symlink_to("self")
    (root / "a/b/c/up").symlink_to("../..")  # back to a: already walked
    (root / "a/b/c/f2link").symlink_to("../f2")  # a link to a file one folder up
    (root / "z/alink").symlink_to("../a")  # a folder walked before
    (root / "loop/here").symlink_to(".")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "a/pipe")
    r = str(root)
    j = os.path.join
    expected: list[tuple[str, str | None]] = [
        (j(r, "broken"), BROKEN),
        (j(r, "link_to_top"), None),
        (j(r, "self"), SELF),
        (j(r, "top.dcm"), None),
        (j(r, ".hidden", "h"), None),
        (j(r, "a", "f1"), None),
        *([(j(r, "a", "pipe"), None)] if hasattr(os, "mkfifo") else []),  # listed; never opened (not_regular)
        (j(r, "a", "b", "f2"), None),
        (j(r, "a", "b", "c", "f2link"), None),
        (j(r, "a", "b", "c", "up"), SEEN),
        (j(r, "loop", "here"), SEEN),
        (j(r, "z", "0"), None),
        (j(r, "z", "alink"), SEEN),
    ]
    return sorted(expected, key=lambda pair: walk_key(os.path.relpath(pair[0], r)))


@needs_symlinks
def test_iter_paths_yields_files_then_folders_with_the_problems(tmp_path: Path) -> None:
    expected = _tree(tmp_path)
    # the rule of walk_key (files of a folder before its sub-folders, each by name) is the order; check it is a real one
    assert [p for p, _ in expected][:4] == [str(tmp_path / n) for n in ("broken", "link_to_top", "self", "top.dcm")]
    assert list(iter_paths(tmp_path)) == expected
    assert list(iter_paths([str(tmp_path)])) == expected
    # not recursive: the root's own files only
    assert list(iter_paths(tmp_path, recursive=False)) == [(p, why) for p, why in expected if os.path.dirname(p) == str(tmp_path)]


@needs_symlinks
def test_walk_folders_gives_the_same_walk_by_folder(tmp_path: Path) -> None:
    expected = _tree(tmp_path)
    flat: list[tuple[str, str | None]] = []
    folders = []
    for folder, items in walk_folders(str(tmp_path)):
        folders.append(folder)
        for entry, problem in items:
            if entry is None:  # a folder not walked: its one item
                assert len(items) == 1 and problem
                flat.append((folder, problem))
            else:
                assert entry.path == os.path.join(folder, entry.name)
                flat.append((entry.path, problem))
    assert flat == expected
    assert folders[0] == str(tmp_path) and len(folders) == len(set(folders))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_folder_is_a_problem_and_the_walk_goes_on(tmp_path: Path) -> None:
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed" / "f").write_text("x")
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "g").write_text("y")
    (tmp_path / "closed").chmod(0)
    try:
        got = list(iter_paths(tmp_path))
    finally:
        (tmp_path / "closed").chmod(0o755)
    assert got[0][0] == str(tmp_path / "closed") and got[0][1] is not None and got[0][1].startswith("cannot list folder")
    assert got[1:] == [(str(tmp_path / "open" / "g"), None)]


@needs_symlinks
def test_index_walk_has_relative_paths_sizes_mtimes_and_the_problems(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    expected = _tree(archive)
    problems: list[dict[str, str]] = []
    groups = list(idx._walk(str(archive), [], problems))
    entries = [e for g in groups for e in g.entries]
    files = [p for p, why in expected if why is None]
    # no old shard (a first index): nothing to compare, so no stat (the task that parses a file stats it)
    assert entries == [(os.path.relpath(p, archive), None, None) for p in files]
    assert problems == [{"path": p, "reason": why} for p, why in expected if why is not None]
    assert all(g.old is None for g in groups)
    # files in an old shard's range: stat'ed, for its fingerprint
    want = []
    for p in files:
        st = os.stat(p)  # follows a link to a file
        want.append((os.path.relpath(p, archive), st.st_size, st.st_mtime_ns))
    old = {"file": "instances/x.parquet", "first": want[0][0], "last": want[-1][0]}
    groups = list(idx._walk(str(archive), [old], []))
    assert [e for g in groups for e in g.entries] == want and all(g.old is old for g in groups)


def test_index_walk_cuts_groups_at_folders_and_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """New groups: cut at a folder change once they hold SHARD_MIN files, anywhere at SHARD_MAX."""
    monkeypatch.setattr(idx, "SHARD_MIN", 3)
    monkeypatch.setattr(idx, "SHARD_MAX", 5)
    for folder, n in (("a", 2), ("b", 4), ("c", 7), ("c/d", 1)):
        (tmp_path / folder).mkdir(parents=True)
        for k in range(n):
            (tmp_path / folder / f"{k}.dcm").write_bytes(b"x" * k)
    groups = [[rel for rel, _, _ in g.entries] for g in idx._walk(str(tmp_path), [], [])]
    a, b, c, cd = (["a/0.dcm", "a/1.dcm"], [f"b/{k}.dcm" for k in range(4)], [f"c/{k}.dcm" for k in range(7)], ["c/d/0.dcm"])
    sep = os.sep
    # a+b reach SHARD_MAX in b; then 5 again in c; c/d is another folder once the group holds SHARD_MIN
    want = [a + b[:3], b[3:] + c[:4], c[4:], cd]
    assert groups == [[p.replace("/", sep) for p in g] for g in want]

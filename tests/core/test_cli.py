"""The command line as a user types it: every error is one line on stderr with exit code 2, never a traceback.

Each test runs ``python -m napari_dicomseries.cli ...`` in a subprocess (what the console script
``napari-dicomseries`` calls) and checks the exit code, stdout and stderr, and that inputs are left unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

import pydicom
import pytest

from napari_dicomseries import cli
from napari_dicomseries.synthetic import STUDY_SERIES

from ..data import tree_digest

PROG = "napari-dicomseries"
README = Path(__file__).resolve().parents[2] / "README.md"
COMMANDS = ("ls", "inspect", "tags", "diff", "compare", "seg", "export", "demo")


def run(*args: object, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, exactly as typed (each argument a separate word)."""
    environ = {k: v for k, v in os.environ.items() if k != cli.DEBUG_ENV}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "napari_dicomseries.cli", *map(os.fspath, args)],
        capture_output=True, text=True, cwd=cwd, env=environ, timeout=timeout,
    )  # fmt: skip


def assert_error(p: subprocess.CompletedProcess[str], *words: str, command: str | None = None) -> str:
    """Exit code 2, exactly one line on stderr ("napari-dicomseries CMD: error: ...") holding ``words``; no traceback."""
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 2, (p.returncode, p.stdout[-2000:], p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    line = lines[0]
    assert line.startswith(f"{PROG} {command}: error: " if command else PROG), line
    for w in words:
        assert w in line, (w, line)
    return line


def assert_ok(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr)


@pytest.fixture
def study(synthetic_study: Path) -> Path:
    """The session's small synthetic study (85 files, scale 0.125; series 1 scout, 2-5 axial); read-only."""
    return synthetic_study


@pytest.fixture(scope="module")
def one_dicom_file(synthetic_study: Path) -> Path:
    """One slice of series 2 of the synthetic study, found by reading the headers."""
    for p in sorted(synthetic_study.iterdir()):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        if ds.SeriesNumber == 2:
            return p
    raise AssertionError("series 2 not found")


# ----------------------------------------------------------------------------- the known failures


def test_compare_hu_range_low_above_high_is_a_usage_error(study: Path, tmp_path: Path) -> None:
    p = run("compare", study, "2", "3", "--hu-range", "100", "50", cwd=tmp_path)
    assert_error(p, "--hu-range", "100", "50", "lower bound first", command="compare")
    assert p.stdout == ""
    p = run("compare", study, "2", "3", "--hu-range", "nan", "50", cwd=tmp_path)
    assert_error(p, "--hu-range", "nan", command="compare")
    # LO == HI is a (thin) range, not an error
    p = run("compare", study, "2", "3", "--hu-range", "0", "0", "--json", cwd=tmp_path)
    assert_ok(p)
    assert json.loads(p.stdout)["hu_range"] == [0, 0]


def test_demo_into_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    p = run("demo", target, "--scale", "0.1", cwd=tmp_path)
    assert_error(p, str(target), "not a folder", command="demo")
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf", "1e9", "100", "0.001", "abc"])
def test_demo_bad_scale_is_a_usage_error_and_writes_nothing(tmp_path: Path, scale: str) -> None:
    out = tmp_path / "demo"
    p = run("demo", out, "--scale", scale, cwd=tmp_path)
    assert_error(p, "--scale", repr(scale), command="demo")
    assert not out.exists()


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "x.txt").write_text("x")
    p = run("demo", out, "--scale", "0.1", cwd=tmp_path)
    assert_error(p, str(out), "not empty", command="demo")
    assert os.listdir(out) == ["x.txt"]


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "{missing}"],
        ["ls", "{study}", "{missing}"],
        ["inspect", "{missing}"],
        ["tags", "{missing}", "--series", "1"],
        ["diff", "{missing}", "1", "2"],
        ["compare", "{missing}", "1", "2"],
        ["export", "{missing}", "{out}"],
        ["ls", "--json", "{missing}"],
    ],
    ids=lambda a: " ".join(a),
)
def test_missing_path_is_named(study: Path, tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    out = tmp_path / "out"
    argv = [a.format(missing=missing, study=study, out=out) for a in args]
    p = run(*argv, cwd=tmp_path)
    line = assert_error(p, str(missing), "no such file or folder", command=args[0])
    assert "no series" not in line
    assert p.stdout == ""
    assert not out.exists()


def test_broken_symbolic_link_is_named(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    for args in (["ls", link], ["tags", link, "-s", "1"], ["inspect", link]):
        assert_error(run(*args, cwd=tmp_path), str(link), "broken symbolic link", command=args[0])


def test_inspect_a_folder_suggests_ls(study: Path, tmp_path: Path) -> None:
    p = run("inspect", study, cwd=tmp_path)
    line = assert_error(p, str(study), "is a folder", f"{PROG} ls", command="inspect")
    assert "special file" not in line


def test_frame_of_reference_error_names_the_cli_option(study: Path, tmp_path: Path) -> None:
    """Series 3 copied with another FrameOfReferenceUID: refused naming --allow-different-frame, then compared with it."""
    src = tmp_path / "two_frames"
    src.mkdir()
    n = 0
    for path in sorted(study.iterdir()):
        ds = pydicom.dcmread(path)
        if ds.SeriesNumber in (2, 3):
            if ds.SeriesNumber == 3:
                ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.999"
            ds.save_as(src / path.name)
            n += 1
    assert n == 2 * (round(320 / (STUDY_SERIES[0].thickness / 0.125)) + 1)
    before = tree_digest(src)
    p = run("compare", src, "2", "3", cwd=tmp_path)
    line = assert_error(p, "--allow-different-frame", "FrameOfReferenceUID", command="compare")
    assert "allow_different_frame" not in line
    p = run("compare", src, "2", "3", "--allow-different-frame", "--json", cwd=tmp_path)
    assert_ok(p)
    got = json.loads(p.stdout)
    assert any("compared anyway" in m for m in got["messages"])
    assert tree_digest(src) == before


def test_demo_json_is_ls_json_of_the_study_plus_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    p = run("demo", out, "--scale", "0.1", "--json", cwd=tmp_path)
    assert_ok(p)
    got = json.loads(p.stdout)  # stdout holds nothing but the JSON object
    assert Path(got["out"]) == out
    assert got["files_written"] == len(os.listdir(out))
    listed = run("ls", "--json", out, cwd=tmp_path)
    assert_ok(listed)
    ls = json.loads(listed.stdout)
    assert got["series"] == ls["series"] and got["skipped"] == ls["skipped"] == []
    assert [s["series_description"] for s in got["series"]] == ["Scout"] + [s.description for s in STUDY_SERIES]


def test_every_command_offers_json_and_help(tmp_path: Path) -> None:
    """The README promises --json and --help on every command."""
    for command in COMMANDS:
        p = run(command, "--help", cwd=tmp_path)
        assert_ok(p)
        assert "--json" in p.stdout and p.stdout.startswith(f"usage: {PROG} {command}"), command


@pytest.mark.parametrize("argv", [["--help"], ["-h", "ls"], ["--help", "frobnicate"]], ids=" ".join)
def test_top_level_help_lists_every_command(argv: list[str], tmp_path: Path) -> None:
    """The CLI imports only the command typed, yet a help asked before any command lists them all."""
    p = run(*argv, cwd=tmp_path)
    assert_ok(p)
    assert p.stdout.startswith(f"usage: {PROG} [-h] [--version] COMMAND")
    listed = [line.split()[0] for line in p.stdout.splitlines() if line.startswith("    ") and line.split()[0] in COMMANDS]
    assert listed == list(COMMANDS), p.stdout


@pytest.mark.parametrize("argv", [["--version"], ["--version", "ls"]], ids=" ".join)
def test_version(argv: list[str], tmp_path: Path) -> None:
    from napari_dicomseries import __version__

    p = run(*argv, cwd=tmp_path)
    assert_ok(p)
    assert p.stdout.strip() == f"{PROG} {__version__}"


def test_unknown_command_names_every_command(tmp_path: Path) -> None:
    line = assert_error(run("frobnicate", "x", cwd=tmp_path), "frobnicate")
    assert all(repr(c) in line for c in COMMANDS), line


# ----------------------------------------------------------------------------- awkward inputs


def test_empty_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    p = run("ls", empty, cwd=tmp_path)
    assert_ok(p)  # listing nothing is an answer
    assert f"no DICOM images found in {empty}" in p.stdout
    assert json.loads(run("ls", "--json", empty, cwd=tmp_path).stdout)["series"] == []
    for args in (["tags", empty, "-s", "1"], ["diff", empty, "1", "2"], ["compare", empty, "1", "2"]):
        line = assert_error(run(*args, cwd=tmp_path), str(empty), "no files", command=args[0])
        assert "no series" not in line
    assert_error(run("export", empty, tmp_path / "out", cwd=tmp_path), str(empty), "no DICOM", command="export")
    assert not (tmp_path / "out").exists()


def test_folder_of_files_that_are_not_dicom(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    (junk / "empty.dcm").write_bytes(b"")
    p = run("ls", junk, cwd=tmp_path)
    assert_ok(p)
    assert "2 file(s) skipped" in p.stdout and "notes.txt: not a DICOM file" in p.stdout
    for args in (["tags", junk, "-s", "1"], ["diff", junk, "1", "2"], ["compare", junk, "1", "2"]):
        assert_error(run(*args, cwd=tmp_path), str(junk), "no DICOM images", "2 file(s) skipped", command=args[0])
    assert_error(run("inspect", junk / "notes.txt", cwd=tmp_path), "notes.txt", "not a DICOM file", command="inspect")


def test_a_dicom_file_where_a_folder_is_expected(one_dicom_file: Path, tmp_path: Path) -> None:
    """The scan takes a file: every command works on one slice."""
    f = one_dicom_file
    p = run("ls", "--json", f, cwd=tmp_path)
    assert_ok(p)
    (series,) = json.loads(p.stdout)["series"]
    assert series["series_number"] == 2 and series["n_slices"] == 1
    assert_ok(run("tags", f, "--series", "2", cwd=tmp_path))
    assert_ok(run("diff", f, "2", "2", cwd=tmp_path))
    assert_ok(run("compare", f, "2", "2", cwd=tmp_path))
    p = run("export", f, tmp_path / "out", cwd=tmp_path)
    assert_ok(p)
    assert len(list((tmp_path / "out").glob("*.nii.gz"))) == 1


@pytest.mark.slow
def test_unreadable_file(one_dicom_file: Path, tmp_path: Path) -> None:
    """chmod 000 (still readable for root, then it simply works) and a socket file (open() fails for everyone)."""
    (tmp_path / "in").mkdir()
    locked = tmp_path / "in" / "locked.dcm"
    shutil.copyfile(one_dicom_file, locked)
    locked.chmod(0)
    readable = os.access(locked, os.R_OK)
    try:
        for args in (["ls", locked], ["inspect", locked], ["tags", locked, "-s", "2"], ["export", locked, tmp_path / "o"]):
            p = run(*args, cwd=tmp_path)
            if readable:
                assert_ok(p)
            elif args[0] == "ls":
                assert_ok(p)
                assert "permission denied" in p.stdout.lower()
            else:
                assert_error(p, str(locked), command=args[0])
    finally:
        locked.chmod(0o644)
    sock_path = tmp_path / "s.dcm"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.fspath(sock_path))
        assert stat.S_ISSOCK(sock_path.stat().st_mode)
        assert_error(run("inspect", sock_path, cwd=tmp_path), str(sock_path), "socket", command="inspect")
        assert_error(run("tags", sock_path, "-s", "1", cwd=tmp_path), str(sock_path), "socket", command="tags")
        p = run("ls", sock_path, cwd=tmp_path)
        assert_ok(p)
        assert "socket" in p.stdout


def test_unreadable_file_denied_even_for_root(
    one_dicom_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process, with the file open refused as the OS refuses it to an ordinary user (root reads through chmod 000)."""
    from napari_dicomseries import scan

    locked = tmp_path / "locked.dcm"
    shutil.copyfile(one_dicom_file, locked)
    real_open = scan._open

    def deny(path: str) -> BinaryIO:
        if os.path.samefile(path, locked):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path)

    monkeypatch.setattr(scan, "_open", deny)
    assert cli.main(["ls", str(locked)]) == 0
    assert f"{locked}: permission denied" in capsys.readouterr().out
    assert cli.main(["inspect", str(locked)]) == 2
    assert capsys.readouterr().err.strip() == f"{PROG} inspect: error: {locked}: permission denied"
    assert cli.main(["tags", str(locked), "-s", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(locked) in err[0] and "permission denied" in err[0]


def test_export_into_a_place_that_cannot_be_written(study: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = run("export", study, blocker, "--series", "2", cwd=tmp_path)
    assert_error(p, str(blocker), "not a folder", command="export")
    p = run("export", study, blocker / "out", "--series", "2", cwd=tmp_path)
    assert_error(p, str(blocker / "out"), "cannot write", command="export")
    assert blocker.read_text() == "x"
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            assert_error(run("export", study, ro / "out", "--series", "2", cwd=tmp_path), "cannot write", command="export")
            assert_error(run("demo", ro / "d", "--scale", "0.1", cwd=tmp_path), "cannot write", command="demo")
        finally:
            ro.chmod(0o755)
    p = run("demo", blocker / "d", "--scale", "0.1", cwd=tmp_path)
    assert_error(p, str(blocker / "d"), "cannot write", command="demo")


def test_export_refuses_existing_files_naming_force(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_ok(run("export", study, out, "--series", "2", cwd=tmp_path))
    written = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    line = assert_error(run("export", study, out, "--series", "2", cwd=tmp_path), "exists already", "--force", command="export")
    assert "cannot write" not in line
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == written


def test_closed_stdout_is_quiet(study: Path, tmp_path: Path) -> None:
    """``ls --json DIR | head -c 0``: the reader is gone before anything is written."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "napari_dicomseries.cli", "ls", "--json", os.fspath(study)],
                           stdout=w, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    finally:
        os.close(w)
    assert p.returncode == 0 and p.stderr == "", p.stderr


# ----------------------------------------------------------------------------- the safety net (in-process)


def test_unexpected_error_is_one_line_exit_3_unless_debug(
    study: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from napari_dicomseries.commands import ls

    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("simulated bug\nsecond line")

    monkeypatch.setattr(ls, "format_volumes", boom)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(["ls", str(study)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "internal error: ZeroDivisionError: simulated bug second line" in err[0] and "please report" in err[0]
    )
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["ls", str(study)])


def test_os_error_escaping_a_command_names_the_file(
    study: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from napari_dicomseries.commands import ls

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", "/some/file")

    monkeypatch.setattr(ls, "format_volumes", full)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(["ls", str(study)]) == 2
    assert capsys.readouterr().err.strip() == "napari-dicomseries ls: error: /some/file: No space left on device"


# ----------------------------------------------------------------------------- fuzz-ish: commands x bad inputs


def _bad_inputs(root: Path, dicom_file: Path) -> dict[str, Path]:
    """Awkward paths, built once: missing, empty folder, text file, folder of junk, a DICOM file, a link to nowhere, a FIFO."""
    paths = {"missing": root / "missing", "empty_dir": root / "empty", "text_file": root / "notes.txt", "junk_dir": root / "junk",
             "dicom_file": root / "one.dcm", "broken_link": root / "link"}  # fmt: skip
    if not paths["empty_dir"].exists():
        paths["empty_dir"].mkdir()
        paths["text_file"].write_text("not DICOM\n")
        paths["junk_dir"].mkdir()
        (paths["junk_dir"] / "a.dcm").write_bytes(b"DICM" * 10)
        (paths["junk_dir"] / "b.dcm").write_bytes(b"")
        shutil.copyfile(dicom_file, paths["dicom_file"])
        paths["broken_link"].symlink_to(root / "nowhere")
    if hasattr(os, "mkfifo"):
        paths["fifo"] = root / "fifo.dcm"
        if not paths["fifo"].exists():
            os.mkfifo(paths["fifo"])
    return paths


TEMPLATES = {
    "ls": ["ls", "{p}"],
    "inspect": ["inspect", "{p}"],
    "tags": ["tags", "{p}", "--series", "2"],
    "diff": ["diff", "{p}", "2", "2"],
    "compare": ["compare", "{p}", "2", "2"],
    "export": ["export", "{p}", "{out}"],
    "demo": ["demo", "{p}", "--scale", "0.05"],
    "seg": ["seg", "{p}"],
}
#: a DICOM file where a folder is expected and a broken link have their own tests above
INPUTS = ("missing", "empty_dir", "text_file", "junk_dir", "fifo")


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_fuzz_paths(
    command: str, kind: str, one_dicom_file: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    root = tmp_path_factory.getbasetemp() / "cli_bad_inputs"
    root.mkdir(exist_ok=True)
    paths = _bad_inputs(root, one_dicom_file)
    if kind not in paths:
        pytest.skip("no FIFOs on this system")
    target = paths[kind]
    if command == "demo" and kind in ("missing", "empty_dir"):
        target = tmp_path / kind  # demo writes there: a fresh one per test
        if kind == "empty_dir":
            target.mkdir()
    before = tree_digest(root)
    argv = [a.format(p=target, out=tmp_path / "out") for a in TEMPLATES[command]]
    p = run(*argv, cwd=tmp_path, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode in (0, 2), (p.returncode, p.stderr)
    if p.returncode == 2:
        assert_error(p, str(target), command=command)  # one line naming the path
    assert tree_digest(root) == before  # inputs are only read


@pytest.mark.parametrize(
    "args",
    [
        ["tags", "{s}", "--series", "abc"],
        ["tags", "{s}", "--series", "-1"],
        ["tags", "{s}", "--series", ""],
        ["tags", "{s}", "--series", "1e999"],
        ["tags", "{s}", "--series", "2", "--tolerance", "nan"],
        ["tags", "{s}", "--series", "2", "--tag", "NoSuchTag"],
        ["diff", "{s}", "2", "99"],
        ["diff", "{s}", "2", "3", "--tolerance", "-0.5"],
        ["diff", "{s}", "2", "3", "--tolerance", "inf"],
        ["compare", "{s}", "2", "3", "--tolerance", "nan"],
        ["compare", "{s}", "2", "3", "--hu-range", "1"],
        ["compare", "{s}", "2", "3", "--hu-range", "a", "b"],
        ["compare", "{s}", "2", "3", "--hu-range", "inf", "inf"],
        ["compare", "{s}", "2", "3", "--preset", "liver"],
        ["compare", "{s}", "2", "3", "--interpolation", "cubic"],
        ["compare", "{s}", "1", "2"],
        ["export", "{s}", "{out}", "--series", "99"],
        ["export", "{s}", "{out}", "--template", "{{nope}}"],
        ["export", "{s}", "{out}", "--template", ""],
        ["export", "{s}", "{s}"],
        ["demo", "{out}", "--scale", "-0"],
        ["demo", "{out}", "--scale", ""],
        ["ls"],
        ["frobnicate", "{s}"],
        [],
    ],
    ids=lambda a: " ".join(a) or "(nothing)",
)
def test_fuzz_arguments(study: Path, tmp_path: Path, args: list[str]) -> None:
    before = tree_digest(study)
    argv = [a.format(s=study, out=tmp_path / "out") for a in args]
    p = run(*argv, cwd=tmp_path, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode in (0, 2), (p.returncode, p.stderr)
    if p.returncode == 2:
        assert_error(p)
    assert tree_digest(study) == before


# ----------------------------------------------------------------------------- the README's examples, verbatim


def test_readme_ls_example_verbatim(shared_data: Path) -> None:
    """The ``$ napari-dicomseries ls ../shared/data/ct_ge_lightspeed_lung`` block of the README, run from the project root."""
    text = README.read_text()
    head = "$ napari-dicomseries ls ../shared/data/ct_ge_lightspeed_lung\n"
    start = text.index(head) + len(head)
    expected = text[start : text.index("```", start)].strip("\n").splitlines()
    root = README.parent
    folder = Path("../shared/data/ct_ge_lightspeed_lung")  # as typed in the README (ls writes nothing)
    if (root / folder).resolve() != (shared_data / "ct_ge_lightspeed_lung").resolve():
        folder = shared_data / "ct_ge_lightspeed_lung"
    p = run("ls", folder, cwd=root)
    assert_ok(p)
    assert p.stdout.strip("\n").splitlines() == expected


README_EXAMPLES = [
    "ls {d}",
    "ls {d} --json",
    "inspect {f} --private --json",
    "tags {d} --series 4 --varying",
    "tags {d} --series 4 --varying --tag SliceLocation --search slice --private --json",
    "diff {d} 2 3 --all",
    "diff {d} 2 3 --identifiers --search kernel --private --tolerance 0.01 --json",
    "compare {d} 2 5",
    "compare {d} 2 3 --hu-range -100 200",
    "compare {d} 2 5 --preset soft_tissue --interpolation nearest --allow-different-frame --json",
    "export {d} {out}",
    "export {d} {out} --series 3 5 --skip-localizers --no-gzip --force",
    "export {d} {out} --template {{series}}_{{kernel_class}}_{{thickness_class}}",
]


@pytest.mark.parametrize("line", README_EXAMPLES)
def test_readme_cli_examples_run(line: str, study: Path, one_dicom_file: Path, tmp_path: Path) -> None:
    """The command lines of the README's CLI sections (DIR = the synthetic study, OUT = a new folder)."""
    argv = [
        a.replace("soft_tissue", "soft tissue") for a in line.format(d=study, f=one_dicom_file, out=tmp_path / "nifti").split()
    ]
    before = tree_digest(study)
    p = run(*argv, cwd=tmp_path)
    assert_ok(p)
    if "--json" in argv:
        json.loads(p.stdout)
    if argv[0] == "export":
        assert any((tmp_path / "nifti").iterdir())
    assert tree_digest(study) == before

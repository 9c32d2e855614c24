"""Progress and Cancel of the long core jobs: image and tag comparison, loading, export.

Every job reports ``progress(done, total)`` that never goes back and reaches its total, names its stages, and, when
``cancel()`` answers True in any stage, raises :class:`Cancelled` and leaves nothing behind (no result, no file).
"""

from __future__ import annotations

import math
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from napari_dicomseries import open_folder
from napari_dicomseries.compare import diff_volumes, volume_tags
from napari_dicomseries.errors import Cancelled
from napari_dicomseries.export import export_folder, export_volume
from napari_dicomseries.geometry import Geometry
from napari_dicomseries.jobs import SCALE, Stages
from napari_dicomseries.load import load_volume
from napari_dicomseries.masks import overlap
from napari_dicomseries.metrics import compare_volumes, resample_to
from napari_dicomseries.selection import select_volume


class Recorder:
    """A progress callable with a ``stage`` method, as the terminal bar and the docks are."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.labels: list[str] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def stage(self, label: str) -> None:
        self.labels.append(label)

    @property
    def label(self) -> str:
        return self.labels[-1] if self.labels else ""

    def check_complete(self) -> None:
        assert self.calls, "no progress reported"
        done = [d for d, _ in self.calls]
        assert done == sorted(done), "progress went back"
        assert self.calls[-1][0] == self.calls[-1][1], f"progress ended at {self.calls[-1]}"


@pytest.fixture(scope="module")
def study(synthetic_study: Path):
    volumes, _ = open_folder(synthetic_study)
    return volumes


def _pick(volumes, key: str):
    return select_volume(volumes, key)


# ----------------------------------------------------------------------------- image comparison


def test_image_comparison_progress_is_monotonic_complete_and_names_each_stage(study) -> None:
    thin, thick = _pick(study, "4"), _pick(study, "2")  # 1.25 mm onto 5 mm: B is resampled
    rec = Recorder()
    res = compare_volumes(thick, thin, hu_range=(-100, 200), progress=rec, cancel=lambda: False)
    rec.check_complete()
    assert rec.calls[-1] == (SCALE, SCALE) and res.resampled and res.overlap is not None
    stages = [lab.split(" ")[0] for lab in rec.labels]
    for name in ("loading", "resampling", "difference", "statistics", "histogram", "overlap", "Hausdorff"):
        assert name in stages, (name, sorted(set(stages)))
    # stages come in the order the work is done
    firsts = [stages.index(n) for n in ("loading", "resampling", "difference", "statistics", "histogram", "Hausdorff")]
    assert firsts == sorted(firsts)
    # loading reports slice by slice: "loading A k/n" for every slice of A
    loading_a = [lab for lab in rec.labels if lab.startswith("loading A ")]
    assert loading_a[-1] == f"loading A {thick.n_slices}/{thick.n_slices}"
    # the same numbers as without progress and cancel
    plain = compare_volumes(thick, thin, hu_range=(-100, 200))
    assert plain.stats == res.stats and plain.overlap == res.overlap


@pytest.mark.parametrize(
    "stage", ["loading A", "loading B", "resampling", "difference", "statistics", "histogram", "overlap", "Hausdorff"]
)
def test_image_comparison_cancel_in_each_stage_raises(study, stage: str) -> None:
    thin, thick = _pick(study, "4"), _pick(study, "2")
    rec = Recorder()
    with pytest.raises(Cancelled, match="cancelled"):
        compare_volumes(thick, thin, hu_range=(-100, 200), progress=rec, cancel=lambda: rec.label.startswith(stage))
    assert rec.label.startswith(stage)  # stopped in that stage, not later
    assert rec.calls[-1][0] < SCALE


def test_hausdorff_equals_simpleitk_filter() -> None:
    """masks.overlap computes ITK's Hausdorff distances from two distance maps (so they can report and be cancelled)."""
    rng = np.random.default_rng(3)
    a = np.zeros((24, 40, 36), bool)
    a[4:18, 8:30, 5:25] = True
    b = np.zeros_like(a)
    b[6:22, 10:38, 9:33] = True
    b |= rng.random(a.shape) > 0.999  # a few far outliers
    grid = Geometry.from_parts(a.shape, (2.5, 0.9, 0.7), (10.0, -5.0, 3.0))  # (slice, row, column) spacing
    ours = overlap(a, b, grid, progress=Recorder(), cancel=lambda: False)
    ia, ib = (sitk.GetImageFromArray(m.astype(np.uint8)) for m in (a, b))
    for im in (ia, ib):
        im.SetSpacing((0.7, 0.9, 2.5))
    hd = sitk.HausdorffDistanceImageFilter()
    hd.Execute(ia, ib)
    assert ours.hausdorff_mm == pytest.approx(hd.GetHausdorffDistance(), rel=1e-6)
    assert ours.mean_hausdorff_mm == pytest.approx(hd.GetAverageHausdorffDistance(), rel=1e-6)
    with pytest.raises(Cancelled):
        overlap(a, b, grid, cancel=lambda: True)


def test_resampling_reports_and_cancels_inside_simpleitk(study) -> None:
    thin, thick = _pick(study, "4"), _pick(study, "2")
    arr = load_volume(thin)
    rec = Recorder()
    out, covered = resample_to(arr, thin.geometry, thick.geometry, progress=rec, cancel=lambda: False)
    rec.check_complete()
    assert out.shape == thick.shape and covered.any()
    with pytest.raises(Cancelled):
        resample_to(arr, thin.geometry, thick.geometry, cancel=lambda: True)


# ----------------------------------------------------------------------------- tags, loading


def test_tag_comparison_progress_and_cancel(study) -> None:
    a, b = _pick(study, "2"), _pick(study, "4")
    rec = Recorder()
    d = diff_volumes(a, b, progress=rec, cancel=lambda: False)
    rec.check_complete()
    assert any(lab == f"tags of B {len(b.frames)}/{len(b.frames)}" for lab in rec.labels)
    assert "ConvolutionKernel" not in d.keywords() and "(volume) slices" in d.keywords()
    rec2 = Recorder()
    with pytest.raises(Cancelled):
        diff_volumes(a, b, progress=rec2, cancel=lambda: rec2.label.startswith("tags of B 3/"))
    frames = []
    vt = volume_tags(a, progress=lambda d_, t: frames.append((d_, t)))
    assert frames[-1] == (vt.n_frames, vt.n_frames) and len(frames) == vt.n_frames


@pytest.mark.parametrize("workers", [1, 2])
def test_load_cancel_stops_between_frames(study, workers: int) -> None:
    v = _pick(study, "4")
    seen: list[int] = []
    with pytest.raises(Cancelled, match=f"after .* of {len(v.frames)} frames"):
        load_volume(v, workers=workers, progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) >= 5)
    assert 5 <= len(seen) < len(v.frames)


# ----------------------------------------------------------------------------- export


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_export_volume_cancelled_writes_nothing(study, tmp_path: Path) -> None:
    v = _pick(study, "4")
    seen: list[int] = []
    with pytest.raises(Cancelled):
        export_volume(v, tmp_path / "thin", progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) >= 3)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("when", ["scanning", "first volume", "last volume"])
def test_export_folder_cancelled_leaves_no_file(synthetic_study: Path, tmp_path: Path, when: str) -> None:
    """All or nothing: files of volumes finished before Cancel go too, and no temporary file is left."""
    out = tmp_path / "out"
    calls: list[tuple[str, int, int]] = []

    def cancel() -> bool:
        if not calls:
            return False
        stage, done, total = calls[-1]
        if when == "scanning":
            return stage == "scanning" and done >= 10
        if when == "first volume":
            return stage == "exporting" and done >= 5
        return stage == "exporting" and done >= 0.9 * total

    with pytest.raises(Cancelled, match="cancelled"):
        export_folder(synthetic_study, out, progress=lambda *a: calls.append(a), cancel=cancel, workers=1)
    assert _files(out) == [] and not out.exists()
    if when == "last volume":  # volumes were written before the cancel, and removed
        assert any(s == "exporting" and d > t / 2 for s, d, t in calls)
    # the same export without cancel writes every volume
    results = export_folder(synthetic_study, out, workers=2, cancel=lambda: False)
    assert all(r.ok for r in results if not r.skipped) and len(_files(out)) == 2 * sum(r.ok for r in results)


def test_export_folder_cancel_with_two_workers(synthetic_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    calls: list[tuple[str, int, int]] = []
    with pytest.raises(Cancelled):
        export_folder(
            synthetic_study, out, progress=lambda *a: calls.append(a), workers=2,
            cancel=lambda: bool(calls) and calls[-1][0] == "exporting" and calls[-1][1] >= calls[-1][2] // 2,
        )  # fmt: skip
    assert _files(out) == ["keep.txt"]  # a folder that existed stays, with what it held


# ----------------------------------------------------------------------------- the stage arithmetic


def test_stages_weight_the_overall_fraction() -> None:
    rec = Recorder()
    job = Stages([("cheap", 1.0), ("dear", 3.0)], progress=rec)
    step = job.reporter("cheap")
    step(1, 1)
    assert rec.calls[-1] == (SCALE // 4, SCALE) and rec.label == "cheap"
    step = job.reporter("dear", "dear work")
    step(1, 2)
    assert rec.calls[-1] == (SCALE // 4 + math.floor(SCALE * 3 / 8), SCALE) and rec.label == "dear work 1/2"
    job.finish()
    rec.check_complete()
    flag = {"stop": False}
    job = Stages([("x", 1.0)], cancel=lambda: flag["stop"], what="test job")
    job.start("x", "working")
    flag["stop"] = True
    with pytest.raises(Cancelled, match="test job cancelled while working"):
        job.step(1, 2)


# ----------------------------------------------------------------------------- the command line


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "napari_dicomseries.cli", *args]


def _run_in_pty(cmd: list[str], *, interrupt_on: str | None = None, timeout: float = 120.0) -> tuple[int, str, str, float]:
    """Run ``cmd`` with stderr on a pseudo-terminal (stdout a pipe); SIGINT once stderr shows ``interrupt_on``.

    Returns (exit code, stderr text, stdout text, seconds from SIGINT to exit).
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, close_fds=True)
    os.close(slave)
    buf = b""
    sent = None
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        ready, _, _ = select.select([master], [], [], 0.02)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            buf += chunk
        if interrupt_on and sent is None and interrupt_on.encode() in buf:
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
        if proc.poll() is not None and not ready:
            break
    rc = proc.wait(timeout=timeout)
    took = time.monotonic() - sent if sent is not None else math.nan
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    return rc, buf.decode(errors="replace"), out, took


@pytest.fixture(scope="module")
def big_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study large enough that comparing and exporting take over a second (scale 0.5: 256 x 256, 129 thin slices)."""
    from napari_dicomseries.synthetic import write_study

    out = tmp_path_factory.mktemp("big_study")
    write_study(out, scale=0.5)
    return out


def test_cli_no_bar_when_stderr_is_not_a_terminal(big_study: Path) -> None:
    r = subprocess.run(_cli("compare", str(big_study), "4", "2", "--hu-range", "-100", "200"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and "RMSE" in r.stdout


@pytest.mark.slow
def test_cli_bar_on_a_terminal_and_quiet_hides_it(big_study: Path) -> None:
    rc, err, out, _ = _run_in_pty(_cli("compare", str(big_study), "4", "2", "--hu-range", "-100", "200"))
    assert rc == 0 and "RMSE" in out
    assert "\r" in err and "comparing 4 and 2" in err and "%" in err
    for stage in ("Hausdorff distance",):  # the last stage (the first ones may end before the bar shows, after 0.5 s)
        assert stage in err, stage
    rc, err, out, _ = _run_in_pty(_cli("compare", str(big_study), "4", "2", "--hu-range", "-100", "200", "--quiet"))
    assert rc == 0 and "RMSE" in out and err.strip() == ""


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["comparing 4 and 2", "Hausdorff distance B to A"])  # the first bar drawn; the last stage
def test_cli_ctrl_c_cancels_compare(big_study: Path, stage: str) -> None:
    rc, err, out, took = _run_in_pty(_cli("compare", str(big_study), "4", "2", "--hu-range", "-100", "200"), interrupt_on=stage)
    assert rc == 130, err
    lines = [x for x in err.replace("\r", "\n").splitlines() if x.strip()]
    assert lines[-1] == "cancelled" and "Traceback" not in err and out == ""
    assert took < 2.0  # measured well under 1 s (bench_cancel.py); generous for a loaded machine


@pytest.mark.slow
def test_cli_ctrl_c_cancels_export_without_partial_files(big_study: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "nifti"
    rc, err, out, _ = _run_in_pty(_cli("export", str(big_study), str(out_dir)), interrupt_on="exporting")
    lines = [x for x in err.replace("\r", "\n").splitlines() if x.strip()]
    assert rc == 130 and lines[-1] == "cancelled" and "Traceback" not in err
    assert _files(out_dir) == []  # no NIfTI, no sidecar, no temporary file


# ----------------------------------------------------------------------------- Cancel inside the NIfTI write


def test_write_nifti_cancel_between_chunks_of_the_compression(tmp_path: Path) -> None:
    """The compression (the long part of a write) asks cancel() every CHUNK bytes; a Cancel leaves no file."""
    import gzip

    from napari_dicomseries import nifti
    from napari_dicomseries.nifti import write_nifti_array

    arr = np.random.default_rng(0).integers(-1000, 3000, (40, 256, 512), dtype=np.int16)  # 10 MiB: 3 chunks
    seen: list[tuple[int, int]] = []
    with pytest.raises(Cancelled, match=r"writing .*x\.nii\.gz cancelled"):
        write_nifti_array(arr, np.eye(4), tmp_path / "x.nii.gz", {"a": 1}, progress=lambda d, t: seen.append((d, t)),
                          cancel=lambda: bool(seen))  # fmt: skip
    assert len(seen) == 1 and seen[0][0] == nifti.CHUNK < seen[0][1]  # stopped after the first chunk, not at the end
    assert _files(tmp_path) == []  # no image, no sidecar, no temporary file
    # the same write to the end: progress in bytes of the uncompressed file, one call per chunk
    seen.clear()
    write_nifti_array(arr, np.eye(4), tmp_path / "x.nii.gz", {"a": 1}, progress=lambda d, t: seen.append((d, t)),
                      cancel=lambda: False)  # fmt: skip
    size = len(gzip.decompress((tmp_path / "x.nii.gz").read_bytes()))
    assert size >= arr.nbytes + 348 and seen[-1] == (size, size) and len(seen) == math.ceil(size / nifti.CHUNK)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # replacing it (force) and cancelling keeps the complete file there was
    before = (tmp_path / "x.nii.gz").read_bytes()
    seen.clear()
    with pytest.raises(Cancelled):
        write_nifti_array(arr + 1, np.eye(4), tmp_path / "x.nii.gz", {"a": 2}, force=True,
                          progress=lambda d, t: seen.append((d, t)), cancel=lambda: len(seen) >= 2)  # fmt: skip
    assert (tmp_path / "x.nii.gz").read_bytes() == before and _files(tmp_path) == ["x.json", "x.nii.gz"]


def test_export_cancel_lands_inside_the_compression(big_study: Path, tmp_path: Path) -> None:
    """A Cancel while a volume is compressed stops it within a chunk (it used to wait for the whole write)."""
    volumes, _ = open_folder(big_study)
    v = select_volume(volumes, "4")  # 129 x 256 x 256 int16: 17 MB, 5 chunks
    writes: list[tuple[int, int]] = []
    with pytest.raises(Cancelled):
        export_volume(v, tmp_path / "thin", write_progress=lambda d, t: writes.append((d, t)), cancel=lambda: len(writes) >= 2)
    assert len(writes) == 2 and writes[-1][0] < writes[-1][1] / 2
    assert _files(tmp_path) == []
    # export_folder: the writing part of its progress moves chunk by chunk, not by a time estimate
    calls: list[tuple[str, int, int]] = []
    export_folder(big_study, tmp_path / "out", series=["4"], progress=lambda *a: calls.append(a), cancel=lambda: False)
    exporting = [d for s, d, _ in calls if s == "exporting"]
    total = 2 * len(v.frames)
    read_units = total // 5
    during_write = sorted({d for d in exporting if read_units < d < total})
    assert len(during_write) >= 4, exporting  # one step per chunk compressed
    assert exporting[-1] == total


def test_ctrl_c_in_any_command_prints_cancelled_and_exits_130(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Commands without a Cancel of their own (ls, inspect, index, ...) say the same word as those with one."""
    from napari_dicomseries import cli
    from napari_dicomseries.commands import inspect as inspect_cmd

    def interrupted(args) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(inspect_cmd, "run", interrupted)
    assert cli.main(["inspect", "."]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "cancelled"

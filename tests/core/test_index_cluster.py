"""The archive index on dask.distributed: a LocalCluster of 2 processes, a worker killed mid-run, and
``index --scheduler`` reaching a scheduler and a worker started as separate processes (as a user starts them).

Each test starts processes (seconds): all are marked slow (CI runs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from napari_dicomseries import index as idx
from napari_dicomseries.index import build_index
from napari_dicomseries.index_query import list_index
from napari_dicomseries.index_run import Runner

from ..data import SHARED_DATA
from .test_index import assert_index_is, ls_dir

pytestmark = pytest.mark.slow
SHARD_DATA_LUNG = SHARED_DATA / "ct_ge_lightspeed_lung"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real test data not found at {SHARED_DATA}")


def _default_client_state() -> tuple[object, bool]:
    import dask
    import distributed

    try:
        distributed.default_client()
        has = True
    except ValueError:
        has = False
    return dask.config.get("scheduler", None), has


def test_local_cluster_of_two_processes_leaves_dask_defaults_alone(synthetic_study: Path, tmp_path: Path) -> None:
    """``workers=2``: a LocalCluster of 2 processes does the work; dask's default scheduler/client is untouched
    (napari uses dask for lazy layers)."""
    before = _default_client_state()
    assert before[1] is False
    result = build_index(synthetic_study, tmp_path / "index", workers=2)
    assert result.workers == 2 and result.scheduler is None and result.files_parsed == 85
    assert _default_client_state() == before
    assert list_index(tmp_path / "index").to_json() == ls_dir(synthetic_study)


@needs_shared
def test_worker_killed_mid_run_then_no_duplicate_no_loss(
    synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process killed (SIGKILL) while the index is built: its tasks are redone elsewhere; every file has
    exactly one row."""
    from distributed import Client, LocalCluster

    monkeypatch.setattr(idx, "SHARD_MIN", 3)
    monkeypatch.setattr(idx, "SHARD_MAX", 6)
    archive = tmp_path / "archive"
    shutil.copytree(synthetic_study, archive / "study")
    shutil.copytree(SHARED_DATA / "ct_ge_lightspeed_lung", archive / "lung")
    killed: list[int] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster, set_as_default=False) as client:
            pids = sorted(client.run(os.getpid).values())

            def progress(done: int, total: int) -> None:
                if not killed:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])

            result = build_index(archive, tmp_path / "index", scheduler=cluster.scheduler_address, progress=progress)
    assert killed and result.files_seen == 125
    assert_index_is(tmp_path / "index", archive)
    # the rerun finds nothing to do
    assert build_index(archive, tmp_path / "index", workers=0).files_parsed == 0


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=log.open("wb"), stderr=subprocess.STDOUT)


def test_scheduler_option_reaches_a_separately_started_cluster(synthetic_study: Path, tmp_path: Path) -> None:
    """``dask scheduler`` + ``dask worker`` started as processes; ``index --scheduler ADDRESS`` runs on them."""
    sched_file = tmp_path / "scheduler.json"
    procs = [
        _start(
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
            tmp_path / "scheduler.log",
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sched_file.exists(), (tmp_path / "scheduler.log").read_text()
        procs.append(
            _start(
                [
                    "distributed.cli.dask_worker",
                    "--scheduler-file",
                    str(sched_file),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--nworkers",
                    "1",
                ],
                tmp_path / "worker.log",
            )
        )
        address = json.loads(sched_file.read_text())["address"]
        from distributed import Client

        with Client(address, set_as_default=False, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        p = subprocess.run(
            [sys.executable, "-m", "napari_dicomseries.cli", "index", str(synthetic_study), "--db", str(tmp_path / "index"),
             "--scheduler", address, "--json"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        summary = json.loads(p.stdout)
        assert summary["scheduler"] == address and summary["workers"] == 1 and summary["files_parsed"] == 85
        assert list_index(tmp_path / "index").to_json() == ls_dir(synthetic_study)
        # the scheduler ran the parsing (which builds the volumes of the studies lying in one task) and the
        # writing of the volume table
        with Client(address, set_as_default=False, timeout=30) as client:
            prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
        assert {"index_group", "write_volumes"} <= set(prefixes), prefixes
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


@needs_shared
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_command_with_workers_survives_an_interrupt(synthetic_study: Path, tmp_path: Path) -> None:
    """``index --workers 2`` as a user runs it: a LocalCluster of 2 workers (forked from a fork server); the index
    equals ``ls DIR``. Then a SIGINT while the workers start: exit 130, no process of the cluster (fork server,
    workers) left behind, and a rerun completes the index exactly."""
    archive = tmp_path / "archive"
    shutil.copytree(synthetic_study, archive / "study")
    shutil.copytree(SHARED_DATA / "ct_ge_lightspeed_lung", archive / "lung")
    cmd = [sys.executable, "-m", "napari_dicomseries.cli", "index", str(archive), "--db", str(tmp_path / "index")]
    p = subprocess.run([*cmd, "--workers", "2", "--json"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["workers"] == 2
    assert_index_is(tmp_path / "index", archive)

    # interrupted: a bigger archive (copies of the study), SIGINT once the workers are parsing
    for k in range(6):
        shutil.copytree(synthetic_study, archive / f"copy{k}")
    shutil.rmtree(tmp_path / "index")
    proc = subprocess.Popen([*cmd, "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "index" / "instances").is_dir():
        time.sleep(0.05)
    while time.monotonic() < deadline and len(_descendants(proc.pid)) < 3:  # the fork server and 2 workers are up
        time.sleep(0.05)
    family = _descendants(proc.pid)
    assert family, "no worker process was started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().endswith(b"cancelled"), err  # the workers were still starting
    time.sleep(0.5)
    left = [pid for pid in family if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    assert not left, f"processes of the cluster left running: {left}"
    p = subprocess.run([*cmd, "--workers", "2", "--quiet"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert_index_is(tmp_path / "index", archive)


def _small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards of 3-6 files and streamed tasks of 20: the test archives give many of each."""
    monkeypatch.setattr(idx, "SHARD_MIN", 3)
    monkeypatch.setattr(idx, "SHARD_MAX", 6)
    monkeypatch.setattr(idx, "STREAM_TASK_FILES", 20)


def _slow_walk(monkeypatch: pytest.MonkeyPatch, state: dict[str, object], stop_at: int | None = None) -> None:
    """The archive walk as on a slow disk: each group comes 0.1 s apart until the workers are running (the local
    cluster is up and tasks are asked for), at most 60 s; ``stop_at``: a Ctrl-C (KeyboardInterrupt) lands in the
    walk that many groups after the tasks started."""
    walk, run = idx._walk, Runner.run
    state.update(walk_over=False, running=False, first_job_during_walk=None)

    def walk_spy(*args: object):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 60
        after = 0
        for g in walk(*args):  # type: ignore[arg-type]
            if not state["running"] and time.monotonic() < deadline:
                time.sleep(0.1)
            elif state["running"]:
                after += 1
                if stop_at is not None and after > stop_at:
                    raise KeyboardInterrupt
            yield g
        state["walk_over"] = True

    def run_spy(self: Runner, fn, jobs, done, cancel):  # type: ignore[no-untyped-def]
        def jobs_spy():  # type: ignore[no-untyped-def]
            for job in jobs:
                if state["first_job_during_walk"] is None:
                    state["first_job_during_walk"] = not state["walk_over"]
                yield job

        state["running"] = True
        return run(self, fn, jobs_spy(), done, cancel)

    monkeypatch.setattr(idx, "_walk", walk_spy)
    monkeypatch.setattr(Runner, "run", run_spy)


@needs_shared
def test_workers_start_before_the_walk_ends(synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a local cluster the first tasks go out while the archive is still being walked; the index is exact."""
    _small_shards(monkeypatch)
    archive = tmp_path / "archive"
    shutil.copytree(synthetic_study, archive / "study")
    shutil.copytree(SHARD_DATA_LUNG, archive / "lung")
    state: dict[str, object] = {}
    _slow_walk(monkeypatch, state)
    result = build_index(archive, tmp_path / "index", workers=2)
    assert result.workers == 2 and state["walk_over"] and state["first_job_during_walk"] is True
    assert_index_is(tmp_path / "index", archive)


@needs_shared
def test_interrupt_while_walking_keeps_every_row(synthetic_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the workers parse and the archive is still being walked (a rerun after changes): the shards not
    walked yet stay in the index (no row lost, none doubled); the next run completes it exactly."""
    from napari_dicomseries.errors import Cancelled

    from .test_index import instance_rows

    _small_shards(monkeypatch)
    archive = tmp_path / "archive"
    shutil.copytree(synthetic_study, archive / "study")
    shutil.copytree(SHARD_DATA_LUNG, archive / "lung")
    build_index(archive, tmp_path / "index", workers=0)
    every = sorted(r["path"] for r in instance_rows(tmp_path / "index"))
    for p in sorted((archive / "study").iterdir())[::2]:  # half the study changed: rewritten shards, a walk to do
        os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    walk = idx._walk
    state: dict[str, object] = {}
    _slow_walk(monkeypatch, state, stop_at=3)
    with pytest.raises(Cancelled):
        build_index(archive, tmp_path / "index", workers=2)
    assert state["running"] and not state["walk_over"]
    rows = sorted(r["path"] for r in instance_rows(tmp_path / "index"))
    assert rows == every  # each file once: the rewritten shards, and the old ones for the rest
    monkeypatch.setattr(idx, "_walk", walk)
    assert build_index(archive, tmp_path / "index", workers=2).files_parsed > 0
    assert_index_is(tmp_path / "index", archive)


_CLUSTER_SCRIPT = """
import json, sys
from multiprocessing import forkserver
from distributed import Client
from napari_dicomseries import index_run

cluster = index_run._local_cluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
with Client(cluster, set_as_default=False) as client:
    worker = list(client.run(lambda: sorted(m for m in sys.modules if m in ("pandas", "pyarrow.parquet"))).values())
cluster.close()
print(json.dumps({"client": "pandas" in sys.modules, "preload": forkserver._forkserver._preload_modules, "worker": worker}))
"""

_DASK_LIST_SCRIPT = """
import json
import dask
from multiprocessing import forkserver
from distributed.utils import get_mp_context

with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
    get_mp_context()
print(json.dumps(forkserver._forkserver._preload_modules))
"""


@pytest.mark.skipif(sys.platform.startswith("win"), reason="no fork server")
def test_fork_server_imports_dasks_list_and_ours_this_process_neither() -> None:
    """The fork server gets dask.distributed's own list of packages (as dask makes it, in another process) and the
    tasks' modules; the calling process does not import dask's list to make it (pandas), the workers have it."""
    from napari_dicomseries.index_run import _FORKSERVER_PRELOAD

    def run(script: str) -> object:
        p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])

    from distributed.versions import optional_packages, required_packages

    from napari_dicomseries.index_run import _DASK_PACKAGES

    # the fork server starts before dask is imported, with dask's packages named in index_run: still dask's list
    assert _DASK_PACKAGES == (*required_packages, *optional_packages)
    dasks = run(_DASK_LIST_SCRIPT)
    assert isinstance(dasks, list) and "pandas" in dasks
    got = run(_CLUSTER_SCRIPT)
    assert isinstance(got, dict)
    assert got["preload"] == [*dasks, *(m for m in _FORKSERVER_PRELOAD if m not in dasks)]
    assert got["client"] is False
    assert got["worker"] == [["pandas", "pyarrow.parquet"]]


_EARLY_SCRIPT = """
import json, sys
from multiprocessing import forkserver
from napari_dicomseries.index import build_index

seen = []
real = forkserver.ensure_running
def ensure_running():
    seen.append("distributed" in sys.modules)
    return real()
forkserver.ensure_running = ensure_running
if __name__ == "__main__":
    result = build_index(sys.argv[1], sys.argv[2], workers=2)
    print(json.dumps({"dask_imported_at_start": seen[0], "files": result.files_parsed}))
"""


@pytest.mark.skipif(sys.platform.startswith("win"), reason="no fork server")
def test_fork_server_starts_before_dask_is_imported(synthetic_study: Path, tmp_path: Path) -> None:
    """The fork server of a local cluster starts importing before the command imports dask.distributed (the two
    overlap), and the index is built as usual."""
    script = tmp_path / "early.py"
    script.write_text(_EARLY_SCRIPT)
    p = subprocess.run(
        [sys.executable, str(script), str(synthetic_study), str(tmp_path / "index")], capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got == {"dask_imported_at_start": False, "files": sum(1 for p in synthetic_study.rglob("*") if p.is_file())}
    assert list_index(tmp_path / "index").to_json() == ls_dir(synthetic_study)

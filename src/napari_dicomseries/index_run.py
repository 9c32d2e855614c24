"""Running an index build: the lock of the index folder and the task runner (this process or dask.distributed).

The runner never installs its client as dask's default (napari uses dask for lazy layers): the client is made
with ``set_as_default=False`` and used explicitly; finished futures are polled (``distributed.wait`` and
``as_completed`` look for the default client).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import Cancelled, DicomSeriesError

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["ArchiveIndexError", "IndexLockedError", "Runner", "locked", "IN_PROCESS_BELOW", "walk_key", "relative", "fingerprint"]

#: With ``workers=None`` and no scheduler, fewer files than this to parse are parsed in this process (starting a
#: cluster of processes costs seconds).
IN_PROCESS_BELOW = 2000


class ArchiveIndexError(DicomSeriesError):
    """An index cannot be built or read (the message names the index folder)."""


class IndexLockedError(ArchiveIndexError):
    """Another run is writing the index."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def locked(index: str, name: str, messages: list[str]) -> Iterator[None]:
    """Hold the lock file ``name`` of ``index`` (created exclusively); take over a stale one of a dead process of this host.

    Raises
    ------
    IndexLockedError
        When another live process (or another host) holds it.
    """
    path = os.path.join(index, name)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path, encoding="utf-8") as fh:
                    holder = json.load(fh)
            except (OSError, ValueError):
                holder = {}
            pid, host = holder.get("pid"), holder.get("host")
            if host == me["host"] and isinstance(pid, int) and not _pid_alive(pid):
                messages.append(f"{path}: stale lock of process {pid} (no longer running) taken over")
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                continue
            raise IndexLockedError(
                f"{index}: locked by another index run (process {pid} on {host}, since {holder.get('started', '?')}); "
                f"wait for it to finish, or remove {path} if that run is dead"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def walk_key(rel: str) -> tuple[tuple[int, str], ...]:
    """The order in which :func:`files.iter_paths` yields the path ``rel`` (relative to the walked root).

    A folder's files come before its sub-folders, each sorted by name; so the key of ``a/b/f`` is
    ``((1, "a"), (1, "b"), (0, "f"))``.
    """
    parts = rel.split(os.sep)
    return (*((1, p) for p in parts[:-1]), (0, parts[-1]))


def fingerprint(entries: Iterable[tuple[str, int | None, int | None]]) -> str:
    """The fingerprint of a shard's files: their ``(relative path, size, mtime_ns)`` (a rerun compares its walk's)."""
    h = hashlib.sha1(usedforsecurity=False)
    for rel, size, mtime in entries:
        h.update(f"{rel}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def relative(path: str, root: str) -> str:
    """``os.path.relpath(path, root)`` for a ``path`` under the absolute ``root`` (a slice; relpath is slow)."""
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, root)


#: What the fork server imports, besides what dask.distributed has it import (dask, numpy, pandas, ...): the tasks'
#: modules and pyarrow's Parquet writer, so that a worker forked from it starts with them imported.
_FORKSERVER_PRELOAD = ("napari_dicomseries.index_shards", "napari_dicomseries.build", "pyarrow.parquet")


#: The packages of dask.distributed's own fork-server list (``distributed.versions``: ``required_packages`` then
#: ``optional_packages``; a test compares), named here so that the fork server can start before dask is imported.
_DASK_PACKAGES = ("dask", "distributed", "msgpack", "cloudpickle", "tornado", "toolz", "numpy", "pandas", "lz4")


def start_forkserver() -> bool:
    """Start multiprocessing's fork server now (POSIX), before dask is imported here; False where there is none.

    A local cluster's workers are forked from it (:func:`_local_cluster`), and it takes ~0.6 s to import what they
    need (dask.distributed, numpy, pandas, pyarrow, the tasks' modules). Started first, it does that while this
    process imports dask.distributed and starts the scheduler (another ~0.3 s), instead of after: the workers are
    up sooner by that much. Its list is dask.distributed's own (as dask makes it: the packages of
    :data:`_DASK_PACKAGES` installed, found without importing them) and :data:`_FORKSERVER_PRELOAD`. Does nothing
    when the fork server runs already (it lives as long as this process).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is None:
        theirs = ["distributed", *(p for p in _DASK_PACKAGES if _importable(p))]
        multiprocessing.get_context("forkserver").set_forkserver_preload(_with_ours(theirs))
        forkserver.ensure_running()
    return True


def _with_ours(theirs: list[str]) -> list[str]:
    """dask.distributed's fork-server list ``theirs`` and then :data:`_FORKSERVER_PRELOAD`, each module once."""
    return [*theirs, *(m for m in _FORKSERVER_PRELOAD if m not in theirs)]


def _local_cluster(**kwargs: Any) -> Any:
    """A ``LocalCluster`` run as a batch job, its workers forked from a fork server where there is one (POSIX).

    The fork server is a fresh interpreter (started, not forked, so it is safe from a process with threads: a GUI,
    a notebook) that imports dask.distributed's list of packages and :data:`_FORKSERVER_PRELOAD` once; each worker
    is forked from it with those imported, instead of starting an interpreter and importing them (dask's default,
    ``spawn``). The fork server is multiprocessing's, one per process: it lives as long as the calling process
    (a notebook keeps it for the next index), and its list is set once (the first cluster started sets it). A
    worker the nanny restarts after a crash is spawned. Elsewhere, dask's default.
    """
    forkserver = start_forkserver()  # (first: it imports while dask is imported here)
    import dask
    from distributed import LocalCluster

    # A batch job on the machine's own cores, where every CPU cycle of this process (the scheduler and nannies live
    # in it) is taken from a worker: no stack sampling of the tasks every 10 ms (nobody reads dask's profiles here)
    # and the event loops' health ticks and the system monitor far apart.
    config: dict[str, Any] = {
        "distributed.worker.profile.enabled": False,
        "distributed.admin.tick.interval": "1s",
        "distributed.admin.system-monitor.interval": "2s",
    }
    if forkserver:
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    with dask.config.set(config):
        if forkserver:
            _set_forkserver_preload()
        return LocalCluster(**kwargs)


def _set_forkserver_preload() -> None:
    """Tell dask.distributed that the fork server's list of packages is set (by :func:`start_forkserver`).

    dask sets its own list once per process, on its first fork-server context (``distributed.utils.get_mp_context``);
    to make it, it imports each package of its list in this process (pandas: 0.2 s of CPU, never used here) to see
    that it can. :func:`start_forkserver` made the same list from the packages found, not imported (the fork server
    skips one that fails to import, as dask would), so dask is told that it is set. When dask has set its list
    already, or its flag is not there (another version), its list is taken and ours added, which matters only for
    a fork server not started yet: one already running (this process's, started earlier by this module or by
    another library) keeps the list it was started with, and a module missing from it is imported by each worker.
    """
    import distributed.utils as dutils

    if getattr(dutils, "_forkserver_preload_set", True) is False:  # (the list was set by start_forkserver)
        dutils._forkserver_preload_set = True
        return
    ctx = dutils.get_mp_context()
    theirs = _forkserver_preload()
    if set(_FORKSERVER_PRELOAD) - set(theirs):
        ctx.set_forkserver_preload(_with_ours(theirs))


def _forkserver_preload() -> list[str]:
    """The fork server's preload list, as multiprocessing keeps it on its one fork server.

    ``["distributed"]`` when it cannot be read (dask.distributed's list always has it).
    """
    from multiprocessing import forkserver

    found = getattr(getattr(forkserver, "_forkserver", None), "_preload_modules", None)
    return list(found) if isinstance(found, list) else ["distributed"]


def _importable(name: str) -> bool:
    """Whether the top-level package ``name`` is installed (found, not imported)."""
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class _Call:
    """``fn(*args)`` as one object to submit (``client.submit(_Call(fn, args))``).

    dask looks for futures through every list and tuple of a task's arguments (0.1 s of CPU per 100,000 files
    listed in tasks), not into an object of its own.
    """

    __slots__ = ("fn", "args")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args

    def __call__(self) -> Any:
        return self.fn(*self.args)


def _key(fn: Callable[..., Any]) -> str:
    """A task's key as dask names one submitted with ``pure=False``: the function's name and a random id."""
    import uuid

    return f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4()}"


def _in_process(workers: int | None, scheduler: str | None, n_files: int) -> bool:
    """Whether a :class:`Runner` works in this process, with no cluster.

    So it does with ``workers=0``, or ``workers=None`` and fewer than :data:`IN_PROCESS_BELOW` files to parse,
    unless a scheduler is given.
    """
    return scheduler is None and (workers == 0 or (workers is None and n_files < IN_PROCESS_BELOW))


class Runner:
    """Runs tasks in this process or on a dask.distributed cluster (never installed as dask's default client).

    Parameters
    ----------
    workers : int, optional
        Processes of the ``LocalCluster`` started here (default: one per CPU); ``0``: this process.
    scheduler : str, optional
        Address of a running scheduler to use instead.
    n_files : int
        Files to parse: with ``workers=None`` and fewer than :data:`IN_PROCESS_BELOW`, this process does the work.
    """

    def __init__(self, workers: int | None, scheduler: str | None, n_files: int) -> None:
        self.client: Any = None
        self.cluster: Any = None
        self.n_workers = 0
        self.address = scheduler
        if _in_process(workers, scheduler, n_files):
            return
        import logging

        from distributed import Client

        if scheduler is not None:
            try:
                self.client = Client(scheduler, set_as_default=False, timeout=30)
            except OSError as exc:
                raise ArchiveIndexError(f"{scheduler}: cannot reach the dask scheduler ({exc})") from exc
            self.n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        else:
            n = workers or os.cpu_count() or 1
            self.cluster = _local_cluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # (no dashboard; the scheduler's small HTTP server on any free port, not 8787 with a warning)
                scheduler_kwargs={"dashboard_address": ":0"},
                silence_logs=logging.ERROR,
                # each worker imports the task's modules while it starts (see index_shards.dask_setup)
                preload=["napari_dicomseries.index_shards"],
            )
            self.client = Client(self.cluster, set_as_default=False)
            self.n_workers = n
            self.address = None

    @classmethod
    def start(cls, workers: int | None, scheduler: str | None, n_files: int) -> Future[Runner]:
        """Make a runner in a background thread (a cluster starts in seconds: meanwhile the caller walks the archive).

        The result is the runner, or the error of making it.
        """
        from concurrent.futures import ThreadPoolExecutor

        if scheduler is None and not _in_process(workers, scheduler, n_files):
            # here: it starts importing before the thread imports dask (an error is met again, and reported, there)
            with contextlib.suppress(OSError):
                start_forkserver()
        pool = ThreadPoolExecutor(1, thread_name_prefix="index-runner")
        try:
            return pool.submit(cls, workers, scheduler, n_files)
        finally:
            pool.shutdown(wait=False)

    def run(
        self,
        fn: Callable[..., Any],
        jobs: Iterable[tuple[Any, tuple[Any, ...]]],
        done: Callable[[Any, Any], None],
        cancel: Callable[[], bool] | None,
    ) -> None:
        """Run ``fn(*args)`` for every ``(tag, args)`` of ``jobs``; ``done(tag, result)`` as each finishes.

        ``jobs`` is read as tasks are wanted (a few in flight per worker), so it may be a generator that finds
        work as it goes (:func:`index.build_index` walks the archive in it).
        """
        if self.client is None:
            for tag, args in jobs:
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
                done(tag, fn(*args))
            return
        # (distributed.wait and as_completed look for dask's default client, which is never set here: poll the
        # few futures in flight instead)
        queue = iter(jobs)
        more = True
        pending: dict[Any, Any] = {}
        window = 2 * self.n_workers + 2  # tasks in flight: the scheduler holds few arguments at a time
        try:
            while more or pending:
                while more and len(pending) < window:
                    job = next(queue, None)
                    if job is None:
                        more = False
                        break
                    tag, args = job
                    pending[self.client.submit(_Call(fn, args), key=_key(fn), pure=False)] = tag
                finished = [fut for fut in pending if fut.done()]
                if not finished:
                    time.sleep(0.02)
                for fut in finished:
                    tag = pending.pop(fut)
                    done(tag, fut.result())
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
        except BaseException:
            self.client.cancel(list(pending))
            raise

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a worker (in this process without a cluster); its result."""
        if self.client is None:
            return fn(*args)
        return self.client.submit(_Call(fn, args), key=_key(fn), pure=False).result()

    def close(self) -> None:
        """Close the client, and the local cluster when this runner started one."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()

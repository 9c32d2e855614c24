"""The archive index: the headers of a whole archive parsed once, in parallel, kept as Parquet shards.

:func:`build_index` walks an archive, parses every header with the scan's own
parser (:func:`scan.read_path`) on a dask.distributed cluster (a
``LocalCluster`` of processes started and closed here, or an existing
scheduler), writes one row per file into Parquet shards and one row per volume
(built by the pipeline of :func:`napari_dicomseries.open_folder`, study by
study) into the volume table. A rerun parses only new and changed files.
:func:`index_query.open_index`, :func:`index_query.find` and
:func:`index_query.list_index` read it.

Layout of an index folder::

    INDEX/manifest.json            format, archive, options, the shards (range, fingerprint, studies, skipped files),
                                   paths skipped while walking
    INDEX/instances/part-*.parquet one row per file (see index_shards.INSTANCE_COLUMNS), walk order
    INDEX/volumes/volumes-*.parquet one row per volume (index_shards.VOLUME_COLUMNS), with the ``ls --json`` summary
    INDEX/.lock                    while a run writes (pid, host)

Shards are contiguous ranges of the archive in walk order (a folder's files, then
its sub-folders), cut at folder boundaries (200 to 1,000 files each). A task
parses consecutive groups (up to 8 shards, smaller ones last so the workers end
together), writes their shards and builds the volumes of the studies it saw from
the headers in memory; those of studies lying wholly in its shards are used, the
others are rebuilt from the shards (:func:`index_shards.study_volumes`). The
skipped files of each shard are listed in the manifest, so :func:`list_index`
reads the manifest and one volume table. A cluster is started in the background
as soon as the walk finds enough to parse. A rerun
gives each file to the shard whose range holds it (new files between ranges
form new shards) and stats the files in the old shards' ranges; a shard whose
(path, size, mtime) list is unchanged is kept as it is, any other is rewritten
with the rows of its unchanged files copied and the others parsed. The files
outside every old range (all of them in a first index) are stat'ed once, by
the task that parses them. Shards are written under a
temporary name and renamed; the manifest is replaced (renamed) last, so a
reader sees the old index or the new one, never a mix.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import Cancelled, DicomSeriesError, PathNotFoundError
from .files import walk_folders
from .index_run import IN_PROCESS_BELOW, ArchiveIndexError, IndexLockedError, Runner, fingerprint, locked, relative, walk_key

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "IndexResult",
    "ArchiveIndexError",
    "IndexLockedError",
    "NotAnIndexError",
    "build_index",
    "is_index",
    "read_manifest",
    "single_index",
    "MANIFEST",
    "FORMAT",
]

FORMAT = "napari-dicomseries-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
#: A new shard is cut at a folder boundary once it holds this many files, and anywhere at :data:`SHARD_MAX`.
SHARD_MIN, SHARD_MAX = 200, 1000
#: While the archive is still being walked, a local cluster's workers get tasks of this many files (or a little more).
STREAM_TASK_FILES = 4 * 1000
#: A task takes consecutive groups (shards-to-be) up to this many times :data:`SHARD_MAX` files: big tasks first,
#: smaller ones towards the end (the workers finish together), and the bigger a task, the more studies lie wholly
#: in it, whose volumes it builds from the headers it just parsed (the others are rebuilt from the shards).
TASK_SHARDS, TASK_SHARDS_IN_PROCESS = 8, 4
#: The gap policy of the stored volume table (``open_index(gaps=...)`` rebuilds with another one).
INDEX_GAP_POLICY = "split"


class NotAnIndexError(ArchiveIndexError):
    """A path given as an index is not one (no manifest)."""


@dataclass(slots=True)
class IndexResult:
    """What :func:`build_index` did."""

    archive: str
    index: str
    files_seen: int = 0
    files_parsed: int = 0
    files_reused: int = 0
    files_removed: int = 0
    #: paths listed as skipped (not DICOM, unreadable, ...): rows with an error, never a failure
    errors: int = 0
    shards_written: int = 0
    shards_kept: int = 0
    shards_removed: int = 0
    studies_rebuilt: int = 0
    volumes: int = 0
    seconds: float = 0.0
    #: worker processes used (0: parsed in this process)
    workers: int = 0
    scheduler: str | None = None
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {name: getattr(self, name) for name in self.__slots__}


# ----------------------------------------------------------------------------- manifest and lock


def is_index(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an index folder (it holds a manifest naming the index format); cheap."""
    p = os.path.join(os.fspath(path), MANIFEST)
    try:
        with open(p, "rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return f'"format": "{FORMAT}"'.encode() in head


def single_index(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> str | None:
    """The index folder when ``paths`` is one path and an index folder (:func:`is_index`), else None.

    Cheap and never raises: what the CLI, the reader's ``get_reader`` and the panel ask of a path they are given.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if len(paths) != 1:
        return None
    p = os.fspath(paths[0])
    return p if is_index(p) else None


#: Columns of the volume table added after it was first written: a table written before lacks them, and they are
#: then read from the row's ``summary`` JSON (:func:`summary_field`).
SUMMARY_TEXT_COLUMNS = ("content_time", "instance_creation_time")


def summary_field(summary: str | None, name: str) -> str:
    """The text field ``name`` of a volume row's ``summary`` JSON ("" when absent)."""
    value = json.loads(summary).get(name) if summary else None
    return value if isinstance(value, str) else ""


def read_manifest(index: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an index.

    Raises
    ------
    PathNotFoundError
        When ``index`` does not exist.
    NotAnIndexError
        When it is not an index.
    """
    index = os.fspath(index)
    if not os.path.exists(index):
        raise PathNotFoundError(f"{index}: no such index folder")
    if not is_index(index):
        raise NotAnIndexError(
            f"{index}: not an index of napari-dicomseries (no {MANIFEST}; build one with `napari-dicomseries index ARCHIVE --db {index}`)"
        )
    try:
        with open(os.path.join(index, MANIFEST), encoding="utf-8") as fh:
            manifest: dict[str, Any] = json.load(fh)
    except (OSError, ValueError) as exc:
        raise NotAnIndexError(f"{index}: unreadable {MANIFEST} ({exc})") from exc
    if manifest.get("version") != FORMAT_VERSION:
        raise NotAnIndexError(
            f"{index}: index format version {manifest.get('version')} (this version reads {FORMAT_VERSION}); rebuild it"
        )
    return manifest


def _write_manifest(index: str, manifest: dict[str, Any]) -> None:
    tmp = os.path.join(index, f".tmp-{MANIFEST}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=None, separators=(", ", ": "))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(index, MANIFEST))


# ----------------------------------------------------------------------------- the walk


@dataclass(slots=True)
class _Group:
    """Files of one shard-to-be: an old shard's range (``old`` its manifest entry) or a new range."""

    #: (relative path, size, mtime_ns): size and mtime None for a file outside every old shard's range (not stat'ed
    #: by the walk: the task stats it)
    entries: list[tuple[str, int | None, int | None]]
    old: dict[str, Any] | None = None


def _walk(archive: str, old_shards: list[dict[str, Any]], problems: list[dict[str, str]]) -> Iterator[_Group]:
    """Group the archive's files (walk order) by the old shards' ranges; new ranges cut by folder and size.

    Yields every group with files, old or new; old shards that get no file are not yielded. Only the files in an
    old shard's range are stat'ed here (to compare the shard's fingerprint); the others are new or moved, and the
    task that parses them stats them (a first index stats every file once, not twice).
    """
    firsts = [walk_key(s["first"]) for s in old_shards]
    lasts = [walk_key(s["last"]) for s in old_shards]
    target: int | None = None  # index of the old shard being filled, None for a new range
    cur: list[tuple[str, int | None, int | None]] = []
    cur_dir = ""
    for folder, items in walk_folders(archive):
        # (the folder's path relative to the archive once, not each file's: ``relative(entry.path)`` and its dirname)
        d = "" if folder == archive else relative(folder, archive)
        prefix = d + os.sep if d else ""
        for e, problem in items:
            if e is None or problem:
                problems.append({"path": folder if e is None else e.path, "reason": problem or ""})
                continue
            rel = prefix + e.name
            if firsts:
                key = walk_key(rel)
                i = bisect.bisect_right(firsts, key) - 1
                t = i if i >= 0 and key <= lasts[i] else None
            else:
                t = None
            size: int | None = None
            mtime: int | None = None
            if t is not None:  # in an old shard's range: its fingerprint decides whether the shard is kept
                try:
                    st = e.stat()  # (follows a link, as os.stat does)
                    size, mtime = st.st_size, st.st_mtime_ns
                except OSError:
                    size, mtime = -1, -1  # read_path says why
            # (else the file is parsed: the worker stats it, once for its row and the parser)
            if cur and (t != target or (t is None and (len(cur) >= SHARD_MAX or (len(cur) >= SHARD_MIN and d != cur_dir)))):
                yield _Group(cur, old_shards[target] if target is not None else None)
                cur = []
            target, cur_dir = t, d
            cur.append((rel, size, mtime))
    if cur:
        yield _Group(cur, old_shards[target] if target is not None else None)


# ----------------------------------------------------------------------------- build


def _compatible(old: dict[str, Any] | None, archive: str, patient_tags: bool) -> bool:
    return bool(
        old
        and old.get("archive") == archive
        and old.get("package_version") == __version__
        and bool(old.get("patient_tags")) == patient_tags
        and old.get("gaps") == INDEX_GAP_POLICY
    )


def _old_file(old: dict[str, Any] | None) -> str | None:
    """The shard file a group replaces, or None for a new group."""
    return old["file"] if old else None


def build_index(
    archive: str | os.PathLike[str],
    db: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
    patient_tags: bool = False,
) -> IndexResult:
    """Index the DICOM headers of ``archive`` into the folder ``db`` (created), or bring that index up to date.

    Parameters
    ----------
    archive : path
        The folder to index (walked recursively, as :func:`scan.scan` walks it).
    db : path
        The index folder: new, empty, or an index (of the same archive: it is updated; of another one or built
        with other options: rebuilt). It may not lie inside ``archive``.
    workers : int, optional
        Worker processes of the ``LocalCluster`` started (and closed) here, one thread each. Default: as many as
        CPUs, or none (this process) when fewer than :data:`IN_PROCESS_BELOW` files need parsing; ``0``: always
        this process.
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``) whose workers do the work; they must see the
        archive and the index at the same paths.
    progress : callable, optional
        ``progress(done, total)`` over the files of the groups being (re)indexed.
    cancel : callable, optional
        Asked as groups finish; when it returns True the run stops, keeping what is finished (consistent), and
        raises :class:`Cancelled`.
    patient_tags : bool
        Store the patient-identifying columns (name, ID, birth date, sex, accession number); default: left out.

    Returns
    -------
    IndexResult

    Raises
    ------
    PathNotFoundError
        When ``archive`` does not exist.
    IndexLockedError
        When another run is writing the index.
    ArchiveIndexError
        When ``db`` is not an index folder, or a task failed (what was finished is kept).
    Cancelled
        When ``cancel()`` returned True or the run was interrupted.
    """
    t0 = time.perf_counter()
    archive_s, index = os.path.abspath(os.fspath(archive)), os.path.abspath(os.fspath(db))
    if not os.path.isdir(archive_s):
        raise PathNotFoundError(
            f"{os.fspath(archive)}: no such folder" if not os.path.exists(archive_s) else f"{os.fspath(archive)}: not a folder"
        )
    if index == archive_s or index.startswith(archive_s.rstrip(os.sep) + os.sep):
        raise ArchiveIndexError(f"{os.fspath(db)}: the index may not lie inside the archive it indexes ({archive_s})")
    if os.path.exists(index) and not os.path.isdir(index):
        raise ArchiveIndexError(f"{os.fspath(db)}: exists and is not a folder")
    if os.path.isdir(index) and not is_index(index) and any(n not in (LOCK, "instances", "volumes") for n in os.listdir(index)):
        raise NotAnIndexError(f"{os.fspath(db)}: exists, is not empty and is not an index; give a new or empty folder")
    for sub in ("instances", "volumes"):
        os.makedirs(os.path.join(index, sub), exist_ok=True)
    result = IndexResult(archive=archive_s, index=index, scheduler=scheduler)
    with locked(index, LOCK, result.messages):
        _build(archive_s, index, result, workers, scheduler, progress, cancel, patient_tags)
    result.seconds = time.perf_counter() - t0
    return result


def _build(
    archive: str,
    index: str,
    result: IndexResult,
    workers: int | None,
    scheduler: str | None,
    progress: Callable[[int, int], object] | None,
    cancel: Callable[[], bool] | None,
    patient_tags: bool,
) -> None:
    old = read_manifest(index) if is_index(index) else None
    if old is not None and not _compatible(old, archive, patient_tags):
        result.messages.append(f"{index}: built for another archive, version or options: rebuilt")
    usable = old if _compatible(old, archive, patient_tags) else None
    old_shards: list[dict[str, Any]] = list(usable["shards"]) if usable else []
    problems: list[dict[str, str]] = []
    kept: list[dict[str, Any]] = []
    dirty: list[_Group] = []
    visited: set[str] = set()
    starting: Future[Runner] | None = None  # the cluster, started while walking once there is enough to parse
    walker = _walk(archive, old_shards, problems)
    walked_all = False
    n_dirty = 0

    def take(g: _Group) -> None:
        """One group walked: kept as it is (an old shard whose files are unchanged) or to (re)index."""
        nonlocal n_dirty, starting
        result.files_seen += len(g.entries)
        if g.old is not None:
            unchanged = g.old.get("fingerprint") == fingerprint(g.entries)
            visited.add(g.old["file"])
            if unchanged:
                kept.append(g.old)
                return
        dirty.append(g)
        n_dirty += len(g.entries)
        # (workers=None: a cluster only for IN_PROCESS_BELOW files or more; workers=N: for any)
        if starting is None and scheduler is None and workers != 0 and (workers or n_dirty >= IN_PROCESS_BELOW):
            starting = Runner.start(workers, None, n_dirty)

    try:  # walk until the local cluster is up (then its workers parse while the rest is walked) or to the end
        for g in walker:
            take(g)
            if starting is not None and starting.done():
                break
        else:
            walked_all = True
    except BaseException:
        if starting is not None:
            with contextlib.suppress(Exception):
                starting.result().close()
        raise
    new: dict[int, list[dict[str, Any]]] = {}
    done_files = 0
    runner: Runner | None = None

    def group_done(i: int, summaries: list[dict[str, Any]]) -> None:
        nonlocal done_files
        g = dirty[i]
        result.files_parsed += summaries[0].pop("parsed", 0)
        result.files_reused += summaries[0].pop("reused", 0)
        result.files_removed += summaries[0].pop("removed", 0)
        new[i] = summaries
        done_files += len(g.entries)
        if progress is not None:
            # (the files to parse walked so far: while a local cluster parses during the walk the total still grows)
            progress(done_files, n_dirty)

    def job(tag: list[int]) -> tuple[list[int], tuple[Any, ...]]:
        parts = [(dirty[i].entries, _old_file(dirty[i].old)) for i in tag]
        return tag, (archive, index, parts, patient_tags, INDEX_GAP_POLICY)

    def streamed(n_workers: int) -> Iterator[tuple[list[int], tuple[Any, ...]]]:
        """Tasks for the workers while the archive is still being walked, then the rest, balanced.

        The first ``2 * n_workers`` tasks (each worker's first and next) take about :data:`STREAM_TASK_FILES`
        files each (:func:`_task_end`), as soon as one and a half times that many are walked; then the walk is
        finished (the workers are busy meanwhile) and the rest is cut by :func:`_tasks`, big tasks first, so that
        the workers finish together.
        """
        nonlocal walked_all
        first = 0  # the first group of ``dirty`` not in a task yet
        early = 0
        while not walked_all:
            if early < 2 * n_workers and sum(len(g.entries) for g in dirty[first:]) >= STREAM_TASK_FILES * 3 // 2:
                early += 1
                end = first + _task_end(dirty[first:], 0, STREAM_TASK_FILES)
                tag = list(range(first, end))
                first = end
                yield job(tag)
                continue
            if cancel is not None and cancel():  # (the run loop asks only between tasks; a long walk asks here)
                raise Cancelled(f"{index}: cancelled while walking {archive}")
            g = next(walker, None)
            if g is None:
                walked_all = True
            else:
                take(g)
        for tag in _tasks(dirty[first:], n_workers):
            yield job([first + i for i in tag])

    def manifest(volumes_file: str | None, pending: set[str]) -> dict[str, Any]:
        shards = list(kept)
        for i, g in enumerate(dirty):
            if i in new:
                shards.extend(new[i])
            elif g.old is not None:  # not redone (interrupted): the old shard stays, consistent but out of date
                shards.append(g.old)
        if not walked_all:  # interrupted while walking: the old shards not in kept or dirty yet stay too
            reached = {s["file"] for s in kept} | {g.old["file"] for g in dirty if g.old is not None}
            shards.extend(s for s in old_shards if s["file"] not in reached)
        shards.sort(key=lambda s: walk_key(s["first"]))
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "archive": archive,
            "package_version": __version__,
            "patient_tags": patient_tags,
            "gaps": INDEX_GAP_POLICY,
            "created": (usable or {}).get("created") or time.strftime("%Y-%m-%dT%H:%M:%S"),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "n_files": sum(s["n"] for s in shards),
            "shards": shards,
            "problems": problems,
            "volumes": volumes_file,
            "n_volumes": n_volumes[volumes_file] if volumes_file in n_volumes else None,
            "pending_studies": sorted(pending),
        }

    # rows of the volume tables: the one before (no need to open it to count), the one written
    n_volumes: dict[str | None, int] = {}
    if usable and usable.get("volumes") and usable.get("n_volumes") is not None:
        n_volumes[usable["volumes"]] = usable["n_volumes"]
    # volume rows built by the tasks: study -> [(the shard files of the task, the rows)]
    candidates: dict[str, list[tuple[set[str], list[dict[str, Any]]]]] = {}

    def task_done(tag: list[int], res: dict[str, Any]) -> None:
        written: set[str] = set()
        for i, summaries in zip(tag, res["parts"], strict=True):
            group_done(i, summaries)
            written.update(s["file"] for s in summaries)
        for study, rows in res["volumes"].items():
            candidates.setdefault(study, []).append((written, rows))

    touched: set[str] = set(usable.get("pending_studies", [])) if usable else set()
    removed: list[dict[str, Any]] = []

    def changed() -> set[str]:
        """The studies of the old shards rewritten or (after the whole walk) gone: their volumes are rebuilt."""
        out = {st for g in dirty if g.old is not None for st in g.old["studies"]}
        if walked_all:
            out.update(st for s in old_shards if s["file"] not in visited for st in s["studies"])
        return out

    try:
        if starting is not None:  # a local cluster: its workers start on the groups walked while the walk goes on
            from .index_shards import index_group

            runner = starting.result()
            result.workers = runner.n_workers
            runner.run(index_group, streamed(runner.n_workers), task_done, cancel)
        elif dirty:
            from .index_shards import index_group

            runner = Runner(workers, scheduler, n_dirty)
            result.workers = runner.n_workers
            runner.run(index_group, [job(tag) for tag in _tasks(dirty, runner.n_workers)], task_done, cancel)
        removed = [s for s in old_shards if s["file"] not in visited]
        result.files_removed += sum(s["n"] for s in removed)
        touched |= changed()
        for summaries in new.values():
            for s in summaries:
                touched.update(s["studies"])
        volumes_file = usable.get("volumes") if usable else None
        if volumes_file is None:  # first run (or rebuilt): every study
            touched = {st for s in [*kept, *(s for ss in new.values() for s in ss)] for st in s["studies"]}
        current = manifest(volumes_file, touched)
        if touched or volumes_file is None:
            if runner is None and touched:
                runner = Runner(workers, scheduler, sum(s["n"] for s in current["shards"] if set(s["studies"]) & touched))
                result.workers = runner.n_workers
            prebuilt = _complete_studies(current["shards"], touched, candidates)
            candidates.clear()
            volumes_file, n_volumes[volumes_file] = _rebuild_volumes(
                index, archive, current["shards"], volumes_file, touched, prebuilt, runner, cancel, result
            )
            current = manifest(volumes_file, set())
        _write_manifest(index, current)
    except BaseException as exc:
        # keep what is finished: the shards written replace their old ones; the volume table of the studies they
        # touch is rebuilt by the next run (pending_studies)
        pending = touched | changed()
        for summaries in new.values():
            for s in summaries:
                pending.update(s["studies"])
        with contextlib.suppress(Exception):
            partial = manifest(usable.get("volumes") if usable else None, pending)
            _write_manifest(index, partial)
            _collect_garbage(index, old, partial)
        if runner is not None:
            runner.close()
        if isinstance(exc, (Cancelled, KeyboardInterrupt)):
            raise Cancelled(f"{index}: indexing cancelled; the files indexed so far are kept (run it again to finish)") from exc
        if isinstance(exc, DicomSeriesError):
            raise
        raise ArchiveIndexError(
            f"{index}: indexing failed ({type(exc).__name__}: {exc}); the files indexed so far are kept"
        ) from exc
    if runner is not None:
        runner.close()
    _collect_garbage(index, old, current)
    result.shards_written = sum(len(s) for s in new.values())
    result.shards_kept = len(kept)
    result.shards_removed = len(removed)
    result.errors = len(problems) + sum(s["errors"] for s in current["shards"])
    result.volumes = _count_volumes(index, current)


def _shared_folders(a: str, b: str) -> int:
    """How many leading folder names the relative folders ``a`` and ``b`` share."""
    pa, pb = a.split(os.sep) if a else [], b.split(os.sep) if b else []
    k = 0
    while k < len(pa) and k < len(pb) and pa[k] == pb[k]:
        k += 1
    return k


def _task_end(groups: Sequence[_Group], i: int, target: int) -> int:
    """Where a task starting at group ``i`` ends (exclusive), aiming at ``target`` files.

    Between half and one and a half times the target, at the highest folder boundary (the fewest leading folders
    shared by the last file before and the first file after; the nearest to the target among equals): exports keep
    a study in one folder tree, so a study seldom falls in two tasks and is seldom rebuilt from the shards
    afterwards (:func:`_complete_studies`). The rest when it all fits.
    """
    lo, hi = target // 2, target * 3 // 2
    best: tuple[tuple[int, int], int] | None = None  # ((folders shared, distance to the target), end)
    j, n = i, 0
    while j < len(groups):
        n += len(groups[j].entries)
        j += 1
        if j == len(groups):
            break
        if n >= lo:  # a cut before group j is a candidate
            before, after = groups[j - 1].entries[-1][0], groups[j].entries[0][0]
            key = (_shared_folders(os.path.dirname(before), os.path.dirname(after)), abs(n - target))
            if best is None or key < best[0]:
                best = (key, j)
        if n >= hi:
            break
    return j if best is None or (j == len(groups) and n <= hi) else best[1]


def _tasks(groups: list[_Group], n_workers: int) -> list[list[int]]:
    """Cut the groups to (re)index into tasks: lists of consecutive group numbers (ends: :func:`_task_end`).

    Each task aims at a target size: in this process :data:`TASK_SHARDS_IN_PROCESS` shards (memory, cancel); on
    a cluster a third of what remains per worker, between one and :data:`TASK_SHARDS` shards (big tasks first,
    smaller ones at the end, so the workers finish together).
    """
    remaining = sum(len(g.entries) for g in groups)
    tasks: list[list[int]] = []
    i = 0
    while i < len(groups):
        if n_workers:
            target = min(TASK_SHARDS * SHARD_MAX, max(SHARD_MAX, remaining // (3 * n_workers)))
        else:
            target = TASK_SHARDS_IN_PROCESS * SHARD_MAX
        end = _task_end(groups, i, target)
        tasks.append(list(range(i, end)))
        remaining -= sum(len(g.entries) for g in groups[i:end])
        i = end
    return tasks


def _complete_studies(
    shards: list[dict[str, Any]], touched: set[str], candidates: dict[str, list[tuple[set[str], list[dict[str, Any]]]]]
) -> dict[str, list[dict[str, Any]]]:
    """The volume rows built by the tasks, for the touched studies whose shards were all written by one task.

    That task saw all their files; the other studies are rebuilt from the shards.
    """
    where: dict[str, set[str]] = {}
    for s in shards:
        for st in s["studies"]:
            if st in touched:
                where.setdefault(st, set()).add(s["file"])
    out: dict[str, list[dict[str, Any]]] = {}
    for st, files in where.items():
        for written, rows in candidates.get(st, ()):
            if files <= written:
                out[st] = rows
                break
    return out


def _count_volumes(index: str, manifest: dict[str, Any]) -> int:
    if not manifest.get("volumes"):
        return 0
    if manifest.get("n_volumes") is not None:
        return int(manifest["n_volumes"])
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(os.path.join(index, manifest["volumes"])).metadata.num_rows)


def _rebuild_volumes(
    index: str,
    archive: str,
    shards: list[dict[str, Any]],
    volumes_file: str | None,
    touched: set[str],
    prebuilt: dict[str, list[dict[str, Any]]],
    runner: Runner | None,
    cancel: Callable[[], bool] | None,
    result: IndexResult,
) -> tuple[str, int]:
    """Write the volume table: rows of the ``touched`` studies ``prebuilt`` or rebuilt (on the workers), others kept.

    Returns its name (relative to the index) and its number of rows.
    """
    import pyarrow.parquet as pq

    from .index_shards import notes_of, relabel, study_volumes, write_volumes

    rows: list[dict[str, Any]] = []
    if volumes_file:
        with contextlib.suppress(OSError, ValueError):
            rows = [
                r
                for r in pq.ParquetFile(os.path.join(index, volumes_file)).read().to_pylist()
                if r["study_instance_uid"] not in touched
            ]
    for r in rows:  # kept from a table written before a column was added: the column from the summary
        if "notes" not in r:
            r["notes"] = notes_of(json.loads(r["summary"]))
        for name in SUMMARY_TEXT_COLUMNS:
            if name not in r:
                r[name] = summary_field(r["summary"], name)
    for study_rows in prebuilt.values():
        rows.extend(study_rows)
    # batches of studies that share shards, a few thousand files each
    by_study: dict[str, list[str]] = {}
    size: dict[str, int] = {}
    for s in shards:
        for st in s["studies"]:
            if st in touched and st not in prebuilt:
                by_study.setdefault(st, []).append(s["file"])
                size[st] = size.get(st, 0) + s["n"]
    jobs: list[tuple[Any, tuple[Any, ...]]] = []
    batch: list[str] = []
    files: dict[str, None] = {}
    n = 0
    for st in by_study:
        batch.append(st)
        files.update(dict.fromkeys(by_study[st]))
        n += size[st]
        if n >= SHARD_MAX * 2 or len(files) >= 8:
            jobs.append((len(jobs), (index, archive, list(files), list(batch), INDEX_GAP_POLICY)))
            batch, files, n = [], {}, 0
    if batch:
        jobs.append((len(jobs), (index, archive, list(files), list(batch), INDEX_GAP_POLICY)))

    def got(_: Any, new_rows: list[dict[str, Any]]) -> None:
        rows.extend(new_rows)

    runner = runner or Runner(0, None, 0)
    if jobs:
        runner.run(study_volumes, jobs, got, cancel)
    result.studies_rebuilt = len(by_study) + len(prebuilt)
    # written by a worker when there are workers (pyarrow imports pandas to build arrays: not here)
    return runner.call(write_volumes, relabel(rows), index), len(rows)


def _collect_garbage(index: str, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    """Remove the files referenced by neither the new manifest nor the one before, and temporary files.

    Files of the manifest before stay one run (a reader may still be reading them); temporary files are of dead
    runs (the lock is held).
    """
    keep = {s["file"] for m in (old, new) if m for s in m.get("shards", [])}
    keep |= {m["volumes"] for m in (old, new) if m and m.get("volumes")}
    for sub in ("instances", "volumes"):
        folder = os.path.join(index, sub)
        with contextlib.suppress(OSError):
            for name in os.listdir(folder):
                if f"{sub}/{name}" not in keep:
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(folder, name))

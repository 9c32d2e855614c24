"""Benchmark of issue 14 (archive scale): first index, no-change rerun, memory and query latency against their goals.

Usage::

    python benchmarks/bench_index.py                        # 100,000 files (the figures of the README)
    python benchmarks/bench_index.py --quick                # 10,000 files, a fast check
    python benchmarks/bench_index.py --keep /tmp/bench_archive_100k   # reuse (or write once) an archive there
    python benchmarks/bench_index.py --quick --skip gdcm,pydicom      # leave slow contenders out

Every figure is a whole process as a user runs it (interpreter start, imports and, for ``index``, the dask
``LocalCluster`` start-up included), on the same files, warm page cache, the tools interleaved round by round;
the median of ``--repeat`` rounds (default 3 up to 20,000 files, else 1). Contenders:

* ``index --workers 1`` and ``--workers 2``: ``napari-dicomseries index ARCHIVE --db NEW --workers N --quiet``;
* ``ls DIR``: today's ``napari-dicomseries ls ARCHIVE`` (the pre-index baseline);
* the same ``index --workers 1`` and the baseline's ``ls`` with one scan process (as on a one-CPU machine: it
  counts CPUs with ``os.cpu_count()``), each with every process it starts on one core (``sched_setaffinity``,
  inherited by the dask scheduler, nanny, fork server and worker): the per-worker goal compares one worker on one
  core on both sides (on the whole machine today's ``ls`` starts two scan processes above 5,000 files);
* ``dcm2niix -b o``: BIDS sidecars only, no NIfTI (``-b o -d 9 -w 1 -o TMP``, a new temporary folder each run):
  dcm2niix reads every header and groups the series, a C program on one core;
* ``pydicom stop_before_pixels``: one process, ``dcmread(path, stop_before_pixels=True)`` on every file;
* ``GDCM series IDs``: one process, SimpleITK ``ImageSeriesReader.GetGDCMSeriesIDs`` on every folder;
* ``4-KB read floor``: one process, open + read 4096 bytes of every file.

Then: the no-change rerun (``index`` again on the same INDEX, files/s: stat only); peak memory of the whole
``index`` process tree (psutil, RSS of the command and all its descendants, summed, sampled every 50 ms) at
N/10 and N files; query latency at 1,000,000 instances on a synthetic index made by replicating the real
index's instance shards with new paths and UIDs (``ls INDEX`` and ``find INDEX ...`` as processes, and the same
queries in process through DuckDB on the Parquet files). Archive generation is excluded from the figures
(printed). The napari goal (first image of a 6,600-file folder <= 5 s) is measured by
``benchmarks/bench_open_big.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "napari_dicomseries.cli"]
ALL = ("index1", "index2", "index1_core", "ls_base_core", "ls_base", "ls", "dcm2niix", "pydicom", "gdcm", "floor")
LABELS = {
    "index1": "index --workers 1",
    "index2": "index --workers 2",
    "index1_core": "index --workers 1, one core",
    "ls_base_core": "ls DIR (baseline), 1 process, 1 core",
    "ls_base": "ls DIR (baseline ref)",
    "ls": "ls DIR (this tree)",
    "dcm2niix": "dcm2niix -b o",
    "pydicom": "pydicom stop_before_pixels",
    "gdcm": "GDCM series IDs (SimpleITK)",
    "floor": "4-KB read floor",
}

# ----------------------------------------------------------------------------- in-process helpers run as processes

_PYDICOM = """
import os, sys, warnings, pydicom
warnings.simplefilter("ignore")
n = 0
for d, _, names in os.walk(sys.argv[1]):
    for name in names:
        try:
            pydicom.dcmread(os.path.join(d, name), stop_before_pixels=True)
            n += 1
        except Exception:
            pass
print(n)
"""
_GDCM = """
import os, sys, SimpleITK as sitk
n = 0
for d, _, names in os.walk(sys.argv[1]):
    if names:
        n += len(sitk.ImageSeriesReader.GetGDCMSeriesIDs(d))
print(n)
"""
_FLOOR = """
import os, sys
n = 0
for d, _, names in os.walk(sys.argv[1]):
    for name in names:
        with open(os.path.join(d, name), "rb") as fh:
            fh.read(4096)
        n += 1
print(n)
"""


_ONE_CPU_LS = """
import os, sys
os.cpu_count = lambda: 1  # as on a one-CPU machine: one scan process
from napari_dicomseries.cli import main
sys.exit(main(["ls", sys.argv[1]]))
"""


def count_files(root: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(root))


class TreeSampler:
    """Peak RSS of a process and all its descendants (summed), and of its largest single process, sampled; and
    the CPU time of every process of the tree (its last sample each: up to one interval short for each process).

    The CPU time is sampled because ``getrusage(RUSAGE_CHILDREN)`` counts only descendants that were waited for:
    dask workers forked from a fork server are not. The processes are sampled every ``interval``, the tree itself
    is looked up every 0.5 s (a process that lives less than that may be missed); the sampler costs ~1 % of a core.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_tree = self.peak_single = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        procs: list = []
        last_scan = 0.0
        while not self._stop.is_set():
            # The tree is found again every half second (psutil reads /proc of every process of the machine for it:
            # most of a sample's cost, taken from the cores the tools run on); its processes are sampled every time.
            now = time.perf_counter()
            if now - last_scan >= 0.5 or not procs:
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    break
                last_scan = now
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                except psutil.Error:
                    pass
            if rss:
                self.peak_tree = max(self.peak_tree, sum(rss))
                self.peak_single = max(self.peak_single, max(rss))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run(
    cmd: Sequence[str], *, sample: bool = False, env: dict[str, str] | None = None, core: int | None = None
) -> tuple[float, TreeSampler | None, str]:
    """Run ``cmd`` (stdout captured, stderr kept on failure); wall seconds, memory sampler, stdout.

    ``core``: the process and everything it starts run on that one CPU (``sched_setaffinity``, inherited).
    """
    import resource

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=pin)
    sampler = TreeSampler(proc.pid) if sample else None
    out, err = proc.communicate()
    dt = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)  # the whole process tree, reaped
    if sampler:
        sampler.stop()
        LAST_CPU[0] = max(LAST_CPU[0], sum(sampler.cpu.values()))  # (descendants not reaped by the tree, sampled)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return dt, sampler, out


#: CPU seconds (user + system) of the last :func:`run`, its process and every descendant it waited for
LAST_CPU = [0.0]


def has_command(name: str) -> bool:
    proc = subprocess.run([*CLI, name, "--help"], capture_output=True, text=True)
    return proc.returncode == 0


_API_INDEX = "import sys; from napari_dicomseries.index import build_index; build_index(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]))"
_API_FIND = (
    "import sys; from napari_dicomseries.index_query import find; print(len(find(sys.argv[1], kernel_class='lung', thin=True)))"
)
_API_LS = "import sys; from napari_dicomseries.index_query import list_index; print(len(list_index(sys.argv[1]).series))"
#: How this run starts ``index``, ``find`` and ``ls INDEX``: the CLI, or (before the commands exist) the same API in a
#: ``python -c`` process; set by :func:`main`.
MODE = {"cli": True}
#: The source tree of ``--baseline REF`` (``git archive REF src``, read-only for the repository), set by :func:`main`.
BASELINE: dict[str, Path] = {}


def export_baseline(ref: str, dest: Path) -> Path:
    """Extract ``src/`` of the commit ``ref`` into ``dest`` (``git archive``: the repository is not changed)."""
    repo = HERE.parent
    dest.mkdir(parents=True, exist_ok=True)
    tar = subprocess.run(["git", "-C", str(repo), "archive", ref, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest / "src"


def index_cmd(archive: Path, db: Path, workers: int) -> list[str]:
    if MODE["cli"]:
        return [*CLI, "index", str(archive), "--db", str(db), "--workers", str(workers), "--quiet"]
    return [sys.executable, "-c", _API_INDEX, str(archive), str(db), str(workers)]


def query_cmds(index: Path) -> dict[str, list[str]]:
    if MODE["cli"]:
        return {
            "ls INDEX (process)": [*CLI, "ls", str(index)],
            "find --kernel-class lung --thin (process)": [*CLI, "find", str(index), "--kernel-class", "lung", "--thin", "--json"],
        }
    return {
        "ls INDEX (process, API)": [sys.executable, "-c", _API_LS, str(index)],
        "find lung thin (process, API)": [sys.executable, "-c", _API_FIND, str(index)],
    }


# ----------------------------------------------------------------------------- contenders


def contenders(archive: Path, scratch: Path, workers2: int) -> dict[str, Callable[[], tuple[float, TreeSampler | None]]]:
    counter = iter(range(10**9))

    def index(workers: int, core: int | None = None) -> Callable[[], tuple[float, TreeSampler | None]]:
        def go() -> tuple[float, TreeSampler | None]:
            db = scratch / f"index-{workers}-{next(counter)}"
            try:
                dt, s, _ = run(index_cmd(archive, db, workers), sample=True, core=core)
            finally:
                shutil.rmtree(db, ignore_errors=True)
            return dt, s

        return go

    def d2n() -> tuple[float, TreeSampler | None]:
        with tempfile.TemporaryDirectory(dir=scratch, prefix="d2n-") as out:
            dt, _, _ = run(["dcm2niix", "-b", "o", "-d", "9", "-w", "1", "-o", out, str(archive)])
        return dt, None

    def script(code: str) -> Callable[[], tuple[float, TreeSampler | None]]:
        def go() -> tuple[float, TreeSampler | None]:
            dt, _, _ = run([sys.executable, "-c", code, str(archive)])
            return dt, None

        return go

    def ls() -> tuple[float, TreeSampler | None]:
        dt, s, _ = run([*CLI, "ls", str(archive)], sample=True)
        return dt, s

    def ls_base(core: int | None = None) -> Callable[[], tuple[float, TreeSampler | None]]:
        """Today's ``ls``; on one core, with one scan process (it counts CPUs with ``os.cpu_count()``, which
        ignores the affinity: pinned as it is, it would run two scan processes on the one core, which it never does
        on a one-CPU machine)."""

        def go() -> tuple[float, TreeSampler | None]:
            env = dict(os.environ, PYTHONPATH=str(BASELINE["src"]))
            cmd = [*CLI, "ls", str(archive)]
            if core is not None:
                cmd = [sys.executable, "-c", _ONE_CPU_LS, str(archive)]
            dt, s, _ = run(cmd, sample=True, env=env, core=core)
            return dt, s

        return go

    return {
        "ls_base": ls_base(),
        "index1": index(1),
        "index2": index(workers2),
        # one worker's worth of machine for both: every process of the command on CPU 0
        "index1_core": index(1, core=0),
        "ls_base_core": ls_base(core=0),
        "ls": ls,
        "dcm2niix": d2n,
        "pydicom": script(_PYDICOM),
        "gdcm": script(_GDCM),
        "floor": script(_FLOOR),
    }


# ----------------------------------------------------------------------------- the 1M-instance index


def replicate_index(src: Path, dst: Path, target: int) -> int:
    """Copy the index ``src`` to ``dst`` with its rows replicated to ``target`` instances or more (new paths and UIDs).

    Replica ``r`` of a shard holds the same rows with paths under ``ARCHIVE/replica-r/`` and every UID but the
    SOP class and transfer syntax suffixed ``.r``; the volume table is concatenated likewise (keys suffixed
    ``rR``, ``order`` continued). The shards are entered in ``manifest.json`` (the format of
    :mod:`napari_dicomseries.index`) as a run of ``index`` would. Returns the number of instance rows.
    """
    import uuid

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    archive = manifest["archive"].rstrip("/") + "/"
    rows = sum(int(s["n"]) for s in manifest["shards"])
    copies = max(1, -(-target // max(rows, 1)))

    def relabel(table: pa.Table, r: int) -> pa.Table:
        for name in table.column_names:
            col = table[name]
            if name == "path":
                col = pc.replace_substring(col, archive, f"{archive}replica-{r}/", max_replacements=1)
            elif name.endswith("_uid") and name not in ("sop_class_uid", "transfer_syntax_uid"):
                col = pc.binary_join_element_wise(col, pa.scalar(f".{r}"), "")
            elif name in ("key", "base_key"):
                col = pc.binary_join_element_wise(col, pa.scalar(f"r{r}"), "")
            elif name == "order":
                col = pc.add(col, pa.scalar(r * len(table), col.type))
            else:
                continue
            table = table.set_column(table.column_names.index(name), name, col)
        return table

    shards = list(manifest["shards"])
    for shard in manifest["shards"]:
        table = pq.read_table(dst / shard["file"])
        for r in range(1, copies):
            name = f"instances/part-{uuid.uuid4().hex}.parquet"
            pq.write_table(relabel(table, r), dst / name, compression="zstd")
            entry = dict(shard, file=name, first=f"replica-{r}/{shard['first']}", last=f"replica-{r}/{shard['last']}")
            entry["studies"] = [f"{st}.{r}" for st in shard["studies"]]
            # the skipped files of the replica live under its own folder
            entry["skipped"] = [[path.replace(archive, f"{archive}replica-{r}/", 1), *rest] for path, *rest in shard["skipped"]]
            shards.append(entry)
    manifest["shards"] = shards
    manifest["n_files"] = rows * copies
    if manifest.get("volumes"):
        vol = pq.read_table(dst / manifest["volumes"])
        name = f"volumes/volumes-{uuid.uuid4().hex}.parquet"
        pq.write_table(pa.concat_tables([vol, *(relabel(vol, r) for r in range(1, copies))]), dst / name, compression="zstd")
        manifest["volumes"] = name
        if "n_volumes" in manifest:
            manifest["n_volumes"] = int(manifest["n_volumes"]) * copies
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return rows * copies


def _median_seconds(fn: Callable[[], object], repeat: int, warm: bool = True) -> float:
    if warm:
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def query_latency(index: Path, repeat: int) -> dict[str, float]:
    """Median seconds of the series table and of a ``find``: whole processes, and in process (API and raw DuckDB)."""
    import duckdb

    out: dict[str, float] = {}
    for label, cmd in query_cmds(index).items():
        out[label] = _median_seconds(lambda cmd=cmd: run(cmd), repeat)
    try:
        from napari_dicomseries.index_query import find, list_index

        out["series table: list_index (in process)"] = _median_seconds(lambda: list_index(index), repeat)
        out["find(kernel_class='lung', thin=True) (in process)"] = _median_seconds(
            lambda: find(index, kernel_class="lung", thin=True), repeat
        )
    except ImportError as exc:
        print(f"  note: index API not measured ({exc})", file=sys.stderr)
    manifest = json.loads((index / "manifest.json").read_text())
    vol = str(index / manifest["volumes"])
    ins = str(index / "instances" / "*.parquet")
    con = duckdb.connect()
    queries = {
        "volume table, all rows (DuckDB)": f"SELECT * EXCLUDE (summary) FROM read_parquet('{vol}') ORDER BY \"order\"",
        "lung & thin volumes (DuckDB)": f"SELECT key, series_description FROM read_parquet('{vol}') WHERE kernel_class = 'lung' AND thin",
        "instances per series, 1M rows (DuckDB)": f"SELECT series_instance_uid, count(*) FROM read_parquet('{ins}') GROUP BY 1",
    }
    for label, sql in queries.items():
        out[label] = _median_seconds(lambda sql=sql: con.execute(sql).fetchall(), repeat)
    con.close()
    return out


# ----------------------------------------------------------------------------- report


def verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "FAIL")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="10,000 files")
    ap.add_argument("--keep", type=Path, help="archive folder to reuse (written there first if absent or empty)")
    ap.add_argument("--repeat", type=int, help="rounds (median); default 3 up to 20,000 files, else 1")
    ap.add_argument("--skip", default="", help=f"comma-separated contenders to leave out: {','.join(ALL)}")
    ap.add_argument("--no-memory", action="store_true", help="skip the N/10 memory run")
    ap.add_argument("--no-query", action="store_true", help="skip the 1M-instance query latency")
    ap.add_argument("--query-rows", type=int, default=1_000_000)
    ap.add_argument(
        "--baseline",
        default="HEAD",
        metavar="REF",
        help="git commit whose `ls` is 'today's ls' of the goals (default HEAD; give the commit before issue 14)",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the machine's workers (default: cores)")
    args = ap.parse_args(argv)
    n_target = 10_000 if args.quick else args.files
    repeat = args.repeat or (3 if n_target <= 20_000 else 1)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    archive = args.keep or Path(f"/tmp/bench_archive_{n_target}")

    n_files, gen = ensure_archive(archive, n_target)
    print(f"archive: {archive} ({n_files:,} files; " + (f"generated in {gen:.1f} s, not in the figures)" if gen else "reused)"))
    MODE["cli"] = has_command("index") and has_command("find")
    try:
        from napari_dicomseries import index as _index  # noqa: F401

        indexing = True
    except ImportError:
        indexing = MODE["cli"]
    if not indexing:
        print("note: no index (command or module): index figures are n/a")
        skip |= {"index1", "index2", "index1_core"}
    elif not MODE["cli"]:
        print("note: `index`/`find` commands not registered: timing the same API in `python -c` processes")
    if shutil.which("dcm2niix") is None:
        skip.add("dcm2niix")
    scratch = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        BASELINE["src"] = export_baseline(args.baseline, scratch / "baseline")
        print(
            f"baseline: `ls` of {args.baseline} ({subprocess.run(['git', '-C', str(HERE.parent), 'rev-parse', '--short', args.baseline], capture_output=True, text=True).stdout.strip()})"
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"note: no baseline ({exc}); the goals compare with this tree's ls")
        skip |= {"ls_base", "ls_base_core"}
    try:
        report(args, archive, n_files, repeat, skip, indexing, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(
    args: argparse.Namespace, archive: Path, n_files: int, repeat: int, skip: set[str], indexing: bool, scratch: Path
) -> None:
    tools = contenders(archive, scratch, args.workers)
    order = [k for k in ALL if k not in skip]
    run([sys.executable, "-c", _FLOOR, str(archive)])  # warm the page cache
    times: dict[str, list[float]] = {k: [] for k in order}
    cpus: dict[str, list[float]] = {k: [] for k in order}
    mem: dict[str, tuple[int, int]] = {}
    for r in range(repeat):
        for k in list(order):
            try:
                dt, sampler = tools[k]()
            except (RuntimeError, subprocess.CalledProcessError) as exc:
                print(f"note: {LABELS[k]} failed, left out: {str(exc)[-400:]}")
                order.remove(k)
                del times[k]
                if k.startswith("index"):
                    indexing = False
                continue
            times[k].append(dt)
            cpus[k].append(LAST_CPU[0])
            if sampler is not None:
                mem[k] = max(mem.get(k, (0, 0)), (sampler.peak_tree, sampler.peak_single))
            print(f"  round {r + 1}/{repeat} {LABELS[k]:<30} {dt:8.2f} s", file=sys.stderr)
    t = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items() if v}
    rate = {k: n_files / v for k, v in t.items()}

    # no-change rerun and memory at N/10
    rerun = None
    if indexing:
        db = scratch / "index-rerun"
        run(index_cmd(archive, db, args.workers))
        rerun = statistics.median(run(index_cmd(archive, db, args.workers))[0] for _ in range(repeat))
    small_mem = None
    if indexing and not args.no_memory:
        n_small = max(1000, n_files // 10)
        small = archive.parent / f"bench_archive_{n_small}" if not args.keep else Path(f"{archive}_tenth")
        n_small_files, _ = ensure_archive(small, n_small)
        db = scratch / "index-small"
        _, s, _ = run(index_cmd(small, db, args.workers), sample=True)
        assert s is not None
        small_mem = (n_small_files, s.peak_tree, s.peak_single)

    print()
    print(f"Files: {n_files:,} in {archive} (whole processes, warm cache, interleaved, median of {repeat})")
    print()
    print(f"{'tool':<32} {'seconds':>9} {'files/s':>10} {'s/1k files':>11} {'CPU s':>8} {'files/CPU s':>12}")
    print(f"{'-' * 32} {'-' * 9} {'-' * 10} {'-' * 11} {'-' * 8} {'-' * 12}")
    for k in order:
        c = cpu.get(k, 0.0)
        per_cpu = f"{n_files / c:12,.0f}" if c > 0 else f"{'n/a':>12}"
        print(f"{LABELS[k]:<32} {t[k]:9.2f} {rate[k]:10,.0f} {1000 * t[k] / n_files:11.3f} {c:8.2f} {per_cpu}")
    print("(CPU s: user + system time of the whole process tree; files/CPU s is the rate per busy core)")
    print()
    goals: list[tuple[str, str, bool | None]] = []
    base = "ls_base" if "ls_base" in rate else "ls"
    if "index1_core" in rate and "ls_base_core" in rate:
        x = rate["index1_core"] / rate["ls_base_core"]
        goals.append(
            (
                "per worker >= 2x today's ls: one worker, one core each",
                f"{t['index1_core']:.2f} s vs {t['ls_base_core']:.2f} s = {x:.2f}x",
                x >= 2,
            )
        )
    if "index1" in rate and base in rate:
        x = rate["index1"] / rate[base]
        goals.append(
            (
                f"  one worker vs today's ls on the whole machine ({LABELS[base]})",
                f"{rate['index1']:,.0f} files/s per worker = {x:.2f}x ls",
                None,
            )
        )
        if cpu.get("index1") and cpu.get(base):
            xc = (n_files / cpu["index1"]) / (n_files / cpu[base])
            goals.append(
                (
                    "  per busy core (today's ls runs 2 scan processes above 5,000 files)",
                    f"{n_files / cpu['index1']:,.0f} vs {n_files / cpu[base]:,.0f} files per CPU second = {xc:.2f}x",
                    None,
                )
            )
    if "index1" in rate and "ls" in rate and base != "ls":
        goals.append(("  (against this tree's ls)", f"{rate['index1'] / rate['ls']:.2f}x", None))
    if "index2" in rate and "dcm2niix" in rate:
        x = rate["index2"] / rate["dcm2niix"]
        goals.append((f"{args.workers} workers faster than dcm2niix -b o", f"{x:.2f}x dcm2niix", x > 1))
    if "index1" in rate and "index2" in rate:
        eff = rate["index2"] / (args.workers * rate["index1"])
        goals.append((f"scaling efficiency 1 -> {args.workers} workers >= 0.8", f"{eff:.2f}", eff >= 0.8))
    if rerun is not None:
        r = n_files / rerun
        goals.append(("no-change rerun >= 50,000 files/s", f"{r:,.0f} files/s ({rerun:.2f} s)", r >= 50_000))
    if "index2" in mem:
        tree, single = mem["index2"]
        text = f"{tree / 2**20:,.0f} MiB tree / {single / 2**20:,.0f} MiB largest process at {n_files:,} files"
        ok = None
        if small_mem:
            n_s, tree_s, single_s = small_mem
            text += f"; {tree_s / 2**20:,.0f} / {single_s / 2**20:,.0f} MiB at {n_s:,}"
            ok = tree <= 1.5 * tree_s
        goals.append(("peak memory flat in files (<= 1.5x at 10x files)", text, ok))
    if "ls" in mem:
        goals.append(("(for reference) ls DIR peak memory", f"{mem['ls'][0] / 2**20:,.0f} MiB", None))
    if indexing and not args.no_query:
        rows = replicate_index(scratch / "index-rerun", scratch / "index-1M", args.query_rows)
        lat = query_latency(scratch / "index-1M", max(3, repeat))
        startup = _median_seconds(lambda: run([*CLI, "--version"]), 3)
        goals.append((f"query latency at {rows:,} instances <= 100 ms:", "", None))
        for label, sec in lat.items():
            in_process = "in process" in label or "DuckDB" in label
            goal = in_process and "instances per series" not in label  # (that one is extra: not a goal of the issue)
            goals.append((f"  {label}", f"{1000 * sec:,.0f} ms", sec <= 0.1 if goal else None))
        goals.append(("  (CLI start-up alone: napari-dicomseries --version)", f"{1000 * startup:,.0f} ms", None))
    goals.append(("napari first image, 6,600-file folder <= 5 s", "see benchmarks/bench_open_big.py", None))
    print(f"{'goal':<62} {'figure':<58} verdict")
    print(f"{'-' * 62} {'-' * 58} -------")
    for goal, figure, ok in goals:
        print(f"{goal:<62} {figure:<58} {verdict(ok) if figure else ''}")


def ensure_archive(folder: Path, n: int) -> tuple[int, float | None]:
    """Files in ``folder``, written first (about ``n`` files) if absent or empty; generation seconds or None."""
    sys.path.insert(0, str(HERE))
    from make_archive import main as make_archive

    if folder.is_dir() and any(folder.iterdir()):
        return count_files(folder), None
    summary = make_archive(["--out", str(folder), "--files", str(n)])
    return summary.files, summary.seconds


if __name__ == "__main__":
    main()

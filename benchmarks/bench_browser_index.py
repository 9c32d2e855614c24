"""Benchmark of issue 14 item 4: the series browser on a 1,000,000-instance archive index, listed and opened lazily.

Usage (a real display is needed for the Qt tree: run under xvfb)::

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/bench_browser_index.py
    ... python benchmarks/bench_browser_index.py --keep /tmp/bh_index_1m      # reuse (or make once) the 1M index there
    ... python benchmarks/bench_browser_index.py --old-1m                     # also time the old path at 1M (~70 s)

The 1M index is the real index of a 100,580-file archive (``--index``, made by ``napari-dicomseries index`` from
``--archive`` when absent) replicated to ``--target`` instances by ``bench_index.replicate_index`` (new paths and
UIDs; the files of the replicas do not exist, so the row loaded is one of the original part). Figures, in one
process with a napari viewer and the DICOM panel as a user opens it (``add_plugin_dock_widget``):

* the lazy listing: from ``SeriesBrowser.open_index(INDEX)`` to the tree listed (the job done and the tree drawn),
  and its parts in process (``list_index``, ``list_entries``, the tree's rows);
* the old path (every study's volumes rebuilt, ``open_index`` on the whole index, then the tree), measured through
  the browser on the 100k index and extrapolated linearly to 1M (``--old-1m``: measured at 1M);
* loading one selected row (its study opened from the shards, then its pixels read as a layer), and a second row
  of the same study (no study opened again).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PLUGIN = "napari-dicomseries"


def ensure_index(index: Path, archive: Path) -> Path:
    """``index`` when it is an index, else ``napari-dicomseries index ARCHIVE --db INDEX --workers 2`` (printed)."""
    if (index / "manifest.json").is_file():
        return index
    if not archive.is_dir():
        sys.exit(f"no index at {index} and no archive at {archive} to index")
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "napari_dicomseries.cli", "index", str(archive), "--db", str(index), "--workers", "2", "--quiet"]
    subprocess.run(cmd, check=True)
    print(f"indexed {archive} into {index} in {time.perf_counter() - t:.1f} s")
    return index


def ensure_big(src: Path, dst: Path, target: int) -> int:
    """The replicated index ``dst`` (made from ``src`` when absent); returns its instances."""
    from bench_index import replicate_index

    if (dst / "manifest.json").is_file():
        return int(json.loads((dst / "manifest.json").read_text())["n_files"])
    t = time.perf_counter()
    n = replicate_index(src, dst, target)
    print(f"replicated {src} to {n:,} instances in {dst} in {time.perf_counter() - t:.1f} s")
    return n


def wait_idle(app: Any, widget: Any, timeout: float = 600.0) -> None:
    """Process Qt events until ``widget`` has no job running."""
    deadline = time.monotonic() + timeout
    while widget.busy:
        app.processEvents()
        time.sleep(0.001)
        if time.monotonic() > deadline:
            raise TimeoutError("the browser job did not end")
    app.processEvents()


def time_listing(app: Any, browser: Any, index: Path, threshold: int) -> float:
    """Seconds from ``open_index`` to the tree listed and drawn, with the lazy threshold ``threshold``."""
    browser.volumes = []
    browser.refresh()
    app.processEvents()
    browser.lazy_index_files = threshold
    t = time.perf_counter()
    browser.open_index(index)
    wait_idle(app, browser)
    browser.table.tree.viewport().repaint()
    app.processEvents()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, default=Path("/tmp/bench_archive_100000"))
    ap.add_argument("--index", type=Path, default=Path("/tmp/bh_index"), help="the index of --archive (made when absent)")
    ap.add_argument("--target", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="where the replicated index is kept (made when absent)")
    ap.add_argument("--old-1m", action="store_true", help="also time the old path (whole index opened) at 1M")
    args = ap.parse_args(argv)

    from qtpy.QtWidgets import QApplication

    import napari
    from napari_dicomseries import index_query, index_shards
    from napari_dicomseries._widgets.series_browser import LoadMode, SeriesBrowser, entry_study_info, volume_row
    from napari_dicomseries.index_query import IndexEntry

    src = ensure_index(args.index, args.archive)
    scratch = None
    if args.keep is not None:
        big = args.keep
    else:
        scratch = Path(tempfile.mkdtemp(prefix="bench_browser_index_"))
        big = scratch / "index"
    try:
        n_big = ensure_big(src, big, args.target)
        n_src = int(json.loads((src / "manifest.json").read_text())["n_files"])

        # the parts of the lazy listing, in process (warm: the second of two runs)
        for _ in range(2):
            t0 = time.perf_counter()
            listing = index_query.list_index(big)
            t1 = time.perf_counter()
            entries = index_query.list_entries(big)
            t2 = time.perf_counter()
            rows = [volume_row(e) for e in entries]
            studies = entry_study_info(entries)
            t3 = time.perf_counter()
        print(f"index {big}: {n_big:,} instances, {len(entries):,} volumes, {len(studies):,} studies, "
              f"{len(listing.skipped_rows):,} skipped paths")  # fmt: skip
        print(f"  in process: list_index {1e3 * (t1 - t0):.0f} ms, list_entries {1e3 * (t2 - t1):.0f} ms, "
              f"rows + study labels {1e3 * (t3 - t2):.0f} ms ({len(rows):,} rows)")  # fmt: skip

        app = QApplication.instance() or QApplication([])
        viewer = napari.Viewer(show=True)
        _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Series browser")
        browser: SeriesBrowser = panel.browser
        browser.hide_localizers.value = False
        app.processEvents()

        reads: list[list[str]] = []
        real = index_shards.read_files

        def counting(index_dir: str, shard_files: Any, archive: str, studies: Any) -> Any:
            studies = list(studies)
            reads.append(sorted(set(studies)))
            return real(index_dir, shard_files, archive, studies)

        index_shards.read_files = counting  # type: ignore[assignment]

        # the lazy listing (the default threshold: a 1M index is above it)
        lazy = [time_listing(app, browser, big, browser.lazy_index_files) for _ in range(2)]
        assert reads == [], "the lazy listing read the shards"
        assert all(isinstance(v, IndexEntry) for v in browser.volumes) and len(browser.volumes) == len(entries)
        print(f"  browser, lazy listing of the 1M index: {lazy[0]:.2f} s (first), {lazy[1]:.2f} s (again); "
              f"{len(browser.table.rows):,} rows, no shard read")  # fmt: skip

        # one selected row of the original part (its files exist), loaded in memory
        original = {s for shard in json.loads((src / "manifest.json").read_text())["shards"] for s in shard["studies"]}
        candidates = [v for v in browser.volumes if v.study_instance_uid in original and v.kind == "image" and v.loadable]
        target = max(candidates, key=lambda v: v.n_files)
        study_files = sum(e.n_files for e in entries if e.study_instance_uid == target.study_instance_uid)
        browser.load_mode.value = LoadMode.memory
        browser.table.select_payloads(lambda v: v is target)
        t = time.perf_counter()
        browser.load_selected()
        wait_idle(app, browser)
        t_load = time.perf_counter() - t
        assert reads == [[target.study_instance_uid]], reads
        assert [lyr.metadata["dicom"]["volume"]["key"] for lyr in viewer.layers] == [target.key]
        # the same study's resolution alone, in process, for the breakdown
        t = time.perf_counter()
        index_query.open_index(
            big, keys=sorted({e.series_instance_uid for e in entries if e.study_instance_uid == target.study_instance_uid})
        )
        t_study = time.perf_counter() - t
        second = next(
            (
                v
                for v in browser.volumes
                if v.study_instance_uid == target.study_instance_uid and v.kind == "image" and v.key != target.key
            ),
            None,
        )
        t_second = None
        if second is not None:
            before = len(reads)
            t = time.perf_counter()
            browser.load_selected([second])
            wait_idle(app, browser)
            t_second = time.perf_counter() - t
            assert len(reads) == before, "the study was opened again"
        from napari_dicomseries._reader import volume_layer_data

        resolved = next(v for v in browser.volumes if v.key == target.key and not isinstance(v, IndexEntry))
        t = time.perf_counter()
        volume_layer_data(resolved, lazy=False)
        t_pixels = time.perf_counter() - t
        shape = "x".join(map(str, target.shape))
        print(f"  load one selected row ({target.key}, {shape}, a study of {study_files} files): {t_load:.2f} s "
              f"(in process: its study opened from the index {t_study:.2f} s, its layer data read again {t_pixels:.2f} s)")  # fmt: skip
        if t_second is not None:
            print(f"  load a second row of that study ({second.key}): {t_second:.2f} s, no study opened again")

        # the old path: every volume of the index built (open_index on the whole index), then the tree
        index_shards.read_files = real  # type: ignore[assignment]
        for layer in list(viewer.layers):
            viewer.layers.remove(layer)
        old_src = time_listing(app, browser, src, 10**12)
        n_old = len(browser.volumes)
        print(f"  old path (whole index opened) on the {n_src:,}-instance index: {old_src:.1f} s ({n_old:,} volumes) "
              f"-> about {old_src * n_big / n_src:.0f} s at {n_big:,} (linear)")  # fmt: skip
        lazy_src = time_listing(app, browser, src, 0)
        print(f"  lazy listing of the {n_src:,}-instance index: {lazy_src:.2f} s")
        if args.old_1m:
            old_big = time_listing(app, browser, big, 10**12)
            print(f"  old path at {n_big:,} instances, measured: {old_big:.1f} s")
        viewer.close()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("NAPARI_DICOMSERIES_GAPS", "split")
    main()

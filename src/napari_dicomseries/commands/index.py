"""``index ARCHIVE --db INDEX``: parse the headers of a whole archive in parallel (dask.distributed) into a
Parquet index; a rerun parses only new and changed files. ``ls INDEX``, ``find INDEX`` and the other commands
read it without rescanning the archive."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._progress import Interrupt, TerminalBar, add_quiet_option, run_cancellable


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (this process) or more, not {text!r}")
    return n


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "index", help="index an archive's headers in parallel (Parquet, incremental)", description=__doc__
    )
    p.add_argument("archive", metavar="ARCHIVE", help="the folder to index (walked recursively)")
    p.add_argument("--db", required=True, metavar="INDEX", help="the index folder (created; updated when it exists)")
    p.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help="worker processes of the local cluster (default: one per CPU, or this process for fewer than 2,000 "
        "files to parse; 0: this process)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use a running dask scheduler (tcp://host:8786) and its workers instead of a local cluster; they must "
        "see ARCHIVE and INDEX at the same paths",
    )
    p.add_argument(
        "--patient-tags",
        action="store_true",
        help="also store patient name, ID, birth date, sex and accession number (left out by default)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_quiet_option(p)
    return p


def summary_text(r: Any) -> str:
    """One paragraph: what the run did."""
    where = (
        f"the dask cluster at {r.scheduler} ({r.workers} workers)"
        if r.scheduler
        else f"a local cluster of {r.workers} processes"
        if r.workers
        else "this process"
    )
    return (
        f"indexed {r.archive} into {r.index} in {r.seconds:.1f} s on {where}: {r.files_seen} files seen, "
        f"{r.files_parsed} parsed, {r.files_reused} unchanged in rewritten shards, {r.files_removed} removed, "
        f"{r.errors} skipped (not DICOM or unreadable, listed by `ls INDEX`); {r.shards_written} shard(s) written, "
        f"{r.shards_kept} kept, {r.shards_removed} removed; {r.studies_rebuilt} study(ies) rebuilt, {r.volumes} volume(s) "
        "in the index."
    )


def run(args: argparse.Namespace) -> int:
    from ..index import build_index

    def body(intr: Interrupt) -> int:
        bar = TerminalBar("indexing")
        with intr.cooperating() as cancel:
            result = build_index(
                args.archive,
                args.db,
                workers=args.workers,
                scheduler=args.scheduler,
                progress=bar,
                cancel=cancel,
                patient_tags=args.patient_tags,
            )
        bar.close()
        for m in result.messages:
            print(f"napari-dicomseries index: {m}", file=sys.stderr)
        if args.json:
            print(json.dumps(result.to_dict(), indent=2))
        else:
            print(summary_text(result))
        return 0

    return run_cancellable(args, body)

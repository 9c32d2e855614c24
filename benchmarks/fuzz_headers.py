"""Long fuzz run of the scan -> volumes -> load pipeline on mutated DICOM headers.

Usage::

    python benchmarks/fuzz_headers.py [--cases 10000] [--seed 1] [--out DIR]

Seeds are synthetic files (a scout, an axial slice, a raw implicit-VR data set
without preamble) and, when ``../shared/data`` is there, real ones (GE CT,
implicit, big endian, RLE, JPEG lossless, JPEG 2000, enhanced MR). Each case
applies 1-6 random mutations in the first 4 KB (bit flips, byte sets,
insertions, deletions, awkward 16/32-bit length values, truncation), then runs
``read_header`` -> ``build_volumes`` -> ``classify`` -> ``summary`` ->
``read_stored`` / ``load_volume``. A failure is any exception that is not the
project's own (``DicomSeriesError``; ``DecodeError`` for pixels), a decoded
image of the wrong shape, or a case running over 10 s; each failure is saved
under ``--out`` to be replayed.

As a peer, the same mutated bytes are read by ``pydicom.dcmread(force=True,
stop_before_pixels=True)`` alone: the exceptions it raises (and their types)
are what the scan's error handling must turn into a reason.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from napari_dicomseries import load
from napari_dicomseries.build import build_volumes
from napari_dicomseries.classify import classify
from napari_dicomseries.errors import DecodeError, DicomSeriesError
from napari_dicomseries.scan import DicomFile, read_header
from napari_dicomseries.synthetic import write_study

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DICOMSERIES_SHARED_DATA", ROOT.parent / "shared" / "data"))
HEAD = 4096
LENGTHS = [0xFFFFFFFF, 0, 1, 3, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFE, 0x10000, 12]
CASE_SECONDS = 10


class Hang(Exception):
    pass


def seeds(scratch: Path) -> list[tuple[str, bytes]]:
    syn = scratch / "synthetic"
    files = write_study(syn, scale=0.0625)
    out = [("synthetic scout", files[0].read_bytes()), ("synthetic axial", files[5].read_bytes())]
    ds = pydicom.dcmread(files[5])
    raw = Dataset()
    raw.update(ds)
    raw_path = scratch / "raw.dcm"
    raw.save_as(raw_path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    out.append(("raw implicit, no preamble", raw_path.read_bytes()))
    if SHARED.is_dir():
        out.append(("GE CT", (SHARED / "ct_ge_lightspeed_lung" / "1-031.dcm").read_bytes()))
        for n, name in ((2, "implicit"), (3, "big endian"), (4, "RLE"), (5, "JPEG lossless"), (7, "JPEG-LS"), (9, "JPEG 2000")):
            out.append((f"MR {name}", (SHARED / "transfer_syntaxes" / f"{n}.dcm").read_bytes()))
        out.append(("enhanced MR", (SHARED / "enhanced_siemens_xa10" / "6_1.dcm").read_bytes()))
    return out


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, list[tuple[str, int, int]]]:
    buf = bytearray(data)
    ops = []
    for _ in range(rng.randint(1, 6)):
        if not buf:
            break
        kind = rng.choice(["flip", "flip", "flip", "byte", "byte", "insert", "delete", "length", "length", "truncate"])
        p = rng.randrange(min(len(buf), HEAD))
        val = rng.randrange(256)
        ops.append((kind, p, val))
        if kind == "flip":
            buf[p] ^= 1 << (val % 8)
        elif kind == "byte":
            buf[p] = val
        elif kind == "insert":
            buf[p:p] = bytes([val]) * (1 + val % 7)
        elif kind == "delete":
            del buf[p : p + 1 + val % 16]
        elif kind == "length":
            v = LENGTHS[val % len(LENGTHS)]
            if val % 2:
                buf[p : p + 4] = v.to_bytes(4, "little")
            else:
                buf[p : p + 2] = (v & 0xFFFF).to_bytes(2, "little")
        else:
            del buf[p:]
    return bytes(buf), ops


REASONS: collections.Counter[str] = collections.Counter()


def _reason_kind(msg: str, path: Path) -> str:
    """The kind of a skip reason: without the path, numbers and quoted values."""
    msg = msg.replace(str(path) + ": ", "")
    msg = re.sub(r"\(.*", "", msg)
    msg = re.sub(r"'[^']*'", "'...'", msg)
    return re.sub(r"\d+", "N", msg).strip()[:90]


def run_pipeline(path: Path) -> str:
    try:
        f = read_header(path)
    except DicomSeriesError as exc:
        REASONS[_reason_kind(str(exc), path)] += 1
        return "rejected by the scan"
    assert isinstance(f, DicomFile), type(f)
    volumes = classify(build_volumes([f]))
    for v in volumes:
        json.dumps(v.summary())
    if not f.is_image:
        return "read, no image"
    for index in range(min(f.number_of_frames, 2)):
        try:
            arr = load.read_stored(f, index)
        except DecodeError:
            return "read, pixels refused (DecodeError)"
        assert arr.shape == (f.rows, f.columns), (arr.shape, f.rows, f.columns)
    for v in volumes:
        if v.loadable and int(np.prod(v.shape)) <= 4_000_000:
            try:
                arr = load.load_volume(v)
            except DecodeError:
                return "read, pixels refused (DecodeError)"
            assert arr.shape == v.shape
    return "read and loaded"


def peer(path: Path) -> str:
    try:
        pydicom.dcmread(path, force=True, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - we count what pydicom raises
        return type(exc).__name__
    return "ok"


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "fuzz_headers_failures")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="fuzz_headers_"))
    signal.signal(signal.SIGALRM, _alarm)
    outcomes: collections.Counter[str] = collections.Counter()
    peer_outcomes: collections.Counter[str] = collections.Counter()
    failures: list[tuple[int, str, str]] = []
    times: list[float] = []
    peer_times: list[float] = []
    try:
        seed_files = seeds(scratch)
        path = scratch / "case.dcm"
        t_all = time.perf_counter()
        for i in range(args.cases):
            name, data = seed_files[i % len(seed_files)]
            mutant, ops = mutate(rng, data)
            path.write_bytes(mutant)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                signal.alarm(CASE_SECONDS)
                try:
                    outcomes[run_pipeline(path)] += 1
                except Hang:
                    failures.append((i, name, f"over {CASE_SECONDS} s"))
                except Exception as exc:  # noqa: BLE001 - a foreign exception is the bug we look for
                    tb = traceback.extract_tb(exc.__traceback__)[-1]
                    failures.append((i, name, f"{type(exc).__name__}: {str(exc)[:200]} at {Path(tb.filename).name}:{tb.lineno}"))
                finally:
                    signal.alarm(0)
                times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                peer_outcomes[peer(path)] += 1
                peer_times.append(time.perf_counter() - t0)
            if failures and failures[-1][0] == i:
                args.out.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, args.out / f"case{i:06d}.dcm")
                (args.out / f"case{i:06d}.txt").write_text(f"seed: {name}\nops: {ops}\n{failures[-1][2]}\n")
        total = time.perf_counter() - t_all
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    n = args.cases
    print(f"fuzz_headers: {n} mutated files from {len(seed_files)} seeds (random seed {args.seed}) in {total:.1f} s")
    print(f"  pipeline per case: median {1e3 * float(np.median(times)):.2f} ms, max {1e3 * max(times):.0f} ms")
    print(f"  peer pydicom.dcmread per case: median {1e3 * float(np.median(peer_times)):.2f} ms "
          f"(ratio pipeline/pydicom {np.median(times) / max(np.median(peer_times), 1e-9):.2f})")  # fmt: skip
    print("  outcomes:")
    for k, c in outcomes.most_common():
        print(f"    {c:6d}  {100 * c / n:5.1f} %  {k}")
    print("  most frequent reasons given for rejected files:")
    for k, c in REASONS.most_common(8):
        print(f"    {c:6d}  {k}")
    print("  peer (pydicom alone) on the same bytes:")
    for k, c in peer_outcomes.most_common():
        print(f"    {c:6d}  {100 * c / n:5.1f} %  {'read' if k == 'ok' else 'raised ' + k}")
    print(f"  failures (foreign exception, wrong shape or hang): {len(failures)}")
    for i, name, msg in failures[:20]:
        print(f"    case {i} ({name}): {msg}")
    if failures:
        print(f"  reproducers saved in {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

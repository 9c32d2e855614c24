"""Benchmark: start-up time, whole processes (issue 13, item 8: goal <= 0.2 s for the import and ``--version``).

Usage: python benchmarks/bench_import.py [--repeat N] [--goal SECONDS] [--check] [--json]

Times, best of N fresh interpreters each (run alternately, after one warm-up each, so all see a warm page cache):

* ``python -c "pass"``: the interpreter floor (start-up of Python and its ``site``);
* ``python -c "import numpy"``: the one heavy library the core may import at module level (for reference);
* ``python -c "import napari_dicomseries"``;
* ``napari-dicomseries --version``: the console script installed next to this interpreter (not a pyenv shim).

and each figure minus the floor. Then ``python -X importtime`` of the import and of ``--version``: the ten
top-level packages that cost the most (the self time of all their modules summed), so one sees which library to
import where it is used (ruff's TID253 lists the module-level imports of banned libraries in the core).

``--check`` exits 1 when the import or ``--version`` takes longer than the goal (whole process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

GOAL_S = 0.2
IMPORT = 'python -c "import napari_dicomseries"'
VERSION = "napari-dicomseries --version"
#: The console script's entry point, for an interpreter run with options (``-X importtime``).
ENTRY = "import sys; from napari_dicomseries.cli import main; sys.exit(main())"


def _script() -> list[str]:
    """The ``napari-dicomseries`` console script beside this interpreter, else the same entry point via ``-c``."""
    exe = Path(sys.executable).with_name("napari-dicomseries")
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe)]
    return [sys.executable, "-c", ENTRY]


def commands() -> dict[str, list[str]]:
    """Label -> command line of each timed process."""
    return {
        'python -c "pass"': [sys.executable, "-c", "pass"],
        'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
        IMPORT: [sys.executable, "-c", "import napari_dicomseries"],
        VERSION: [*_script(), "--version"],
    }


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up writes the .pyc files, as any second start would find them
    return env


def time_process(cmd: list[str]) -> float:
    """Wall time of one run of ``cmd`` (seconds); fails loudly if the process does."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    return dt


def best_of(cmds: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Best wall time of each command over ``repeat`` rounds, the commands run alternately in each round."""
    for cmd in cmds.values():  # warm-up
        time_process(cmd)
    best = dict.fromkeys(cmds, float("inf"))
    for _ in range(repeat):
        for label, cmd in cmds.items():
            best[label] = min(best[label], time_process(cmd))
    return best


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_profile(cmd: list[str]) -> tuple[float, dict[str, float], dict[str, str]]:
    """``cmd`` run with ``-X importtime``: total import time (s), self time per top-level package (s), and for each
    package the module of another package that imported it first (who to blame)."""
    if Path(cmd[0]).name.startswith("python"):
        full = [cmd[0], "-X", "importtime", *cmd[1:]]
    else:  # a console script: run its entry point under the interpreter
        full = [sys.executable, "-X", "importtime", "-c", ENTRY, *cmd[1:]]
    r = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    entries: list[tuple[str, int]] = []  # (module, depth) in the order they finished importing
    parent: dict[int, int] = {}  # index -> index of the module that imported it
    pending: list[int] = []
    per_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in r.stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if not m:
            continue
        self_us, cumulative_us, depth, name = int(m[1]), int(m[2]), (len(m[3]) - 1) // 2, m[4]
        per_package[name.split(".")[0]] += self_us / 1e6
        if depth == 0:  # a top-level import: its cumulative time includes everything below it
            total += cumulative_us / 1e6
        i = len(entries)
        entries.append((name, depth))
        while pending and entries[pending[-1]][1] > depth:  # children are listed before their parent
            parent[pending.pop()] = i
        pending.append(i)
    via: dict[str, str] = {}
    for i, (name, _) in enumerate(entries):
        package = name.split(".")[0]
        j = parent.get(i)
        if package in via or j is None or entries[j][0].split(".")[0] == package:
            continue
        via[package] = entries[j][0]
    return total, dict(per_package), via


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="processes per command (best is kept); default 7")
    ap.add_argument("--goal", type=float, default=GOAL_S, help=f"seconds for the import and --version; default {GOAL_S}")
    ap.add_argument("--check", action="store_true", help="exit 1 when the import or --version is over the goal")
    ap.add_argument("--top", type=int, default=10, help="packages listed per -X importtime profile; default 10")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)

    cmds = commands()
    best = best_of(cmds, args.repeat)
    floor = best['python -c "pass"']
    goal_labels = (IMPORT, VERSION)
    profiles = {label: import_profile(cmds[label]) for label in goal_labels}
    over = [label for label in goal_labels if best[label] > args.goal]

    if args.json:
        print(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "repeat": args.repeat,
                    "goal_s": args.goal,
                    "best_s": best,
                    "above_floor_s": {k: v - floor for k, v in best.items()},
                    "importtime_s": {
                        label: {
                            "total": total,
                            "top": {
                                k: {"self_s": v, "via": via.get(k)}
                                for k, v in sorted(pkgs.items(), key=lambda kv: -kv[1])[: args.top]
                            },
                        }
                        for label, (total, pkgs, via) in profiles.items()
                    },
                    "over_goal": over,
                },
                indent=2,
            )
        )
    else:
        print(f"Python {sys.version.split()[0]}, best of {args.repeat} processes each (goal: <= {args.goal:.2f} s)")
        print(f"{'command':<40} {'best s':>8} {'- floor':>8}  goal")
        for label, t in best.items():
            mark = ("ok" if t <= args.goal else "OVER") if label in goal_labels else ""
            print(f"{label:<40} {t:8.3f} {t - floor:8.3f}  {mark}")
        for label, (total, pkgs, via) in profiles.items():
            print(f"\n-X importtime, {label}: {total:.3f} s of imports; top {args.top} packages by self time")
            for name, t in sorted(pkgs.items(), key=lambda kv: -kv[1])[: args.top]:
                print(
                    f"  {name:<24} {t:7.3f} s {100 * t / total if total else 0:5.1f} %   first imported by {via.get(name, '-')}"
                )
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())

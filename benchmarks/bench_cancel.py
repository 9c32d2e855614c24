"""Cancel-to-idle time and progress linearity of the longest jobs, in the dock, on the command line and in the core.

``xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/bench_cancel.py [--scale 1] [--skip-gui]``

Writes the synthetic study (``--scale``, default 1: 645 files, two thin reconstructions of 257 x 512 x 512) to a
temporary folder, then for each long job:

* **image comparison** of the two thin reconstructions (1.25 mm STANDARD vs LUNG, soft-tissue HU masks: difference,
  statistics, histogram, Dice and Hausdorff distance), in the *Image difference and overlap* dock of a real viewer
  (its layers lazy, as the reader opens volumes this large) and as ``napari-dicomseries compare`` (a subprocess on a
  pseudo-terminal, its bar read from stderr);
* **export** of the whole study, in the core (:func:`export.export_folder`) and as ``napari-dicomseries export``;

it runs the job once to the end (its duration, and its progress fraction against the elapsed fraction: a linear
bar has them equal), then starts it again and cancels it when the progress reaches 25, 50 and 75 %: in the dock by
clicking Cancel, on the command line by sending SIGINT (Ctrl-C). It prints the time from Cancel to idle (the
worker finished and the button state restored; the process exited with 130) and checks that nothing was added or
written. Goal: well under 1 s.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PLUGIN = "napari-dicomseries"
POINTS = (0.25, 0.5, 0.75)


def _linearity(samples: list[tuple[float, float]], total: float) -> str:
    """Progress fraction at 10 %, 20 %, ... 90 % of the elapsed time, and the largest gap between them."""
    if not samples or total <= 0:
        return "no samples"
    out, worst = [], 0.0
    for k in range(1, 10):
        q = k / 10
        p = max((f for t, f in samples if t <= q * total), default=0.0)
        worst = max(worst, abs(p - q))
        out.append(f"{q:.1f}:{p:.2f}")
    return "elapsed:progress " + " ".join(out) + f"   max |progress - elapsed| = {worst:.2f}"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# ----------------------------------------------------------------------------- core


def bench_core_export(study: Path, tmp: Path) -> None:
    from napari_dicomseries.errors import Cancelled
    from napari_dicomseries.export import export_folder

    def run(until: float | None, out: Path) -> tuple[float, list[tuple[float, float]], float | None]:
        samples: list[tuple[float, float]] = []
        pressed: list[float] = []
        t0 = time.monotonic()

        def progress(stage: str, done: int, total: int) -> None:
            frac = 0.05 * done / total if stage == "scanning" else 0.05 + 0.95 * done / max(total, 1)
            samples.append((time.monotonic() - t0, frac))
            if until is not None and frac >= until and not pressed:
                pressed.append(time.monotonic())

        try:
            export_folder(study, out, progress=progress, cancel=lambda: bool(pressed))
        except Cancelled:
            return time.monotonic() - t0, samples, time.monotonic() - pressed[0]
        return time.monotonic() - t0, samples, None

    total, samples, _ = run(None, tmp / "core_full")
    print(f"core export: {total:.2f} s; {_linearity(samples, total)}")
    for until in POINTS:
        out = tmp / f"core_{int(until * 100)}"
        _, _, idle = run(until, out)
        print(f"  cancel at {until:.0%}: cancel -> raised {idle:.3f} s; files left: {len(_files(out))}")


# ----------------------------------------------------------------------------- command line


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "napari_dicomseries.cli", *args]


_PCT = re.compile(rb"(\d+)%")


def _cli_run(cmd: list[str], until: float | None) -> tuple[int, float, float | None, list[tuple[float, float]], bytes]:
    """Run on a pseudo-terminal; SIGINT when the bar shows ``until``; (exit code, seconds, SIGINT->exit, samples)."""
    master, slave = pty.openpty()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, close_fds=True)
    os.close(slave)
    buf = b""
    samples: list[tuple[float, float]] = []
    sent = None
    bar_label = b"comparing" if "compare" in cmd else b"export"
    while True:
        ready, _, _ = select.select([master], [], [], 0.01)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            for line in chunk.split(b"\r"):
                m = _PCT.search(line)
                if m and bar_label in line:
                    samples.append((time.monotonic() - t0, int(m.group(1)) / 100))
            if until is not None and sent is None and samples and samples[-1][1] >= until:
                proc.send_signal(signal.SIGINT)
                sent = time.monotonic()
        elif proc.poll() is not None:
            break
    rc = proc.wait()
    end = time.monotonic()
    os.close(master)
    return rc, end - t0, (end - sent if sent else None), samples, buf


def bench_cli(study: Path, tmp: Path) -> None:
    jobs = {
        "compare": lambda out: _cli("compare", str(study), "4", "5", "--preset", "soft tissue"),
        "export": lambda out: _cli("export", str(study), str(out)),
    }
    for name, make in jobs.items():
        rc, total, _, samples, _ = _cli_run(make(tmp / f"cli_{name}_full"), None)
        t_bar = samples[0][0] if samples else total
        # the bar's own time axis: from its first drawing (after the scan) to the end
        rel = [(t - t_bar, f) for t, f in samples]
        print(f"cli {name}: exit {rc}, {total:.2f} s (bar from {t_bar:.2f} s); {_linearity(rel, total - t_bar)}")
        for until in POINTS:
            out = tmp / f"cli_{name}_{int(until * 100)}"
            rc, _, idle, _, buf = _cli_run(make(out), until)
            last = buf.replace(b"\r", b"\n").strip().splitlines()[-1].decode(errors="replace") if buf.strip() else ""
            left = len(_files(out)) if name == "export" else 0
            idle_text = f"{idle:.3f} s" if idle is not None else "n/a (ended first)"
            print(f"  SIGINT at {until:.0%}: exit {rc}, SIGINT -> exit {idle_text}, last line {last!r}, files left {left}")


# ----------------------------------------------------------------------------- the dock


def bench_gui(study: Path) -> None:
    from qtpy.QtWidgets import QApplication

    import napari
    from napari_dicomseries._reader import read_volumes
    from napari_dicomseries._widgets.image_compare import HUPreset, ImageCompare, MaskSource

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    layers = {}
    for data, kwargs, kind in read_volumes(study):
        n = kwargs["metadata"]["dicom"]["volume"]["series_number"]
        if n in (4, 5):
            layers[n] = viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Image difference and overlap")
    w: Any = widget if isinstance(widget, ImageCompare) else widget.image_compare
    w.layer_a.value, w.layer_b.value = layers[4], layers[5]
    w.mask_source.value = MaskSource.hu
    w.preset.value = HUPreset.soft_tissue
    w.add_difference.value = False
    app = QApplication.instance()

    def run(until: float | None) -> tuple[float, list[tuple[float, float]], float | None, int]:
        n_layers = len(viewer.layers)
        w.cancel_to_idle = None
        t0 = time.monotonic()
        w.compute()
        samples: list[tuple[float, float]] = []
        while w.busy:
            app.processEvents()
            time.sleep(0.005)
            if w.job_bar.running:
                frac = w.job_bar.bar.value / w.job_bar.bar.max
                samples.append((time.monotonic() - t0, frac))
                if until is not None and frac >= until and w.job_bar.cancel_pressed_at is None:
                    w.job_bar.cancel_button.native.click()
        app.processEvents()
        return time.monotonic() - t0, samples, w.cancel_to_idle, len(viewer.layers) - n_layers

    total, samples, _, _ = run(None)
    print(f"dock image comparison (lazy layers): {total:.2f} s; {_linearity(samples, total)}")
    for until in POINTS:
        _, _, idle, added = run(until)
        state = "button enabled" if w.compute_button.enabled and w.job_bar.native.isHidden() else "NOT idle"
        print(f"  Cancel at {until:.0%}: Cancel -> idle {idle:.3f} s ({state}); status {w.status.message.value!r}; "
              f"layers added {added}")  # fmt: skip
    viewer.close()


def bench_core_compare(study: Path) -> None:
    from napari_dicomseries import open_folder
    from napari_dicomseries.errors import Cancelled
    from napari_dicomseries.metrics import compare_volumes
    from napari_dicomseries.selection import select_volume

    volumes, _ = open_folder(study)
    a, b = select_volume(volumes, "4"), select_volume(volumes, "5")

    class Rec:
        def __init__(self, until: float | None) -> None:
            self.until, self.samples, self.pressed, self.t0 = until, [], None, time.monotonic()
            self.labels: list[tuple[float, str]] = []

        def __call__(self, done: int, total: int) -> None:
            self.samples.append((time.monotonic() - self.t0, done / total))
            if self.until is not None and done / total >= self.until and self.pressed is None:
                self.pressed = time.monotonic()

        def stage(self, label: str) -> None:
            head = label.split(" ")[0]
            if not self.labels or self.labels[-1][1] != head:
                self.labels.append((time.monotonic() - self.t0, head))

    rec = Rec(None)
    compare_volumes(a, b, hu_range=(-100, 200), progress=rec)
    total = time.monotonic() - rec.t0
    print(f"core image comparison: {total:.2f} s; {_linearity(rec.samples, total)}")
    print("  stages (start s): " + ", ".join(f"{name} {t:.2f}" for t, name in rec.labels))
    for until in POINTS:
        rec = Rec(until)
        try:
            compare_volumes(a, b, hu_range=(-100, 200), progress=rec, cancel=lambda r=rec: r.pressed is not None)
        except Cancelled:
            print(f"  cancel at {until:.0%}: cancel -> raised {time.monotonic() - rec.pressed:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="synthetic study scale (default 1: 512 x 512)")
    ap.add_argument("--skip-gui", action="store_true", help="no viewer (core and command line only)")
    ap.add_argument("--study", type=Path, help="use this study folder instead of writing one")
    args = ap.parse_args()
    from napari_dicomseries.synthetic import write_study

    with tempfile.TemporaryDirectory(prefix="bench_cancel_") as tmp_name:
        tmp = Path(tmp_name)
        study = args.study
        if study is None:
            study = tmp / "study"
            t = time.monotonic()
            write_study(study, scale=args.scale)
            print(f"study scale {args.scale}: written in {time.monotonic() - t:.1f} s")
        print(f"{os.cpu_count()} CPU(s); threads alive {threading.active_count()}")
        bench_core_compare(study)
        bench_core_export(study, tmp)
        bench_cli(study, tmp)
        if not args.skip_gui:
            bench_gui(study)


if __name__ == "__main__":
    main()

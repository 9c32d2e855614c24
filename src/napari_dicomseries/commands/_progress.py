"""Progress bars on the terminal for long commands, ``--quiet``, and Ctrl-C as a clean cancel.

:class:`TerminalBar` is a ``progress(done, total)`` callable as the core's long jobs take (with a ``stage(label)``
method for jobs in stages, see :mod:`napari_dicomseries.jobs`). It draws on stderr only when stderr is a terminal
and ``--quiet`` was not given, so ``--json`` output, pipes and tests stay clean.

:func:`run_cancellable` runs a command's body so that Ctrl-C cancels it: the first Ctrl-C asks the running job to
stop (its ``cancel()`` answers True at its next slice, slab or file), the job raises
:class:`~napari_dicomseries.errors.Cancelled`, nothing half-written is left, and the command prints one line
``cancelled`` on stderr and exits with 130 (no traceback). A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from ..errors import Cancelled

__all__ = ["TerminalBar", "StageBar", "set_quiet", "is_quiet", "run_cancellable", "Interrupt", "EXIT_CANCELLED"]

#: Fewer steps than this finish too fast to need a bar.
MIN_TOTAL = 50
#: Exit code of a command cancelled with Ctrl-C (128 + SIGINT), as shells report it.
EXIT_CANCELLED = 130

_QUIET = False
_OPEN: weakref.WeakSet[TerminalBar] = weakref.WeakSet()


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no bar of this process draws (the scan's included), whatever the terminal."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    """True after ``set_quiet(True)``."""
    return _QUIET


class TerminalBar:
    """A progress bar on stderr, a callable ``bar(done, total)`` as :func:`scan.scan` and ``open_folder`` take.

    It draws only when the stream is a terminal (so ``--json`` output, pipes and
    tests stay clean), ``--quiet`` was not given (:func:`set_quiet`), there are
    at least :data:`MIN_TOTAL` steps and ``delay`` seconds have passed since it
    was made (a job faster than that prints nothing); it ends its line when
    ``done`` reaches ``total`` or on :meth:`close`. A job in stages tells it the
    current stage through :meth:`stage` (``"loading A 40/120"``), shown after
    the percentage.

    Parameters
    ----------
    label : str
        Shown before the bar (``scanning``).
    enabled : bool, optional
        Draw (True) or not (False) whatever the stream is; default: when the stream is a terminal and not quiet.
    stream : text file, optional
        Where to draw (default ``sys.stderr``).
    delay : float
        Seconds before the first drawing.
    """

    def __init__(
        self, label: str = "scanning", *, enabled: bool | None = None, stream: TextIO | None = None, delay: float = 0.0
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = not _QUIET and _isatty(self.stream)
        self.enabled = enabled
        self.delay = delay
        self._t0 = time.monotonic()
        self._last = -1
        self._open = False
        self._stage = ""
        self._drawn_stage = ""
        self._t_drawn = 0.0
        self._width = 0
        self._state = (0, 0)

    def __call__(self, done: int, total: int) -> None:
        self._state = (done, total)
        if not self.enabled or total < MIN_TOTAL:
            return
        pct = int(100 * done / max(total, 1))
        if done >= total:
            if self._open:
                self._draw(done, total, pct)
            self.close()
            return
        if pct != self._last or (self._stage != self._drawn_stage and time.monotonic() - self._t_drawn > 0.1):
            if time.monotonic() - self._t0 >= self.delay:
                self._draw(done, total, pct)

    def stage(self, label: str) -> None:
        """The current stage of a job in stages (shown after the bar)."""
        self._stage = label
        done, total = self._state
        if self.enabled and self._open and time.monotonic() - self._t_drawn > 0.1 and total:
            self._draw(done, total, int(100 * done / max(total, 1)))

    def _draw(self, done: int, total: int, pct: int) -> None:
        self._last = pct
        self._drawn_stage = self._stage
        self._t_drawn = time.monotonic()
        bar = "#" * (pct // 4)
        tail = f"{pct:3d}%  {self._stage}" if self._stage else f"{done}/{total}"
        text = f"\r{self.label} {bar:<25} {tail}"
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write(text + " " * pad)
        self.stream.flush()
        self._open = True
        _OPEN.add(self)

    def close(self) -> None:
        """End the bar's line (once; nothing when nothing was drawn)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._last = -1
            self._width = 0
        _OPEN.discard(self)


def StageBar(label: str) -> TerminalBar:
    """A :class:`TerminalBar` for a core job in stages: percentage and stage label, drawn after 0.5 s."""
    return TerminalBar(label, delay=0.5)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def close_bars() -> None:
    """End the line of every bar still drawn (before a message on stderr)."""
    for bar in list(_OPEN):
        bar.close()


class Interrupt:
    """Ctrl-C as a request to cancel: :meth:`cancel` is the ``cancel()`` callable to hand to the core.

    While :attr:`cooperative` is False (a step that cannot be cancelled, e.g. the scan of the folder), Ctrl-C
    interrupts at once (``KeyboardInterrupt``); inside :meth:`cooperating` it only sets the flag the core asks.
    A second Ctrl-C always interrupts at once.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.cooperative = False

    def cancel(self) -> bool:
        """True once Ctrl-C was pressed."""
        return self.event.is_set()

    def _handler(self, signum: int, frame: Any) -> None:
        if self.event.is_set() or not self.cooperative:
            self.event.set()
            raise KeyboardInterrupt
        self.event.set()

    @contextmanager
    def cooperating(self) -> Iterator[Callable[[], bool]]:
        """Within this block Ctrl-C asks the job to stop (yields :meth:`cancel`)."""
        before = self.cooperative
        self.cooperative = True
        try:
            yield self.cancel
        finally:
            self.cooperative = before


def run_cancellable(args: Any, body: Callable[[Interrupt], int]) -> int:
    """Run ``body(interrupt)`` with ``--quiet`` applied and Ctrl-C as Cancel; returns its exit code or 130.

    A job cancelled (Ctrl-C, or :class:`Cancelled` raised by the core) prints one line ``cancelled`` on stderr.
    """
    set_quiet(bool(getattr(args, "quiet", False)))
    intr = Interrupt()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, intr._handler) if main else None
    try:
        return body(intr)
    except (Cancelled, KeyboardInterrupt):
        close_bars()
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        close_bars()
        if main:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def add_quiet_option(p: Any) -> None:
    """``--quiet``/``-q``: no progress bar on stderr."""
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar on stderr (none either when stderr is no terminal)"
    )

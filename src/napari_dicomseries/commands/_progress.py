"""A progress bar on the terminal for long commands: ``progress(done, total)`` callbacks draw it."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["TerminalBar"]

#: Fewer steps than this finish too fast to need a bar.
MIN_TOTAL = 50


class TerminalBar:
    """A progress bar on stderr, a callable ``bar(done, total)`` as :func:`scan.scan` and ``open_folder`` take.

    It draws only when the stream is a terminal (so ``--json`` output, pipes and
    tests stay clean) and there are at least :data:`MIN_TOTAL` steps; it ends its
    line when ``done`` reaches ``total`` or on :meth:`close`.

    Parameters
    ----------
    label : str
        Shown before the bar (``scanning``).
    enabled : bool, optional
        Draw (True) or not (False) whatever the stream is; default: when the stream is a terminal.
    stream : text file, optional
        Where to draw (default ``sys.stderr``).
    """

    def __init__(self, label: str = "scanning", *, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = -1
        self._open = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < MIN_TOTAL:
            return
        pct = int(100 * done / max(total, 1))
        if pct != self._last:
            self._last = pct
            bar = "#" * (pct // 4)
            self.stream.write(f"\r{self.label} {bar:<25} {done}/{total}")
            self.stream.flush()
            self._open = True
        if done >= total:
            self.close()

    def close(self) -> None:
        """End the bar's line (once; nothing when nothing was drawn)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._last = -1

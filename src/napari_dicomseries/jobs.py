"""Progress and Cancel for long jobs: one overall fraction over weighted stages, and the cancel check.

A long core function (image comparison, tag comparison, export, loading) takes two optional keywords:

* ``progress(done, total)``: called as the job advances, ``done`` never decreasing and reaching ``total`` at
  the end. A progress callable that also has a ``stage(label)`` method is told the current stage, e.g.
  ``"loading A 40/120"``, ``"resampling"``, ``"statistics 3/8"`` (the terminal bar and the docks show it);
* ``cancel()``: asked between small steps (a slice, a slab, a file); when it returns True the job raises
  :class:`~napari_dicomseries.errors.Cancelled` and keeps nothing half-done.

:class:`Stages` turns the progress of each stage into one overall ``progress(done, SCALE)``, each stage
weighted by its expected cost (measured: seconds per million voxels), so the bar moves at a roughly
constant speed over the whole job instead of racing through cheap stages and stalling on expensive ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .errors import Cancelled

__all__ = ["ProgressFn", "CancelFn", "SCALE", "Stages", "check_cancel", "say_stage", "run_filter"]

ProgressFn = Callable[[int, int], object]
CancelFn = Callable[[], bool]

#: The ``total`` of a staged job's ``progress(done, total)``.
SCALE = 1000


def check_cancel(cancel: CancelFn | None, what: str) -> None:
    """Raise :class:`Cancelled` (``"<what> cancelled"``) when ``cancel()`` returns True."""
    if cancel is not None and cancel():
        raise Cancelled(f"{what} cancelled")


def say_stage(progress: Any, label: str) -> None:
    """Tell ``progress`` the current stage when it can hear it (has a ``stage(label)`` method)."""
    fn = getattr(progress, "stage", None)
    if callable(fn):
        fn(label)


class Stages:
    """One overall progress over weighted stages, with the cancel check at every step.

    Parameters
    ----------
    weights : sequence of (name, weight)
        The stages in order and their expected cost (any unit; only ratios count). Stages of weight 0 report
        their label but do not move the bar.
    progress : callable, optional
        ``progress(done, SCALE)``; may have a ``stage(label)`` method.
    cancel : callable, optional
        Asked at every :meth:`start` and :meth:`step`.
    what : str
        The job, for the :class:`Cancelled` message (``"comparison of 4 and 5"``).
    """

    def __init__(
        self,
        weights: Sequence[tuple[str, float]],
        *,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        what: str = "job",
    ) -> None:
        self.progress = progress
        self.cancel = cancel
        self.what = what
        total = float(sum(max(w, 0.0) for _, w in weights)) or 1.0
        self._span: dict[str, tuple[float, float]] = {}
        at = 0.0
        for name, w in weights:
            share = max(w, 0.0) / total
            self._span[name] = (at, share)
            at += share
        self._name: str | None = None
        self._label = ""
        self._counts = True
        self._last = -1
        self._last_label = ""

    @property
    def stage_name(self) -> str | None:
        """The stage running now (None before the first)."""
        return self._name

    def check(self) -> None:
        """Raise :class:`Cancelled` when ``cancel()`` says so, naming the stage."""
        if self.cancel is not None and self.cancel():
            where = f" while {self._label}" if self._label else ""
            raise Cancelled(f"{self.what} cancelled{where}")

    def _report(self, fraction: float, label: str) -> None:
        if self.progress is None:
            return
        if label != self._last_label:
            self._last_label = label
            say_stage(self.progress, label)
        done = min(SCALE, max(self._last, int(fraction * SCALE)))
        if done != self._last:
            self._last = done
            self.progress(done, SCALE)

    def start(self, name: str, label: str | None = None, *, counts: bool = True) -> None:
        """Begin stage ``name`` (shown as ``label``, default the name, followed by ``done/total`` with ``counts``)."""
        self._name = name
        self._label = label or name
        self._counts = counts
        self.check()
        start, _ = self._span.get(name, (self._fraction(), 0.0))
        self._report(start, self._label)

    def _fraction(self) -> float:
        return max(self._last, 0) / SCALE

    def step(self, done: int, total: int) -> None:
        """``done`` of ``total`` steps of the current stage; checks cancel."""
        self.check()
        if self._name is None:
            return
        start, share = self._span.get(self._name, (self._fraction(), 0.0))
        frac = start + share * (min(done, total) / total if total > 0 else 1.0)
        self._report(frac, f"{self._label} {done}/{total}" if total > 1 and self._counts else self._label)

    def reporter(self, name: str, label: str | None = None, *, counts: bool = True) -> Callable[[int, int], None]:
        """:meth:`start` stage ``name`` and return its ``step`` (a ``progress(done, total)`` for a nested job)."""
        self.start(name, label, counts=counts)
        return self.step

    def sub(self, name: str, label: str | None = None) -> _Nested:
        """:meth:`start` stage ``name`` and return a progress callable for a nested staged job.

        The nested job's ``progress(done, total)`` fills this stage; its stage labels are shown (prefixed with
        ``label`` when given).
        """
        self.start(name, label)
        return _Nested(self, label)

    def finish(self) -> None:
        """The whole job is done: ``progress(SCALE, SCALE)``."""
        self._report(1.0, self._last_label)


class _Nested:
    """Progress of a nested staged job, mapped onto one stage of the outer :class:`Stages`."""

    def __init__(self, outer: Stages, prefix: str | None) -> None:
        self.outer = outer
        self.prefix = prefix

    def __call__(self, done: int, total: int) -> None:
        o = self.outer
        if o._name is None:
            return
        start, share = o._span.get(o._name, (o._fraction(), 0.0))
        frac = start + share * (min(done, total) / total if total > 0 else 1.0)
        o._report(frac, o._last_label)

    def stage(self, label: str) -> None:
        o = self.outer
        o._label = f"{self.prefix}: {label}" if self.prefix else label
        o._report(o._fraction(), o._label)


def run_filter(
    sitk_filter: Any,
    *inputs: Any,
    step: Callable[[int, int], object] | None = None,
    cancel: CancelFn | None = None,
    what: str = "job",
) -> Any:
    """``sitk_filter.Execute(*inputs)`` with progress and Cancel inside the one SimpleITK call.

    ITK reports its progress as events; each one is passed on as ``step(permille, 1000)`` and asks ``cancel()``;
    a True answer aborts the filter at that event, and :class:`Cancelled` is raised once it has stopped.
    """
    import SimpleITK as sitk

    state = {"cancelled": False}

    def event() -> None:
        if state["cancelled"]:
            return
        try:
            if cancel is not None and cancel():
                state["cancelled"] = True
            elif step is not None:
                step(int(1000 * min(max(sitk_filter.GetProgress(), 0.0), 1.0)), 1000)
        except Cancelled:  # the step's own cancel check
            state["cancelled"] = True
        if state["cancelled"]:
            sitk_filter.Abort()

    if step is not None or cancel is not None:
        sitk_filter.AddCommand(sitk.sitkProgressEvent, event)
    try:
        out = sitk_filter.Execute(*inputs)
    except RuntimeError:
        if state["cancelled"]:
            raise Cancelled(f"{what} cancelled") from None
        raise
    finally:
        sitk_filter.RemoveAllCommands()
    if state["cancelled"]:
        raise Cancelled(f"{what} cancelled")
    return out

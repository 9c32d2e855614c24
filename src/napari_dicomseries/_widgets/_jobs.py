"""Progress that moves and a Cancel button for the docks' background jobs (tag comparison, image comparison).

The core's long jobs take ``progress(done, total)`` (with a ``stage(label)`` method) and ``cancel()`` keywords
(:mod:`napari_dicomseries.jobs`). They run in a worker thread; :class:`JobProgress` is the callable handed to
them: it only stores the latest numbers and label (thread-safe, no Qt call from the worker), and a timer in the
main thread shows them on a bar every 50 ms. Cancel sets a :class:`threading.Event` that the job's ``cancel()``
asks between slices, slabs and SimpleITK progress events; the job then raises
:class:`~napari_dicomseries.errors.Cancelled` and the dock adds nothing.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton, Widget
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QSizePolicy

__all__ = ["JobProgress", "JobBar"]

#: The bar's resolution (its maximum).
BAR_MAX = 1000


class JobProgress:
    """The ``progress(done, total)`` / ``stage(label)`` / ``cancel()`` trio of one job, written by the worker thread."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.fraction = 0.0
        self.label = ""
        self.t0 = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        self.fraction = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0

    def stage(self, label: str) -> None:
        """The job's current stage (``"loading A 40/120"``)."""
        self.label = label

    def cancel(self) -> bool:
        """True once Cancel was pressed (the ``cancel()`` the core asks)."""
        return self.event.is_set()


class JobBar(Container):
    """A progress bar, the current stage and a Cancel button; hidden while no job runs.

    :meth:`start` returns the :class:`JobProgress` to hand to the core; :meth:`stop` hides the bar and resets the
    button (call it when the worker has finished, whichever way). Cancel sets the job's event and says
    "cancelling ..." until the worker ends.
    """

    def __init__(self) -> None:
        self.bar = ProgressBar(value=0, min=0, max=BAR_MAX)
        self.stage = Label(value="")
        self.cancel_button = PushButton(text="Cancel")
        widgets: list[Widget] = [self.bar, self.cancel_button]
        row = Container(widgets=widgets, layout="horizontal", labels=False)
        row.margins = (0, 0, 0, 0)
        super().__init__(widgets=[row, self.stage], labels=False)
        self.margins = (0, 0, 0, 0)
        self.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.stage.native.setWordWrap(False)
        self.stage.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar.native.setFormat("%p%")
        self.job: JobProgress | None = None
        self.cancel_pressed_at: float | None = None
        self._timer = QTimer(self.native)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.refresh)
        self.cancel_button.changed.connect(self.request_cancel)
        self.visible = False

    @property
    def running(self) -> bool:
        """True from :meth:`start` to :meth:`stop`."""
        return self.job is not None

    def start(self) -> JobProgress:
        """Show the bar at 0 with Cancel enabled; the progress/cancel object of the new job."""
        self.job = JobProgress()
        self.cancel_pressed_at = None
        self.bar.value = 0
        self.stage.value = "starting ..."
        self.cancel_button.enabled = True
        self.cancel_button.text = "Cancel"
        self.visible = True
        self._timer.start()
        return self.job

    def refresh(self) -> None:
        """Show the job's latest fraction and stage (the timer calls it every 50 ms)."""
        job = self.job
        if job is None:
            return
        self.bar.value = int(round(job.fraction * BAR_MAX))
        text = "cancelling ..." if job.event.is_set() else job.label
        self.stage.value = text
        self.stage.native.setToolTip(text)

    def request_cancel(self, *_: Any) -> None:
        """Ask the running job to stop (it raises Cancelled at its next check)."""
        if self.job is None or self.job.event.is_set():
            return
        self.cancel_pressed_at = time.monotonic()
        self.job.event.set()
        self.cancel_button.enabled = False
        self.cancel_button.text = "Cancelling ..."
        self.refresh()

    def stop(self) -> None:
        """The job has ended: hide the bar, reset the button."""
        self._timer.stop()
        self.job = None
        self.cancel_button.enabled = True
        self.cancel_button.text = "Cancel"
        self.visible = False

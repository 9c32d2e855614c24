"""Series browser dock: the volumes of a folder with their classes and warnings; filter, sort, load as layers.

Everything shown comes from the core's one pipeline (:func:`napari_dicomseries.open_folder`:
scan, group, classify, gap policy) and layers are built by
:func:`napari_dicomseries._reader.volume_layer_data`; this module only wires
them to controls. Scanning and loading run in a worker thread; *Cancel* stops them.
"""

from __future__ import annotations

import os
import threading
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.types import FileDialogMode
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, PushButton

from ..classify import THIN_MAX_MM
from ..errors import DicomSeriesError
from ._common import ResultTable, StatusBar, displayable, enum_choices, layer_files, layer_summary, start_worker

if TYPE_CHECKING:
    from collections.abc import Callable

    import napari.viewer

    from ..volume import Volume

__all__ = ["SeriesBrowser", "KernelFilter", "LoadMode", "COLUMNS", "volume_row"]


class KernelFilter(Enum):
    """Which kernel classes to show."""

    all = "all kernels"
    standard = "standard"
    lung = "lung"
    bone = "bone"
    other = "other"


class LoadMode(Enum):
    """How pixel data are loaded into layers."""

    auto = "auto (lazy when large)"
    memory = "in memory"
    lazy = "lazy (slice by slice)"


COLUMNS = (
    "key", "series", "description", "modality", "kernel", "kernel class", "thickness mm", "spacing mm", "size",
    "orientation", "kind", "acq group", "content time", "creation time", "layer", "warnings",
)  # fmt: skip


def volume_row(v: Volume, layer_name: str = "") -> list[Any]:
    """One table row for a volume: the columns of ``ls`` plus the times, the loaded layer and the warnings."""
    img = v.is_image
    return [
        v.key,
        v.series_number if v.series_number is not None else "",
        v.series_description,
        v.modality,
        v.convolution_kernel,
        v.kernel_class,
        "" if not img else (f"{v.slice_thickness:g}" if v.slice_thickness else f"({v.spacing[0]:.3g})"),
        "" if not img else "x".join(f"{s:.3g}" for s in v.spacing),
        "x".join(str(s) for s in v.shape),
        v.orientation,
        v.kind,
        v.acquisition_group,
        v.content_time,
        v.instance_creation_time,
        layer_name,
        "; ".join(v.warning_messages),
    ]


def _same_volume(v: Volume | None, summary: dict[str, Any] | None) -> bool:
    return (
        v is not None
        and summary is not None
        and v.key == summary.get("key")
        and v.series_instance_uid == summary.get("series_instance_uid")
    )


class SeriesBrowser(Container):
    """Browse the volumes of a folder: classes, warnings, filters, sorting; load the selected ones as layers.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer layers are added to; selecting one of its DICOM layers selects its row.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        viewer = napari_viewer
        self.viewer = viewer
        self.folder = FileEdit(mode=FileDialogMode.EXISTING_DIRECTORY, label="Folder")
        self.use_layer_button = PushButton(text="Folder of selected layer")
        self.scan_button = PushButton(text="Scan")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.hide_localizers = CheckBox(value=True, text="Hide localizers")
        self.only_thin = CheckBox(value=False, text=f"Only thin (<= {THIN_MAX_MM:g} mm)")
        self.kernel = ComboBox(choices=enum_choices(KernelFilter), value=KernelFilter.all, label="Kernel class")
        self.table = ResultTable(COLUMNS, min_height=220)
        self.load_mode = ComboBox(choices=enum_choices(LoadMode), value=LoadMode.auto, label="Load")
        self.load_button = PushButton(text="Load selected as layers")
        self.tags_button = PushButton(text="Compare tags of selected")
        self.status = StatusBar()
        scan_row = Container(
            widgets=[self.use_layer_button, self.scan_button, self.cancel_button], layout="horizontal", labels=False
        )
        filters = Container(widgets=[self.hide_localizers, self.only_thin], layout="horizontal", labels=False)
        actions = Container(widgets=[self.load_button, self.tags_button], layout="horizontal", labels=False)
        for c in (scan_row, filters, actions):
            c.margins = (0, 0, 0, 0)
        super().__init__(widgets=[self.folder, scan_row, filters, self.kernel, self.table, self.load_mode, actions, self.status])
        self.volumes: list[Volume] = []
        self.skipped: list[Any] = []
        self._worker: Any = None
        self._cancel = threading.Event()  # the running job's: set by Cancel
        self._selecting = False
        self.scan_button.changed.connect(lambda: self.scan())
        self.cancel_button.changed.connect(self.cancel)
        self.use_layer_button.changed.connect(self.use_selected_layer)
        self.load_button.changed.connect(lambda: self.load_selected())
        self.tags_button.changed.connect(self.compare_tags)
        for w in (self.hide_localizers, self.only_thin, self.kernel):
            w.changed.connect(self.refresh)
        viewer.layers.selection.events.active.connect(self._on_active_layer)
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layers_changed)

    # ------------------------------------------------------------------ state
    @property
    def busy(self) -> bool:
        """True while a scan or a load runs in the background."""
        return self._worker is not None

    def cancel(self, *_: Any) -> None:
        """Stop the running scan or load: a scan ends without results, a load after the layer it is building."""
        self._cancel.set()
        if self._worker is not None:
            self.status.say("cancelling ...")

    def _start(self, work: Callable[[], Any], **callbacks: Any) -> Any:
        """Run ``work`` in a worker thread with Cancel enabled until it ends."""
        self.cancel_button.enabled = True
        return start_worker(self, work, on_finished=self._idle, **callbacks)

    def _idle(self) -> None:
        if self._worker is None:
            self.cancel_button.enabled = False

    def _new_job(self) -> threading.Event:
        """A fresh cancel flag for the next job (a Cancel of an earlier job does not carry over)."""
        self._cancel = threading.Event()
        return self._cancel

    def _passes(self, v: Volume) -> bool:
        if self.hide_localizers.value and v.kind == "localizer":
            return False
        if self.only_thin.value and v.thickness_class != "thin":
            return False
        k = self.kernel.value
        return k is KernelFilter.all or v.kernel_class == k.value

    def _layer_of(self, v: Volume) -> Any:
        for layer in self.viewer.layers:
            if _same_volume(v, layer_summary(layer)):
                return layer
        return None

    def refresh(self, *_: Any) -> None:
        """Rebuild the table from the scanned volumes and the filters, keeping the selection."""
        selected = {id(v) for v in self.table.selected_payloads()}
        vols = [v for v in self.volumes if self._passes(v)]
        rows = []
        for v in vols:
            layer = self._layer_of(v)
            rows.append(volume_row(v, layer.name if layer is not None else ""))
        self.table.set_rows(COLUMNS, rows, vols)
        if selected:
            self.table.select_payloads(lambda v: id(v) in selected)

    # ------------------------------------------------------------------ scanning
    def use_selected_layer(self, *_: Any) -> str | None:
        """Set the folder to the one holding the active layer's DICOM files and scan it."""
        layer = self.viewer.layers.selection.active
        files = layer_files(layer) if layer is not None else []
        if not files:
            self.status.say("the selected layer has no DICOM files (metadata['dicom']['files'])", error=True)
            return None
        folder = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
        self.folder.value = Path(folder)
        self.scan(folder)
        return folder

    def scan(self, folder: str | os.PathLike[str] | None = None) -> Any:
        """Scan ``folder`` (default: the folder field) through :func:`napari_dicomseries.open_folder` in a worker thread.

        The progress bar follows the files read; *Cancel* (:meth:`cancel`) stops the
        scan between two files and leaves the table as it was. Returns the worker.
        """
        import napari_dicomseries

        from .._reader import gap_policy

        if folder is None:
            value = self.folder.value  # a Path in directory mode
            folder = value if isinstance(value, (str, os.PathLike)) else ""
        folder = os.fspath(folder)
        if not folder or not os.path.isdir(folder):
            self.status.say(f"not a folder: {folder!r}", error=True)
            return None
        cancel = self._new_job()
        progress = _progress_in_main_thread(self.status.step)
        gaps = gap_policy()

        def work() -> Any:
            yield 0, 0
            return napari_dicomseries.open_folder(folder, progress=progress, cancel=cancel.is_set, gaps=gaps)

        def scanned(out: tuple[list[Volume], Any]) -> None:
            if cancel.is_set():  # finished just before Cancel was pressed: still cancelled
                self.status.done("cancelled")
                return
            self._scanned(out)

        self.status.start(0)
        self.status.say(f"scanning {folder} ...")
        return self._start(work, on_yield=lambda dn: self.status.step(*dn), on_result=scanned)

    def _scanned(self, out: tuple[list[Volume], Any]) -> None:
        volumes, result = out
        self.volumes = volumes
        self.skipped = result.skipped
        self.refresh()
        images = sum(v.is_image for v in volumes)
        msg = f"{len(volumes)} volume(s) ({images} with images) in {result.root}"
        if result.skipped:
            msg += f"; {len(result.skipped)} file(s) skipped (e.g. {os.path.basename(result.skipped[0].path)}: {result.skipped[0].reason})"
        if not volumes:
            msg = f"no DICOM images found in {result.root}"
        self.status.done(msg)
        self._on_active_layer()

    # ------------------------------------------------------------------ loading
    def load_selected(self, volumes: list[Volume] | None = None) -> Any:
        """Load the selected volumes (or ``volumes``) as image layers in a background thread; returns the worker.

        Volumes already loaded are not loaded twice (their layer is selected);
        volumes without pixel data or decoder are reported and skipped.
        """
        from .._reader import volume_layer_data

        vols = list(volumes) if volumes is not None else self.table.selected_payloads()
        if not vols:
            self.status.say("select one or more rows first", error=True)
            return None
        problems = [f"{v.key}: no pixel data or no decoder" for v in vols if not (v.is_image and v.loadable)]
        todo = [v for v in vols if v.is_image and v.loadable and self._layer_of(v) is None]
        if not todo:
            self.status.say("; ".join(problems) or "already loaded")
            self._select_layer_of(vols[-1])
            return None
        lazy = {LoadMode.auto: None, LoadMode.memory: False, LoadMode.lazy: True}[self.load_mode.value]
        cancel = self._new_job()

        def work() -> Any:
            for n, v in enumerate(todo):
                if cancel.is_set():
                    break
                try:
                    yield n, len(todo), v, volume_layer_data(v, lazy=lazy, visible=True), None
                except DicomSeriesError as exc:
                    yield n, len(todo), v, None, str(exc)
            return len(todo)

        added: list[str] = []

        def on_item(item: tuple[int, int, Volume, Any, str | None]) -> None:
            n, total, v, data, error = item
            self.status.step(n + 1, total)
            if error:
                problems.append(f"{v.key}: {error}")
                return
            from napari.layers import Layer

            arr, kwargs, kind = data
            layer = Layer.create(arr, kwargs, kind)
            if not displayable(layer, self.viewer):
                problems.append(
                    f"{layer.name}: not loaded, napari cannot draw its {v.orientation or 'non-axial'} slices in the current "
                    "view (it slices layers along their own array axes); view it alone, or in 3-D"
                )
                return
            self.viewer.add_layer(layer)
            added.append(layer.name)

        def on_done(_: Any) -> None:
            self.refresh()
            msg = f"loaded {len(added)} layer(s): {', '.join(added)}" if added else "nothing loaded"
            if cancel.is_set():
                msg = f"cancelled; {msg}"
            self.status.done(msg + (f"; problems: {'; '.join(problems)}" if problems else ""))
            self.status.say(self.status.message.value, error=bool(problems) and not added)

        self.status.start(len(todo))
        self.status.say(f"loading {len(todo)} volume(s) ...")
        return self._start(work, on_yield=on_item, on_result=on_done)

    # ------------------------------------------------------------------ layers <-> rows
    def _select_layer_of(self, v: Volume) -> None:
        layer = self._layer_of(v)
        if layer is not None:
            self.viewer.layers.selection.active = layer

    def _on_active_layer(self, *_: Any) -> None:
        layer = self.viewer.layers.selection.active
        summary = layer_summary(layer) if layer is not None else None
        if summary is None or self._selecting:
            return
        self._selecting = True
        try:
            self.table.select_payloads(lambda v: _same_volume(v, summary))
        finally:
            self._selecting = False

    def _on_layers_changed(self, *_: Any) -> None:
        if self.volumes:
            self.refresh()

    # ------------------------------------------------------------------ tags
    def compare_tags(self, *_: Any) -> Any:
        """Open a tag comparison dock for the selected volume (constant/varying tags) or two volumes (differences)."""
        from .tag_compare import TagCompare, TagMode

        vols = [v for v in self.table.selected_payloads() if v is not None]
        if len(vols) not in (1, 2):
            self.status.say("select one volume (its varying tags) or two volumes (their differences)", error=True)
            return None
        w = TagCompare(self.viewer)
        w.set_volumes(vols)
        try:
            self.viewer.window.add_dock_widget(w, name="Tag comparison", area="right")
        except Exception:  # noqa: BLE001 - a viewer without a window (headless): the widget still works
            pass
        w.mode.value = TagMode.within if len(vols) == 1 else TagMode.between
        w.compare()
        return w


def _progress_in_main_thread(step: Callable[[int, int], Any]) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback for a worker thread that calls ``step`` in the main (Qt) thread.

    Only when the percentage changes, so a scan of 10,000 files posts at most ~100 updates.
    """
    from superqt.utils import ensure_main_thread

    in_main = ensure_main_thread(step)
    last = [-1]

    def progress(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct != last[0]:
            last[0] = pct
            in_main(done, total)

    return progress

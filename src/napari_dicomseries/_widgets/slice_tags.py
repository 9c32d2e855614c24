"""Live slice tags dock: the DICOM tags of the slice under the z slider (and the frame of a 4-D layer).

"Which tags change from slice to slice?" answered where the user looks: the
tags of the active DICOM layer's current slice, those that vary within the
volume first (marked Δ), the constant ones folded in a group below, with a
search box over tag, keyword, name and value.

The per-slice header table is the layer's ``metadata["dicom"]["slices"]``
(:class:`napari_dicomseries.slices.SliceTable`, read once, on first use);
:class:`SliceTagModel` sorts its keys into varying and constant once per
layer, so a slider step only looks up one row and updates the varying values.
Reading the headers (a few seconds for a 640-file DTI series) and sorting the
keys run in a background thread with a progress bar ("reading slice headers
120/640") and a Cancel button; activating another layer cancels the job of
the previous one, and the model is kept per layer, so coming back is instant.
The slider position is mapped to the layer's slice through its own transform
(``layer.world_to_data``): layers sit in patient space with scale and affine.
"""

from __future__ import annotations

import gc
import json
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, Container, Label, LineEdit, PushButton, Widget
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QTreeWidget, QTreeWidgetItem

from ..errors import Cancelled
from ..jobs import check_cancel
from ._common import unwrap
from ._jobs import JobBar, JobProgress

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["SliceTags", "SliceTagModel", "TagRow", "format_value", "slice_index"]

COLUMNS = ("Δ", "Tag", "Keyword", "Value")
#: rows of the tree always in view (the panel gives it more when the slice has more varying tags)
MIN_TREE_ROWS = 6
_PSEUDO = ("file", "frame")  # keys of the slice table that are not DICOM tags


def format_value(value: Any) -> str:
    """A tag value as DICOM writes it: multiple values joined by ``\\``, whole floats without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\\".join(format_value(v) for v in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _tag_of(key: str) -> tuple[int, str, str]:
    """(sort number, ``(gggg,eeee)``, name) of a slice-table key (a keyword or ``(gggg,eeee)``)."""
    from pydicom.datadict import dictionary_description, tag_for_keyword

    if key in _PSEUDO:
        return (0xFFFFFFFF, "", "file of this slice" if key == "file" else "frame number in its file (1-based)")
    tag = tag_for_keyword(key)
    if tag is None and key.startswith("(") and len(key) == 11:
        try:
            tag = int(key[1:5] + key[6:10], 16)
        except ValueError:
            tag = None
    if tag is None:
        return (0xFFFFFFFE, "", "")
    try:
        name = dictionary_description(tag)
    except KeyError:
        name = "private tag" if (tag >> 16) % 2 else ""
    return (tag, f"({tag >> 16:04X},{tag & 0xFFFF:04X})", name)


@dataclass(frozen=True)
class TagRow:
    """One line of the table: the tag, its keyword and name, its value on the current slice, whether it varies."""

    tag: str
    keyword: str
    name: str
    value: str
    varies: bool
    distinct: int


class SliceTagModel:
    """The tags of one volume's slices, sorted once into varying (first) and constant, for fast per-slice lookup.

    Parameters
    ----------
    rows : sequence of dict
        The per-slice header table (keyword -> value), one dict per slice, time-major (as :func:`slice_table`).
    n_slices : int
        Slices per time point (the length of ``rows`` for a 3-D volume).
    """

    def __init__(self, rows: Sequence[dict[str, Any]], n_slices: int | None = None) -> None:
        self.rows = list(rows)
        self.n_slices = int(n_slices or len(self.rows) or 1)
        self.n_frames = max(1, len(self.rows) // self.n_slices)
        keys: dict[str, None] = {}
        for r in self.rows:
            keys.update(dict.fromkeys(r))
        distinct: dict[str, int] = {}
        for k in keys:
            seen = {json.dumps(r.get(k, "<absent>"), sort_keys=True, default=str) for r in self.rows}
            distinct[k] = len(seen)
        info = {k: _tag_of(k) for k in keys}
        order = sorted(keys, key=lambda k: (distinct[k] <= 1, info[k][0], k))
        self.keys = order
        self.info = info
        self.distinct = distinct
        self.varying = [k for k in order if distinct[k] > 1]
        self.constant = [k for k in order if distinct[k] <= 1]

    def row_index(self, slice_k: int, frame: int = 0) -> int:
        """Index in :attr:`rows` of slice ``slice_k`` of time point ``frame`` (both clamped to the volume)."""
        k = min(max(int(slice_k), 0), self.n_slices - 1)
        t = min(max(int(frame), 0), self.n_frames - 1)
        return min(t * self.n_slices + k, len(self.rows) - 1)

    def tag_rows(self, index: int) -> list[TagRow]:
        """The table of slice ``index`` (of :attr:`rows`): varying tags first, then constant ones, each by tag number."""
        row = self.rows[index] if self.rows else {}
        out = []
        for k in self.keys:
            _, tag, name = self.info[k]
            out.append(TagRow(tag, k, name, format_value(row.get(k)), self.distinct[k] > 1, self.distinct[k]))
        return out


def slice_index(layer: Any, world_point: Sequence[float], not_displayed: Sequence[int] | None = None) -> tuple[int, int, bool]:
    """(slice, frame, inside) of a DICOM layer's volume at a world point (the sliders' position).

    The point is mapped to data coordinates through the layer's transform as
    napari does when it draws the layer: only the sliders' axes
    (``not_displayed``, viewer axes) take part, so the slice found is the one
    napari shows, also for an oblique volume. The slice is the coordinate
    along the array axis that holds the DICOM slices (``metadata["dicom"]["axes"]``
    tells where transposed volumes put it), rounded as napari rounds; the frame
    is the leading axis of a 4-D layer. A resampled layer (gaps filled) maps
    to the original slice nearest to that position. ``inside`` is False when
    the point lies beyond the volume (napari then draws nothing of it; the
    nearest slice is given).
    """
    d = layer.metadata["dicom"]
    ndim = layer.ndim
    pt = [float(x) for x in list(world_point)[-ndim:]]
    offset = len(world_point) - ndim
    if len(pt) < ndim:
        pt = [0.0] * (ndim - len(pt)) + pt
        offset = 0
    axes = list(d.get("axes") or [0, 1, 2])
    lead = ndim - 3
    slice_axis = lead + axes.index(0)
    nd = sorted(a - offset for a in (not_displayed if not_displayed is not None else range(ndim)) if a - offset >= 0)
    if slice_axis in nd:
        # napari's own rule: the world-to-data affine restricted to the sliders' axes, applied to their coordinates
        o = np.asarray(layer.world_to_data([0.0] * ndim), float)
        cols = []
        for j in nd:
            e = [0.0] * ndim
            e[j] = 1.0
            cols.append(np.asarray(layer.world_to_data(e), float) - o)
        sub = np.column_stack(cols)[nd] if cols else np.zeros((0, 0))
        data_nd = o[nd] + sub @ np.asarray([pt[j] for j in nd])
        data = np.zeros(ndim)
        data[nd] = data_nd
    else:  # the slice axis is on screen (e.g. a sagittal volume in an axial view): the point's own slice
        data = np.asarray(layer.world_to_data(pt), float)
    frame = int(np.round(data[0])) if lead else 0
    pos = float(data[slice_axis])
    n_data = int(layer.data.shape[slice_axis])
    inside = -0.5 <= pos <= n_data - 0.5 and (not lead or -0.5 <= data[0] <= layer.data.shape[0] - 0.5)
    resampled = d.get("resampled")
    summary = d.get("volume") or {}
    if resampled and summary.get("n_slices"):
        # the resampled grid's slice k sits at origin + k * step (LPS); the original slices at their positions
        there = np.asarray(resampled["origin"], float) + pos * np.asarray(resampled["slice_step"], float)
        slices = d.get("slices")
        n = int(summary["n_slices"])
        ipps = [r.get("ImagePositionPatient") for r in list(slices)[:n]] if slices is not None else []
        if ipps and all(isinstance(p, (list, tuple)) and len(p) == 3 for p in ipps):
            dist = [float(np.linalg.norm(np.asarray(p, float) - there)) for p in ipps]
            return int(np.argmin(dist)), frame, inside
    return int(np.round(pos)), frame, inside


@contextmanager
def _young_objects_only() -> Iterator[None]:
    """Within: the garbage collector leaves alone the objects that existed before (``gc.freeze``).

    Reading 640 headers keeps some 100,000 new objects (the rows), which triggers full collections; one walks
    every object of the process (napari's ~300,000 and more) and, although it runs in the worker thread, holds
    the GIL for 150-350 ms, freezing the GUI (measured in the tests' process). With the older objects frozen, a
    collection walks only the job's own. They are released again at the end; a concurrent job unfreezing early
    only brings the pauses back.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _dicom_layer(layer: Any) -> bool:
    meta = getattr(layer, "metadata", None) or {}
    d = meta.get("dicom") if isinstance(meta, dict) else None
    return isinstance(d, dict) and d.get("slices") is not None


class SliceTags(Container):
    """The DICOM tags of the slice under the z slider of the active DICOM layer, varying tags first.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose active layer and sliders are followed.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, **kwargs: Any) -> None:
        napari_viewer = unwrap(napari_viewer)  # napari hands docks a proxy: layers must be compared by identity
        self.viewer = napari_viewer
        self.where = Label(value="")
        self.where.native.setWordWrap(True)
        bold = self.where.native.font()
        bold.setBold(True)
        self.where.native.setFont(bold)  # the first line of the Tags page: which layer and slice the tags are of
        self.where.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.search = LineEdit(value="", label="Search")
        self.search.native.setPlaceholderText("tag, keyword, name or value")
        self.search.native.setClearButtonEnabled(True)
        self.search.tooltip = "Show only tags whose number, keyword, name or value contains this text (any case)"
        self.show_constant = CheckBox(value=False, text="Expand constant tags")
        self.show_constant.tooltip = "Unfold the group of tags that have the same value on every slice of this volume"
        top_row: list[Widget] = [self.search, self.show_constant]
        top = Container(widgets=top_row, labels=False, layout="horizontal")
        top.margins = (0, 0, 0, 0)
        self.job_bar = JobBar()
        self.job_bar.cancel_button.tooltip = "Stop reading the slice headers of this layer (the table stays empty)"
        self.read_button = PushButton(text="Read the slice headers")
        self.read_button.tooltip = "Read the headers of every slice of the active layer again (after a Cancel)"
        self.read_button.visible = False
        self.read_button.changed.connect(self._read_again)
        super().__init__(widgets=[self.where, self.job_bar, self.read_button, top], labels=False, **kwargs)
        self.margins = (2, 2, 2, 2)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.tree.setMinimumHeight(MIN_TREE_ROWS * 16)
        self.tree.setIndentation(10)
        header = self.tree.header()
        header_item = self.tree.headerItem()
        assert header is not None and header_item is not None  # a QTreeWidget always has both
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(18)
        for col, mode in enumerate(
            (QHeaderView.ResizeMode.Fixed, QHeaderView.ResizeMode.Interactive, QHeaderView.ResizeMode.Interactive)
        ):
            header.setSectionResizeMode(col, mode)
        header.resizeSection(0, 38)  # room for the indentation and the mark
        header_item.setToolTip(0, "Δ: the value differs between slices of this volume")
        self.native.layout().addWidget(self.tree)
        # group rows span every column, so their text is in column 0
        self._varying_group = QTreeWidgetItem(self.tree, ["Varying from slice to slice"])
        self._constant_group = QTreeWidgetItem(self.tree, ["Constant in this volume"])
        for g in (self._varying_group, self._constant_group):
            g.setFirstColumnSpanned(True)
            f = g.font(0)
            f.setBold(True)
            g.setFont(0, f)
        self._varying_group.setExpanded(True)
        self._constant_group.setExpanded(False)
        self._models: weakref.WeakKeyDictionary[Any, SliceTagModel] = weakref.WeakKeyDictionary()
        #: the running job: (layer, worker, progress); None when idle
        self._job: tuple[Any, Any, JobProgress] | None = None
        #: the last ``(done, total)`` files of the running or last job (written by the worker thread)
        self.progress: tuple[int, int] = (0, 0)
        #: seconds from activating a layer to its table, for the last table read in the background
        self.time_to_table: float | None = None
        #: seconds from Cancel to idle, for the last cancelled job
        self.cancel_to_idle: float | None = None
        #: True when the user cancelled the job of the layer shown (its table stays empty until asked again)
        self._cancelled = False
        self._layer: Any = None
        self._model: SliceTagModel | None = None
        self._items: dict[str, QTreeWidgetItem] = {}
        self._rows_callbacks: list[Callable[[], None]] = []
        self._index: int | None = None
        self.slice: tuple[int, int] | None = None
        self.search.changed.connect(self._apply_filter)
        self.show_constant.changed.connect(lambda v: self._constant_group.setExpanded(bool(v)))
        self.tree.itemExpanded.connect(self._group_toggled)
        self.tree.itemCollapsed.connect(self._group_toggled)
        napari_viewer.layers.selection.events.active.connect(self._active_changed)
        napari_viewer.layers.selection.events.changed.connect(self._active_changed)
        napari_viewer.dims.events.point.connect(self._point_changed)
        self.native.destroyed.connect(self._abandon)
        self._active_changed()

    # -- what is shown (for tests and scripts)
    @property
    def layer(self) -> Any:
        """The layer whose slice is shown (None if the active layer is not a DICOM image)."""
        return self._layer

    def rows(self, visible_only: bool = True) -> list[TagRow]:
        """The table as shown, top to bottom: varying tags, then constant ones (only those the search lets through)."""
        out = []
        for group in (self._varying_group, self._constant_group):
            for i in range(group.childCount()):
                item = group.child(i)
                if item is None or (visible_only and item.isHidden()):
                    continue
                out.append(item.data(0, Qt.ItemDataRole.UserRole))
        return out

    def value(self, keyword: str) -> str:
        """The shown value of ``keyword`` on the current slice ('' if the volume has no such tag)."""
        item = self._items.get(keyword)
        return item.text(3) if item is not None else ""

    @property
    def busy(self) -> bool:
        """True while slice headers are read in the background."""
        return self._job is not None

    @property
    def status(self) -> str:
        """The line above the table: the layer and slice shown, or what is being read, or "cancelled"."""
        return str(self.where.value)

    def cancel(self) -> None:
        """Stop reading the slice headers (as the Cancel button): the table stays empty."""
        self.job_bar.request_cancel()

    # -- events
    def _group_toggled(self, item: QTreeWidgetItem) -> None:
        if item is self._constant_group:
            self.show_constant.value = item.isExpanded()
        self._rows_changed()

    def preferred_height(self, max_rows: int = 16) -> int:
        """The height that shows every row of the tree (the tags in view), up to ``max_rows`` rows, with the lines above it.

        The panel sizes the Tags page with it: the slice's varying tags in full, the rest of the page
        to the tag comparison.
        """
        tree = self.tree
        rows = 0
        for group in (self._varying_group, self._constant_group):
            rows += 1
            if group.isExpanded():
                rows += sum(1 for i in range(group.childCount()) if (c := group.child(i)) is not None and not c.isHidden())
        rows = min(max(rows, MIN_TREE_ROWS), max_rows)
        row_h = tree.sizeHintForRow(0) if tree.topLevelItemCount() else 0
        row_h = max(row_h, tree.fontMetrics().height() + 2)
        header = tree.header()
        head_h = header.sizeHint().height() if header is not None else 0
        tree_h = rows * row_h + head_h + 2 * tree.frameWidth() + 2
        margins = self.native.contentsMargins()
        # the lines above the tree: where it sits once laid out, else what they ask for
        above = tree.y() if tree.y() > 0 else self.native.sizeHint().height() - tree.sizeHint().height()
        return max(above, 0) + tree_h + margins.bottom()

    def on_rows_changed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the rows in view change (another layer, a group folded, a search)."""
        self._rows_callbacks.append(callback)

    def _rows_changed(self) -> None:
        for cb in list(self._rows_callbacks):
            cb()

    def _active_changed(self, event: Any = None) -> None:
        sel = self.viewer.layers.selection
        layer = sel.active
        if layer is None:  # several layers selected (napari has no active one then): keep ours if still selected
            old = self._layer
            layer = old if old is not None and old in sel else next((la for la in self.viewer.layers if la in sel), None)
        layer = unwrap(layer) if layer is not None and _dicom_layer(layer) else None
        if layer is self._layer and (layer is None or self._model is not None or self.busy or self._cancelled):
            return  # the same layer: shown, being read, or cancelled by the user (the button reads it again)
        self._layer = layer
        self._model = self._models.get(layer) if layer is not None else None
        self._index = None
        self._cancelled = False
        self.read_button.visible = False
        if layer is not None and self._model is None:
            self._start(layer)
        else:
            self._stop_job()
        self._build()
        self._point_changed()

    def _read_again(self, *_: Any) -> None:
        """The "Read the slice headers" button (shown after a Cancel): read the active layer's headers now."""
        layer = self._layer
        if layer is None or self.busy:
            return
        self._cancelled = False
        self.read_button.visible = False
        self._model = self._models.get(layer)
        if self._model is None:
            self._start(layer)
        self._index = None
        self._build()
        self._point_changed()

    # -- the background job
    def _abandon(self, *_: Any) -> None:
        """The dock is gone: stop the job and forget it (its callbacks then touch no deleted widget)."""
        if self._job is not None:
            self._job[2].event.set()
            self._job = None

    def _stop_job(self) -> None:
        """Cancel the running job, if any, without waiting for it (a result that still comes is only cached)."""
        if self._job is not None:
            _, _worker, job = self._job
            job.event.set()  # the core stops at its next file; not worker.quit(): that would drop a finished result
            self._job = None
            self.job_bar.stop()

    def _start(self, layer: Any) -> Any:
        """Read the slice headers of ``layer`` and sort its tags in a worker thread; returns the worker."""
        from napari.qt.threading import thread_worker

        from ..slices import SliceTable

        self._stop_job()
        d = layer.metadata["dicom"]
        table = d["slices"]
        n_slices = (d.get("volume") or {}).get("n_slices")
        job = self.job_bar.start()
        job.stage("reading slice headers ...")
        self.progress = (0, 0)
        self.read_button.visible = False
        self.where.value = f"{layer.name}: reading the headers of its slices ..."
        t0 = time.monotonic()
        widget = self

        def progress(done: int, total: int) -> None:
            widget.progress = (done, total)
            job(done, total)
            job.stage(f"reading slice headers {done}/{total}")

        @thread_worker
        def work() -> Any:
            try:
                with _young_objects_only():
                    rows = table.read(progress=progress, cancel=job.cancel) if isinstance(table, SliceTable) else list(table)
                    check_cancel(job.cancel, "reading the slice headers")
                    job.stage(f"sorting the tags of {len(rows)} slices")
                    return SliceTagModel(rows, n_slices)
            except Cancelled:
                return None

        def returned(model: SliceTagModel | None) -> None:
            if model is None:
                return
            self._models[layer] = model  # kept even if the user moved on: coming back is instant
            if layer is self._layer and not job.event.is_set():
                self.time_to_table = time.monotonic() - t0
                self._model = model
                self._index = None
                self._build()
                self._point_changed()

        def failed(exc: BaseException) -> None:
            if self._job is not None and self._job[1] is worker and layer is self._layer:
                self.where.value = f"{layer.name}: cannot read its slice headers ({type(exc).__name__}: {exc})"

        def finished() -> None:
            if self._job is not None and self._job[1] is worker:
                pressed = self.job_bar.cancel_pressed_at
                self._job = None
                self.job_bar.stop()
                if pressed is not None:
                    self.cancel_to_idle = time.monotonic() - pressed
                if layer is self._layer and self._model is None and job.event.is_set():
                    self.where.value = f"{layer.name}: reading the slice headers cancelled; the table stays empty"
                    self._cancelled = True
                    self.read_button.visible = True

        worker = work()
        worker.returned.connect(returned)
        worker.errored.connect(failed)
        worker.finished.connect(finished)
        self._job = (layer, worker, job)
        worker.start()
        return worker

    def _build(self) -> None:
        """Fill the tree for a new layer (the values follow in :meth:`_show`)."""
        self._items = {}
        tree = self.tree
        tree.setUpdatesEnabled(False)
        try:
            for g in (self._varying_group, self._constant_group):
                g.takeChildren()
            model = self._model
            if model is None:
                if self._layer is None:
                    self.where.value = "Select a DICOM image layer to see the tags of its current slice."
                self._varying_group.setText(0, "Varying from slice to slice")
                self._constant_group.setText(0, "Constant in this volume")
                self._rows_changed()
                return
            for k in model.keys:
                _, tag, name = model.info[k]
                varies = model.distinct[k] > 1
                item = QTreeWidgetItem(["Δ" if varies else "", tag, k, ""])
                item.setToolTip(1, name or k)
                item.setToolTip(2, f"{k}: {name}" if name else k)
                if varies:
                    item.setToolTip(0, f"{model.distinct[k]} distinct values in this volume")
                (self._varying_group if varies else self._constant_group).addChild(item)
                self._items[k] = item
            self._varying_group.setText(0, f"Varying from slice to slice ({len(model.varying)})")
            self._constant_group.setText(0, f"Constant in this volume ({len(model.constant)})")
            self._constant_group.setExpanded(bool(self.show_constant.value))
        finally:
            tree.setUpdatesEnabled(True)
        self._show(0, full=True)
        header = tree.header()
        assert header is not None  # a QTreeWidget always has its header view
        for col in (1, 2):
            tree.resizeColumnToContents(col)
            header.resizeSection(col, min(header.sectionSize(col), 150 if col == 2 else 90))
        self._apply_filter()

    def _point_changed(self, event: Any = None) -> None:
        layer, model = self._layer, self._model
        if layer is None or model is None:
            self.slice = None
            return
        try:
            k, t, inside = slice_index(layer, self.viewer.dims.point, self.viewer.dims.not_displayed)
        except (ValueError, IndexError, KeyError, TypeError):
            return
        idx = model.row_index(k, t)
        self.slice = (min(max(k, 0), model.n_slices - 1), min(max(t, 0), model.n_frames - 1))
        if idx != self._index:
            self._show(idx)
        k, t = self.slice
        where = f"{layer.name}: slice {k + 1}/{model.n_slices}"
        if model.n_frames > 1:
            label = (layer.metadata["dicom"].get("volume") or {}).get("time_tag") or "frame"
            where += f", {label} {t + 1}/{model.n_frames}"
        inst = model.rows[idx].get("InstanceNumber") if model.rows else None
        if inst is not None:
            where += f" (InstanceNumber {format_value(inst)})"
        if not inside:
            where += " - the sliders are outside this volume: nearest slice shown"
        self.where.value = where

    def _show(self, index: int, full: bool = False) -> None:
        """Show the values of row ``index``: only the varying tags change between slices."""
        model = self._model
        if model is None or not model.rows:
            return
        self._index = index
        row = model.rows[index]
        for k in model.keys if full else model.varying:
            item = self._items[k]
            text = format_value(row.get(k))
            item.setText(3, text)
            item.setToolTip(3, text if len(text) < 2000 else text[:2000] + " ...")
            _, tag, name = model.info[k]
            item.setData(0, Qt.ItemDataRole.UserRole, TagRow(tag, k, name, text, model.distinct[k] > 1, model.distinct[k]))
        if not full and self.search.value:
            self._apply_filter()

    def _apply_filter(self, *_: Any) -> None:
        needle = str(self.search.value or "").strip().lower()
        shown = [0, 0]
        for n, group in enumerate((self._varying_group, self._constant_group)):
            for i in range(group.childCount()):
                item = group.child(i)
                if item is None:
                    continue
                row: TagRow | None = item.data(0, Qt.ItemDataRole.UserRole)
                hay = f"{row.tag} {row.keyword} {row.name} {row.value}".lower() if row else ""
                hide = bool(needle) and needle not in hay
                item.setHidden(hide)
                shown[n] += not hide
        if needle:
            self._constant_group.setExpanded(shown[1] > 0 or bool(self.show_constant.value))
        self._rows_changed()

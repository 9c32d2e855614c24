"""Pieces the dock widgets share: a result table with copy and CSV export, layer geometry, a histogram picture."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Any

import numpy as np
from magicgui.widgets import Container, Label, ProgressBar, PushButton, Table, TextEdit, Widget
from qtpy.QtCore import QEvent, QItemSelection, QItemSelectionModel, QObject, Qt
from qtpy.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QHeaderView,
    QSizePolicy,
    QStyledItemDelegate,
)

from ..compare import rows_to_csv
from ..geometry import Geometry

__all__ = [
    "ResultTable", "StatusBar", "layer_grid", "layer_summary", "layer_files", "histogram_image", "HistogramView", "image_layers",
    "displayable", "start_worker", "enum_choices", "pick_two", "unwrap", "set_stretch", "fit_widths", "LABEL_COLUMNS",
    "rows_to_tsv", "to_clipboard",
]  # fmt: skip


#: narrowest a value column is made to fit a table into its width
MIN_FIT_PX = 90
#: short-valued columns of the result tables: sized to their content first, value columns share the rest
LABEL_COLUMNS = frozenset(
    {"keyword", "status", "group", "tag", "VR", "distinct", "key", "result", "section", "measure", "slice", "frame", "shape"}
)


def fit_widths(widths: Sequence[int], label: Sequence[bool], room: int, floor: int = MIN_FIT_PX) -> list[int]:
    """Column widths that fit ``room`` pixels: label columns at their content's width, value columns narrowed.

    The leading columns that can be shown whole (label columns at ``widths``, value columns at least
    ``floor``) fill the room: their value columns are narrowed to a common cap (water filling), so short
    values stay whole and long ones are elided; the columns after them keep their width and scroll.
    When not even the first columns fit, every column is narrowed to the cap (never below ``floor``).

    Parameters
    ----------
    widths : sequence of int
        Each column's content width (already capped), in pixels.
    label : sequence of bool
        True for a short-valued column (keyword, status ...) that keeps its width.
    room : int
        The width available, in pixels.
    floor : int
        The narrowest a value column is made.

    Returns
    -------
    list of int
        The widths to set, one per column.
    """
    widths = [int(w) for w in widths]
    shown, need = 0, 0
    for w, lab in zip(widths, label, strict=True):
        need += w if lab else min(w, floor)
        if need > room:
            break
        shown += 1
    fixed = sum(w for w, lab in zip(widths[:shown], label[:shown], strict=True) if lab)
    values = [w for w, lab in zip(widths[:shown], label[:shown], strict=True) if not lab]
    narrowed = [n < shown and not label[n] for n in range(len(widths))]
    if shown < 2 or not values:  # a very narrow table: narrow every column alike
        fixed, values, narrowed = 0, list(widths), [True] * len(widths)
    cap = max(values)
    while cap > floor and fixed + sum(min(w, cap) for w in values) > room:
        cap -= 4
    return [min(w, cap) if narrow else w for w, narrow in zip(widths, narrowed, strict=True)]


def pick_two(first: Any, second: Any, choices: Sequence[Any]) -> None:
    """Set two empty choice widgets to the first two different ``choices`` (a pair to compare)."""
    if first.value is None and choices:
        first.value = choices[0]
    if second.value is None and len(choices) > 1:
        second.value = next(c for c in choices if c is not first.value)


def set_stretch(container: Container, widget: Widget, stretch: int) -> None:
    """Give ``widget`` (or the labelled row holding it) the vertical ``stretch`` factor in ``container``'s layout."""
    layout = container.native.layout()
    for n in range(layout.count() if layout is not None else 0):
        item = layout.itemAt(n) if layout is not None else None
        w = item.widget() if item is not None else None
        if layout is not None and w is not None and (w is widget.native or w.isAncestorOf(widget.native)):
            layout.setStretch(n, stretch)
            return


def unwrap(obj: Any) -> Any:
    """The napari object behind a ``PublicOnlyProxy``, or ``obj`` itself.

    napari hands plugin docks a proxy of the viewer, and every napari object
    reached through it (``viewer.add_image(...)``, ``viewer.layers.selection.active``)
    is a new proxy, so identity (``is``, ``id``) must be checked on the unwrapped objects.
    """
    return getattr(obj, "__wrapped__", obj)


def enum_choices(enum: type[Enum]) -> list[tuple[str, Enum]]:
    """ComboBox choices that show an Enum's values (readable text) rather than its member names."""
    return [(str(m) if type(m).__str__ is not Enum.__str__ else str(m.value), m) for m in enum]


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before text, numbers by value, text case-insensitively; empty cells last."""
    if value is None or value == "":
        return (2, "")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (0, float(value))
    try:
        return (0, float(str(value)))
    except ValueError:
        return (1, str(value).lower())


class ResultTable(Container):
    """A read-only table (click a header to sort by it) with "Copy" (tab separated) and "Save CSV..." buttons."""

    def __init__(self, headers: Sequence[str] = (), *, label: str = "", min_height: int = 160, **kwargs: Any) -> None:
        self.table = Table(value=([], [], list(headers)))
        self.copy_button = PushButton(text="Copy")
        self.csv_button = PushButton(text="Save CSV...")
        self.row_count = Label(value="")  # not ``count``: Container is a sequence, with a count() method
        row: list[Widget] = [self.row_count, self.copy_button, self.csv_button]
        buttons = Container(widgets=row, layout="horizontal", labels=False)
        buttons.margins = (0, 0, 0, 0)
        super().__init__(widgets=[self.table, buttons], labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)
        self.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._headers: list[str] = list(headers)
        self._rows: list[list[Any]] = []
        self._payload: list[Any] = []
        self._sort: tuple[int, bool] | None = None
        q = self.table.native
        q.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # magicgui's delegate rounds anything that looks like a number to 4 decimals: show values exactly
        q.setItemDelegate(QStyledItemDelegate(q))
        q.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        q.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        q.setMinimumHeight(min_height)
        q.verticalHeader().setVisible(False)
        q.verticalHeader().setDefaultSectionSize(q.fontMetrics().height() + 10)  # more rows in view than Qt's default
        q.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        q.horizontalHeader().setStretchLastSection(True)
        q.horizontalHeader().sectionClicked.connect(self._header_clicked)
        self.copy_button.changed.connect(self.copy)
        self.csv_button.changed.connect(self._ask_csv)
        self._selection_callbacks: list[Callable[[], None]] = []
        q.itemSelectionChanged.connect(self._selection_changed)
        self._quiet = False
        self.max_column_width = 260
        self.max_label_width = 200
        self._fitter = RefitOnResize(q, self.fit_columns)
        q.viewport().installEventFilter(self._fitter)

    # -- content
    @property
    def headers(self) -> list[str]:
        return list(self._headers)

    @property
    def rows(self) -> list[list[Any]]:
        """The rows in display order (after sorting)."""
        return [list(r) for r in self._rows]

    @property
    def payloads(self) -> list[Any]:
        """The objects behind the rows (volumes, tag rows ...), in display order."""
        return list(self._payload)

    def set_rows(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], payloads: Sequence[Any] | None = None) -> None:
        """Show ``rows`` under ``headers``; ``payloads`` (one per row) travel with the rows when sorting."""
        self._headers = list(headers)
        self._rows = [list(r) for r in rows]
        self._payload = list(payloads) if payloads is not None else [None] * len(self._rows)
        if self._sort is not None and self._sort[0] < len(self._headers):
            self._apply_sort()
        self._refresh()

    def sort_by(self, column: int | str, descending: bool = False) -> None:
        """Sort the rows by a column (index or header), numbers as numbers."""
        col = self._headers.index(column) if isinstance(column, str) else int(column)
        self._sort = (col, descending)
        self._apply_sort()
        self._refresh()

    def fit_columns(self) -> None:
        """Columns as wide as their content; when they do not all fit, :func:`fit_widths` shares the table's width.

        Short-valued columns (:data:`LABEL_COLUMNS`: keyword, status, group ...) keep their content's width
        (up to :attr:`max_label_width`); value columns share what is left (text elided, whole in a tooltip).
        """
        q = self.table.native
        q.resizeColumnsToContents()
        n = q.columnCount()
        label = [h in LABEL_COLUMNS for h in self._headers[:n]] + [False] * max(n - len(self._headers), 0)
        widths = [min(q.columnWidth(c), self.max_label_width if label[c] else self.max_column_width) for c in range(n)]
        room = q.viewport().width() - 2
        if n and sum(widths) > room > 0:
            widths = fit_widths(widths, label, room)
        for c, w in enumerate(widths):
            q.setColumnWidth(c, w)

    def _apply_sort(self) -> None:
        if self._sort is None:
            return
        col, desc = self._sort
        order = sorted(range(len(self._rows)), key=lambda n: _sort_key(self._rows[n][col]), reverse=desc)
        self._rows = [self._rows[n] for n in order]
        self._payload = [self._payload[n] for n in order]

    def _header_clicked(self, col: int) -> None:
        desc = self._sort is not None and self._sort[0] == col and not self._sort[1]
        selected = {id(p) for p in self.selected_payloads() if p is not None}
        self.sort_by(col, desc)
        if selected:
            self.select_payloads(lambda p: p is not None and id(p) in selected)

    def _refresh(self) -> None:
        self._quiet = True
        try:
            # the {"data", "index", "columns"} form: a {"data", "columns"} dict with no rows would be read as two columns
            data = [["" if c is None else str(c) for c in r] for r in self._rows]
            self.table.value = {"data": data, "index": [], "columns": list(self._headers)}
            q = self.table.native
            q.horizontalHeader().setSortIndicatorShown(self._sort is not None)
            if self._sort is not None:
                order = Qt.SortOrder.DescendingOrder if self._sort[1] else Qt.SortOrder.AscendingOrder
                q.horizontalHeader().setSortIndicator(self._sort[0], order)
            for r in range(q.rowCount()):  # elided text: the whole value in a tooltip
                for c in range(q.columnCount()):
                    item = q.item(r, c)
                    if item is not None and len(item.text()) > 12:
                        item.setToolTip(item.text())
            self.fit_columns()
        finally:
            self._quiet = False
        self.row_count.value = f"{len(self._rows)} row(s)"
        self._selection_changed()

    # -- selection
    def selected_indices(self) -> list[int]:
        sel = self.table.native.selectionModel()
        return sorted({i.row() for i in sel.selectedRows()}) if sel is not None else []

    def selected_payloads(self) -> list[Any]:
        return [self._payload[i] for i in self.selected_indices() if i < len(self._payload)]

    def select_rows(self, indices: Sequence[int]) -> None:
        q = self.table.native
        model = q.selectionModel()
        sel = QItemSelection()
        last = q.columnCount() - 1
        for i in indices:
            if 0 <= i < q.rowCount():
                sel.select(q.model().index(i, 0), q.model().index(i, max(last, 0)))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        model.select(sel, flags)
        if indices and 0 <= indices[0] < q.rowCount():
            q.scrollToItem(q.item(indices[0], 0))

    def select_payloads(self, predicate: Callable[[Any], bool]) -> list[int]:
        idx = [n for n, p in enumerate(self._payload) if predicate(p)]
        self.select_rows(idx)
        return idx

    def on_selection(self, callback: Callable[[], None]) -> None:
        self._selection_callbacks.append(callback)

    def _selection_changed(self) -> None:
        if self._quiet:
            return
        for cb in self._selection_callbacks:
            cb()

    # -- export
    def to_csv(self) -> str:
        return rows_to_csv(self._headers, self._rows)

    def to_tsv(self) -> str:
        return rows_to_tsv(self._headers, self._rows)

    def copy(self) -> str:
        """Put the table on the clipboard as tab-separated text (pastes into a spreadsheet); return it."""
        return to_clipboard(self.to_tsv())

    def save_csv(self, path: str | os.PathLike[str]) -> str:
        """Write the table as CSV to ``path`` (overwrites: the user chose the name in a save dialog)."""
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(self.to_csv())
        return os.fspath(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.native, "Save table as CSV", "table.csv", "CSV files (*.csv)")
        if path:
            self.save_csv(path)


def rows_to_tsv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """``rows`` under ``headers`` as tab-separated text (tabs and newlines in values become spaces; None is empty)."""
    lines = ["\t".join(headers)]
    lines += ["\t".join("" if c is None else str(c).replace("\t", " ").replace("\n", " ") for c in r) for r in rows]
    return "\n".join(lines) + "\n"


def to_clipboard(text: str) -> str:
    """Put ``text`` on the clipboard; return it."""
    clipboard = QApplication.clipboard()
    if clipboard is not None:  # None only without a QApplication
        clipboard.setText(text)
    return text


class RefitOnResize(QObject):
    """Call ``refit`` when the watched widget's width changes (a dock resized, a tab shown): columns fitted to a table."""

    def __init__(self, parent: Any, refit: Callable[[], None]) -> None:
        super().__init__(parent)
        self._refit = refit
        self._width = -1

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.Resize and obj.width() != self._width:
            self._width = obj.width()
            self._refit()
        return False


class StatusBar(Container):
    """A progress bar and a message wrapped to the panel's width, as tall as its lines (errors in red)."""

    def __init__(self) -> None:
        self.progress = ProgressBar(value=0, min=0, max=100, visible=False)
        self.message = TextEdit(value="")
        super().__init__(widgets=[self.progress, self.message], labels=False)
        self.margins = (0, 0, 0, 0)
        q = self.message.native
        q.setReadOnly(True)
        q.setFrameStyle(0)
        q.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        q.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        q.setStyleSheet("background: transparent;")
        # not a word-wrapped QLabel: its height-for-width at the narrowest width would become the page's minimum
        q.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._fitter = RefitOnResize(q, self._fit_height)
        q.installEventFilter(self._fitter)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as the message's lines at the current width (one line at least): nothing cut off, no space wasted."""
        q = self.message.native
        doc = q.document().clone()
        doc.setTextWidth(max(q.width() - 2 * q.frameWidth(), 40))
        line = q.fontMetrics().lineSpacing()
        h = max(int(doc.size().height() + 0.99), line + int(2 * doc.documentMargin())) + 2 * q.frameWidth()
        if q.height() != h or q.minimumHeight() != h:
            q.setFixedHeight(h)

    def start(self, total: int = 0) -> None:
        self.progress.visible = True
        self.progress.max = max(total, 0)
        self.progress.value = 0

    def step(self, done: int, total: int | None = None) -> None:
        if total is not None and total != self.progress.max:
            self.progress.max = total
        self.progress.value = min(done, self.progress.max) if self.progress.max else 0

    def done(self, message: str = "") -> None:
        self.progress.visible = False
        self.say(message)

    def say(self, message: str, error: bool = False) -> None:
        self.message.value = message
        self.message.native.setStyleSheet("background: transparent;" + (" color: #e05555;" if error else ""))
        self._fit_height()


# ----------------------------------------------------------------------------- background work


class _Refused:
    """What a background job returns when the core refused its input (a DicomSeriesError's message)."""

    def __init__(self, message: str) -> None:
        self.message = message


class _Cancelled:
    """What a background job returns when it was cancelled (the core raised :class:`errors.Cancelled`)."""


def start_worker(
    widget: Any,
    generator: Callable[[], Any],
    *,
    on_yield: Callable[[Any], None],
    on_result: Callable[[Any], None],
    on_finished: Callable[[], None] | None = None,
) -> Any:
    """Run ``generator`` in a napari ``thread_worker``; ``widget`` has ``status`` (a :class:`StatusBar`) and ``_worker``.

    What the generator yields goes to ``on_yield`` and what it returns to
    ``on_result``, both in the main thread. The project's errors about the
    input (:class:`DicomSeriesError`) become a red message in the status line;
    anything else is also shown by napari as an error notification. A job
    that raises :class:`errors.Cancelled`, or is stopped by ``worker.quit()``
    (at its next ``yield``), ends with "cancelled" and without a result.
    ``on_finished`` runs in the main thread once the job has ended, whichever way.
    """
    from napari.qt.threading import thread_worker

    from ..errors import Cancelled, DicomSeriesError

    @thread_worker
    def work() -> Any:
        try:
            result = yield from generator()
        except Cancelled:
            return _Cancelled()
        except DicomSeriesError as exc:
            return _Refused(str(exc))  # not the exception itself: superqt re-raises returned exceptions
        return result

    def cancelled() -> None:
        widget.status.done("cancelled")

    def returned(result: Any) -> None:
        if isinstance(result, _Cancelled):
            cancelled()
        elif isinstance(result, _Refused):
            widget.status.done()
            widget.status.say(result.message, error=True)
        else:
            on_result(result)

    def failed(exc: BaseException) -> None:
        widget.status.done()
        widget.status.say(f"{type(exc).__name__}: {exc}", error=True)

    def finished() -> None:
        if widget._worker is worker:
            widget._worker = None
        if on_finished is not None:
            on_finished()

    worker = work()
    worker.yielded.connect(on_yield)
    worker.returned.connect(returned)
    worker.errored.connect(failed)
    worker.aborted.connect(cancelled)
    worker.finished.connect(finished)
    widget._worker = worker
    worker.start()
    return worker


# ----------------------------------------------------------------------------- layers


def image_layers(viewer: Any, kinds: tuple[str, ...] = ("image",)) -> list[Any]:
    """The viewer's layers of the given kinds ("image", "labels"), in layer-list order."""
    import napari.layers

    types = tuple({"image": napari.layers.Image, "labels": napari.layers.Labels}[k] for k in kinds)
    return [layer for layer in viewer.layers if isinstance(layer, types)]


def layer_summary(layer: Any) -> dict[str, Any] | None:
    """The ``Volume.summary()`` a layer carries in ``metadata["dicom"]`` (None for other layers)."""
    meta = getattr(layer, "metadata", None) or {}
    dicom = meta.get("dicom") if isinstance(meta, dict) else None
    if not isinstance(dicom, dict):
        return None
    s = dicom.get("summary") or dicom.get("volume")
    return s if isinstance(s, dict) else None


def layer_files(layer: Any) -> list[str]:
    meta = getattr(layer, "metadata", None) or {}
    dicom = meta.get("dicom") if isinstance(meta, dict) else None
    files = dicom.get("files") if isinstance(dicom, dict) else None
    return [str(f) for f in files] if files else []


def _world_steps(layer: Any, axes: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """World position of a layer's data index 0, and the world step of one index along each of ``axes`` (columns)."""
    zero = [0.0] * layer.ndim
    o = np.asarray(layer.data_to_world(zero), float)
    cols = []
    for ax in axes:
        p = list(zero)
        p[ax] = 1.0
        cols.append(np.asarray(layer.data_to_world(p), float) - o)
    return o, np.column_stack(cols)


def layer_grid(layer: Any) -> Geometry:
    """The grid of a layer's last three axes in world space (z, y, x), from its full data-to-world transform.

    World axes are read as (z, y, x) in mm, as this plugin's reader sets them
    (DICOM patient LPS); the result maps (k, j, i) to (x, y, z).
    """
    nd = layer.ndim
    if nd < 3:
        from ..errors import GeometryError

        raise GeometryError(f"layer {layer.name!r} is {nd}-D: a 3-D image is needed")
    o, steps = _world_steps(layer, range(nd - 3, nd))
    aff = np.eye(4)
    aff[:3, :3] = steps[-3:]
    aff[:3, 3] = o[-3:]
    return Geometry.from_world_zyx(tuple(layer.data.shape[-3:]), aff)


def displayable(layer: Any, viewer: Any) -> bool:
    """True if napari can draw ``layer`` in the viewer's current display.

    napari draws a layer by slicing its array along its own axes: the data
    axes shown must map onto the world axes shown by an invertible block of
    the layer's transform. A coronal scout in patient space (rows along z)
    cannot be drawn in an axial 2-D view: adding it would break the canvas.
    """
    nd = layer.ndim
    offset = viewer.dims.ndim - nd
    shown = [d - offset for d in viewer.dims.displayed]
    if len(shown) < 2 or any(d < 0 for d in shown):
        shown = list(range(max(nd - viewer.dims.ndisplay, 0), nd))
    block = _world_steps(layer, shown)[1][shown]
    scale = float(np.abs(block).max()) or 1.0
    return abs(float(np.linalg.det(block / scale))) > 1e-6


# ----------------------------------------------------------------------------- histogram picture


def histogram_image(counts: np.ndarray, edges: np.ndarray, width: int = 360, height: int = 140) -> QImage:
    """A bar chart of ``counts`` (log scale) as a QImage: negative bins magenta, positive green, 0 marked."""
    counts = np.asarray(counts, float)
    pad_l, pad_b, pad_t = 6, 18, 14
    w, h = width - 2 * pad_l, height - pad_b - pad_t
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[...] = (30, 32, 38, 255)
    if counts.size and counts.max() > 0:
        vals = np.log10(counts + 1) / np.log10(counts.max() + 1)
        n = counts.size
        centres = (edges[:-1] + edges[1:]) / 2
        x0 = pad_l + (np.arange(n) * w) // n
        x1 = pad_l + ((np.arange(n) + 1) * w) // n
        for k in range(n):
            top = pad_t + int(round(h * (1 - vals[k])))
            colour = (208, 90, 160) if centres[k] < 0 else (120, 190, 80)
            if edges[k] <= 0 <= edges[k + 1]:
                colour = (200, 200, 200)
            rgba[top : pad_t + h, x0[k] : max(x1[k] - (1 if x1[k] - x0[k] > 2 else 0), x0[k] + 1), :3] = colour
    rgba[pad_t + h, pad_l : pad_l + w, :3] = 160
    img = QImage(rgba.tobytes(), width, height, width * 4, QImage.Format.Format_RGBA8888).copy()
    p = QPainter(img)
    p.setPen(QColor(220, 220, 220))
    font = QFont()
    font.setPointSize(8)
    p.setFont(font)
    lo, hi = (float(edges[0]), float(edges[-1])) if len(edges) else (0.0, 0.0)
    p.drawText(pad_l, height - 4, f"{lo:.4g}")
    p.drawText(width // 2 - 4, height - 4, "0")
    txt = f"{hi:.4g}"
    p.drawText(width - pad_l - 7 * len(txt), height - 4, txt)
    p.drawText(pad_l, 11, f"B - A, {int(counts.sum())} voxels (log counts)")
    p.end()
    return img


class HistogramView(Label):
    """A magicgui label showing a histogram picture (drawn with numpy and Qt; no matplotlib)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(value="", **kwargs)
        self.native.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image: QImage | None = None

    def set_histogram(self, counts: np.ndarray, edges: np.ndarray) -> None:
        self.image = histogram_image(counts, edges)
        self.native.setPixmap(QPixmap.fromImage(self.image))

    def clear(self) -> None:
        self.image = None
        self.native.clear()

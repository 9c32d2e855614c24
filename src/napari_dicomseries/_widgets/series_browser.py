"""Series browser: the volumes of a folder as a study -> series tree with thumbnails, classes and warnings.

Everything shown comes from the core's one pipeline (:func:`napari_dicomseries.open_folder`:
scan, group, classify, gap policy); thumbnails from :func:`napari_dicomseries.thumbnail.cached_thumbnail`
(the middle slice, decoded in a worker thread after the scan); layers are built by
:func:`napari_dicomseries._reader.volume_layer_data`. This module only wires them to controls.
Scanning and loading run in a worker thread; *Cancel* stops them.

An archive index folder (``napari-dicomseries index ARCHIVE --db INDEX``) chosen as the folder is not
scanned: its volumes come from :func:`napari_dicomseries.index_query.open_index`, which rebuilds the
headers from the index's shards (no file of the archive is read until a row is loaded or its thumbnail
made) and runs the same pipeline, so the rows are the same :class:`~napari_dicomseries.volume.Volume`
objects as a scan of the archive gives.

An index of more than :data:`LAZY_INDEX_FILES` instances (``NAPARI_DICOMSERIES_LAZY_INDEX_FILES``) is listed from its
volume table alone (:func:`napari_dicomseries.index_query.list_entries`: no shard read, no volume built; about a
second at a million instances): its rows are :class:`~napari_dicomseries.index_query.IndexEntry` placeholders with
the volume table's columns (the same rows as the whole index opened gives). The volumes of a study are made only
when one of its rows is loaded, compared or exported (:meth:`SeriesBrowser.resolve`: ``open_index(keys=...)`` over
that study, in the job's worker, cached per study); the study's rows are then replaced by its volumes, and get
their thumbnails (the rows of studies not opened have none).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.types import FileDialogMode
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton, Widget
from qtpy.QtCore import QItemSelection, QItemSelectionModel, QPoint, QSize, Qt
from qtpy.QtGui import QBrush, QColor, QFont, QIcon, QImage, QPainter, QPixmap, QPolygon
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QMenu,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
)

from ..classify import THIN_MAX_MM
from ..compare import rows_to_csv
from ..errors import DicomSeriesError
from ..index_query import IndexEntry
from ._common import (
    RefitOnResize,
    StatusBar,
    _sort_key,
    displayable,
    enum_choices,
    layer_files,
    layer_summary,
    rows_to_tsv,
    start_worker,
    to_clipboard,
    unwrap,
)

if TYPE_CHECKING:
    import napari.viewer

    from ..volume import Volume

__all__ = [
    "SeriesBrowser", "SeriesTree", "KernelFilter", "LoadMode", "COLUMNS", "DEFAULT_COLUMNS", "volume_row", "study_info",
    "StudyInfo", "THUMBNAIL_PX", "index_folder", "LAZY_INDEX_FILES", "entry_study_info",
]  # fmt: skip

THUMBNAIL_PX = 48
#: An index of more instances than this is listed from its volume table (rows resolved per study on demand); a
#: smaller one is opened whole (every volume built, as a folder scan). ``NAPARI_DICOMSERIES_LAZY_INDEX_FILES``.
LAZY_INDEX_FILES = 20_000
ENV_LAZY_INDEX_FILES = "NAPARI_DICOMSERIES_LAZY_INDEX_FILES"


def lazy_index_files() -> int:
    """:data:`LAZY_INDEX_FILES`, or the number in ``NAPARI_DICOMSERIES_LAZY_INDEX_FILES``."""
    try:
        return int(os.environ.get(ENV_LAZY_INDEX_FILES, "").strip() or LAZY_INDEX_FILES)
    except ValueError:
        return LAZY_INDEX_FILES


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


#: every column; the first is the tree column (thumbnail, series number and description)
COLUMNS = (
    "volume", "kernel class", "thickness mm", "size", "orientation", "kind", "warnings", "layer",
    "key", "series", "description", "modality", "kernel", "spacing mm", "acq group", "content time", "creation time",
)  # fmt: skip
#: the columns shown until the user picks others (header context menu or *Columns*)
DEFAULT_COLUMNS = ("volume", "kernel class", "thickness mm", "size", "orientation", "kind", "warnings")
#: short header labels (the header's tooltip gives the column's name)
HEADER_LABELS = {"volume": "series", "kernel class": "kernel", "thickness mm": "mm", "orientation": "orient.", "warnings": "⚠"}
MAX_COLUMN_PX = {"volume": 190, "layer": 150}
MAX_OTHER_PX = 160


def volume_label(v: Volume | IndexEntry) -> str:
    """``S5 1.25mm LUNG``; a part of a split series gets its key: ``S3 lung [3.2]``."""
    number = f"S{v.series_number} " if v.series_number is not None else ""
    label = f"{number}{v.series_description or v.modality}".strip()
    if v.series_number is None or v.key != str(v.series_number):
        label += f" [{v.key}]"
    return label


def volume_row(v: Volume | IndexEntry, layer_name: str = "") -> list[Any]:
    """One row for a volume, in :data:`COLUMNS` order: the columns of ``ls``, the times, the loaded layer, the warnings.

    ``v`` may be an index's :class:`~napari_dicomseries.index_query.IndexEntry` (a volume not built yet): the same
    columns, from the volume table.
    """
    img = v.is_image
    values = {
        "volume": volume_label(v),
        "key": v.key,
        "series": v.series_number if v.series_number is not None else "",
        "description": v.series_description,
        "modality": v.modality,
        "kernel": v.convolution_kernel,
        "kernel class": v.kernel_class,
        "thickness mm": ""
        if not img
        else (f"{v.slice_thickness:g}" if v.slice_thickness else f"({v.spacing[0]:.3g})" if v.spacing else ""),
        "spacing mm": "" if not img else "x".join(f"{s:.3g}" for s in v.spacing),
        "size": "x".join(str(s) for s in v.shape),
        "orientation": v.orientation,
        "kind": v.kind,
        "acq group": v.acquisition_group,
        "content time": v.content_time,
        "creation time": v.instance_creation_time,
        "layer": layer_name,
        "warnings": "; ".join(v.warning_messages),
    }
    return [values[c] for c in COLUMNS]


@dataclass(frozen=True)
class StudyInfo:
    """What a study row shows: no patient name, ID or birth date."""

    uid: str
    date: str = ""  # YYYY-MM-DD
    time: str = ""  # HH:MM
    description: str = ""
    modalities: str = ""
    #: False when the study's header was not read (an index): the label then says nothing of a description
    described: bool = True

    @property
    def label(self) -> str:
        when = f"{self.date} {self.time}".strip()
        about = self.description or ("(no study description)" if self.described else "")
        words = [w for w in (when, about, self.modalities) if w]
        return "  ·  ".join(words)


def _date_time(d: str, t: str) -> tuple[str, str]:
    """``YYYY-MM-DD``, ``HH:MM`` from digits (empty when too short)."""
    return (f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) >= 8 else "", f"{t[:2]}:{t[2:4]}" if len(t) >= 4 else "")


def _acquired(volumes: Sequence[Volume]) -> tuple[str, str]:
    """The earliest acquisition date and time (``YYYYMMDD``, ``HHMMSS``) of the first files of ``volumes``, from the
    descriptive tags the scan keeps (no header read)."""
    stamps = []
    for v in volumes:
        tags = v.files[0].tags if v.files else {}
        dt = "".join(c for c in tags.get("AcquisitionDateTime", "") if c.isdigit())
        d = dt[:8] or "".join(c for c in tags.get("AcquisitionDate", "") if c.isdigit())
        t = dt[8:] or "".join(c for c in tags.get("AcquisitionTime", "") if c.isdigit())
        if len(d) >= 8:
            stamps.append((d, t))
    return min(stamps) if stamps else ("", "")


def study_info(volumes: Sequence[Volume], read_headers: bool = True) -> dict[str, StudyInfo]:
    """A :class:`StudyInfo` per StudyInstanceUID of ``volumes``.

    Parameters
    ----------
    volumes : sequence of Volume
        The volumes listed.
    read_headers : bool
        Read one full header of each study (StudyDate, StudyTime, StudyDescription). False (volumes of an
        archive index, whose headers are not read to list them), or a header that cannot be read: the earliest
        acquisition date and time the scan kept, and no description.

    Returns
    -------
    dict of str to StudyInfo
    """
    by_study: dict[str, list[Volume]] = {}
    for v in volumes:
        by_study.setdefault(v.study_instance_uid, []).append(v)
    out = {}
    for uid, vols in by_study.items():
        mods = ", ".join(sorted({v.modality for v in vols if v.modality}))
        ds = None
        if read_headers and vols[0].files:
            try:
                ds = vols[0].files[0].dataset
            except Exception:  # noqa: BLE001 - a study's label must not stop the listing (its tags show the error)
                ds = None
        if ds is None:
            d, t = _acquired(vols)
            date = f"{d[:4]}-{d[4:6]}-{d[6:8]}" if d else ""
            tm = f"{t[:2]}:{t[2:4]}" if len(t) >= 4 else ""
            out[uid] = StudyInfo(uid, date, tm, "", mods, described=False)
            continue
        d = "".join(c for c in str(ds.get("StudyDate", "") or "") if c.isdigit())
        t = "".join(c for c in str(ds.get("StudyTime", "") or "") if c.isdigit())
        date = f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) >= 8 else ""
        tm = f"{t[:2]}:{t[2:4]}" if len(t) >= 4 else ""
        desc = str(ds.get("StudyDescription", "") or "").strip()
        out[uid] = StudyInfo(uid, date, tm, desc, mods)
    return out


def entry_study_info(entries: Sequence[IndexEntry]) -> dict[str, StudyInfo]:
    """A :class:`StudyInfo` per StudyInstanceUID of an index's :class:`~napari_dicomseries.index_query.IndexEntry` rows.

    As :func:`study_info` labels the volumes of an index (``read_headers=False``): the earliest acquisition date
    and time of the study's volumes (their first files', which the volume table keeps), its modalities, no
    description.
    """
    stamps: dict[str, list[tuple[str, str]]] = {}
    mods: dict[str, set[str]] = {}
    for e in entries:
        mods.setdefault(e.study_instance_uid, set()).add(e.modality)
        stamp = stamps.setdefault(e.study_instance_uid, [])
        digits = "".join(c for c in e.acquisition_datetime if c.isdigit())
        if len(digits) >= 8:
            stamp.append((digits[:8], digits[8:]))
    out = {}
    for uid, found in stamps.items():
        date, tm = _date_time(*min(found)) if found else ("", "")
        out[uid] = StudyInfo(uid, date, tm, "", ", ".join(sorted(m for m in mods[uid] if m)), described=False)
    return out


def index_folder(path: str | os.PathLike[str] | None) -> str | None:
    """``path`` when it is an archive index folder (:func:`napari_dicomseries.index.single_index`), else None."""
    from ..index import single_index

    return single_index(path) if path else None


def _unresolved(rows: Sequence[Any], cache: dict[str, list[Volume]]) -> list[str]:
    return sorted({r.study_instance_uid for r in rows if isinstance(r, IndexEntry) and r.study_instance_uid not in cache})


def _base_key(key: str) -> str:
    """The key of a volume before a gap policy cut it (``3.part2`` -> ``3``)."""
    head, dot, tail = key.rpartition(".part")
    return head if dot and tail.isdigit() else key


def _volumes_of(row: Any, cache: dict[str, list[Volume]]) -> list[Any]:
    """The volumes a row stands for: itself (a volume, or a placeholder of a study not made), else the volumes of its
    study with its key, or (another gap policy than the index's) those of its series as that policy cut it."""
    if not isinstance(row, IndexEntry) or row.study_instance_uid not in cache:
        return [row]
    volumes = cache[row.study_instance_uid]
    same = [v for v in volumes if v.key == row.key]
    return same or [v for v in volumes if _base_key(v.key) == row.base_key]


def _same_volume(v: Volume | None, summary: dict[str, Any] | None) -> bool:
    return (
        v is not None
        and summary is not None
        and v.key == summary.get("key")
        and v.series_instance_uid == summary.get("series_instance_uid")
    )


def thumbnail_pixmap(image: np.ndarray | None, warned: bool, size: int = THUMBNAIL_PX) -> QPixmap:
    """A ``size`` x ``size`` picture: the thumbnail centred on black (grey when there is none) and an orange corner if ``warned``."""
    pix = QPixmap(size, size)
    pix.fill(QColor(0, 0, 0) if image is not None else QColor(70, 72, 78))
    p = QPainter(pix)
    if image is not None:
        img = np.ascontiguousarray(image)
        h, w = img.shape[:2]
        fmt = QImage.Format.Format_RGB888 if img.ndim == 3 else QImage.Format.Format_Grayscale8
        qimg = QImage(img.tobytes(), w, h, img.strides[0], fmt).copy()
        p.drawImage((size - w) // 2, (size - h) // 2, qimg)
    if warned:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(240, 150, 30))
        c = size // 3
        p.drawPolygon(QPolygon([QPoint(size - c, 0), QPoint(size, 0), QPoint(size, c)]))
    p.end()
    return pix


class SeriesTree(Container):
    """Studies as top rows, one child row per volume (thumbnail, classes, warnings); sortable, columns on demand.

    The volume rows behave as a table (``headers``, ``rows``, ``payloads``,
    ``sort_by``, ``select_payloads``, ``copy``, ``to_csv``); study rows are
    labels that cannot be selected.
    """

    def __init__(self, columns: Sequence[str] = COLUMNS, visible: Sequence[str] = DEFAULT_COLUMNS) -> None:
        self.copy_button = PushButton(text="Copy")
        self.csv_button = PushButton(text="Save CSV...")
        self.columns_button = PushButton(text="Columns...")
        self.row_count = Label(value="")
        row: list[Widget] = [self.row_count, self.columns_button, self.copy_button, self.csv_button]
        buttons = Container(widgets=row, layout="horizontal", labels=False)
        buttons.margins = (0, 0, 0, 0)
        super().__init__(widgets=[buttons], labels=False)
        self.margins = (0, 0, 0, 0)
        self._headers = list(columns)
        self._column_visible = {c: c in visible for c in self._headers}  # not ``_visible``: magicgui's Widget has one
        self.tree = QTreeWidget()
        t = self.tree
        t.setColumnCount(len(self._headers))
        t.setHeaderLabels([HEADER_LABELS.get(c, c) for c in self._headers])
        header_item = t.headerItem()
        assert header_item is not None  # a QTreeWidget always has its header item
        for n, c in enumerate(self._headers):
            header_item.setToolTip(n, f"{c} (right-click: choose columns)")
        t.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        t.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setTextElideMode(Qt.TextElideMode.ElideRight)
        t.setWordWrap(True)  # a long series description wraps beside its thumbnail (rows are 48 px high anyway)
        t.setUniformRowHeights(False)
        t.setIndentation(12)
        t.setMinimumHeight(150)
        t.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        header = t.header()
        assert header is not None  # a QTreeView always has its header view
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionsClickable(True)
        header.sectionClicked.connect(self._header_clicked)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(lambda pos: self.column_menu().exec(header.mapToGlobal(pos)))
        self.native.layout().insertWidget(0, t, 1)
        self.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.columns_button.changed.connect(
            lambda: self.column_menu().exec(
                self.columns_button.native.mapToGlobal(QPoint(0, self.columns_button.native.height()))
            )
        )
        self.copy_button.changed.connect(self.copy)
        self.csv_button.changed.connect(self._ask_csv)
        t.itemSelectionChanged.connect(self._selection_changed)
        self._entries: list[tuple[Any, list[Any], str]] = []  # (volume, row, study uid) in display order
        self._studies: dict[str, StudyInfo] = {}
        self._items: dict[int, QTreeWidgetItem] = {}  # id(volume) -> item
        self._pixmaps: dict[int, QPixmap] = {}
        self._blank_icons: dict[bool, QIcon] = {}
        self._highlight_item: QTreeWidgetItem | None = None
        self._sort: tuple[int, bool] | None = None
        self._highlight: Any = None
        self._callbacks: list[Callable[[], None]] = []
        self._quiet = False
        self._apply_visibility()
        self._fitter = RefitOnResize(t, self._fit_columns)
        viewport = t.viewport()
        assert viewport is not None  # a scroll area always has its viewport
        viewport.installEventFilter(self._fitter)

    # ------------------------------------------------------------------ columns
    @property
    def headers(self) -> list[str]:
        return list(self._headers)

    @property
    def visible_columns(self) -> list[str]:
        return [c for c in self._headers if self._column_visible[c]]

    def set_column_visible(self, column: str, visible: bool) -> None:
        """Show or hide a column (the tree column always shows)."""
        self._column_visible[column] = visible or column == self._headers[0]
        self._apply_visibility()
        self._fit_columns()

    def _apply_visibility(self) -> None:
        for n, c in enumerate(self._headers):
            self.tree.setColumnHidden(n, not self._column_visible[c])

    def column_menu(self) -> QMenu:
        """A menu of checkable column names (the header's context menu)."""
        menu = QMenu(self.tree)
        for c in self._headers[1:]:
            action = menu.addAction(c)
            if action is None:
                continue
            action.setCheckable(True)
            action.setChecked(self._column_visible[c])
            action.toggled.connect(lambda on, c=c: self.set_column_visible(c, on))
        menu.addSeparator()
        reset = menu.addAction("Default columns")
        if reset is not None:
            reset.triggered.connect(self.reset_columns)
        return menu

    def reset_columns(self, *_: Any) -> None:
        self._column_visible = {c: c in DEFAULT_COLUMNS for c in self._headers}
        self._apply_visibility()
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Columns as wide as their content (thumbnails included), within a maximum per column; long text is elided."""
        widths = {}
        for n, c in enumerate(self._headers):
            if self._column_visible[c]:
                self.tree.resizeColumnToContents(n)
                # + padding: the active layer's row is bold
                widths[n] = min(self.tree.columnWidth(n) + 12, MAX_COLUMN_PX.get(c, MAX_OTHER_PX))
        viewport = self.tree.viewport()
        room = (viewport.width() if viewport is not None else 0) - 4
        if 0 in widths and sum(widths.values()) > room > 0:  # the series column gives way first, to a readable minimum
            widths[0] = max(150, room - sum(w for n, w in widths.items() if n))
        for n, w in widths.items():
            self.tree.setColumnWidth(n, w)

    # ------------------------------------------------------------------ content
    @property
    def rows(self) -> list[list[Any]]:
        """The volume rows in display order (every column, hidden ones included)."""
        return [list(r) for _, r, _ in self._entries]

    @property
    def payloads(self) -> list[Any]:
        return [v for v, _, _ in self._entries]

    def set_volumes(self, volumes: Sequence[Any], layer_names: Sequence[str], studies: dict[str, StudyInfo]) -> bool:
        """Show ``volumes`` (one row each, under their study) with the names of the layers they are loaded in.

        The same volumes and studies as shown (a layer added or removed): only the rows that changed are updated,
        in place (a big index lists thousands of rows). Returns True when the tree was rebuilt.
        """
        entries = [(v, volume_row(v, name), v.study_instance_uid) for v, name in zip(volumes, layer_names, strict=True)]
        if self._update_in_place(entries, studies):
            return False
        self._studies = dict(studies)
        self._entries = entries
        self._apply_sort()
        self._rebuild()
        return True

    def _update_in_place(self, entries: list[tuple[Any, list[Any], str]], studies: dict[str, StudyInfo]) -> bool:
        new = {id(v): row for v, row, _ in entries}
        if not self._entries or len(new) != len(self._entries) or studies != self._studies:
            return False
        if any(id(v) not in new or id(v) not in self._items for v, _, _ in self._entries):
            return False
        changed = [n for n, (v, row, _) in enumerate(self._entries) if new[id(v)] != row]
        if self._sort is not None and any(
            self._entries[n][1][self._sort[0]] != new[id(self._entries[n][0])][self._sort[0]] for n in changed
        ):
            return False  # the order changes
        self._quiet = True
        try:
            for n in changed:
                v, _, s = self._entries[n]
                row = new[id(v)]
                self._entries[n] = (v, row, s)
                item = self._items[id(v)]
                for c, text in enumerate(row):
                    item.setText(c, "" if text is None else str(text))
                self._decorate(item, v, row)
            if changed:
                self._fit_columns()
        finally:
            self._quiet = False
        return True

    def sort_by(self, column: int | str, descending: bool = False) -> None:
        """Sort the volume rows of each study by a column (index or header), numbers as numbers."""
        col = self._headers.index(column) if isinstance(column, str) else int(column)
        self._sort = (col, descending)
        selected = self.selected_payloads()
        self._apply_sort()
        self._rebuild()
        if selected:
            ids = {id(v) for v in selected}
            self.select_payloads(lambda v: id(v) in ids)

    def _header_clicked(self, col: int) -> None:
        desc = self._sort is not None and self._sort[0] == col and not self._sort[1]
        self.sort_by(col, desc)

    def _apply_sort(self) -> None:
        if self._sort is None:
            return
        col, desc = self._sort
        self._entries.sort(key=lambda e: _sort_key(e[1][col]), reverse=desc)

    def _study_order(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, _, s in sorted(self._entries, key=lambda e: (self._studies.get(e[2], StudyInfo(e[2])).date, e[2])):
            seen.setdefault(s, None)
        return list(seen)

    def _rebuild(self) -> None:
        t = self.tree
        self._quiet = True
        t.setUpdatesEnabled(False)
        try:
            t.clear()
            self._items = {}
            self._highlight_item = None
            bold = QFont(t.font())
            bold.setBold(True)
            by_study: dict[str, list[tuple[Any, list[Any]]]] = {}
            for v, row, s in self._entries:
                by_study.setdefault(s, []).append((v, row))
            tops = []
            for uid in self._study_order():
                info = self._studies.get(uid, StudyInfo(uid))
                rows = by_study.get(uid, [])
                top = QTreeWidgetItem()
                top.setText(0, f"{info.label}  ·  {len(rows)} volume(s)")
                top.setToolTip(0, f"{info.label}\nStudyInstanceUID {uid}")
                top.setFlags(Qt.ItemFlag.ItemIsEnabled)
                top.setFont(0, bold)
                for v, row in rows:
                    item = QTreeWidgetItem(top, ["" if c is None else str(c) for c in row])
                    self._decorate(item, v, row)
                    self._items[id(v)] = item
                tops.append(top)
            t.addTopLevelItems(tops)  # at once (one layout), then spanned and expanded (which need the tree)
            for top in tops:
                top.setFirstColumnSpanned(True)
                top.setExpanded(True)
            header = t.header()
            assert header is not None  # a QTreeView always has its header view
            header.setSortIndicatorShown(self._sort is not None)
            if self._sort is not None:
                header.setSortIndicator(
                    self._sort[0], Qt.SortOrder.DescendingOrder if self._sort[1] else Qt.SortOrder.AscendingOrder
                )
            self._fit_columns()
            self.highlight(self._highlight)
        finally:
            t.setUpdatesEnabled(True)
            self._quiet = False
        self.row_count.value = f"{len(self._entries)} volume(s)"
        self._selection_changed()

    def _decorate(self, item: QTreeWidgetItem, v: Volume, row: list[Any]) -> None:
        warned = bool(v.warnings)
        for n, text in enumerate(row):
            if text not in ("", None):
                item.setToolTip(n, f"{self._headers[n]}: {text}")
        details = [volume_row(v)[COLUMNS.index("volume")], f"key {v.key}, {v.modality} {v.convolution_kernel}".rstrip()]
        if v.split_reason:
            details.append(f"split: {v.split_reason}")
        if warned:
            details += ["warnings:"] + [f"  - {m}" for m in v.warning_messages]
        item.setToolTip(0, "\n".join(details))
        if warned:
            col = self._headers.index("warnings")
            item.setForeground(col, QBrush(QColor(240, 150, 30)))
            item.setText(col, f"⚠{len(v.warnings)}")
            item.setToolTip(col, "\n".join(v.warning_messages))
        pix = self._pixmaps.get(id(v))
        item.setIcon(0, QIcon(pix) if pix is not None else self._no_thumbnail(warned))

    def _no_thumbnail(self, warned: bool) -> QIcon:
        """The icon of a row without a thumbnail (made once: a big index lists thousands of rows)."""
        icon = self._blank_icons.get(warned)
        if icon is None:
            icon = self._blank_icons[warned] = QIcon(thumbnail_pixmap(None, warned))
        return icon

    def set_thumbnail(self, volume: Volume, image: np.ndarray | None) -> None:
        """Show ``image`` (uint8, from :func:`thumbnail.cached_thumbnail`) as the row's thumbnail."""
        pix = thumbnail_pixmap(image, bool(volume.warnings))
        if image is not None:
            self._pixmaps[id(volume)] = pix
        item = self._items.get(id(volume))
        if item is not None:
            try:
                item.setIcon(0, QIcon(pix))
            except RuntimeError:  # the tree was closed while the thumbnail was made
                self._items.pop(id(volume), None)

    def has_thumbnail(self, volume: Volume) -> bool:
        return id(volume) in self._pixmaps

    def forget_thumbnails(self) -> None:
        self._pixmaps = {}

    def item_of(self, volume: Volume) -> QTreeWidgetItem | None:
        return self._items.get(id(volume))

    # ------------------------------------------------------------------ active layer
    def highlight(self, volume: Volume | None) -> None:
        """Mark the row of ``volume`` (the active layer's) with a bold font and a coloured background."""
        self._highlight = volume
        background = QBrush(QColor(38, 110, 140))
        item = self._items.get(id(volume)) if volume is not None else None
        if item is self._highlight_item:
            return
        for it, on in ((self._highlight_item, False), (item, True)):  # only the rows that change (the tree may be long)
            if it is None:
                continue
            for n in range(len(self._headers)):
                font = it.font(n)
                font.setBold(on)
                it.setFont(n, font)
                it.setBackground(n, background if on else QBrush())
        self._highlight_item = item

    @property
    def highlighted(self) -> Volume | None:
        """The volume whose row is highlighted (the active layer's), or None."""
        return self._highlight

    # ------------------------------------------------------------------ selection
    def selected_payloads(self) -> list[Any]:
        chosen = {id(i) for i in self.tree.selectedItems()}
        return [v for v, _, _ in self._entries if id(self._items.get(id(v))) in chosen]

    def select_payloads(self, predicate: Callable[[Any], bool]) -> list[int]:
        """Select the rows whose volume satisfies ``predicate`` (others unselected); their indices in :attr:`rows`."""
        idx = [n for n, (v, _, _) in enumerate(self._entries) if predicate(v)]
        sel = QItemSelection()
        model = self.tree.model()
        selection = self.tree.selectionModel()
        assert model is not None and selection is not None  # a QTreeWidget always has its model and selection model
        for n in idx:
            item = self._items.get(id(self._entries[n][0]))
            if item is not None:
                index = self.tree.indexFromItem(item, 0)
                sel.select(index, model.index(index.row(), model.columnCount(index.parent()) - 1, index.parent()))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        selection.select(sel, flags)
        if idx:
            item = self._items.get(id(self._entries[idx[0]][0]))
            if item is not None:
                self.tree.scrollToItem(item)
        return idx

    def on_selection(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def _selection_changed(self) -> None:
        if self._quiet:
            return
        for cb in self._callbacks:
            cb()

    # ------------------------------------------------------------------ export
    def to_csv(self) -> str:
        return rows_to_csv(self._headers, self.rows)

    def to_tsv(self) -> str:
        return rows_to_tsv(self._headers, self.rows)

    def copy(self, *_: Any) -> str:
        """Put the volume rows on the clipboard as tab-separated text; return it."""
        return to_clipboard(self.to_tsv())

    def save_csv(self, path: str | os.PathLike[str]) -> str:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(self.to_csv())
        return os.fspath(path)

    def _ask_csv(self, *_: Any) -> None:
        path, _filter = QFileDialog.getSaveFileName(self.native, "Save table as CSV", "series.csv", "CSV files (*.csv)")
        if path:
            self.save_csv(path)


class SeriesBrowser(Container):
    """Browse the volumes of a folder as a study -> series tree: thumbnails, classes, warnings, filters; load as layers.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer layers are added to. The row of the active layer is
        highlighted; selecting a row of a loaded volume makes its layer active.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        viewer = napari_viewer
        self.viewer = viewer
        self.folder = FileEdit(mode=FileDialogMode.EXISTING_DIRECTORY, label="Folder")
        self.use_layer_button = PushButton(text="Folder of selected layer")
        self.scan_button = PushButton(text="Scan")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.hide_localizers = CheckBox(value=True, text="Hide localizers")
        self.only_thin = CheckBox(value=False, text=f"Only thin (≤ {THIN_MAX_MM:g} mm)")
        self.kernel = ComboBox(choices=enum_choices(KernelFilter), value=KernelFilter.all, label="Kernel class")
        self.kernel.native.setToolTip("show one kernel class only")
        self.table = SeriesTree()
        self.load_mode = ComboBox(choices=enum_choices(LoadMode), value=LoadMode.auto, label="Load")
        self.load_mode.native.setToolTip("how pixel data are loaded (double-click a row to load it)")
        self.load_button = PushButton(text="Load selected")
        self.tags_button = PushButton(text="Compare tags of selected")
        self.status = StatusBar()
        self.folder.native.setToolTip(
            "a folder of DICOM files (searched recursively), or an archive index (napari-dicomseries index ARCHIVE --db INDEX)"
        )
        scan_row = Container(
            widgets=[self.use_layer_button, self.scan_button, self.cancel_button], layout="horizontal", labels=False
        )
        filters = Container(widgets=[self.hide_localizers, self.only_thin, self.kernel], layout="horizontal", labels=False)
        actions = Container(widgets=[self.load_mode, self.load_button, self.tags_button], layout="horizontal", labels=False)
        folder_row = Container(widgets=[self.folder], layout="horizontal", labels=False)
        for c in (scan_row, filters, actions, folder_row):
            c.margins = (0, 0, 0, 0)
        super().__init__(widgets=[folder_row, scan_row, filters, self.table, actions, self.status], labels=False)
        self.margins = (0, 0, 0, 0)
        self.volumes: list[Volume] = []
        self.skipped: list[Any] = []
        self.root: str = ""  # the folder (or common folder of the files) the volumes come from
        self.paths: list[str] | None = None  # the files scanned when they were given as a list (an adopted folder)
        self.index_path: str | None = None  # the archive index the volumes were listed from (``root`` is its archive)
        self.gaps = ""  # the gap policy the listed volumes were built with (what the Export tab must match)
        self.studies: dict[str, StudyInfo] = {}
        #: the index's rows as listed from its volume table (a big index; empty when its volumes were all built)
        self.entries: list[IndexEntry] = []
        #: the index's instances above which it is listed from its volume table (:data:`LAZY_INDEX_FILES`)
        self.lazy_index_files = lazy_index_files()
        self._resolved: dict[str, list[Volume]] = {}  # StudyInstanceUID -> its volumes (of the listed index)
        self._resolve_lock = threading.Lock()
        self._worker: Any = None
        self._thumb_worker: Any = None
        self._cancel = threading.Event()  # the running job's: set by Cancel
        self._selecting = False
        #: set by the DICOM panel: returns its tag comparison (and shows its tab) for *Compare tags of selected*
        self.tag_compare_target: Callable[[], Any] | None = None
        self.scan_button.changed.connect(lambda: self.scan())
        self.cancel_button.changed.connect(self.cancel)
        self.use_layer_button.changed.connect(self.use_selected_layer)
        self.load_button.changed.connect(lambda: self.load_selected())
        self.tags_button.changed.connect(self.compare_tags)
        self.table.tree.itemDoubleClicked.connect(self._double_clicked)
        self.table.on_selection(self._rows_selected)
        for w in (self.hide_localizers, self.only_thin, self.kernel):
            w.changed.connect(self.refresh)
        viewer.layers.selection.events.active.connect(self._on_active_layer)
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layers_changed)
        viewer.layers.events.inserted.connect(self._maybe_adopt)
        self.native.destroyed.connect(lambda *_: self._stop_thumbnails())

    # ------------------------------------------------------------------ state
    @property
    def busy(self) -> bool:
        """True while a scan or a load runs in the background (thumbnails are not counted)."""
        return self._worker is not None

    @property
    def thumbnails_busy(self) -> bool:
        """True while thumbnails are being made."""
        return self._thumb_worker is not None

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
        """Rebuild the tree from the scanned volumes and the filters, keeping the selection."""
        selected = {id(v) for v in self.table.selected_payloads()}
        vols = [v for v in self.volumes if self._passes(v)]
        loaded: dict[tuple[Any, Any], str] = {}  # (key, SeriesInstanceUID) -> the first layer's name (as _layer_of)
        for layer in self.viewer.layers:
            summary = layer_summary(layer)
            if summary is not None:
                loaded.setdefault((summary.get("key"), summary.get("series_instance_uid")), layer.name)
        names = [loaded.get((v.key, v.series_instance_uid), "") for v in vols]
        self._selecting = True
        try:
            rebuilt = self.table.set_volumes(vols, names, self.studies)
            if selected and rebuilt:
                self.table.select_payloads(lambda v: id(v) in selected)
            self._highlight_active()
        finally:
            self._selecting = False

    # ------------------------------------------------------------------ scanning
    def use_selected_layer(self, *_: Any) -> str | None:
        """Set the folder to the one holding the active layer's DICOM files and list it (adopted, or scanned).

        A layer opened from an archive index lists that index (the folder field shows it); returns the folder or
        index listed.
        """
        layer = self.viewer.layers.selection.active
        files = layer_files(layer) if layer is not None else []
        if not files:
            self.status.say("the selected layer has no DICOM files (metadata['dicom']['files'])", error=True)
            return None
        folder = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
        self.folder.value = Path(folder)
        if self.adopt_layer_folder(layer):
            return os.fspath(self.folder.value)
        self.scan(folder)
        return folder

    def adopt_layer_folder(self, layer: Any) -> bool:
        """List the folder a layer was opened from without scanning it again, when the reader cached its scan.

        The reader puts the folder's files in ``metadata["dicom"]["folder"]["paths"]`` and keeps its scan
        in :mod:`napari_dicomseries.catalog`; returns False when either is missing (then a scan is needed).
        A layer opened from an archive index (``folder["index"]``) lists every volume of that index
        (:meth:`open_index`, in a worker; True when it started).
        """
        meta = getattr(layer, "metadata", None) or {}
        dicom = meta.get("dicom") if isinstance(meta, dict) else None
        info = dicom.get("folder") if isinstance(dicom, dict) else None
        paths = info.get("paths") if isinstance(info, dict) else None
        if not paths:
            return False
        if isinstance(info, dict) and info.get("index"):
            index = index_folder(paths[0]) if len(paths) == 1 else None
            if index is None or self.busy:
                return False
            self.folder.value = Path(index)
            return self.open_index(index, adopted=True) is not None
        from .. import catalog
        from .._reader import gap_policy

        gaps = str((info or {}).get("gaps") or gap_policy())  # the policy the reader opened the folder with
        found = catalog.lookup(list(paths), gaps=gaps)
        if found is None:
            return False
        volumes, result = found
        self.paths = [str(p) for p in paths]
        self.index_path = None
        self.gaps = gaps
        self._scanned((volumes, result, study_info(volumes)), adopted=True)
        return True

    def _maybe_adopt(self, event: Any = None) -> None:
        """A layer opened from a big folder: list that folder when nothing is listed yet."""
        if self.volumes or self.busy:
            return
        layer = getattr(event, "value", None)
        if layer is not None and layer_summary(layer) is not None:
            self.adopt_layer_folder(layer)

    def scan(self, folder: str | os.PathLike[str] | None = None) -> Any:
        """Scan ``folder`` (default: the folder field) through :func:`napari_dicomseries.open_folder` in a worker thread.

        The progress bar follows the files read; *Cancel* (:meth:`cancel`) stops the
        scan between two files and leaves the tree as it was. Thumbnails are made
        afterwards in another worker. Returns the worker.
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
        index = index_folder(folder)
        if index is not None:
            return self.open_index(index)
        cancel = self._new_job()
        progress = _progress_in_main_thread(self.status.step)
        gaps = gap_policy()

        def work() -> Any:
            yield 0, 0
            volumes, result = napari_dicomseries.open_folder(folder, progress=progress, cancel=cancel.is_set, gaps=gaps)
            return volumes, result, study_info(volumes)

        def scanned(out: tuple[list[Volume], Any, dict[str, StudyInfo]]) -> None:
            if cancel.is_set():  # finished just before Cancel was pressed: still cancelled
                self.status.done("cancelled")
                return
            self.paths = None
            self.index_path = None
            self.gaps = gaps
            self._scanned(out)

        self.status.start(0)
        self.status.say(f"scanning {folder} ...")
        return self._start(work, on_yield=lambda dn: self.status.step(*dn), on_result=scanned)

    def open_index(self, index: str | os.PathLike[str], adopted: bool = False) -> Any:
        """List the volumes of an archive index (``napari-dicomseries index``) in a worker thread; returns the worker.

        An index of at most :attr:`lazy_index_files` instances goes through
        :func:`napari_dicomseries.index_query.open_index`: the headers are rebuilt from the index's shards (no file of
        the archive is read) and go through the pipeline of ``open_folder``, so the rows are the volumes a scan of the
        archive gives, with the archive's keys; the progress bar follows the studies. A bigger index is listed from
        its volume table alone (:func:`~napari_dicomseries.index_query.list_entries`, no shard read): the rows are
        :class:`~napari_dicomseries.index_query.IndexEntry` placeholders whose studies are opened when needed
        (:meth:`resolve`). *Cancel* leaves the tree as it was. ``adopted``: the index of a layer the reader opened
        (said in the status line).
        """
        from .._reader import gap_policy

        index = os.fspath(index)
        if self.busy:
            self.status.say("busy: wait for the running job or cancel it", error=True)
            return None
        cancel = self._new_job()
        progress = _progress_in_main_thread(self.status.step)
        gaps = gap_policy()
        threshold = self.lazy_index_files

        def work() -> Any:
            from ..index import read_manifest
            from ..index_query import list_entries, list_index, open_index
            from ..scan import ScanResult

            yield 0, 0
            manifest = read_manifest(index)
            if int(manifest.get("n_files") or 0) > threshold:  # a big index: its volume table only
                listing = list_index(index)
                entries = list_entries(index)
                result = ScanResult(root=listing.root, files=[], skipped=listing.skipped)
                return entries, result, entry_study_info(entries), str(manifest.get("gaps") or "")
            volumes, result = open_index(index, gaps=gaps, progress=progress, cancel=cancel.is_set)
            return volumes, result, study_info(volumes, read_headers=False), None

        def listed(out: tuple[list[Any], Any, dict[str, StudyInfo], str | None]) -> None:
            if cancel.is_set():
                self.status.done("cancelled")
                return
            rows, result, studies, stored_gaps = out
            self.paths = None
            self.index_path = index
            self.gaps = gaps
            self._scanned((rows, result, studies), adopted=adopted, stored_gaps=stored_gaps)

        self.status.start(0)
        self.status.say(f"reading the index {index} ...")
        return self._start(work, on_yield=lambda dn: self.status.step(*dn), on_result=listed)

    # ------------------------------------------------------------------ index rows -> volumes
    def unresolved(self, rows: Sequence[Any]) -> list[str]:
        """The studies of ``rows`` that are index placeholders whose volumes are not made yet (sorted UIDs)."""
        return _unresolved(rows, self._resolved)

    def resolve(
        self,
        rows: Sequence[Any],
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> list[Volume]:
        """The volumes of ``rows``: a :class:`~napari_dicomseries.volume.Volume` as it is, an index placeholder
        (:class:`~napari_dicomseries.index_query.IndexEntry`) as the volume(s) of its study that it lists.

        The studies not made yet are opened by :func:`napari_dicomseries.index_query.open_index` (``keys``: the series
        of those studies; their files rebuilt from the shards, nothing of the archive read) with the browser's gap
        policy, and kept per study. Under the gap policy the index was built with a row is one volume (the same key);
        under another, the volumes of its series as that policy makes them (``3.part2`` -> ``3``). Safe in a worker
        thread (the tree is updated by :meth:`show_resolved`, in the main thread). Raises :class:`errors.Cancelled`
        when ``cancel()`` turns true between studies.
        """
        from ..index_query import open_index

        index, gaps, cache, entries = self.index_path, self.gaps, self._resolved, self.entries
        # (the lock only when a study is to be made: the main thread resolving made rows never waits for a worker)
        if _unresolved(rows, cache):
            with self._resolve_lock:
                todo = set(_unresolved(rows, cache))
                if todo:
                    if index is None:
                        raise DicomSeriesError("these rows come from an index that is no longer listed: list it again")
                    keys = sorted({e.series_instance_uid or e.key for e in entries if e.study_instance_uid in todo})
                    volumes, _ = open_index(index, keys=keys, gaps=gaps or None, progress=progress, cancel=cancel)
                    got: dict[str, list[Volume]] = {uid: [] for uid in todo}
                    for v in volumes:  # (a series UID found in another study too: that study is not made here)
                        if v.study_instance_uid in todo:
                            got[v.study_instance_uid].append(v)
                    cache.update(got)
        out: list[Volume] = []
        seen: set[int] = set()
        for r in rows:
            for v in _volumes_of(r, cache):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    def show_resolved(self) -> int:
        """Replace the placeholder rows of the studies :meth:`resolve` made by their volumes (selection kept, thumbnails
        made for them); returns the number of rows replaced. Main thread."""
        cache = self._resolved
        if not any(isinstance(v, IndexEntry) and v.study_instance_uid in cache for v in self.volumes):
            return 0
        selected = self.table.selected_payloads()
        chosen = {id(v) for r in selected for v in _volumes_of(r, cache)}
        out: list[Any] = []
        placed: set[int] = set()
        last: dict[str, int] = {}  # study -> position after its last row
        replaced = 0
        for v in self.volumes:  # each volume where the row it stands for was (the rows are in ``ls`` order)
            if isinstance(v, IndexEntry) and v.study_instance_uid in cache:
                replaced += 1
                new = [r for r in _volumes_of(v, cache) if id(r) not in placed]
                out += new
                placed.update(id(r) for r in new)
                last[v.study_instance_uid] = len(out)
            else:
                out.append(v)
        for study, end in sorted(last.items(), key=lambda se: -se[1]):  # a volume no row stood for: after its study's rows
            out[end:end] = [r for r in cache[study] if id(r) not in placed]
        self.volumes = out
        self.refresh()
        self._selecting = True
        try:
            if chosen:
                self.table.select_payloads(lambda v: id(v) in chosen)
        finally:
            self._selecting = False
        self._highlight_active()
        self.make_thumbnails()  # of the volumes made (in their own worker, as after a scan)
        return replaced

    def _resolving(self, rows: Sequence[Any], what: str, then: Callable[[list[Volume]], Any]) -> Any:
        """Run ``then(volumes of rows)`` now when their studies are made, else after a job that makes them; returns
        ``then``'s result or the worker."""
        if not self.unresolved(rows):
            return then(self.resolve(rows))
        if self.busy:
            self.status.say("busy: wait for the running job or cancel it", error=True)
            return None
        cancel = self._new_job()
        progress = _progress_in_main_thread(self.status.step)
        studies = self.unresolved(rows)

        def work() -> Any:
            yield 0, 0
            return self.resolve(rows, cancel=cancel.is_set, progress=progress)

        def resolved(volumes: list[Volume]) -> None:
            if cancel.is_set():
                self.status.done("cancelled")
                return
            self.status.done(f"opened {len(studies)} study(ies) of the index for {what}")
            self.show_resolved()
            then(volumes)

        self.status.start(len(studies))
        self.status.say(f"opening {len(studies)} study(ies) of the index for {what} ...")
        return self._start(work, on_yield=lambda dn: self.status.step(*dn), on_result=resolved)

    def _scanned(
        self, out: tuple[list[Any], Any, dict[str, StudyInfo]], adopted: bool = False, stored_gaps: str | None = None
    ) -> None:
        """Show a listing. ``stored_gaps``: the rows are an index's volume table (placeholders), built with that policy."""
        volumes, result, studies = out
        self._stop_thumbnails()
        self.table.forget_thumbnails()
        self.entries = list(volumes) if stored_gaps is not None else []
        self._resolved = {}
        self.volumes = volumes
        self.skipped = result.skipped
        self.root = str(result.root or "")
        self.studies = studies
        self.refresh()
        images = sum(v.is_image for v in volumes)
        if self.index_path is not None:
            msg = f"index {self.index_path}: {len(volumes)} volume(s) ({images} with images) of the archive {result.root}"
            msg += ", listed from the index (no header read)"
            if stored_gaps is not None:
                studies_n = len(studies)
                msg += f"; {studies_n} study(ies) listed from its volume table, each opened when a row of it is loaded"
                if stored_gaps and stored_gaps != self.gaps:
                    msg += (
                        f" (rows as the index's gap policy {stored_gaps!r} split them; "
                        f"a study opened is rebuilt with {self.gaps!r} and its rows replaced)"
                    )
            if adopted:
                msg += ", the index of the opened layer"
        else:
            msg = f"{len(volumes)} volume(s) ({images} with images) in {result.root}"
            if adopted:
                msg += " (the scan of the opened folder, not repeated)"
        if result.skipped:
            msg += f"; {len(result.skipped)} file(s) skipped (e.g. {os.path.basename(result.skipped[0].path)}: {result.skipped[0].reason})"
        if not volumes:
            msg = (
                f"no DICOM images in the index {self.index_path} of {result.root}"
                if self.index_path
                else f"no DICOM images found in {result.root}"
            )
        self.status.done(msg)
        self._on_active_layer()
        self.make_thumbnails()

    # ------------------------------------------------------------------ thumbnails
    def make_thumbnails(self) -> Any:
        """Decode the middle slice of every listed image volume in a worker thread (cached), rows first; returns the worker."""
        from napari.qt.threading import thread_worker

        from ..thumbnail import cached_thumbnail

        self._stop_thumbnails()
        shown = self.table.payloads
        ids = {id(v) for v in shown}
        todo = shown + [v for v in self.volumes if id(v) not in ids]
        # the rows of an index's studies not opened yet have none (their volumes are made on demand)
        todo = [
            v for v in todo
            if not isinstance(v, IndexEntry) and v.is_image and v.loadable and v.kind != "segmentation"
            and not self.table.has_thumbnail(v)
        ]  # fmt: skip
        if not todo:
            return None

        @thread_worker
        def work() -> Any:
            for v in todo:
                try:
                    yield v, cached_thumbnail(v, THUMBNAIL_PX)
                except DicomSeriesError:
                    yield v, None

        worker = work()
        worker.yielded.connect(self._thumbnail_made)

        def finished() -> None:
            if self._thumb_worker is worker:
                self._thumb_worker = None

        worker.finished.connect(finished)
        self._thumb_worker = worker
        worker.start()
        return worker

    def _thumbnail_made(self, item: tuple[Volume, np.ndarray | None]) -> None:
        try:
            self.table.set_thumbnail(*item)
        except RuntimeError:  # the panel was closed: stop making thumbnails
            self._stop_thumbnails()

    def _stop_thumbnails(self) -> None:
        if self._thumb_worker is not None:
            self._thumb_worker.quit()
            self._thumb_worker = None

    # ------------------------------------------------------------------ loading
    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        for v in self.table.payloads:
            if self.table.item_of(v) is item:
                self.load_selected([v])
                return

    def load_selected(self, volumes: list[Any] | None = None) -> Any:
        """Load the selected volumes (or ``volumes``) as image layers in a background thread; returns the worker.

        Volumes already loaded are not loaded twice (their layer is selected);
        volumes without pixel data or decoder are reported and skipped. Rows of a big index's studies not opened
        yet are resolved first, in the same job (:meth:`resolve`: those studies only), and replaced by their volumes.
        """
        from .._reader import volume_layer_data

        vols = list(volumes) if volumes is not None else self.table.selected_payloads()
        if not vols:
            self.status.say("select one or more rows first", error=True)
            return None
        if self.busy:
            self.status.say("busy: wait for the running job or cancel it", error=True)
            return None
        problems = [f"{v.key}: no pixel data or no decoder" for v in vols if not (v.is_image and v.loadable)]
        todo = [v for v in vols if v.is_image and v.loadable and self._layer_of(v) is None]
        if not todo:
            self.status.say("; ".join(problems) or "already loaded")
            self._select_layer_of(vols[-1])
            return None
        lazy = {LoadMode.auto: None, LoadMode.memory: False, LoadMode.lazy: True}[self.load_mode.value]
        cancel = self._new_job()
        studies = self.unresolved(todo)
        loaded = {(s.get("key"), s.get("series_instance_uid")) for s in map(layer_summary, self.viewer.layers) if s}
        progress = _progress_in_main_thread(self.status.step) if studies else None

        def work() -> Any:
            vols = todo
            if any(isinstance(v, IndexEntry) for v in todo):  # index rows: their studies' volumes (made here if need be)
                vols = [
                    v for v in self.resolve(todo, cancel=cancel.is_set, progress=progress)
                    if v.is_image and v.loadable and (v.key, v.series_instance_uid) not in loaded
                ]  # fmt: skip
                yield None
            for n, v in enumerate(vols):
                if cancel.is_set():
                    break
                try:
                    yield n, len(vols), v, volume_layer_data(v, lazy=lazy, visible=True), None
                except DicomSeriesError as exc:
                    yield n, len(vols), v, None, str(exc)
            return len(vols)

        added: list[str] = []

        def on_item(item: tuple[int, int, Volume, Any, str | None] | None) -> None:
            if item is None:  # the studies were made: loading starts
                self.status.say(f"loading {len(todo)} volume(s) ...")
                return
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
            if not self.show_resolved():
                self.refresh()
            msg = f"loaded {len(added)} layer(s): {', '.join(added)}" if added else "nothing loaded"
            if cancel.is_set():
                msg = f"cancelled; {msg}"
            self.status.done(msg + (f"; problems: {'; '.join(problems)}" if problems else ""))
            self.status.say(self.status.message.value, error=bool(problems) and not added)

        self.status.start(len(todo))
        self.status.say(
            f"opening {len(studies)} study(ies) of the index, then loading ..."
            if studies
            else f"loading {len(todo)} volume(s) ..."
        )
        return self._start(work, on_yield=on_item, on_result=on_done)

    # ------------------------------------------------------------------ layers <-> rows
    def _select_layer_of(self, v: Volume) -> None:
        layer = self._layer_of(v)
        if layer is not None:
            self.viewer.layers.selection.active = layer

    def _active_volume(self) -> Volume | None:
        layer = self.viewer.layers.selection.active
        summary = layer_summary(layer) if layer is not None else None
        if summary is None:
            return None
        return next((v for v in self.volumes if _same_volume(v, summary)), None)

    def _highlight_active(self) -> None:
        self.table.highlight(self._active_volume())

    def _on_active_layer(self, *_: Any) -> None:
        """The active layer changed: highlight its row and select it (unless the change came from a row)."""
        self._highlight_active()
        if self._selecting:
            return
        v = self._active_volume()
        if v is None:
            return
        self._selecting = True
        try:
            self.table.select_payloads(lambda p: p is v)
        finally:
            self._selecting = False

    def _rows_selected(self) -> None:
        """A row was selected: make the layer of the current row (if loaded) the active layer."""
        if self._selecting:
            return
        chosen = self.table.selected_payloads()
        current = self.table.tree.currentItem()
        target = next((v for v in chosen if self.table.item_of(v) is current), chosen[-1] if chosen else None)
        layer = self._layer_of(target) if target is not None else None
        if layer is None or unwrap(self.viewer.layers.selection.active) is unwrap(layer):
            return
        self._selecting = True
        try:
            self.viewer.layers.selection.active = layer
        finally:
            self._selecting = False
        self._highlight_active()

    def _on_layers_changed(self, *_: Any) -> None:
        if self.volumes:
            self.refresh()

    # ------------------------------------------------------------------ tags
    def compare_tags(self, *_: Any) -> Any:
        """Compare the tags of the selected volume (constant/varying tags) or two volumes (differences).

        In the DICOM panel this uses its Tags tab (and shows it); alone, a tag comparison dock is opened. Rows of a
        big index whose studies are not opened yet: those studies are opened first, in a job (its worker is returned).
        """
        rows = [v for v in self.table.selected_payloads() if v is not None]
        if len(rows) not in (1, 2):
            self.status.say("select one volume (its varying tags) or two volumes (their differences)", error=True)
            return None
        return self._resolving(rows, "the tag comparison", self._compare_tags)

    def _compare_tags(self, vols: list[Volume]) -> Any:
        if len(vols) not in (1, 2):  # a row of an index whose gap policy differs from ours can be several volumes
            self.status.say(f"the selection is {len(vols)} volumes here: select one or two", error=True)
            return None
        from .tag_compare import TagCompare, TagMode

        if self.tag_compare_target is not None:
            w = self.tag_compare_target()
        else:
            w = TagCompare(self.viewer)
            try:
                self.viewer.window.add_dock_widget(w, name="Tag comparison", area="right")
            except Exception:  # noqa: BLE001 - a viewer without a window (headless): the widget still works
                pass
        w.set_volumes(vols)
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

"""The "DICOM series" panel: one dock with tabs Series, Tags, Compare and Export that fits beside the canvas.

* **Series**: the series browser (study -> series tree with thumbnails) and, folded
  below it, the window/level presets of the active layer.
* **Tags**: the live tags of the slice under the slider, and the tag comparison
  (one volume's constant/varying tags, or two volumes' differences).
* **Compare**: image difference and overlap of two layers.
* **Export**: the selected series as NIfTI + JSON sidecar.

Every tab scrolls inside its own page, so the panel's minimum size stays small
and a docked panel never makes the napari window taller than the screen.

One panel per viewer: the plugin's menu entries (*DICOM series*, *Series browser*,
*Tag comparison*, *Image difference and overlap*) all open it, at their tab. napari
docks whatever a widget contribution returns, so when the panel is already docked
the contribution takes it out of its old dock and returns it (napari re-docks it under
the entry's name); no second panel is ever built.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container
from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import QDockWidget, QFrame, QLabel, QScrollArea, QSizePolicy, QSplitter, QTabWidget, QVBoxLayout, QWidget
from superqt import QCollapsible

from ._common import unwrap
from .export_tab import ExportTab
from .image_compare import ImageCompare
from .series_browser import SeriesBrowser
from .tag_compare import TagCompare

if TYPE_CHECKING:
    import napari.viewer

__all__ = [
    "DicomPanel",
    "PanelEntry",
    "SeriesBrowserTab",
    "TagsTab",
    "CompareTab",
    "ExportTabEntry",
    "TABS",
    "find_panel",
    "open_panel",
]

TABS = ("Series", "Tags", "Compare", "Export")
#: width the panel asks for beside the canvas (a 1280 px window keeps ~700 px of canvas with the layer list)
PANEL_WIDTH = 540

_PANELS: weakref.WeakValueDictionary[int, DicomPanel] = weakref.WeakValueDictionary()


def _page(*widgets: QWidget, stretch_first: bool = True) -> QScrollArea:
    """A tab page: ``widgets`` stacked in a scroll area (the page's minimum height is the scroll area's, not its content's)."""
    inner = QWidget()
    layout = QVBoxLayout(inner)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(4)
    for n, w in enumerate(widgets):
        layout.addWidget(w, 1 if (n == 0 and stretch_first) else 0)
    if not stretch_first:
        layout.addStretch(1)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setWidget(inner)
    return area


def _section(title: str, widget: Any, expanded: bool) -> QCollapsible:
    sec = QCollapsible(title)
    sec.addWidget(widget.native if hasattr(widget, "native") else widget)
    layout = sec.layout()
    assert layout is not None  # QCollapsible lays its title and content out in a layout of its own
    layout.setContentsMargins(0, 0, 0, 0)
    if expanded:
        sec.expand(animate=False)
    else:
        sec.collapse(animate=False)
    return sec


def _titled(title: str, widget: Any) -> QWidget:
    """A part of a split page: a bold title line (if any) over ``widget``."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    if title:
        head = QLabel(title)
        font = head.font()
        font.setBold(True)
        head.setFont(font)
        layout.addWidget(head)
    layout.addWidget(widget.native if hasattr(widget, "native") else widget, 1)
    return box


class _TagsSplit(QSplitter):
    """The Tags page: the slice's tags on top, as tall as their rows (at most half the page), the tag comparison below.

    The handle between them moves; once the user has moved it, the split stays where they put it.
    """

    def __init__(self, top: QWidget | None, bottom: QWidget, top_height: Callable[[], int] | None) -> None:
        super().__init__(Qt.Orientation.Vertical)
        self.setChildrenCollapsible(False)
        self.setHandleWidth(7)
        self._top_height = top_height
        #: True once the user dragged the handle (the split is then theirs)
        self.moved_by_user = False
        if top is not None:
            self.addWidget(top)
        self.addWidget(bottom)
        self.setStretchFactor(self.count() - 1, 1)
        self.splitterMoved.connect(self._moved)

    def _moved(self, *_: Any) -> None:
        self.moved_by_user = True

    def fit(self) -> None:
        """Give the top part the height of its rows (between its minimum and half the page), the rest to the bottom."""
        top_widget = self.widget(0)
        if self._top_height is None or self.moved_by_user or self.count() < 2 or top_widget is None:
            return
        total = sum(self.sizes())
        if total <= 0:
            return
        least = top_widget.minimumSizeHint().height()
        top = max(min(self._top_height(), total // 2), least)
        if self.sizes()[0] != top:
            self.setSizes([top, total - top])

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit()


class _Tabs(QTabWidget):
    """Tabs that ask for :data:`PANEL_WIDTH` and little height (the pages scroll)."""

    def sizeHint(self) -> QSize:
        return QSize(PANEL_WIDTH, 600)

    def minimumSizeHint(self) -> QSize:
        return QSize(320, 200)


class DicomPanel(Container):
    """The DICOM series panel: Series (browser + window/level), Tags (slice tags + tag comparison), Compare, Export.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer the tabs work on.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        viewer = napari_viewer
        self.viewer = viewer
        self.browser = SeriesBrowser(viewer)
        self.tag_compare = TagCompare(viewer)
        self.image_compare = ImageCompare(viewer)
        self.export = ExportTab(viewer, self.browser)
        self.window_level: Any = None
        self.slice_tags: Any = None
        try:
            from .window_level import WindowLevel

            self.window_level = WindowLevel(viewer)
        except ImportError:  # pragma: no cover - a partial installation
            pass
        try:
            from .slice_tags import SliceTags

            self.slice_tags = SliceTags(viewer)
        except ImportError:  # pragma: no cover
            pass
        super().__init__(widgets=[], labels=False)
        self.margins = (0, 0, 0, 0)
        self.tabs = _Tabs()
        self.tabs.setDocumentMode(True)
        self.tabs.setUsesScrollButtons(True)
        series = [self.browser.native]
        self.window_level_section: QCollapsible | None = None
        if self.window_level is not None:
            self.window_level_section = _section("Window / level  (Alt+1 ... Alt+7)", self.window_level, expanded=False)
            series.append(self.window_level_section)
        self.tabs.addTab(_page(*series), "Series")
        self.slice_tags_section: QWidget | None = None
        if self.slice_tags is not None:
            # no title line: the slice tags' own first line (layer and slice, in bold) says what they are
            self.slice_tags_section = _titled("", self.slice_tags)
        self.tag_compare_section = _titled("Compare tags of volumes", self.tag_compare)
        height = self.slice_tags.preferred_height if self.slice_tags is not None else None
        self.tags_split = _TagsSplit(self.slice_tags_section, self.tag_compare_section, height)
        if self.slice_tags is not None:
            self.slice_tags.on_rows_changed(self.tags_split.fit)
        self.tabs.addTab(_page(self.tags_split), "Tags")
        self.tabs.addTab(_page(self.image_compare.native), "Compare")
        self.tabs.addTab(_page(self.export.native), "Export")
        self.tabs.setTabToolTip(0, "the volumes of a folder: thumbnails, classes, warnings; load them")
        self.tabs.setTabToolTip(1, "tags of the slice under the slider; constant, varying and differing tags of volumes")
        self.tabs.setTabToolTip(2, "difference image, statistics and overlap (Dice) of two image layers")
        self.tabs.setTabToolTip(3, "the selected series as NIfTI + JSON sidecar")
        self.native.layout().addWidget(self.tabs)
        self.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.native.setObjectName("DICOM series")
        self.browser.tag_compare_target = self._tag_compare_for_browser
        _PANELS[id(unwrap(viewer))] = self

    # ------------------------------------------------------------------ tabs
    @property
    def current_tab(self) -> str:
        """The name of the tab shown (one of :data:`TABS`)."""
        return TABS[self.tabs.currentIndex()]

    def show_tab(self, name: str) -> None:
        """Show the tab ``name`` (one of :data:`TABS`)."""
        self.tabs.setCurrentIndex(TABS.index(name))

    def _tag_compare_for_browser(self) -> TagCompare:
        self.show_tab("Tags")
        return self.tag_compare

    def reset_choices(self, *_: Any) -> None:
        """Refresh the layer choices of every tab (napari calls this when layers change)."""
        for w in (self.tag_compare, self.image_compare, self.window_level, self.slice_tags):
            if w is not None and hasattr(w, "reset_choices"):
                w.reset_choices()


def find_panel(viewer: Any) -> DicomPanel | None:
    """The DICOM panel of ``viewer`` if one exists and is still alive."""
    panel = _PANELS.get(id(unwrap(viewer)))
    if panel is None or unwrap(panel.viewer) is not unwrap(viewer):
        return None
    try:
        panel.native.objectName()  # raises RuntimeError once Qt deleted the widget
    except RuntimeError:
        return None
    return panel


def _dock_of(panel: DicomPanel) -> QDockWidget | None:
    w = panel.native.parentWidget()
    while w is not None and not isinstance(w, QDockWidget):
        w = w.parentWidget()
    return w


def open_panel(viewer: Any, tab: str | None = None) -> DicomPanel:
    """The viewer's DICOM panel at ``tab`` (None: the tab it shows), ready for napari to dock: a new one, or the existing one taken out of its dock.

    Used by the plugin's widget contributions: napari docks what they return,
    so returning the docked panel as it is would leave its old dock empty.
    """
    panel = find_panel(viewer)
    if panel is None:
        panel = DicomPanel(viewer)
    else:
        dock = _dock_of(panel)
        if dock is not None:
            window = unwrap(viewer).window
            window.remove_dock_widget(dock)
        panel.native.setParent(None)
    if tab is not None:
        panel.show_tab(tab)
    return panel


class _PanelAt(DicomPanel):
    """A widget contribution that opens the viewer's one DICOM panel at :attr:`tab` (never a second panel).

    napari builds a contribution by calling it with the viewer; ``__new__``
    returns the panel itself (a :class:`DicomPanel`), so this class is never
    instantiated.
    """

    tab: str | None = None

    def __new__(cls, napari_viewer: napari.viewer.Viewer) -> DicomPanel:  # type: ignore[misc]
        return open_panel(napari_viewer, cls.tab)

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:  # pragma: no cover - never runs: see __new__
        super().__init__(napari_viewer)


class PanelEntry(_PanelAt):
    """*DICOM series*: the panel (at the tab it shows; Series when new)."""


class SeriesBrowserTab(_PanelAt):
    """*DICOM series* and *Series browser*: the panel at its Series tab."""

    tab = "Series"


class TagsTab(_PanelAt):
    """*Tag comparison*: the panel at its Tags tab."""

    tab = "Tags"


class CompareTab(_PanelAt):
    """*Image difference and overlap*: the panel at its Compare tab."""

    tab = "Compare"


class ExportTabEntry(_PanelAt):
    """*Export to NIfTI*: the panel at its Export tab."""

    tab = "Export"

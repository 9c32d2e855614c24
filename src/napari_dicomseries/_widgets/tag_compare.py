"""Tag comparison dock: constant and varying tags of one volume, or the differences between two volumes.

All logic is in :mod:`napari_dicomseries.compare`; volumes come from DICOM
layers (their files are re-read, headers only) or from rows of the series
browser (:meth:`TagCompare.set_volumes`).
"""

from __future__ import annotations

import time
from enum import Enum
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, PushButton, Widget

from ..compare import DEFAULT_TOLERANCE, TagDiff, VolumeTags, diff_volumes, volume_tags
from ..errors import SeriesNotFoundError
from ..jobs import Stages
from ..volume import Volume
from ._common import (
    ResultTable,
    StatusBar,
    enum_choices,
    image_layers,
    layer_files,
    layer_summary,
    pick_two,
    set_stretch,
    start_worker,
)  # fmt: skip
from ._jobs import JobBar

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["TagCompare", "TagMode", "WITHIN_COLUMNS", "BETWEEN_COLUMNS", "volume_of_layer"]

# what a narrow dock (~400 px) must show first: the keyword and its values; the rest scrolls (elided text has a tooltip)
WITHIN_COLUMNS = ("keyword", "status", "value", "distinct", "min", "max", "group", "tag", "name", "VR", "private creator")
BETWEEN_COLUMNS = ("keyword", "A", "B", "status", "group", "tag", "name", "VR", "private creator")


class TagMode(Enum):
    """What to compare."""

    within = "one volume: constant and varying tags"
    between = "two volumes: differences"


def volume_of_layer(layer: Any, *, progress: Any = None, cancel: Any = None) -> Volume:
    """The :class:`Volume` behind a DICOM layer: its files are scanned again (headers only) and matched by key and UID.

    ``progress(done, total)`` per file scanned; ``cancel()`` asked between files (see :func:`napari_dicomseries.open_folder`).

    Raises
    ------
    SeriesNotFoundError
        If the layer carries no DICOM files or its volume is not among them.
    Cancelled
        When ``cancel()`` returned True.
    """
    from .. import open_folder

    files = layer_files(layer)
    summary = layer_summary(layer)
    if not files or summary is None:
        raise SeriesNotFoundError(f"layer {layer.name!r} is not a DICOM volume (no metadata['dicom'] files and summary)")
    volumes, _ = open_folder(files, progress=progress, cancel=cancel)
    for v in volumes:
        if v.key == summary.get("key") and v.series_instance_uid == summary.get("series_instance_uid"):
            return v
    same_uid = [v for v in volumes if v.series_instance_uid == summary.get("series_instance_uid") and v.is_image]
    if len(same_uid) == 1:
        return same_uid[0]
    raise SeriesNotFoundError(f"layer {layer.name!r}: volume {summary.get('key')} not found again in its {len(files)} file(s)")


class TagCompare(Container):
    """Compare DICOM tags within one volume (constant / varying) or between two volumes (differences).

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        Its DICOM image layers are the volumes to choose from.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        viewer = napari_viewer
        self.viewer = viewer
        self._extra: list[Volume] = []
        self.mode = ComboBox(choices=enum_choices(TagMode), value=TagMode.between, label="Compare")
        self.source_a = ComboBox(choices=self._choices, label="Volume A", nullable=True)
        self.source_b = ComboBox(choices=self._choices, label="Volume B", nullable=True)
        self.only_varying = CheckBox(value=False, text="Only varying tags")
        self.show_all = CheckBox(value=False, text="Show equal tags")
        self.identifiers = CheckBox(value=False, text="Show per-instance identifiers")
        self.private = CheckBox(value=False, text="Private tags")
        self.tolerance = FloatSpinBox(value=DEFAULT_TOLERANCE, min=0.0, max=1e6, step=1e-4, label="Numeric tolerance")
        self.tolerance.native.setDecimals(6)
        self.search = LineEdit(value="", label="Search")
        self.search.native.setPlaceholderText("keyword, name or number, e.g. kernel or 0018,0050")
        self.compare_button = PushButton(text="Compare")
        self.job_bar = JobBar()
        self.table = ResultTable(BETWEEN_COLUMNS, min_height=110)
        # the selected tag slice by slice: shown once a row with per-slice values is selected
        self.slices = ResultTable(("slice", "value", "file", "frame"), min_height=72, visible=False)
        self.status = StatusBar()
        opts = Container(
            widgets=[self.only_varying, self.show_all, self.identifiers, self.private], layout="horizontal", labels=False
        )
        opts.margins = (0, 0, 0, 0)
        run_row: list[Widget] = [self.tolerance, self.compare_button]
        run = Container(widgets=run_row, layout="horizontal")
        run.margins = (0, 0, 0, 0)
        super().__init__(
            widgets=[
                self.mode,
                self.source_a,
                self.source_b,
                opts,
                run,
                self.job_bar,
                self.search,
                self.table,
                self.slices,
                self.status,
            ]
        )
        self.margins = (4, 2, 4, 2)  # the Tags page is shared with the slice tags: every line counts
        set_stretch(self, self.table, 3)
        set_stretch(self, self.slices, 1)
        self.result: VolumeTags | TagDiff | None = None
        self._tags_a: VolumeTags | None = None
        self._tags_b: VolumeTags | None = None
        self._worker: Any = None
        #: seconds from the last Cancel to the worker's end (the dock idle again), for tests and benchmarks
        self.cancel_to_idle: float | None = None
        self.compare_button.changed.connect(lambda: self.compare())
        self.mode.changed.connect(self._mode_changed)
        for shown in (self.only_varying, self.show_all, self.identifiers, self.search):
            shown.changed.connect(self.show_result)
        for read in (self.private, self.tolerance):
            read.changed.connect(self._options_changed)
        self.table.on_selection(self._row_selected)
        viewer.layers.events.inserted.connect(self._reset)
        viewer.layers.events.removed.connect(self._reset)
        self._mode_changed()
        self._pick_defaults()

    # ------------------------------------------------------------------ sources
    def _choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for layer in image_layers(self.viewer):
            if layer_summary(layer) is not None and layer_files(layer):
                out.append((f"layer: {layer.name}", layer))
        for v in self._extra:
            out.append((f"series {v.key}: {v.series_description}", v))
        return out

    def _reset(self, *_: Any) -> None:
        self.source_a.reset_choices()
        self.source_b.reset_choices()
        self._pick_defaults()

    def _pick_defaults(self) -> None:
        pick_two(self.source_a, self.source_b, [c[1] for c in self._choices()])

    def set_volumes(self, volumes: list[Volume]) -> None:
        """Offer ``volumes`` (e.g. rows of the series browser) as choices and select them as A (and B)."""
        for v in volumes:
            if all(v is not x for x in self._extra):
                self._extra.append(v)
        self.source_a.reset_choices()
        self.source_b.reset_choices()
        if volumes:
            self.source_a.value = volumes[0]
        if len(volumes) > 1:
            self.source_b.value = volumes[1]

    def _mode_changed(self, *_: Any) -> None:
        between = self.mode.value is TagMode.between
        self.source_b.visible = between
        self.show_all.visible = between
        self.identifiers.visible = between
        self.only_varying.visible = not between
        self.result = None
        self.table.set_rows(BETWEEN_COLUMNS if between else WITHIN_COLUMNS, [])
        self.slices.set_rows(("slice", "value", "file", "frame"), [])
        self.slices.visible = False

    def _options_changed(self, *_: Any) -> None:
        if self.result is not None and not self.busy:
            self.compare()

    @property
    def busy(self) -> bool:
        return self._worker is not None

    # ------------------------------------------------------------------ compute
    def cancel(self) -> None:
        """Stop the running comparison (as the Cancel button): the table stays as it was."""
        self.job_bar.request_cancel()

    def compare(self) -> Any:
        """Read the chosen volumes' tags and compare them in a background thread; returns the worker (None when busy).

        A bar shows the files scanned again (layers) and the headers read, frame by frame; Cancel stops the job
        between files and frames and leaves the table as it was.
        """
        if self.busy:
            return None
        between = self.mode.value is TagMode.between
        sources = [self.source_a.value] + ([self.source_b.value] if between else [])
        if any(s is None for s in sources):
            self.status.say(
                "choose " + ("two volumes" if between else "a volume") + " (DICOM layers or browser rows)", error=True
            )
            return None
        private, tol = bool(self.private.value), float(self.tolerance.value)
        job = self.job_bar.start()

        def n_frames(s: Any) -> int:
            if isinstance(s, Volume):
                return len(s.frames) or len(s.files)
            summary = layer_summary(s) or {}
            return int(summary.get("n_slices") or 0) or len(layer_files(s))

        # measured: scanning a file again costs ~1/6 of reading its full header and flattening its tags
        weights = [(f"scan {n}", 0.0 if isinstance(s, Volume) else len(layer_files(s)) / 6) for n, s in enumerate(sources)]
        weights += [(f"tags {n}", float(n_frames(s))) for n, s in enumerate(sources)]
        weights.append(("diff", 0.02 * sum(n_frames(s) for s in sources)))
        side = "AB"

        def work() -> Any:
            yield None
            stages = Stages(weights, progress=job, cancel=job.cancel, what="tag comparison")
            vols = []
            for n, s in enumerate(sources):
                if isinstance(s, Volume):
                    vols.append(s)
                else:
                    step = stages.reporter(f"scan {n}", f"finding volume {side[n]} again")
                    vols.append(volume_of_layer(s, progress=step, cancel=job.cancel))
            tags = [
                volume_tags(v, private=private, tolerance=tol, progress=stages.reporter(f"tags {n}", f"tags of {side[n]}"),
                            cancel=job.cancel)
                for n, v in enumerate(vols)
            ]  # fmt: skip
            stages.start("diff", "comparing")
            out: TagDiff | VolumeTags
            if between:
                out = diff_volumes(vols[0], vols[1], private=private, tolerance=tol, tags_a=tags[0], tags_b=tags[1])
            else:
                out = tags[0]
            stages.check()
            return tags, out

        def done(out: Any) -> None:
            if job.cancel():  # Cancel pressed as the job ended: the table stays as it was
                self.status.done("cancelled")
                return
            tags, self.result = out
            self._tags_a = tags[0]
            self._tags_b = tags[1] if len(tags) > 1 else None
            self.show_result()
            if isinstance(self.result, TagDiff):
                n = len(self.result.filtered(identifiers=bool(self.identifiers.value)))
                self.status.done(f"A = {self.result.label_a}, B = {self.result.label_b}: {n} differing tag(s)")
            else:
                r = self.result
                self.status.done(f"{r.label}: {r.n_frames} frame(s), {len(r.rows)} tags, {len(r.varying)} vary between frames")

        self.compare_button.enabled = False
        self.status.say("reading tags ...")
        return start_worker(self, work, on_yield=lambda _item: None, on_result=done, on_finished=self._finished)

    def _finished(self) -> None:
        """The worker has ended (result, error or cancel): the dock is idle again."""
        pressed = self.job_bar.cancel_pressed_at
        self.job_bar.stop()
        self.compare_button.enabled = True
        if pressed is not None:
            self.cancel_to_idle = time.monotonic() - pressed

    # ------------------------------------------------------------------ display
    # not ``render``: magicgui's Widget.render() is a picture of the widget
    def show_result(self, *_: Any) -> None:
        """Fill the table from the last result and the display options (no re-reading)."""
        r = self.result
        query = str(self.search.value or "")
        if isinstance(r, TagDiff):
            rows = r.filtered(show_all=bool(self.show_all.value), identifiers=bool(self.identifiers.value), query=query)
            data = [
                [
                    d.info.key,
                    d.value_a,
                    d.value_b,
                    d.status,
                    d.info.category,
                    d.info.tag,
                    d.info.name,
                    d.info.vr,
                    d.info.private_creator,
                ]
                for d in rows
            ]
            self.table.set_rows(BETWEEN_COLUMNS, data, rows)
        elif isinstance(r, VolumeTags):
            summaries = [s for s in (r.varying if self.only_varying.value else r.rows) if s.info.matches(query)]
            cells: list[list[Any]] = [[s.info.key, "constant" if s.constant else "varies", s.value, s.n_distinct,
                      s.minimum, s.maximum, s.info.category, s.info.tag, s.info.name, s.info.vr, s.info.private_creator]
                      for s in summaries]  # fmt: skip
            self.table.set_rows(WITHIN_COLUMNS, cells, summaries)
        self.slices.set_rows(self.slices.headers, [])
        self.slices.visible = False

    def _row_selected(self) -> None:
        """Show the selected tag's value slice by slice (both volumes side by side for a difference)."""
        sel = self.table.selected_payloads()
        if not sel or self._tags_a is None:
            return
        key = sel[0].info.key
        ta, tb = self._tags_a, self._tags_b
        if key not in ta.frames.values and (tb is None or key not in tb.frames.values):
            self.slices.set_rows(("slice", "value"), [])  # a derived (volume) row
            self.slices.visible = False
            return
        if isinstance(self.result, TagDiff) and tb is not None:
            va = ta.per_frame_values(key) if key in ta.frames.values else []
            vb = tb.per_frame_values(key) if key in tb.frames.values else []
            n = max(len(va), len(vb))
            rows = [[i + 1, va[i] if i < len(va) else "", vb[i] if i < len(vb) else ""] for i in range(n)]
            self.slices.set_rows(("slice", "A", "B"), rows)
            self.slices.visible = bool(rows)
            return
        vals = ta.per_frame_values(key)
        rows = [[i + 1, v, f, k + 1] for i, ((f, k), v) in enumerate(zip(ta.frames.frames, vals, strict=True))]
        self.slices.set_rows(("slice", "value", "file", "frame"), rows)
        self.slices.visible = bool(rows)

"""Export tab of the DICOM panel: the series selected in the series browser -> NIfTI + JSON sidecar, as ``export`` does.

The options are those of the ``export`` command (template, gzip, force, patient
tags, gap policy; localizers are exported only when selected) and the work is
:func:`napari_dicomseries.export.export_folder` itself, run in a worker thread
with a progress bar and *Cancel*. The core refuses an output folder that is the
input folder or lies inside it; its message is shown as it is. Rows of a big
archive index listed from its volume table are resolved to their volumes in the
export's worker (:meth:`SeriesBrowser.resolve`: their studies only).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from magicgui.types import FileDialogMode
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, LineEdit, PushButton

from ..export import DEFAULT_TEMPLATE, output_stems
from ..gaps import GAP_POLICIES
from ._common import ResultTable, StatusBar, start_worker

if TYPE_CHECKING:
    import napari.viewer

    from ..export import ExportResult
    from .series_browser import SeriesBrowser

__all__ = ["ExportTab", "RESULT_COLUMNS"]

RESULT_COLUMNS = ("key", "series", "result", "file", "shape", "warnings")


class ExportTab(Container):
    """Write the volumes selected in a series browser as NIfTI (+ JSON sidecar, + bval/bvec) into a chosen folder.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (for symmetry with the other docks; nothing is added to it).
    browser : SeriesBrowser
        Where the volumes (and their folder) are selected.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, browser: SeriesBrowser) -> None:
        from .._reader import gap_policy

        self.viewer = napari_viewer
        self.browser = browser
        self.selection = Label(value="")
        self.selection.native.setWordWrap(True)
        self.out = FileEdit(mode=FileDialogMode.EXISTING_DIRECTORY, label="Output folder")
        self.out.native.setToolTip("where the NIfTI files go; not the input folder nor inside it")
        self.template = LineEdit(value=DEFAULT_TEMPLATE, label="File names")
        self.template.native.setToolTip(
            "fields: {key} {series} {description} {kernel} {modality} {kind} {kernel_class} {thickness_class} {orientation} {uid}"
        )
        self.example = Label(value="")
        self.gaps = ComboBox(choices=list(GAP_POLICIES), value=gap_policy(), label="Gaps")
        self.gaps.native.setToolTip(
            "missing slices / irregular spacing: split into regular parts, resample linearly, or keep (slices misplaced)"
        )
        self.gzip = CheckBox(value=True, text="gzip (.nii.gz)")
        self.force = CheckBox(value=False, text="Replace existing files")
        self.patient_tags = CheckBox(value=False, text="Keep patient tags")
        self.patient_tags.native.setToolTip("keep patient names, IDs and birth date in the sidecars")
        self.export_button = PushButton(text="Export selected")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.table = ResultTable(RESULT_COLUMNS, min_height=120)
        self.status = StatusBar()
        flags = Container(widgets=[self.gzip, self.force, self.patient_tags], layout="horizontal", labels=False)
        buttons = Container(widgets=[self.export_button, self.cancel_button], layout="horizontal", labels=False)
        for c in (flags, buttons):
            c.margins = (0, 0, 0, 0)
        options = Container(widgets=[self.out, self.template, self.gaps])
        options.margins = (0, 0, 0, 0)
        super().__init__(widgets=[self.selection, options, self.example, flags, buttons, self.table, self.status], labels=False)
        self.margins = (0, 0, 0, 0)
        self.results: list[ExportResult] = []
        self._worker: Any = None
        self._cancel = threading.Event()
        self.export_button.changed.connect(lambda: self.export())
        self.cancel_button.changed.connect(self.cancel)
        self.template.changed.connect(self._update)
        browser.table.on_selection(self._update)
        self._update()

    @property
    def busy(self) -> bool:
        """True while an export runs."""
        return self._worker is not None

    def selected(self) -> list[Any]:
        """The rows selected in the series browser: volumes, or placeholders of an index's volumes not made yet
        (:class:`~napari_dicomseries.index_query.IndexEntry`, with the fields the file names use)."""
        return [v for v in self.browser.table.selected_payloads() if v is not None]

    def _update(self, *_: Any) -> None:
        vols = self.selected()
        if not vols:
            self.selection.value = "Select series in the Series tab (Ctrl/Shift-click for several)."
            self.example.value = ""
            return
        names = ", ".join(f"[{v.key}] {v.series_description}" for v in vols[:6]) + (" ..." if len(vols) > 6 else "")
        self.selection.value = f"{len(vols)} selected: {names}"
        try:
            stem = output_stems(vols[:1], self.template.value or DEFAULT_TEMPLATE)[0]
            self.example.value = f"e.g. {stem}{'.nii.gz' if self.gzip.value else '.nii'} + .json"
        except ValueError as exc:
            self.example.value = f"template: {exc}"

    def cancel(self, *_: Any) -> None:
        """Stop the export: the volume being written is finished or dropped (files are renamed into place)."""
        self._cancel.set()
        if self._worker is not None:
            self.status.say("cancelling ...")

    def export(self, out: str | os.PathLike[str] | None = None) -> Any:
        """Export the selected volumes into ``out`` (default: the output folder field) in a worker; returns the worker."""
        from ..export import export_folder, export_volumes

        vols = self.selected()
        if not vols:
            self.status.say("select one or more series in the Series tab first", error=True)
            return None
        if out is None:
            value = self.out.value
            out = value if isinstance(value, (str, os.PathLike)) and os.fspath(value) not in ("", ".") else ""
        out = os.fspath(out)
        if not out:
            self.status.say("choose an output folder first", error=True)
            return None
        src: Any = self.browser.paths or self.browser.root
        if not src:
            self.status.say("scan a folder in the Series tab first", error=True)
            return None
        gaps = str(self.gaps.value)
        listed = self.browser.gaps  # the policy the Series tab's volumes were built (or are resolved) with
        # volume keys name the parts of a series split by the browser's gap policy; another policy gets whole series
        uids = sorted({v.series_instance_uid for v in vols})
        cancel = threading.Event()
        self._cancel = cancel
        from superqt.utils import ensure_main_thread

        step = ensure_main_thread(lambda stage, done, total: self._progress(stage, done, total))
        last = [("", -1)]

        def progress(stage: str, done: int, total: int) -> None:
            pct = 100 * done // max(total, 1)
            if (stage, pct) != last[0]:
                last[0] = (stage, pct)
                step(stage, done, total)

        kwargs: dict[str, Any] = dict(
            skip_localizers=False,
            gzip=bool(self.gzip.value),
            force=bool(self.force.value),
            progress=progress,
            template=self.template.value or DEFAULT_TEMPLATE,
            patient_tags=bool(self.patient_tags.value),
            cancel=cancel.is_set,
        )

        browser = self.browser
        index = getattr(browser, "index_path", None)
        inputs = [p for p in (browser.root, index) if p]

        def work() -> Any:
            yield None
            try:
                if gaps == listed:  # the volumes listed are the ones to write: nothing is scanned again
                    volumes = browser.resolve(vols, cancel=cancel.is_set)  # an index's rows: their studies only
                    return export_volumes(volumes, out, series=[v.key for v in volumes], inputs=inputs or None, **kwargs)
                if index:  # another gap policy: the index rebuilds these series (still no header read)
                    from ..index_query import open_index

                    again, _ = open_index(index, keys=uids, gaps=gaps, cancel=cancel.is_set)
                    return export_volumes(again, out, series=uids, inputs=inputs, **kwargs)
                return export_folder(src, out, gaps=gaps, series=uids, **kwargs)
            except ValueError as exc:  # a bad template
                from ..errors import DicomSeriesError

                raise DicomSeriesError(f"file name template: {exc}") from exc

        def done(results: list[ExportResult]) -> None:
            self.results = results
            if not browser.busy:
                browser.show_resolved()  # the rows of the studies opened for the export become their volumes
            self._show(results, out)

        self.cancel_button.enabled = True
        self.export_button.enabled = False
        self.status.start(0)
        self.status.say(f"exporting {len(vols)} volume(s) to {out} ...")
        return start_worker(self, work, on_yield=lambda _: None, on_result=done, on_finished=self._idle)

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.status.step(done, total)
        self.status.say(f"{stage} {done}/{total}")

    def _idle(self) -> None:
        if self._worker is None:
            self.cancel_button.enabled = False
            self.export_button.enabled = True

    def _show(self, results: list[ExportResult], out: str) -> None:
        rows = []
        for r in results:
            what = "written" if r.ok else (f"skipped: {r.skipped}" if r.skipped else f"failed: {r.error}")
            shape = "x".join(str(s) for s in r.shape)
            rows.append([r.key, r.series_description, what, os.path.basename(r.nifti or ""), shape, "; ".join(r.warnings)])
        self.table.set_rows(RESULT_COLUMNS, rows, results)
        ok = sum(r.ok for r in results)
        failed = [r for r in results if r.error]
        self.status.done(f"{ok} volume(s) written to {out}" + (f"; {len(failed)} failed" if failed else ""))
        if failed:
            self.status.say(self.status.message.value + ": " + "; ".join(str(r.error) for r in failed), error=True)

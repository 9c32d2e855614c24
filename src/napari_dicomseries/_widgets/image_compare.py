"""Image difference and overlap dock: B - A on A's grid, statistics, histogram, Dice and Hausdorff of masks.

Masks come from an HU range of both images or from two Labels layers (e.g. DICOM segmentations opened by the
reader): either every non-zero voxel of a layer, or one label value (a segment of a multi-label layer, listed with
the names in the layer's ``features``). A Labels layer on another grid is put onto A's grid by nearest neighbour.

All computation is :func:`napari_dicomseries.metrics.compare_arrays`; this
module reads the layers (data, world geometry, FrameOfReferenceUID) and adds
the results as layers and a table.
"""

from __future__ import annotations

import math
import time
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, PushButton

from ..errors import DicomSeriesError, GeometryError
from ..jobs import Stages
from ..masks import GridMask
from ..metrics import HU_PRESETS, STAGE_COST, ImageComparison, compare_arrays
from ._common import (
    HistogramView,
    ResultTable,
    StatusBar,
    enum_choices,
    image_layers,
    layer_grid,
    layer_summary,
    pick_two,
    set_stretch,
    start_worker,
    unwrap,
)
from ._jobs import JobBar

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["ImageCompare", "Interpolation", "MaskSource", "HUPreset", "DIFFERENCE_COLORMAP", "ANY_LABEL", "label_values"]

#: A diverging colormap napari knows; contrast limits are set symmetric about 0.
DIFFERENCE_COLORMAP = "PiYG"
#: The "label value" choice meaning every non-zero voxel of a Labels layer (0 is the background, never a segment).
ANY_LABEL = 0
#: Layers with more voxels than this list the label values of their ``features`` only (no scan of the data).
_SCAN_LIMIT = 64_000_000


class Interpolation(Enum):
    """How the second image is resampled onto the first's grid."""

    linear = "linear"
    nearest = "nearest"


class MaskSource(Enum):
    """Where the masks for the overlap measures come from."""

    none = "no overlap measures"
    hu = "HU range of both images"
    labels = "two label layers"


class HUPreset(Enum):
    """Hounsfield ranges (see :data:`napari_dicomseries.metrics.HU_PRESETS`)."""

    air_lung = "air/lung"
    soft_tissue = "soft tissue"
    bone = "bone"
    custom = "custom"

    def __str__(self) -> str:
        if self is HUPreset.custom:
            return "custom range"
        lo, hi = HU_PRESETS[self.value]
        if not math.isfinite(lo):
            return f"{self.value} (<= {hi:g})"
        return f"{self.value} ({lo:g} .. {hi:g})" if math.isfinite(hi) else f"{self.value} (>= {lo:g})"


def _current_index(viewer: Any, layer: Any) -> int:
    """The index of the leading (time) axis of a 4-D layer that the viewer shows now."""
    try:
        pos = layer.world_to_data(viewer.dims.point)
        k = int(round(float(pos[0])))
    except Exception:  # noqa: BLE001 - fall back on the first time point
        k = 0
    return int(np.clip(k, 0, layer.data.shape[0] - 1))


def label_values(layer: Any) -> list[tuple[str, int]]:
    """The label values of a Labels layer as (text, value) choices, "any non-zero" first.

    From the layer's ``features`` (``index`` and ``label`` columns, as the reader sets them for segmentations) when it
    has them, else the non-zero values of its data (small layers only).
    """
    out: list[tuple[str, int]] = [("any non-zero", ANY_LABEL)]
    if layer is None:
        return out
    feats = getattr(layer, "features", None)
    values: dict[int, str] = {}
    try:
        if feats is not None and "index" in feats and len(feats):
            names = list(feats["label"]) if "label" in feats else [""] * len(feats)
            values = {int(i): str(n) for i, n in zip(feats["index"], names, strict=True) if int(i) != 0}
    except (TypeError, ValueError):
        values = {}
    if not values and isinstance(layer.data, np.ndarray) and layer.data.size <= _SCAN_LIMIT:
        values = {int(v): "" for v in np.unique(layer.data) if v != 0}
    out += [(f"{v} {name}".strip(), v) for v, name in sorted(values.items())]
    return out


def _layer_volume(viewer: Any, layer: Any) -> Any:
    """The 3-D data of an image or labels layer (the shown time point of a 4-D one), possibly lazy (dask)."""
    data = layer.data
    if layer.ndim == 4:
        data = data[_current_index(viewer, layer)]
    elif layer.ndim != 3:
        raise GeometryError(f"layer {layer.name!r} is {layer.ndim}-D: choose a 3-D (or 4-D) image")
    return data


def _read(data: Any, step: Any = None) -> np.ndarray:
    """``data`` as a numpy array; a lazy (dask) array is read a few slices at a time, ``step(done, total)`` after each."""
    if isinstance(data, np.ndarray):
        return data
    n = int(data.shape[0])
    out = np.empty(tuple(int(x) for x in data.shape), dtype=data.dtype)
    chunk = 4
    for k in range(0, n, chunk):
        out[k : k + chunk] = np.asarray(data[k : k + chunk])
        if step is not None:
            step(min(k + chunk, n), n)
    return out


def _volume_of(viewer: Any, layer: Any) -> np.ndarray:
    return _read(_layer_volume(viewer, layer))


class ImageCompare(Container):
    """Compare two image layers: difference layer and statistics, histogram, overlap of masks.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        Its image layers are compared; results are added to it as layers.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        viewer = napari_viewer
        self.viewer = viewer
        self.difference_layer: Any = None
        self.mask_layers: list[Any] = []
        self.layer_a = ComboBox(choices=self._images, label="First (A, reference)", nullable=True)
        self.layer_b = ComboBox(choices=self._images, label="Second (B)", nullable=True)
        self.interpolation = ComboBox(choices=enum_choices(Interpolation), value=Interpolation.linear, label="Resample B with")
        self.allow_frame = CheckBox(value=False, text="Compare even if the frames of reference differ")
        self.mask_source = ComboBox(choices=enum_choices(MaskSource), value=MaskSource.hu, label="Masks")
        self.preset = ComboBox(choices=enum_choices(HUPreset), value=HUPreset.soft_tissue, label="HU range")
        self.hu_lo = FloatSpinBox(value=-100.0, min=-100000.0, max=100000.0, step=10.0, label="lower HU")
        self.hu_hi = FloatSpinBox(value=200.0, min=-100000.0, max=100000.0, step=10.0, label="upper HU")
        self.label_a = ComboBox(choices=self._label_layers, label="Labels A", nullable=True)
        self.label_b = ComboBox(choices=self._label_layers, label="Labels B", nullable=True)
        self.value_a = ComboBox(choices=lambda _w: label_values(self.label_a.value), label="Label value A")
        self.value_b = ComboBox(choices=lambda _w: label_values(self.label_b.value), label="Label value B")
        self.tolerance = FloatSpinBox(value=0.0, min=0.0, max=1e6, step=1.0, label="Differ if |B-A| >")
        self.add_difference = CheckBox(value=True, text="Add difference layer")
        self.add_masks = CheckBox(value=False, text="Add masks as label layers")
        self.compute_button = PushButton(text="Compare")
        self.job_bar = JobBar()
        self.histogram = HistogramView()
        self.table = ResultTable(("section", "measure", "value"), min_height=150)
        self.status = StatusBar()
        outs = Container(widgets=[self.add_difference, self.add_masks], layout="horizontal", labels=False)
        outs.margins = (0, 0, 0, 0)
        super().__init__(
            widgets=[
                self.layer_a,
                self.layer_b,
                self.interpolation,
                self.allow_frame,
                self.mask_source,
                self.preset,
                self.hu_lo,
                self.hu_hi,
                self.label_a,
                self.value_a,
                self.label_b,
                self.value_b,
                self.tolerance,
                outs,
                self.compute_button,
                self.job_bar,
                self.histogram,
                self.table,
                self.status,
            ]
        )
        set_stretch(self, self.table, 1)  # the page's height left over goes to the table
        self.result: ImageComparison | None = None
        self._worker: Any = None
        #: seconds from the last Cancel to the worker's end (the dock idle again), for tests and benchmarks
        self.cancel_to_idle: float | None = None
        self.compute_button.changed.connect(lambda: self.compute())
        self.mask_source.changed.connect(self._mask_source_changed)
        self.preset.changed.connect(self._preset_changed)
        self.label_a.changed.connect(lambda *_: self.value_a.reset_choices())
        self.label_b.changed.connect(lambda *_: self.value_b.reset_choices())
        viewer.layers.events.inserted.connect(self._reset)
        viewer.layers.events.removed.connect(self._reset)
        self._mask_source_changed()
        self._preset_changed()
        self._pick_defaults()

    # ------------------------------------------------------------------ choices
    def _images(self, _widget: Any = None) -> list[tuple[str, Any]]:
        own = {id(self.difference_layer)}
        return [(layer.name, layer) for layer in image_layers(self.viewer) if id(layer) not in own and layer.ndim >= 3]

    # not ``_labels``: magicgui's Container keeps its ``labels`` flag there
    def _label_layers(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in image_layers(self.viewer, ("labels",)) if layer.ndim >= 3]

    def _reset(self, *_: Any) -> None:
        for w in (self.layer_a, self.layer_b, self.label_a, self.label_b, self.value_a, self.value_b):
            w.reset_choices()
        self._pick_defaults()

    def _pick_defaults(self) -> None:
        pick_two(self.layer_a, self.layer_b, [c[1] for c in self._images()])

    def _mask_source_changed(self, *_: Any) -> None:
        src = self.mask_source.value
        self.preset.visible = src is MaskSource.hu
        custom = src is MaskSource.hu and self.preset.value is HUPreset.custom
        self.hu_lo.visible = self.hu_hi.visible = custom
        self.label_a.visible = self.label_b.visible = src is MaskSource.labels
        self.value_a.visible = self.value_b.visible = src is MaskSource.labels
        self.add_masks.enabled = src is not MaskSource.none

    def _preset_changed(self, *_: Any) -> None:
        p = self.preset.value
        if p is not HUPreset.custom:
            lo, hi = HU_PRESETS[p.value]
            self.hu_lo.value = lo if math.isfinite(lo) else self.hu_lo.min
            self.hu_hi.value = hi if math.isfinite(hi) else self.hu_hi.max
        self._mask_source_changed()

    def hu_range(self) -> tuple[float, float] | None:
        """The HU range in use, or None when the masks do not come from an HU range."""
        if self.mask_source.value is not MaskSource.hu:
            return None
        p = self.preset.value
        if p is not HUPreset.custom:
            return HU_PRESETS[p.value]
        return (float(self.hu_lo.value), float(self.hu_hi.value))

    @property
    def busy(self) -> bool:
        return self._worker is not None

    # ------------------------------------------------------------------ compute
    def cancel(self) -> None:
        """Stop the running comparison (as the Cancel button): nothing is added, the table stays as it was."""
        self.job_bar.request_cancel()

    def compute(self) -> Any:
        """Compare B with A in a background thread; returns the worker (None when the inputs are refused or busy).

        A bar shows the progress of each stage (reading lazy layers, resampling, difference, statistics,
        histogram, overlap) and Cancel stops the job between slices, slabs or SimpleITK progress events.
        """
        if self.busy:
            return None
        a, b = self.layer_a.value, self.layer_b.value
        if a is None or b is None or a is b:
            self.status.say("choose two different image layers", error=True)
            return None
        sa, sb = layer_summary(a) or {}, layer_summary(b) or {}
        uid_a, uid_b = str(sa.get("frame_of_reference_uid") or ""), str(sb.get("frame_of_reference_uid") or "")
        if not (uid_a and uid_a == uid_b) and not self.allow_frame.value:
            why = "different FrameOfReferenceUIDs" if uid_a and uid_b else "no FrameOfReferenceUID on one or both layers"
            self.status.say(
                f"{a.name!r} and {b.name!r} have {why}: their coordinates may not agree. "
                "Tick 'Compare even if the frames of reference differ' to compare them anyway.",
                error=True,
            )
            return None
        src = self.mask_source.value
        labels = None
        if src is MaskSource.labels:
            la, lb = self.label_a.value, self.label_b.value
            if la is None or lb is None:
                self.status.say("choose two label layers (or another mask source)", error=True)
                return None
            labels = (la, lb)
        values = (int(self.value_a.value or ANY_LABEL), int(self.value_b.value or ANY_LABEL))
        try:
            grid_a, grid_b = layer_grid(a), layer_grid(b)
            label_grids = (layer_grid(labels[0]), layer_grid(labels[1])) if labels else None
        except DicomSeriesError as exc:
            self.status.say(str(exc), error=True)
            return None
        hu = self.hu_range()
        interp = self.interpolation.value.value
        tol = float(self.tolerance.value)
        viewer = self.viewer
        try:
            data_a, data_b = _layer_volume(viewer, a), _layer_volume(viewer, b)
            label_data = [_layer_volume(viewer, layer) for layer in labels] if labels else []
        except DicomSeriesError as exc:
            self.status.say(str(exc), error=True)
            return None
        job = self.job_bar.start()

        def cost(data: Any) -> float:  # reading a lazy layer costs as much as loading the volume
            return 0.0 if isinstance(data, np.ndarray) else STAGE_COST["reading lazy"] * math.prod(data.shape) / 1e6

        mvox = math.prod(data_a.shape) / 1e6
        n_masks = 1 if (labels or hu is not None) else 0
        compare_cost = mvox * (
            STAGE_COST["difference"] + STAGE_COST["statistics"] + STAGE_COST["histogram"] + STAGE_COST["overlap"] * n_masks
            + (0.0 if grid_a.same_as(grid_b) else STAGE_COST["resampling"])
        )  # fmt: skip
        weights = [("A", cost(data_a)), ("B", cost(data_b)), ("labels", sum(cost(d) for d in label_data))]
        weights.append(("compare", compare_cost))

        def work() -> Any:
            yield None
            stages = Stages(weights, progress=job, cancel=job.cancel, what="image comparison")
            arr_a = _read(data_a, stages.reporter("A", "reading A"))
            arr_b = _read(data_b, stages.reporter("B", "reading B"))
            pairs = None
            if labels and label_grids:
                stages.start("labels", "reading the label layers")
                masks = []
                for layer, grid, value, data in zip(labels, label_grids, values, label_data, strict=True):
                    arr = _read(data)
                    stages.check()
                    mask = arr != 0 if value == ANY_LABEL else arr == value
                    name = f"{layer.name!r}" + ("" if value == ANY_LABEL else f" = {value}")
                    masks.append(GridMask(name, mask, grid.with_shape(mask.shape)))
                pairs = [(masks[0], masks[1])]
            res = compare_arrays(
                arr_a, grid_a, arr_b, grid_b, interpolation=interp, hu_range=hu, mask_pairs=pairs,
                tolerance=tol, frame_of_reference=(uid_a, uid_b), allow_different_frame=True,
                progress=stages.sub("compare"), cancel=job.cancel,
            )  # fmt: skip
            stages.finish()
            return res

        def shown(res: ImageComparison) -> None:
            if job.cancel():  # Cancel pressed as the job ended: add nothing
                self.status.done("cancelled")
                return
            self._show(res, names)

        names = (a.name, b.name)
        self.compute_button.enabled = False
        self.status.say("comparing ...")
        return start_worker(self, work, on_yield=lambda _item: None, on_result=shown, on_finished=self._finished)

    def _finished(self) -> None:
        """The worker has ended (result, error or cancel): the dock is idle again."""
        pressed = self.job_bar.cancel_pressed_at
        self.job_bar.stop()
        self.compute_button.enabled = True
        if pressed is not None:
            self.cancel_to_idle = time.monotonic() - pressed

    # ------------------------------------------------------------------ results
    def _show(self, res: ImageComparison, names: tuple[str, str]) -> None:
        self.result = res
        rows = [("layers", "A", names[0]), ("layers", "B", names[1]), *res.rows()]
        self.table.set_rows(("section", "measure", "value"), rows)
        self.histogram.set_histogram(*res.histogram)
        if self.add_difference.value:
            self._add_difference(res, names)
        if self.add_masks.value and res.mask_a is not None and res.mask_b is not None:
            self._add_masks(res, (res.mask_a, res.mask_b), names)
        s = res.stats
        msg = f"RMSE {s.rmse:.4g}, MAE {s.mae:.4g}, max |B-A| {s.max_abs_difference:.4g}"
        if res.overlap is not None:
            msg += f"; Dice {res.overlap.dice:.4f}"
        if res.resampled:
            msg += f"; B was resampled onto A's grid ({res.interpolation})"
        self.status.done(msg)

    def _geometry_kwargs(self, res: ImageComparison) -> dict[str, Any]:
        scale, affine = res.grid.layer_transform(ndim=3)
        a = self.layer_a.value
        kw: dict[str, Any] = {"scale": list(scale), "affine": affine}
        if a is not None:
            kw["units"] = tuple(a.units)[-3:]
            kw["axis_labels"] = tuple(a.axis_labels)[-3:]
        return kw

    def _replace(self, name: str, add: Any) -> Any:
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        return unwrap(add())

    def _add_difference(self, res: ImageComparison, names: tuple[str, str]) -> None:
        # symmetric limits at the 99.9th percentile of |B - A| (of at most ~1M voxels), so a few outliers
        # do not wash out the map; the full range stays in the statistics table
        vals = res.difference[res.covered] if not res.covered.all() else res.difference.ravel()
        step = max(1, vals.size // 1_000_000)
        lim = float(np.percentile(np.abs(vals[::step].astype(np.float64)), 99.9)) if vals.size else 0.0
        lim = lim or float(res.stats.max_abs_difference) or 1.0
        name = f"{names[1]} - {names[0]}"
        kw = self._geometry_kwargs(res)
        self.difference_layer = self._replace(
            name,
            lambda: self.viewer.add_image(
                res.difference, name=name, colormap=DIFFERENCE_COLORMAP, contrast_limits=(-lim, lim), blending="translucent",
                metadata={"dicom_compare": {"a": names[0], "b": names[1], "stats": res.stats.to_dict()}}, **kw,
            ),
        )  # fmt: skip
        self.layer_a.reset_choices()
        self.layer_b.reset_choices()

    def _add_masks(self, res: ImageComparison, masks: tuple[np.ndarray, np.ndarray], names: tuple[str, str]) -> None:
        kw = self._geometry_kwargs(res)
        self.mask_layers = []
        for n, (mask, src) in enumerate(zip(masks, names, strict=True), start=1):
            name = f"mask {'AB'[n - 1]}: {src} ({res.mask_description})"
            data = mask.astype(np.uint8) * n
            self.mask_layers.append(
                self._replace(name, lambda d=data, nm=name: self.viewer.add_labels(d, name=nm, opacity=0.5, **kw))
            )

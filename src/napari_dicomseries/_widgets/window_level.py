"""Window/level dock and keyboard shortcuts: the series' own window, the CT windows, the full range.

The presets come from :func:`napari_dicomseries.windowing.presets_for`; a
preset sets ``contrast_limits`` of the active layer and of every other
selected grey-scale image layer (each gets its own series window or data range
for those presets). The colour map is never touched, so a MONOCHROME1 layer
(``gray_r``) stays inverted.

Shortcuts (:func:`bind_shortcuts`, keys napari does not use; :data:`SHORTCUTS`):
Alt+1 the series' own window (pressed again: its next window, if it has several),
Alt+2 lung, Alt+3 mediastinum, Alt+4 bone, Alt+5 brain, Alt+6 abdomen, Alt+7 full range.
"""

from __future__ import annotations

import warnings
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import Container, FloatSpinBox, Label, PushButton
from qtpy.QtWidgets import QSizePolicy

from ..windowing import CT_PRESETS, Preset, contrast_limits, presets_for, window_of_limits
from ._common import unwrap

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["WindowLevel", "bind_shortcuts", "SHORTCUTS", "layer_presets", "apply_preset", "active_image", "set_limits"]

#: Key -> preset name (``series``: the series' own window; ``full range``: data min..max). napari binds none of them.
SHORTCUTS: dict[str, str] = {
    "Alt-1": "series",
    **{f"Alt-{i + 2}": p.name for i, p in enumerate(CT_PRESETS)},
    f"Alt-{len(CT_PRESETS) + 2}": "full range",
}
_KEY_OF = {name: key.replace("-", "+") for key, name in SHORTCUTS.items()}
_HEADER_TAGS = [
    "Modality",
    "WindowCenter",
    "WindowWidth",
    "WindowCenterWidthExplanation",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "PhotometricInterpretation",
]


# ----------------------------------------------------------------------------- layers and their presets

#: Per layer: the window tags of its first slice and its data range (never in the metadata: writers save that).
_CACHE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _cache(layer: Any) -> dict[str, Any]:
    return _CACHE.setdefault(unwrap(layer), {})


def _dicom(layer: Any) -> dict[str, Any]:
    meta = getattr(layer, "metadata", None) or {}
    d = meta.get("dicom") if isinstance(meta, dict) else None
    return d if isinstance(d, dict) else {}


def _windowable(layer: Any) -> bool:
    layer = unwrap(layer)
    return hasattr(layer, "contrast_limits") and not getattr(layer, "rgb", False) and type(layer).__name__ == "Image"


def active_image(viewer: Any, previous: Any = None) -> Any | None:
    """The layer the presets are shown for: the active layer if it is a grey-scale image, else (several layers
    selected: napari has no active one then) ``previous`` if still selected, else the first selected image layer."""
    sel = viewer.layers.selection
    layer = sel.active
    if layer is not None:
        return layer if _windowable(layer) else None
    if previous is not None and previous in sel and _windowable(previous):
        return previous
    return next((la for la in viewer.layers if la in sel and _windowable(la)), None)


def _first_header(layer: Any) -> dict[str, Any]:
    """The window-related tags of a DICOM layer's first slice (cached in the layer's metadata; {} for other layers)."""
    d = _dicom(layer)
    if not d:
        return {}
    cached = _cache(layer).get("header")
    if isinstance(cached, dict):
        return cached
    header: dict[str, Any] = {}
    slices = d.get("slices")
    if slices is not None and (getattr(slices, "built", True) and len(slices)):
        header = {k: slices[0].get(k) for k in _HEADER_TAGS if slices[0].get(k) is not None}
    else:
        files = d.get("files") or []
        if files:
            import pydicom

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(files[0], stop_before_pixels=True, force=True, specific_tags=_HEADER_TAGS)
                for kw in _HEADER_TAGS:
                    v = ds.get(kw)
                    if v is not None and v != "":
                        header[kw] = list(v) if isinstance(v, pydicom.multival.MultiValue) else v
            except Exception:  # noqa: BLE001 - the summary below still gives modality and the first window
                header = {}
    summary = d.get("volume") or {}
    header.setdefault("Modality", summary.get("modality", ""))
    header.setdefault("RescaleIntercept", summary.get("rescale_intercept"))
    header.setdefault("RescaleSlope", summary.get("rescale_slope"))
    if "WindowCenter" not in header and summary.get("window"):  # enhanced files: the window is per frame
        header["WindowCenter"], header["WindowWidth"] = summary["window"]
    _cache(layer)["header"] = header
    return header


def _data_range(layer: Any) -> tuple[float, float] | None:
    """Minimum and maximum of a layer's data (numpy: exact; lazy: up to 16 evenly spread slices), cached per layer."""
    cached = _cache(layer).get("range")
    if cached is not None:
        return tuple(cached)
    data = layer.data
    try:
        if isinstance(data, np.ndarray):
            lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        else:
            lead = data.shape[0]
            picks = sorted({int(round(i)) for i in np.linspace(0, lead - 1, min(lead, 16))})
            parts = [np.asarray(data[i]) for i in picks]
            lo = float(min(np.nanmin(p) for p in parts))
            hi = float(max(np.nanmax(p) for p in parts))
    except (ValueError, TypeError, IndexError):
        return None
    _cache(layer)["range"] = (lo, hi)
    return lo, hi


def layer_presets(layer: Any) -> list[Preset]:
    """The presets of one image layer: its series' windows, the CT windows for HU data, the full range."""
    header = _first_header(layer)
    rows: list[Any] = []
    slices = _dicom(layer).get("slices")
    if slices is not None and getattr(slices, "built", True):  # never read every header just for presets
        rows = list(slices)
    return presets_for(header, data_range=_data_range(layer), headers=rows)


def _preset_of(layer: Any, name: str, nth: int = 0) -> Preset | None:
    presets = layer_presets(layer)
    if name == "series":
        own = [p for p in presets if p.source == "series"]
        return own[nth % len(own)] if own else None
    if name == "full range":
        return next((p for p in presets if p.source == "data"), None)
    return next((p for p in presets if p.name == name), None)


def _targets(viewer: Any) -> list[Any]:
    active = viewer.layers.selection.active
    out = [active] if active is not None and _windowable(active) else []
    out += [la for la in viewer.layers if la in viewer.layers.selection and _windowable(la) and la is not active]
    return out


def set_limits(layer: Any, lo: float, hi: float) -> None:
    """Set ``layer.contrast_limits`` to ``(lo, hi)`` exactly (the slider's range widened first when they lie outside it)."""
    rlo, rhi = layer.contrast_limits_range
    if lo < rlo or hi > rhi:
        layer.contrast_limits_range = (min(lo, rlo), max(hi, rhi))
    layer.contrast_limits = (lo, hi)


def apply_preset(viewer: Any, name: str, nth: int = 0) -> list[tuple[str, Preset]]:
    """Set ``contrast_limits`` of the active and selected image layers to the preset ``name`` (each layer's own for
    ``series`` (its ``nth`` window) and ``full range``; a standard preset only where it applies, HU data).

    Returns
    -------
    list of (layer name, Preset)
        The layers changed and the preset each got; the viewer's status line says what happened.
    """
    viewer = unwrap(viewer)
    done: list[tuple[str, Preset]] = []
    skipped: list[str] = []
    for layer in _targets(viewer):
        preset = _preset_of(layer, name, nth)
        if preset is None:
            skipped.append(layer.name)
            continue
        set_limits(layer, *preset.limits)
        done.append((layer.name, preset))
    if done:
        msg = "; ".join(f"{n}: {p.label}" for n, p in done)
    elif skipped:
        why = "no window in its files" if name == "series" else "for CT in Hounsfield units only"
        msg = f"{name} window not applied to {', '.join(skipped)} ({why})"
    else:
        msg = "select a grey-scale image layer for window presets"
    try:
        viewer.status = msg
    except Exception:  # noqa: BLE001 - a status line is a courtesy
        pass
    return done


# ----------------------------------------------------------------------------- keyboard


def _key_function(name: str) -> Any:
    state: dict[str, Any] = {"n": 0, "layer": None}

    def press(viewer: Any) -> None:
        if name == "series":  # pressed again on the same layer: the series' next window
            layer = viewer.layers.selection.active
            state["n"] = state["n"] + 1 if state["layer"] is layer and layer is not None else 0
            state["layer"] = layer
        apply_preset(viewer, name, state["n"] if name == "series" else 0)

    press.__name__ = f"window_{name.replace(' ', '_')}"
    press.__doc__ = f"Window/level preset: {name} (napari-dicomseries)"
    press._dicomseries_window = True  # type: ignore[attr-defined]
    return press


def bind_shortcuts(viewer: Any) -> None:
    """Bind the window/level preset keys (:data:`SHORTCUTS`, Alt+1 ... Alt+7) on ``viewer``.

    Keys napari does not use; a key the user (or another plugin) already bound on
    this viewer is left alone. Calling it again re-binds this plugin's keys only.
    """
    from napari.utils.key_bindings import coerce_keybinding

    v = unwrap(viewer)
    for key, name in SHORTCUTS.items():
        existing = v.keymap.get(coerce_keybinding(key))
        if existing is not None and not getattr(existing, "_dicomseries_window", False):
            continue
        v.bind_key(key, _key_function(name), overwrite=True)


# ----------------------------------------------------------------------------- dock


class WindowLevel(Container):
    """Window/level presets for the active DICOM layer (and the other selected image layers), with shortcuts.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose active (and selected) layers get the presets; its keys Alt+1 ... Alt+7 are bound.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, **kwargs: Any) -> None:
        napari_viewer = unwrap(napari_viewer)  # napari hands docks a proxy: layers must be compared by identity
        self.viewer = napari_viewer
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        # the full width of the dock: a Label's own policy keeps its first width and wraps "C -700 W 1500" in two
        self.status.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.center_spin = FloatSpinBox(value=0.0, min=-1e9, max=1e9, step=10.0, label="Center")
        self.width_spin = FloatSpinBox(value=1.0, min=1e-6, max=1e9, step=10.0, label="Width")
        self.center_spin.tooltip = "Window centre (level) of the active layer, in rescaled units (HU for CT)"
        self.width_spin.tooltip = "Window width of the active layer; black below centre - width/2, white above centre + width/2"
        for spin in (self.center_spin, self.width_spin):
            spin.native.setMinimumWidth(70)  # not the width of "-1000000000.00" (the range): fits a narrow dock
        self.buttons: Container[Container[PushButton]] = Container(layout="vertical", labels=False)  # rows of preset buttons
        self.buttons.margins = (0, 0, 0, 0)
        spins = Container(widgets=[self.center_spin, self.width_spin], layout="horizontal", labels=True)
        spins.margins = (0, 0, 0, 0)
        super().__init__(widgets=[self.status, self.buttons, spins], labels=False, **kwargs)
        self.margins = (2, 2, 2, 2)
        self.tooltip = "Window/level presets. Shortcuts: " + ", ".join(f"{k.replace('-', '+')} {n}" for k, n in SHORTCUTS.items())
        self.preset_buttons: dict[str, PushButton] = {}
        self._layer: Any = None
        self._quiet = False
        self.center_spin.changed.connect(self._spin_changed)
        self.width_spin.changed.connect(self._spin_changed)
        bind_shortcuts(napari_viewer)
        napari_viewer.layers.selection.events.active.connect(self._active_changed)
        napari_viewer.layers.selection.events.changed.connect(self._active_changed)
        self._active_changed()

    # -- state
    @property
    def presets(self) -> list[Preset]:
        """The presets shown (those of the active layer)."""
        return list(self._presets)

    def apply(self, name: str, nth: int = 0) -> list[tuple[str, Preset]]:
        """Apply the preset ``name`` (see :func:`apply_preset`) and show the result."""
        done = apply_preset(self.viewer, name, nth)
        self._show_limits()
        return done

    # -- events
    def _active_changed(self, event: Any = None) -> None:
        old = self._layer
        if old is not None:
            try:
                old.events.contrast_limits.disconnect(self._show_limits)
            except (TypeError, ValueError, RuntimeError):
                pass
        layer = active_image(self.viewer, old)
        if layer is not None and layer is old:
            self._layer.events.contrast_limits.connect(self._show_limits)
            return
        self._layer = unwrap(layer) if layer is not None else None
        self._presets = layer_presets(layer) if layer is not None else []
        self._rebuild_buttons()
        if self._layer is not None:
            self._layer.events.contrast_limits.connect(self._show_limits)
        self._show_limits()

    def _rebuild_buttons(self) -> None:
        self.buttons.clear()
        self.preset_buttons = {}
        row: list[PushButton] = []
        seen_series = 0
        for p in self._presets:
            if p.source == "series":
                key = "series" if seen_series == 0 else None
                seen_series += 1
            else:
                key = p.name if p.source == "standard" else "full range"
            button = PushButton(text=p.label)
            shortcut = _KEY_OF.get(key or "", "")
            tip = f"contrast limits {p.limits[0]:g} .. {p.limits[1]:g}"
            if p.explanation:
                tip = f"{p.explanation}: {tip}"
            if p.source == "series":
                tip += " (WindowCenter/WindowWidth of the series)"
            elif p.source == "data":
                tip += " (minimum .. maximum of the data)"
            if shortcut:
                tip += f"  [{shortcut}" + (", again: next window of the series" if key == "series" else "") + "]"
            button.tooltip = tip
            button.native.setMinimumWidth(10)
            button.changed.connect(lambda *_, preset=p: self._apply_one(preset))
            self.preset_buttons[p.name] = button
            row.append(button)
            if len(row) == 2:
                self._add_row(row)
                row = []
        if row:
            self._add_row(row)

    def _add_row(self, row: list[PushButton]) -> None:
        c = Container(widgets=row, layout="horizontal", labels=False)
        c.margins = (0, 0, 0, 0)
        self.buttons.append(c)

    def _apply_one(self, preset: Preset) -> None:
        if preset.source == "series":
            own = [p for p in self._presets if p.source == "series"]
            self.apply("series", own.index(preset))
        elif preset.source == "data":
            self.apply("full range")
        else:
            self.apply(preset.name)

    def _show_limits(self, event: Any = None) -> None:
        layer = self._layer
        if layer is None:
            self.status.value = "No grey-scale image layer selected."
            return
        lo, hi = (float(x) for x in layer.contrast_limits)
        c, w = window_of_limits(lo, hi)
        inverted = " · inverted (MONOCHROME1)" if str(getattr(layer.colormap, "name", "")) == "gray_r" else ""
        self.status.value = f"{layer.name}: C {c:g} W {w:g}{inverted}"
        self._quiet = True
        try:
            self.center_spin.value = c
            self.width_spin.value = max(w, 1e-6)
        finally:
            self._quiet = False

    def _spin_changed(self, *_: Any) -> None:
        if self._quiet or self._layer is None:
            return
        set_limits(self._layer, *contrast_limits(self.center_spin.value, self.width_spin.value))

"""Window/level presets: the series' own windows first, then the usual CT windows, then the full data range.

A window is a centre (level) and a width in the units of the displayed values,
which are the stored values after the modality rescale (Hounsfield units for
CT). :func:`contrast_limits` turns one into the ``(low, high)`` pair a viewer
maps to black and white (``center - width / 2``, ``center + width / 2``); a
MONOCHROME1 image keeps its inverted colour map, only the limits change.

:func:`presets_for` chooses the presets of a volume, in this order:

1. its own ``WindowCenter`` / ``WindowWidth`` (every pair when the tags are
   multi-valued, named by ``WindowCenterWidthExplanation`` when present);
2. the standard CT windows of :data:`CT_PRESETS`, only for CT whose values are
   Hounsfield units (no ``RescaleType`` or ``RescaleType`` HU): they would mean
   nothing on MR signal or on CT stored values without rescale;
3. the full range of the data (minimum to maximum).

No napari: the dock widget :mod:`napari_dicomseries._widgets.window_level`
applies these to layers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Preset",
    "CT_PRESETS",
    "PRESET_ORDER",
    "contrast_limits",
    "window_limits",
    "sample_limits",
    "window_of_limits",
    "series_windows",
    "is_hounsfield",
    "full_range",
    "range_preset",
    "presets_for",
    "MAX_SERIES_WINDOWS",
]


@dataclass(frozen=True)
class Preset:
    """One window: a centre and a width, where it comes from, and a name to show.

    Attributes
    ----------
    name : str
        ``lung``, ``mediastinum`` ..., ``series`` (the file's own window, with its
        explanation if any) or ``full range``.
    center, width : float
        Window centre (level) and width, in rescaled units (HU for CT).
    source : str
        ``series`` (WindowCenter/WindowWidth of the files), ``standard`` (:data:`CT_PRESETS`) or ``data`` (min..max).
    explanation : str
        The series' ``WindowCenterWidthExplanation`` for this pair ('' if none).
    """

    name: str
    center: float
    width: float
    source: str = "standard"
    explanation: str = ""

    @property
    def limits(self) -> tuple[float, float]:
        """``(center - width / 2, center + width / 2)``: the values shown black and white."""
        return contrast_limits(self.center, self.width)

    @property
    def label(self) -> str:
        """Text for a button or a menu: ``lung  C -600 W 1500``."""
        return f"{self.name}  C {_num(self.center)} W {_num(self.width)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (name, center, width, source, explanation, limits)."""
        return {
            "name": self.name,
            "center": self.center,
            "width": self.width,
            "source": self.source,
            "explanation": self.explanation,
            "limits": list(self.limits),
        }


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"


#: The usual CT windows, centre / width in HU. Lung -600/1500, brain 40/80: the defaults of the OHIF viewer
#: (``defaultWindowLevelPresets.ts``) and Radiopaedia's "Windowing (CT)" article; mediastinum 40/400 (OHIF's
#: "soft tissue"); bone 400/1800 (Radiopaedia, "bones W:1800 L:400"); abdomen 40/350 (3D Slicer's CT-Abdomen
#: display preset). Keep the order: the keyboard shortcuts follow it.
CT_PRESETS: tuple[Preset, ...] = (
    Preset("lung", -600.0, 1500.0),
    Preset("mediastinum", 40.0, 400.0),
    Preset("bone", 400.0, 1800.0),
    Preset("brain", 40.0, 80.0),
    Preset("abdomen", 40.0, 350.0),
)

#: At most this many distinct windows of a series are offered; a series whose window changes on more slices than
#: that (a scanner's per-slice automatic window, e.g. Philips DTI) offers only the first slice's own windows.
MAX_SERIES_WINDOWS = 4

#: The names of the presets in shortcut order: the series' own window, the CT windows, the full range.
PRESET_ORDER: tuple[str, ...] = ("series", *(p.name for p in CT_PRESETS), "full range")


def contrast_limits(center: float, width: float) -> tuple[float, float]:
    """The values shown black and white for a window: ``(center - width / 2, center + width / 2)``.

    Parameters
    ----------
    center : float
        Window centre (level).
    width : float
        Window width; must be positive and finite.

    Returns
    -------
    (float, float)

    Raises
    ------
    ValueError
        If ``width`` is not a positive finite number or ``center`` is not finite.
    """
    c, w = float(center), float(width)
    if not (math.isfinite(c) and math.isfinite(w)) or w <= 0:
        raise ValueError(f"a window needs a finite centre and a positive width, got centre {center!r}, width {width!r}")
    return (c - w / 2.0, c + w / 2.0)


def window_of_limits(low: float, high: float) -> tuple[float, float]:
    """``(center, width)`` of the window whose limits are ``(low, high)``: the inverse of :func:`contrast_limits`."""
    return ((float(low) + float(high)) / 2.0, float(high) - float(low))


def _values(v: Any) -> list[Any]:
    if v is None or v == "":
        return []
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):  # list, tuple, pydicom MultiValue
        return list(v)
    if isinstance(v, str) and "\\" in v:
        return v.split("\\")
    return [v]


def _to_float(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def series_windows(header: Mapping[str, Any]) -> list[Preset]:
    """The windows a header gives: every WindowCenter/WindowWidth pair, with its explanation.

    Parameters
    ----------
    header : mapping
        Keyword -> value (a row of :func:`napari_dicomseries.slices.slice_table`, a pydicom
        Dataset, or a dict); multi-valued tags are lists (or backslash-separated text).

    Returns
    -------
    list of Preset
        Named ``series`` (``series 2`` ... when there are several), ``source="series"``; pairs
        without a positive width are left out. A centre without a width of its own uses the
        last width given (and vice versa), as a pair list shorter on one side would.
    """
    centers = [_to_float(v) for v in _values(header.get("WindowCenter"))]
    widths = [_to_float(v) for v in _values(header.get("WindowWidth"))]
    texts = [str(t).strip() for t in _values(header.get("WindowCenterWidthExplanation"))]
    n = max(len(centers), len(widths)) if centers and widths else 0
    out: list[Preset] = []
    for i in range(n):
        c = centers[min(i, len(centers) - 1)]
        w = widths[min(i, len(widths) - 1)]
        if c is None or w is None or w <= 0:
            continue
        text = texts[i] if i < len(texts) else ""
        name = "series" if not out else f"series {len(out) + 1}"
        out.append(Preset(f"{name} ({text})" if text else name, c, w, source="series", explanation=text))
    return out


def is_hounsfield(header: Mapping[str, Any], modality: str = "") -> bool:
    """True when the rescaled values of a header are Hounsfield units: CT with a rescale and RescaleType absent or HU.

    Parameters
    ----------
    header : mapping
        Keyword -> value (needs ``Modality`` unless ``modality`` is given, ``RescaleIntercept``, ``RescaleType``).
    modality : str
        Modality, if known from elsewhere.
    """
    mod = str(modality or header.get("Modality", "") or "").strip().upper()
    if mod != "CT":
        return False
    if header.get("RescaleIntercept") is None and header.get("RescaleSlope") is None:
        return False
    rtype = str(header.get("RescaleType", "") or "").strip().upper()
    return rtype in ("", "HU")


def window_limits(window: tuple[float, float] | None) -> tuple[float, float] | None:
    """:func:`contrast_limits` of a ``(center, width)`` pair (``Volume.window``) when it makes a window, else None.

    None for no pair, a non-finite centre or width, or a width that is not positive.
    """
    if window is None:
        return None
    try:
        return contrast_limits(*window)
    except ValueError:
        return None


def sample_limits(sample: Any) -> tuple[float, float]:
    """The 1-99.5 percentiles of ``sample`` (some values of an image), its non-finite values left out.

    ``low < high`` always: a constant sample gets ``(v, v + 1)``, an empty one ``(0, 1)``.
    """
    arr = np.asarray(sample).ravel()
    if arr.dtype.kind == "f":
        arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return 0.0, 1.0
    lo, hi = (float(x) for x in np.percentile(arr, [1.0, 99.5]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def full_range(data: Any) -> Preset | None:
    """The window from the minimum to the maximum of ``data`` (numpy or array-like); None if empty or constant-free.

    A constant image gets a width of 1 centred on its value. Non-finite values are ignored.
    """
    arr = np.asarray(data)
    if arr.size == 0:
        return None
    if np.issubdtype(arr.dtype, np.floating):
        finite = arr[np.isfinite(arr)]
        if finite.size == 0:
            return None
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = float(arr.min()), float(arr.max())
    return range_preset(lo, hi)


def range_preset(low: float, high: float) -> Preset:
    """The ``full range`` preset for known data limits (a width of at least 1)."""
    c, w = window_of_limits(low, high)
    if not w > 0:
        c, w = float(low), 1.0
    return Preset("full range", c, w, source="data")


def presets_for(
    header: Mapping[str, Any],
    *,
    modality: str = "",
    data_range: tuple[float, float] | None = None,
    headers: Sequence[Mapping[str, Any]] = (),
) -> list[Preset]:
    """The presets of one volume, in order: its own windows, the CT windows (HU data only), the full range.

    Parameters
    ----------
    header : mapping
        A representative header (the first slice): keyword -> value.
    modality : str
        Modality, if not in ``header``.
    data_range : (float, float), optional
        Minimum and maximum of the data, for the ``full range`` preset (left out if not given).
    headers : sequence of mapping
        Further headers (other slices): windows they give that the first does not are added after its own,
        when there are at most :data:`MAX_SERIES_WINDOWS` distinct windows in all (more means a per-slice
        automatic window, of no use as a preset).

    Returns
    -------
    list of Preset
    """
    own = series_windows(header)
    seen = {(p.center, p.width) for p in own}
    extra: list[Preset] = []
    for h in headers:
        for p in series_windows(h):
            if (p.center, p.width) not in seen:
                seen.add((p.center, p.width))
                name = f"series {len(own) + len(extra) + 1}" + (f" ({p.explanation})" if p.explanation else "")
                extra.append(Preset(name, p.center, p.width, source="series", explanation=p.explanation))
        if len(seen) > MAX_SERIES_WINDOWS:
            extra = []
            break
    out = own + extra
    if is_hounsfield(header, modality):
        out.extend(CT_PRESETS)
    if data_range is not None:
        out.append(range_preset(*data_range))
    return out

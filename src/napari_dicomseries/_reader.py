"""napari reader: one layer per DICOM volume, placed in patient space, with its DICOM metadata.

Opens a folder (dragged in, File > Open Folder, ``napari --plugin
napari-dicomseries DIR``), a single DICOM file or a list of files.
:func:`get_reader` only peeks at a few files, so paths without DICOM go to
other readers. The work is done by the core (:func:`napari_dicomseries.open_folder`,
:mod:`napari_dicomseries.display`); this module reads the options, wraps the
results as layer data tuples and turns the core's warnings into notifications.

Options (environment variables, read at each call):

``NAPARI_DICOMSERIES_LOCALIZERS=1``
    also open localizers (scouts) and secondary captures (screenshots, dose reports), hidden.
``NAPARI_DICOMSERIES_GAPS=split|resample|keep``
    missing slices or irregular spacing: one layer per regular part (default),
    linear resampling to uniform spacing, or the usual spacing with a warning.
``NAPARI_DICOMSERIES_LAZY=auto|1|0``
    ``auto`` (default) reads volumes above :data:`LAZY_THRESHOLD_BYTES`
    (128 MiB) slice by slice on demand (dask), smaller ones at once; ``1``/``0`` force.
``NAPARI_DICOMSERIES_PRIVATE_TAGS=1``
    put private tags in the per-slice header table too.
``NAPARI_DICOMSERIES_MAX_LAYERS=N``
    big folders: when more than N image volumes would open (default
    :data:`napari_dicomseries.display.MAX_LAYERS_AT_OPEN`, 12), only the most likely
    one (:func:`napari_dicomseries.display.pick_visible`) opens, with the
    segmentations that reference it; a notification says so and the others are
    listed in the DICOM series panel to load on demand. Every layer opened then
    carries ``metadata["dicom"]["folder"]``: ``paths`` (the input paths, absolute),
    ``volumes`` (how many volumes the folder holds), ``shown`` (the keys opened),
    ``gaps`` (the gap policy), ``max_layers`` and ``index`` (True for an archive
    index folder). ``0`` means no limit.

An archive index folder (``napari-dicomseries index ARCHIVE --db INDEX``) opens
like its archive, from the index (:func:`napari_dicomseries.open_index`: no
header read again); above the layer limit the most likely volume is chosen from
the index's volume table and only its study is rebuilt.

A folder is scanned once per session: the volumes are kept in
:mod:`napari_dicomseries.catalog` (validated by a stat walk), so opening it
again, or listing it in the series browser, does not read the headers again.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Unpack, cast

if TYPE_CHECKING:
    from .display import ImageLayerOptions
    from .scan import ScanResult
    from .volume import Volume

__all__ = [
    "get_reader",
    "read_dicom",
    "read_volumes",
    "volume_layer_data",
    "segmentation_layer_data",
    "gap_policy",
    "layer_limit",
    "DicomReaderWarning",
]

ENV_LOCALIZERS = "NAPARI_DICOMSERIES_LOCALIZERS"
ENV_GAPS = "NAPARI_DICOMSERIES_GAPS"
ENV_LAZY = "NAPARI_DICOMSERIES_LAZY"
ENV_PRIVATE = "NAPARI_DICOMSERIES_PRIVATE_TAGS"
ENV_MAX_LAYERS = "NAPARI_DICOMSERIES_MAX_LAYERS"
#: How many files :func:`get_reader` looks at before deciding a folder holds no DICOM.
PEEK_FILES = 64

LayerDataTuple = tuple[Any, dict[str, Any], str]


#: names other modules' tests and benchmarks import from here, defined in the core (imported on first use)
class DicomReaderWarning(UserWarning):
    """A problem the reader worked around (napari shows it as a notification)."""


def _warn(message: str) -> None:
    warnings.warn(message, DicomReaderWarning, stacklevel=3)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def gap_policy() -> str:
    """The gap policy napari uses: ``NAPARI_DICOMSERIES_GAPS``, else ``split`` (a warning for an unknown value)."""
    from .gaps import DEFAULT_GAP_POLICY, GAP_POLICIES

    mode = os.environ.get(ENV_GAPS, "").strip().lower() or DEFAULT_GAP_POLICY
    if mode not in GAP_POLICIES:
        _warn(f"{ENV_GAPS}={mode!r} is not one of {', '.join(GAP_POLICIES)}: using {DEFAULT_GAP_POLICY}")
        mode = DEFAULT_GAP_POLICY
    return mode


def layer_limit() -> int | None:
    """The most image layers a folder opens as: ``NAPARI_DICOMSERIES_MAX_LAYERS``, else ``display.MAX_LAYERS_AT_OPEN``.

    ``0`` (or a negative number) means no limit (None); a value that is not an integer gives a warning and the default.
    """
    from .display import MAX_LAYERS_AT_OPEN

    raw = os.environ.get(ENV_MAX_LAYERS, "").strip()
    if not raw:
        return MAX_LAYERS_AT_OPEN
    try:
        n = int(raw)
    except ValueError:
        _warn(f"{ENV_MAX_LAYERS}={raw!r} is not an integer: using {MAX_LAYERS_AT_OPEN}")
        return MAX_LAYERS_AT_OPEN
    return n if n > 0 else None


def _lazy_choice() -> bool | None:
    v = os.environ.get(ENV_LAZY, "auto").strip().lower()
    if v in ("1", "true", "yes", "on", "always"):
        return True
    if v in ("0", "false", "no", "off", "never"):
        return False
    return None


def get_reader(path: str | Sequence[str]) -> Callable[[str | Sequence[str]], list[LayerDataTuple]] | None:
    """Return :func:`read_dicom` when ``path`` holds DICOM or is an archive index, else None (so other readers can take it).

    Cheap and never raises: looks at the first 132 bytes of at most
    :data:`PEEK_FILES` files, or at the manifest of an index folder
    (``napari-dicomseries index``).
    """
    try:
        from .files import is_dicom, iter_paths
        from .index import single_index

        paths = [os.fspath(path)] if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path]
        if single_index(paths) is not None:
            return read_dicom
        looked = 0
        for p, problem in iter_paths(paths, recursive=True):
            if problem:
                continue
            if is_dicom(p):
                return read_dicom
            looked += 1
            if looked >= PEEK_FILES:
                break
    except Exception:  # noqa: BLE001 - a reader hook must never raise
        return None
    return None


class _IndexRow:
    """A volume of an index's volume table (its ``ls --json`` summary) with the fields :func:`display.plan_layers` uses."""

    def __init__(self, summary: dict[str, Any], is_image: bool) -> None:
        self.summary = summary
        self.key = str(summary.get("key", ""))
        self.kind = summary.get("kind", "")
        self.is_image = is_image
        self.loadable = bool(summary.get("loadable", True))
        self.warnings: list[Any] = []
        self.series_instance_uid = summary.get("series_instance_uid", "")
        self.references = list(summary.get("references") or [])
        self.orientation = summary.get("orientation", "")
        self.n_slices = int(summary.get("n_slices") or 0)
        self.slice_thickness = summary.get("slice_thickness")
        self.spacing = tuple(summary.get("spacing") or (0.0,))


def _open_index(
    index: str, *, gaps: str, include_localizers: bool, limit: int | None
) -> tuple[list[Volume], ScanResult, int, bool]:
    """The volumes to open from an index: all of them, or (above ``limit``) only the most likely and its segmentations.

    The choice is made on the index's volume table (no header read, no study rebuilt); only the chosen volumes'
    studies are rebuilt (:func:`napari_dicomseries.index_query.open_index`). Returns the volumes, their scan, the
    number of volumes in the index and whether the choice was limited.
    """
    from . import display
    from .index_query import list_index, open_index
    from .scan import ScanResult

    listing = list_index(index)
    rows = [_IndexRow(s, b) for s, b in zip(listing.series, listing.is_image, strict=False)]
    # _IndexRow has the Volume fields plan_layers reads (kind, is_image, loadable, key ...): a stand-in, not a Volume
    as_volumes = cast("list[Volume]", rows)
    plan = display.plan_layers(
        as_volumes, ScanResult(root=listing.root, files=[], skipped=[]), include_localizers=include_localizers, max_layers=limit
    )
    if not plan.limited:
        volumes, result = open_index(index, gaps=gaps)
        return volumes, result, len(rows), False
    keys = [r.key for r in (*plan.images, *plan.segmentations)]
    volumes, result = open_index(index, keys=keys, gaps=gaps)
    result.skipped = listing.skipped
    return volumes, result, len(rows), True


def read_dicom(path: str | Sequence[str]) -> list[LayerDataTuple]:
    """The npe2 reader function: every volume under ``path`` as layer data (options from the environment)."""
    return read_volumes(path, include_localizers=_env_flag(ENV_LOCALIZERS))


def read_volumes(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    include_localizers: bool = False,
    lazy: bool | None = None,
    gaps: str | None = None,
    private_tags: bool | None = None,
    max_layers: int | None | Literal["env"] = "env",
) -> list[LayerDataTuple]:
    """Scan ``paths`` and return one ``(data, kwargs, "image")`` per loadable volume, then its segmentations as labels.

    The scan goes through :func:`napari_dicomseries.catalog.open_folder_cached`: an unchanged folder
    opened before in this process is not read again.

    Parameters
    ----------
    paths : path or iterable of paths
        A folder, a file or a list of them.
    include_localizers : bool
        Also return localizers (scouts) and secondary captures, hidden (see :func:`display.plan_layers`).
    lazy : bool, optional
        Force dask (True) or numpy (False) data; default: lazy above :data:`LAZY_THRESHOLD_BYTES`
        (or as ``NAPARI_DICOMSERIES_LAZY`` says).
    gaps : {"split", "resample", "keep"}, optional
        Missing slices and irregular spacing (default: ``NAPARI_DICOMSERIES_GAPS`` or split).
    private_tags : bool, optional
        Put private tags in the per-slice table (default: ``NAPARI_DICOMSERIES_PRIVATE_TAGS``).
    max_layers : int or None, optional
        Above this many image volumes only the most likely one opens (see the module's
        ``NAPARI_DICOMSERIES_MAX_LAYERS``); None: no limit; default: :func:`layer_limit`.

    Returns
    -------
    list of (data, dict, str)
        Only one image is visible (:func:`display.pick_visible`), added last; the others are hidden.
        Volumes that cannot be loaded are left out with a :class:`DicomReaderWarning`. When the folder
        was limited, every layer's ``metadata["dicom"]["folder"]`` describes the folder.
    """
    from . import catalog, display
    from .errors import DicomSeriesError

    gaps = gaps or gap_policy()
    lazy = _lazy_choice() if lazy is None else lazy
    private_tags = _env_flag(ENV_PRIVATE) if private_tags is None else private_tags
    limit = layer_limit() if max_layers == "env" else max_layers
    if not isinstance(paths, (str, os.PathLike)):
        paths = list(paths)
    from .index import single_index

    index = single_index(paths)
    if index is not None:
        volumes, result, n_volumes, limited = _open_index(index, gaps=gaps, include_localizers=include_localizers, limit=limit)
        plan = display.plan_layers(volumes, result, include_localizers=include_localizers, max_layers=None)
    else:
        volumes, result = catalog.open_folder_cached(paths, gaps=gaps)
        plan = display.plan_layers(volumes, result, include_localizers=include_localizers, max_layers=limit)
        n_volumes, limited = len(volumes), plan.limited
    for message in plan.warnings:
        _warn(message)
    folder: dict[str, Any] | None = None
    if limited and plan.shown is not None:
        folder = {
            "paths": list(catalog.key_paths(paths)),
            "volumes": n_volumes,
            "shown": [v.key for v in (*plan.images, *plan.segmentations)],
            "gaps": gaps,
            "max_layers": limit,
            "index": index is not None,
        }
        _warn(
            f"{n_volumes} volumes: the most likely one is shown ({display.layer_name(plan.shown)}); the others are "
            f"listed in the DICOM series panel (Plugins > DICOM series) to load on demand "
            f"(more than {limit} image volumes; {ENV_MAX_LAYERS} sets the limit)"
        )
    out: list[LayerDataTuple] = []
    names: set[str] = set()
    for v in plan.images:
        name = display.unique_name(display.layer_name(v), names)
        try:
            layer = volume_layer_data(
                v, lazy=lazy, visible=v is plan.shown, private_tags=private_tags, name=name, extra_warnings=plan.extra_warnings(v)
            )
        except DicomSeriesError as exc:
            _warn(f"{name} not opened: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one volume that fails in an unforeseen way must not take the others down
            where = f"{display.volume_label(v)}, {len(v.files)} file(s), e.g. {v.paths[0] if v.paths else '?'}"
            _warn(f"{name} ({where}) not opened: {type(exc).__name__}: {exc}")
            continue
        names.add(name)
        out.append(layer)
    out = [out[i] for i in display.visible_last([kw.get("visible", True) for _, kw, _ in out])]
    if out:
        out[-1][1]["visible"] = True
    for v in plan.segmentations:  # on top of the images they segment
        name = display.unique_name(display.layer_name(v), names)
        try:
            layers = segmentation_layer_data(v, name=name)
        except DicomSeriesError as exc:
            _warn(f"{name} not opened: {exc}")
            continue
        names.update(kw["name"] for _, kw, _ in layers)
        source = _segmented_source(v, volumes)
        for _, kw, _ in layers if source else ():
            kw["metadata"]["dicom"]["source"] = source  # what the DICOM SEG writer references (see _writer)
        out.extend(layers)
    if folder is not None:
        for _, kw, _ in out:
            kw["metadata"]["dicom"]["folder"] = folder
    return out


def _segmented_source(volume: Volume, volumes: Sequence[Volume]) -> dict[str, Any] | None:
    """The image series a segmentation references, when it was opened with it: its UID and files (all its volumes)."""
    for uid in volume.references:
        parts = [v for v in volumes if v.series_instance_uid == uid and v.kind in ("image", "localizer")]
        if parts:
            files = list(dict.fromkeys(p for v in parts for p in v.paths))
            return {"series_instance_uid": uid, "key": parts[0].key, "files": files}
    return None


def volume_layer_data(volume: Volume, **options: Unpack[ImageLayerOptions]) -> LayerDataTuple:
    """Image layer data ``(data, kwargs, "image")`` for one volume, in patient space (any volume: localizers too).

    The arguments and the result are those of :func:`napari_dicomseries.display.image_layer`
    (``lazy`` by default above ``display.LAZY_THRESHOLD_BYTES``). Every warning
    (the volume's, undecodable slices shown blank, ``extra_warnings``) is also
    issued as a :class:`DicomReaderWarning` naming the layer.

    Raises
    ------
    DecodeError
        If the volume has no pixel data, no decoder, or no slice can be decoded.
    """
    from . import display

    name = options["name"] = options.get("name") or display.layer_name(volume)
    data, kwargs = display.image_layer(volume, **options, on_failure=lambda message: _warn(f"{name}: {message}"))
    for w in kwargs["metadata"]["dicom"]["warnings"]:
        _warn(f"{name}: {w}")
    return data, kwargs, "image"


def segmentation_layer_data(volume: Volume, *, name: str | None = None) -> list[LayerDataTuple]:
    """Labels layer data for a segmentation volume (see :func:`napari_dicomseries.display.segmentation_layers`)."""
    from . import display

    name = name or display.layer_name(volume)
    layers = display.segmentation_layers(volume, name=name)
    for w in layers[0][1]["metadata"]["dicom"]["warnings"] if layers else []:
        _warn(f"{name}: {w}")
    return [(data, kwargs, "labels") for data, kwargs in layers]

"""napari writers: an image or labels layer as NIfTI (``.nii`` / ``.nii.gz``) with a JSON sidecar; a labels layer as DICOM SEG.

A thin translation to :func:`napari_dicomseries.nifti.write_nifti_array`:
the NIfTI geometry is the layer's own (data to world: ``affine``, ``scale``,
``translate``, ``rotate``, ``shear``), read as DICOM patient coordinates
(LPS, mm) with world axes (z, y, x), which is how the reader places layers.
The sidecar comes from ``metadata["dicom"]`` (the reader's): the DICOM
headers of the layer's files when they can still be read, else the reader's
per-slice table, plus the volume summary; a layer without DICOM metadata
gets a minimal sidecar (layer name, geometry, software).

A labels layer saved as ``.dcm`` becomes a DICOM SEG
(:func:`napari_dicomseries.segwrite.write_seg`) on the grid of its *source*
series, which it references. The source is found in the layer's own
``metadata["dicom"]``:

- ``source``: ``{"series_instance_uid": ..., "files": [...]}``, which the
  reader puts on the labels layers of a SEG when the series it segments was
  opened with it;
- else ``files`` and ``volume`` of an image volume: a labels layer made from
  an image layer opened by this plugin with its metadata copied, e.g.
  ``viewer.add_labels(np.zeros(image.data.shape, np.uint8), scale=image.scale,
  affine=image.affine, metadata=image.metadata)``.

A labels layer without either (napari's *New labels layer* button copies the
grid but not the metadata) cannot be saved as SEG: the error says so. The
labels must lie on the source's voxels (a part of its slices is fine; no
resampling); segment names come from the layer's ``features`` (``index`` and
``label`` or ``name`` columns, as the reader writes them), colours from its
colormap.

As any napari writer, it replaces the chosen file (the save dialog asks
first); the replacement is atomic and a failure leaves no partial file.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import DicomSeriesError
from .geometry import Geometry
from .nifti import write_nifti_array
from .sidecar import SOFTWARE, constant_tags, sidecar_from_rows

__all__ = ["write_nifti", "write_seg_layer", "layer_affine", "layer_sidecar", "source_volume"]


def layer_affine(meta: dict[str, Any], ndim: int) -> np.ndarray:
    """The layer's full data-to-world matrix, (ndim + 1) x (ndim + 1), from its state in ``meta``."""
    from napari.utils.transforms import Affine

    def get(name: str, default: Any) -> Any:
        v = meta.get(name)
        return default if v is None else v

    inner = Affine(
        scale=get("scale", [1.0] * ndim),
        translate=get("translate", [0.0] * ndim),
        rotate=get("rotate", np.eye(ndim)),
        shear=get("shear", [0.0] * (ndim * (ndim - 1) // 2)),
        ndim=ndim,
    )
    outer = meta.get("affine")
    if outer is None:
        return inner.affine_matrix
    outer_m = outer.affine_matrix if hasattr(outer, "affine_matrix") else np.asarray(outer, float)
    if outer_m.shape != (ndim + 1, ndim + 1):
        raise ValueError(f"layer affine of shape {outer_m.shape} does not fit {ndim}-D data")
    return outer_m @ inner.affine_matrix


def _spatial(m: np.ndarray) -> np.ndarray:
    """The 4 x 4 block of the last three axes (a leading time axis is dropped)."""
    n = m.shape[0] - 1
    a = np.eye(4)
    a[:3, :3] = m[n - 3 : n, n - 3 : n]
    a[:3, 3] = m[n - 3 : n, n]
    return a


def _dicom_axis_order(arr: np.ndarray, a: np.ndarray, meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Undo the reader's transpose of non-axial volumes (``metadata["dicom"]["axes"]``), so the NIfTI
    keeps the DICOM voxel order (slices, rows, columns) as dcm2niix writes it. The geometry is the same."""
    md = meta.get("metadata") or {}
    axes = (md.get("dicom") or {}).get("axes") if isinstance(md, dict) else None
    if not axes or list(axes) == [0, 1, 2] or sorted(axes) != [0, 1, 2]:
        return arr, a
    inv = [int(i) for i in np.argsort(axes)]  # DICOM axis d is layer axis inv[d]
    lead = list(range(arr.ndim - 3))
    arr = arr.transpose([*lead, *(len(lead) + i for i in inv)])
    b = a.copy()
    b[:3, :3] = a[:3, :3][:, inv]
    return arr, b


def layer_sidecar(meta: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    """The sidecar for a layer: from ``metadata["dicom"]`` when there is one, else a minimal one."""
    md = meta.get("metadata") or {}
    dicom = md.get("dicom") if isinstance(md, dict) else None
    name = meta.get("name") or ""
    extra = {"layer_name": name, "layer_shape": list(shape)}
    if isinstance(dicom, dict) and dicom:
        summary = dicom.get("volume") or dicom.get("summary") or {}
        rows = _rows_from_files(dicom.get("files") or [])
        if rows is None:
            rows = [r for r in (dicom.get("slices") or []) if isinstance(r, dict)]
        if summary.get("shape") and list(summary["shape"]) != list(shape):
            extra["note"] = f"layer shape {list(shape)} differs from the DICOM volume shape {list(summary['shape'])}"
        if dicom.get("warnings"):
            summary = {**summary, "warnings": list(dicom["warnings"])}
        return sidecar_from_rows(rows, summary, extra=extra)
    side = sidecar_from_rows([], None, extra=extra)
    side["DicomSeries"]["note"] = (
        "layer without DICOM metadata: geometry from the layer, read as LPS mm with world axes (z, y, x)"
    )
    return side


def _rows_from_files(files: list[Any]) -> list[dict[str, Any]] | None:
    """The constant tags of the layer's DICOM files (one row), or None when they cannot all be read any more."""
    if not files or not all(isinstance(f, str) and os.path.isfile(f) for f in files):
        return None
    try:
        return [constant_tags(files)]
    except DicomSeriesError:
        return None


def write_nifti(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 single-layer writer: ``data`` of an image layer to ``path`` (.nii / .nii.gz) plus ``.json``.

    Returns
    -------
    list of str
        The NIfTI file and its sidecar.

    Raises
    ------
    DicomSeriesError
        For RGB layers, data that are not 2-D, 3-D or 4-D, or when writing
        fails (no partial file is left); the message names the file. (Not a
        ValueError, which napari would turn into "not a valid writer".)
    """
    try:
        if meta.get("rgb"):
            raise ValueError("RGB layers cannot be saved as NIfTI: only scalar (grey value) images")
        if meta.get("multiscale") or (isinstance(data, (list, tuple)) and data and hasattr(data[0], "shape")):
            data = data[0]  # the full-resolution level
        arr = np.asarray(data)
        if arr.ndim not in (2, 3, 4):
            raise ValueError(f"a {arr.ndim}-D layer cannot be saved as NIfTI (2-D, 3-D or 4-D only), shape {arr.shape}")
        full = layer_affine(meta, arr.ndim)
        if arr.ndim == 2:
            a = np.eye(4)
            a[1:3, 1:3] = full[:2, :2]
            a[1:3, 3] = full[:2, 2]
            arr = arr[None]
        else:
            a = _spatial(full)
            arr, a = _dicom_axis_order(arr, a, meta)
        lps = Geometry.from_world_zyx(arr.shape, a)
        side = layer_sidecar(meta, arr.shape)
        tr = side.get("RepetitionTime")
        desc = f"{SOFTWARE} layer {meta.get('name') or ''}".strip()
        written = write_nifti_array(
            arr, lps, path, side, force=True, time_spacing=tr if isinstance(tr, (int, float)) else None, description=desc
        )
    except ValueError as exc:
        raise DicomSeriesError(f"{path}: {exc}") from exc
    return [str(p) for p in written]


# ----------------------------------------------------------------------------- labels as DICOM SEG

NO_SOURCE = (
    "this labels layer does not say which DICOM series it was drawn on (no metadata['dicom'] with the source files): "
    "draw on a layer opened by napari-dicomseries, e.g. viewer.add_labels(np.zeros(image.data.shape, np.uint8), "
    "scale=image.scale, affine=image.affine, metadata=image.metadata) for an image layer `image` it opened, or open "
    "the series a SEG segments together with it"
)


def _dicom_meta(meta: dict[str, Any]) -> dict[str, Any]:
    md = meta.get("metadata") or {}
    dicom = md.get("dicom") if isinstance(md, dict) else None
    return dicom if isinstance(dicom, dict) else {}


def _source_candidates(dicom: dict[str, Any]) -> tuple[list[str], str, str]:
    """The source files, series UID and volume key ("" when unknown) named by a layer's ``metadata["dicom"]``."""
    src = dicom.get("source")
    if isinstance(src, dict) and src.get("files"):
        return [str(f) for f in src["files"]], str(src.get("series_instance_uid") or ""), str(src.get("key") or "")
    summary = dicom.get("volume") or {}
    if dicom.get("files") and isinstance(summary, dict) and summary.get("kind") in ("image", "localizer"):
        return [str(f) for f in dicom["files"]], str(summary.get("series_instance_uid") or ""), str(summary.get("key") or "")
    if dicom.get("references"):
        refs = ", ".join(map(str, dicom["references"]))
        raise DicomSeriesError(
            f"the series this segmentation references ({refs}) was not opened with it: open the folder holding both, "
            "so the SEG can reference the source images"
        )
    raise DicomSeriesError(NO_SOURCE)


def source_volume(meta: dict[str, Any], labels: np.ndarray, world_zyx: np.ndarray) -> tuple[Any, np.ndarray]:
    """The source Volume of a labels layer and the labels put on its grid (see the module docstring)."""
    from . import open_folder
    from .segwrite import place_on_grid

    files, uid, key = _source_candidates(_dicom_meta(meta))
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DicomSeriesError(
            f"{missing[0]}: a source image of this labels layer is gone ({len(missing)} of {len(files)} files)"
        )
    volumes, _ = open_folder(files, recursive=False, gaps="keep")
    found = [v for v in volumes if v.kind in ("image", "localizer") and (not uid or v.series_instance_uid == uid)]
    found.sort(key=lambda v: v.key != key)  # the named volume first
    if not found:
        raise DicomSeriesError(f"{files[0]}: no image volume of series {uid or '?'} among the {len(files)} source files")
    problem: DicomSeriesError | None = None
    for v in found:
        try:
            return v, place_on_grid(labels, world_zyx, v)
        except DicomSeriesError as exc:
            problem = problem or exc
    assert problem is not None
    raise problem


def _segment_spec(meta: dict[str, Any], values: list[int]) -> dict[int, tuple[str, tuple[int, int, int] | None]]:
    """Segment names from the layer's features (``index`` + ``label``/``name``), colours from its colormap."""
    names: dict[int, str] = {}
    features = meta.get("features")
    if features is not None and hasattr(features, "columns") and "index" in features.columns:
        col = next((c for c in ("label", "name") if c in features.columns), None)
        if col is not None:
            for index, name in zip(features["index"], features[col], strict=False):
                if name is not None and str(name) and str(name) != "nan":
                    names.setdefault(int(index), str(name))
    colours: dict[int, tuple[int, int, int] | None] = {}
    cmap = meta.get("colormap")
    if cmap is not None and hasattr(cmap, "map") and values:
        try:
            rgba = np.atleast_2d(np.asarray(cmap.map(np.asarray(values)), float))
        except (TypeError, ValueError, KeyError, IndexError):
            rgba = None
        if rgba is not None and rgba.shape == (len(values), 4):
            for v, c in zip(values, rgba, strict=True):
                colours[v] = tuple(int(round(x * 255)) for x in c[:3]) if c[3] > 0 else None  # type: ignore[assignment]
    return {v: (names.get(v, f"label {v}"), colours.get(v)) for v in values}


def write_seg_layer(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 single-layer writer: a labels layer to ``path`` (``.dcm``) as a DICOM SEG referencing its source series.

    Returns
    -------
    list of str
        The SEG file.

    Raises
    ------
    DicomSeriesError
        For a layer without a DICOM source (see the module docstring), labels
        off the source's voxels, labels that are empty, not integers or not
        3-D, or when writing fails (no partial file is left).
    """
    from .segwrite import label_values, write_seg

    try:
        if meta.get("multiscale") or (isinstance(data, (list, tuple)) and data and hasattr(data[0], "shape")):
            data = data[0]
        arr = np.asarray(data)
        if arr.ndim != 3:
            raise ValueError(f"a {arr.ndim}-D labels layer cannot be saved as DICOM SEG (3-D only), shape {arr.shape}")
        volume, labels = source_volume(meta, arr, layer_affine(meta, 3))
        name = str(meta.get("name") or "Segmentation")
        result = write_seg(
            labels, volume, path, segments=_segment_spec(meta, label_values(labels)), series_description=name, force=True
        )
    except ValueError as exc:
        raise DicomSeriesError(f"{path}: {exc}") from exc
    except DicomSeriesError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise DicomSeriesError(f"{path}: {exc}") from exc
    return [result.path]

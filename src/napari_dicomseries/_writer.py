"""napari writer: an image layer (3-D or 4-D) as NIfTI (``.nii`` / ``.nii.gz``) with a JSON sidecar.

A thin translation to :func:`napari_dicomseries.nifti.write_nifti_array`:
the NIfTI geometry is the layer's own (data to world: ``affine``, ``scale``,
``translate``, ``rotate``, ``shear``), read as DICOM patient coordinates
(LPS, mm) with world axes (z, y, x), which is how the reader places layers.
The sidecar comes from ``metadata["dicom"]`` (the reader's): the DICOM
headers of the layer's files when they can still be read, else the reader's
per-slice table, plus the volume summary; a layer without DICOM metadata
gets a minimal sidecar (layer name, geometry, software).

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

__all__ = ["write_nifti", "layer_affine", "layer_sidecar"]


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

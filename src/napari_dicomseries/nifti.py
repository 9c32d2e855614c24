"""NIfTI-1 writing (``.nii`` / ``.nii.gz``): voxels and DICOM geometry as dcm2niix writes them, atomically.

:func:`write_nifti_array` writes an array in array order (k, j, i) or
(t, k, j, i) with the matrix that maps an array index to DICOM patient LPS
coordinates. The image is written by SimpleITK, so the file's qform and sform
(both ``NIFTI_XFORM_SCANNER_ANAT``) are the RAS (``diag(-1, -1, 1)`` times
LPS) transform of that geometry (:meth:`Geometry.nifti_affine`); ``scl_slope`` stays
unset (the voxels are written as given). A 4-D array becomes one 4-D NIfTI
(x, y, z, t) whose fourth pixel dimension is ``time_spacing``.

A sheared voxel grid (gantry tilt) cannot be stored by ITK: its sform is then
patched to the exact (sheared) transform and its qform is the nearest rigid
one (slice normal and distance between slices, as ITK reads DICOM; see
:meth:`Geometry.itk`). Colour (a trailing axis of 3 samples) is written as
NIfTI RGB24, as dcm2niix writes it: the header is written for one sample, then
patched.

SimpleITK writes the file uncompressed (one fast call); a ``.nii.gz`` is then
compressed here, in chunks of :data:`CHUNK` bytes, at zlib level
:data:`GZIP_LEVEL`, asking ``cancel()`` and reporting ``progress`` between
chunks, so a Cancel during the compression (the long part of a write) is heard
within a fraction of a second. The NIfTI bytes (header and voxels) are those
SimpleITK writes; only the compression differs.

Writes are atomic: each file (the image and its JSON sidecar) is written to a
hidden temporary file in the target folder and renamed into place; nothing is
overwritten without ``force``, and a failure or a Cancel leaves neither a
partial file nor a temporary one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DicomSeriesError, OutputExistsError
from .geometry import Geometry
from .jobs import check_cancel

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["nifti_paths", "write_nifti_array", "temp_path_beside", "GZIP_LEVEL", "CHUNK"]

#: zlib level of ``.nii.gz`` files. Level 1 (fastest): with the zlib of Python it compresses CT 1.5-2x faster than
#: SimpleITK's own ``.nii.gz`` writer (zlib-ng at its default level) did, for files about 3 % larger; zlib's default
#: level 6 would take three times as long.
GZIP_LEVEL = 1
#: Bytes compressed between two questions to ``cancel()`` (about 0.05 s of work at level 1).
CHUNK = 4 * 2**20

# ----------------------------------------------------------------------------- paths


def nifti_paths(path: str | os.PathLike[str], gzip: bool | None = None) -> tuple[Path, Path, bool]:
    """``(nifti, sidecar, gzip)`` for an output path given with or without ``.nii`` / ``.nii.gz``.

    Raises
    ------
    ValueError
        If ``gzip`` contradicts the extension of ``path``.
    """
    p = Path(path)
    name = p.name
    low = name.lower()
    if low.endswith(".nii.gz"):
        stem, ext_gz = name[:-7], True
    elif low.endswith(".nii"):
        stem, ext_gz = name[:-4], False
    else:
        stem, ext_gz = name, None
    if not stem:
        raise ValueError(f"{path}: no file name before the extension")
    if ext_gz is not None and gzip is not None and gzip != ext_gz:
        raise ValueError(f"{path}: the extension says {'gzip' if ext_gz else 'no gzip'} but gzip={gzip} was asked for")
    gz = ext_gz if ext_gz is not None else (True if gzip is None else gzip)
    return p.with_name(stem + (".nii.gz" if gz else ".nii")), p.with_name(stem + ".json"), gz


# ----------------------------------------------------------------------------- atomic writing


def temp_path_beside(final: Path, suffix: str) -> Path:
    """A free hidden name beside ``final``, for an atomic write (write it, then ``os.replace`` it onto ``final``).

    The file is created by the writer (so it gets the usual permissions); being in the same folder, the
    rename is atomic. Also used by :mod:`segwrite`.
    """
    while True:
        tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")
        if not os.path.lexists(tmp):
            return tmp


def _write_image(image: Any, path: Path, compress: bool) -> None:
    """Write a SimpleITK image (a seam for tests)."""
    import SimpleITK as sitk

    writer = sitk.ImageFileWriter()
    writer.SetImageIO("NiftiImageIO")
    writer.SetFileName(str(path))
    writer.SetUseCompression(compress)
    writer.Execute(image)


def _patch_sform(path: Path, affine_ras: np.ndarray) -> None:
    """Put ``affine_ras`` into the sform rows of an uncompressed NIfTI-1 file (sform_code kept)."""
    with open(path, "r+b") as fh:
        head = fh.read(348)
        endian = "<" if struct.unpack("<i", head[:4])[0] == 348 else ">"
        if struct.unpack(endian + "i", head[:4])[0] != 348:
            raise DicomSeriesError(f"{path}: not a NIfTI-1 header, cannot set the sheared sform")
        fh.seek(254)
        fh.write(struct.pack(endian + "h", 1))  # sform_code NIFTI_XFORM_SCANNER_ANAT
        fh.seek(280)
        fh.write(struct.pack(endian + "12f", *np.asarray(affine_ras, float)[:3, :4].reshape(-1)))


def _patch_rgb24(path: Path, colour: np.ndarray) -> None:
    """Turn an uncompressed one-sample NIfTI-1 file into RGB24 (datatype 128) holding ``colour`` (..., 3) uint8."""
    with open(path, "r+b") as fh:
        head = fh.read(348)
        endian = "<" if struct.unpack("<i", head[:4])[0] == 348 else ">"
        vox_offset = int(struct.unpack(endian + "f", head[108:112])[0])
        fh.seek(70)
        fh.write(struct.pack(endian + "hh", 128, 24))  # datatype DT_RGB24, bitpix
        fh.seek(vox_offset)
        fh.truncate()
        fh.write(np.ascontiguousarray(colour, dtype=np.uint8).tobytes())  # x fastest, R G B per voxel


def _gzip_file(
    src: Path,
    dst: Path,
    *,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
    what: str = "",
) -> None:
    """Compress ``src`` into the new file ``dst`` (gzip, :data:`GZIP_LEVEL`), chunk by chunk.

    ``progress(done, total)`` in bytes of ``src`` after each chunk; ``cancel()`` asked before each chunk
    (:class:`Cancelled` ``"<what> cancelled"``; ``dst`` is left for the caller to remove). The gzip header holds no
    name and no time, so the same voxels always give the same file. zlib releases the GIL while it compresses:
    volumes written at once by threads are compressed on as many cores.
    """
    total = os.path.getsize(src)
    done = 0
    z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip wrapper, mtime 0, no file name
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        while True:
            check_cancel(cancel, what or f"writing {dst}")
            chunk = fi.read(CHUNK)
            if not chunk:
                break
            fo.write(z.compress(chunk))
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        fo.write(z.flush())


def _native(array: Any) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind not in "iuf":
        raise ValueError(f"cannot write voxels of type {arr.dtype} to NIfTI (numbers only)")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def write_nifti_array(
    array: Any,
    geometry: Geometry | Volume | np.ndarray,
    path: str | os.PathLike[str],
    sidecar: Mapping[str, Any] | None = None,
    *,
    gzip: bool | None = None,
    force: bool = False,
    time_spacing: float | None = None,
    description: str = "",
    rgb: bool = False,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[Path]:
    """Write ``array`` (k, j, i) or (t, k, j, i) as NIfTI with the geometry ``geometry``, and its sidecar.

    Parameters
    ----------
    array : array-like
        Voxels in array order (numpy, dask, ...); a 2-D array is one slice.
    geometry : Geometry, Volume or (4, 4) array
        The grid of ``array`` (only its affine is used: the shape is the
        array's), a :class:`Volume`, or the matrix mapping array index
        (k, j, i, 1) to DICOM patient LPS (x, y, z, 1) in mm (as
        :meth:`Volume.affine_lps`). For a napari layer affine with world axes
        (z, y, x) use :meth:`Geometry.from_world_zyx`.
    path : path
        Output file, ``.nii.gz`` or ``.nii`` (added when missing, see ``gzip``).
    sidecar : mapping, optional
        Written as JSON beside the image (``name.json``); none when None.
    gzip : bool, optional
        Compress; default from the extension of ``path``, else True.
    force : bool
        Replace existing files; otherwise :class:`OutputExistsError`.
    time_spacing : float, optional
        Fourth pixel dimension of a 4-D image (seconds), default 1.
    description : str
        NIfTI ``descrip`` field (80 characters at most).
    rgb : bool
        ``array`` has a trailing axis of 3 colour samples: written as NIfTI RGB24 (as dcm2niix writes colour),
        16-bit samples reduced to their high byte.
    progress : callable, optional
        ``progress(done, total)`` in bytes of the uncompressed NIfTI file: after each chunk compressed (``.nii.gz``),
        once when written (``.nii``, one quick SimpleITK call).
    cancel : callable, optional
        Asked before the write, between chunks of the compression and before the files are moved into place; True
        raises :class:`~napari_dicomseries.errors.Cancelled` and nothing is left (no file, no temporary file).

    Returns
    -------
    list of Path
        The image and (when written) the sidecar.

    Raises
    ------
    OutputExistsError
        If a target exists and ``force`` is False (nothing is written).
    GeometryError
        If the affine is singular or not finite.
    DicomSeriesError
        If writing fails; no partial or temporary file is left.
    Cancelled
        When ``cancel()`` returned True (nothing written).
    """
    nii, js, gz = nifti_paths(path, gzip)
    arr = _native(array)
    colour = None
    if rgb:
        if arr.shape[-1] != 3:
            raise ValueError(f"an RGB array needs a trailing axis of 3 samples, not shape {arr.shape}")
        colour = arr if arr.dtype == np.uint8 else (arr >> 8).astype(np.uint8) if arr.dtype == np.uint16 else arr.astype(np.uint8)
        arr = colour[..., 0]  # the geometry header is written for one sample, then turned into RGB24
    if arr.ndim == 2:
        arr = arr[None]
        colour = colour[None] if colour is not None else None
    if arr.ndim not in (3, 4):
        raise ValueError(f"cannot write a {arr.ndim}-D array as a volume (3-D or 4-D only), shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"cannot write an empty array of shape {arr.shape}")
    targets = [nii] + ([js] if sidecar is not None else [])
    if not force:
        existing = [str(t) for t in targets if os.path.lexists(t)]
        if existing:
            raise OutputExistsError(f"{existing[0]} exists already (use --force / force=True to replace it)")
    for t in targets:
        if t.is_dir():
            raise OutputExistsError(f"{t} is a folder")
    if isinstance(geometry, Geometry):
        grid = geometry.with_shape(arr.shape)
    elif isinstance(geometry, np.ndarray):
        grid = Geometry(arr.shape, geometry)
    else:
        grid = geometry.geometry.with_shape(arr.shape)
    exact = grid.itk()[3]
    img = grid.to_sitk(arr, time_spacing=time_spacing or 1.0)
    if description:
        img.SetMetaData("ITK_FileNotes", description[:79])
    what = f"writing {nii}"
    check_cancel(cancel, what)
    nii.parent.mkdir(parents=True, exist_ok=True)
    tmps: list[Path] = []
    try:
        # SimpleITK writes the NIfTI uncompressed (fast, one call that cannot be interrupted); the header is patched
        # there when needed (shear, RGB), then the file is compressed here chunk by chunk (progress, cancel)
        tmp_nii = temp_path_beside(nii, ".nii")
        tmps.append(tmp_nii)
        try:
            _write_image(img, tmp_nii, False)
            if not exact:
                _patch_sform(tmp_nii, grid.nifti_affine())
            if colour is not None:
                _patch_rgb24(tmp_nii, colour)
            if gz:
                tmp_gz = temp_path_beside(nii, ".nii.gz")
                tmps.append(tmp_gz)
                _gzip_file(tmp_nii, tmp_gz, progress=progress, cancel=cancel, what=what)
                tmp_nii.unlink()  # the disk space of the uncompressed copy, back at once
                tmp_nii = tmp_gz
            elif progress is not None:
                size = os.path.getsize(tmp_nii)
                progress(size, size)
        except RuntimeError as exc:  # SimpleITK
            raise DicomSeriesError(f"{nii}: cannot write NIfTI ({str(exc).strip().splitlines()[-1]})") from exc
        except OSError as exc:
            raise DicomSeriesError(f"{nii}: cannot write NIfTI ({exc.strerror or exc})") from exc
        tmp_js = None
        if sidecar is not None:
            tmp_js = temp_path_beside(js, ".json")
            tmps.append(tmp_js)
            try:
                text = json.dumps(sidecar, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
                with open(tmp_js, "x", encoding="utf-8") as fh:
                    fh.write(text + "\n")
            except (OSError, ValueError, TypeError) as exc:
                raise DicomSeriesError(f"{js}: cannot write the JSON sidecar ({exc})") from exc
        check_cancel(cancel, what)
        try:
            os.replace(tmp_nii, nii)
            if tmp_js is not None:
                os.replace(tmp_js, js)
        except OSError as exc:
            raise DicomSeriesError(f"cannot move the written files into place as {nii} ({exc.strerror or exc})") from exc
    finally:
        for t in tmps:
            with contextlib.suppress(OSError):
                if t.exists():
                    t.unlink()
    return targets


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)

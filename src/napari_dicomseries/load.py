"""Load pixels: a volume's frames into a numpy (or lazy dask) array, in real-world units.

Uncompressed data are read straight from the file at the pixel offset the scan
recorded (no copy through pydicom); deflate and RLE go through pydicom; JPEG,
JPEG-LS and JPEG 2000 through SimpleITK's GDCM. Rescale slope/intercept are
applied so CT comes out in Hounsfield units, kept in int16 where that is exact
(float32 only where a slope or intercept needs it).
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .errors import Cancelled, DecodeError
from .scan import DicomFile, Frame
from .syntax import decoder_for, pixel_element
from .volume import Volume, is_colour, pixel_format_problem

__all__ = [
    "mask_stored_bits",
    "read_stored",
    "read_frame",
    "read_frame_into",
    "output_dtype",
    "load_volume",
    "load_lazy",
    "voxel_bytes",
    "decode_pixels",
]

_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_IMPLICIT = "1.2.840.10008.1.2"


def _stored_dtype(f: DicomFile) -> np.dtype:
    bits = f.bits_allocated
    signed = f.pixel_representation == 1
    if bits not in (8, 16, 32):
        raise DecodeError(f"{f.path}: BitsAllocated {bits} is not supported (8, 16 or 32 only)")
    dt = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    return dt.newbyteorder(">") if f.transfer_syntax_uid == _BIG_ENDIAN else dt.newbyteorder("<")


def _frame_size(f: DicomFile) -> tuple[int, int]:
    """(rows, columns) of the file's frames; DecodeError when the header lacks them."""
    if f.rows is None or f.columns is None:
        raise DecodeError(f"{f.path}: the header has no Rows or Columns")
    return f.rows, f.columns


def _frame_bytes(f: DicomFile) -> int:
    return (f.rows or 0) * (f.columns or 0) * f.samples_per_pixel * (f.bits_allocated // 8)


def _read_raw(f: DicomFile, index: int) -> np.ndarray:
    """Read frame ``index`` of an uncompressed file directly at its pixel offset."""
    dt = _stored_dtype(f)
    if f.pixel_offset is None:
        raise DecodeError(f"{f.path}: no pixel data")
    nbytes = _frame_bytes(f)
    with open(f.path, "rb") as fh:
        fh.seek(f.pixel_offset)
        found = pixel_element(f.transfer_syntax_uid, f.pixel_offset, fh.read(12))
        if found is None:
            raise DecodeError(f"{f.path}: truncated: the file ends inside the pixel data element")
        start, length = found
        need = nbytes * f.number_of_frames
        if length != 0xFFFFFFFF and length < need:
            raise DecodeError(
                f"{f.path}: pixel data is {length} bytes but {f.rows} x {f.columns} x {f.number_of_frames} frame(s) "
                f"of {f.bits_allocated} bits need {need}"
            )
        fh.seek(start + index * nbytes)
        buf = fh.read(nbytes)
    if len(buf) < nbytes:
        raise DecodeError(f"{f.path}: truncated pixel data (frame {index + 1} has {len(buf)} of {nbytes} bytes)")
    arr = np.frombuffer(buf, dtype=dt)
    if f.samples_per_pixel != 1:
        raise DecodeError(f"{f.path}: colour images ({f.samples_per_pixel} samples per pixel) are not supported")
    return arr.reshape(_frame_size(f)).astype(dt.newbyteorder("="), copy=False)


def decode_pixels(path: str, what: str = "pixel data") -> tuple[Any, np.ndarray]:
    """Read a whole file with pydicom and decode all its frames: ``(dataset, pixel_array)``.

    Parameters
    ----------
    path : str
        The DICOM file.
    what : str
        What is decoded, for the error message (e.g. "the segmentation's pixel data").

    Raises
    ------
    DecodeError
        If pydicom cannot read or decode it; the message names the file and pydicom's reason.
    """
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
            return ds, ds.pixel_array
    except Exception as exc:
        raise DecodeError(f"{path}: cannot decode {what} ({type(exc).__name__}: {exc})") from exc


def _read_pydicom(f: DicomFile, index: int) -> np.ndarray:
    _, arr = decode_pixels(f.path)
    if f.number_of_frames > 1:
        arr = arr[index]
    if arr.ndim != 2:
        raise DecodeError(f"{f.path}: colour or multi-sample images are not supported (decoded shape {arr.shape})")
    return arr


def _read_gdcm(f: DicomFile, index: int) -> np.ndarray:
    import SimpleITK as sitk

    try:
        reader = sitk.ImageFileReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileName(f.path)
        img = reader.Execute()
    except RuntimeError as exc:
        raise DecodeError(f"{f.path}: GDCM cannot decode pixel data ({str(exc).strip().splitlines()[-1]})") from exc
    arr: np.ndarray = sitk.GetArrayFromImage(img)
    if img.GetNumberOfComponentsPerPixel() != 1:
        if img.GetNumberOfComponentsPerPixel() != 3 or not is_colour(f):
            raise DecodeError(f"{f.path}: {img.GetNumberOfComponentsPerPixel()} samples per pixel are not supported")
        rgb: np.ndarray = arr.reshape(-1, *_frame_size(f), 3)[index]  # GDCM gives RGB (YBR converted)
        return rgb
    arr = arr.reshape(-1, *_frame_size(f))[index]
    # GDCM applies the rescale of the file: undo it to return stored values
    fr = f.frames[index] if index < len(f.frames) else None
    slope, inter = (fr.rescale_slope, fr.rescale_intercept) if fr else (1.0, 0.0)
    if (slope, inter) != (1.0, 0.0):
        arr = np.rint((arr.astype(np.float64) - inter) / slope)
    arr = arr.astype(_stored_dtype(f).newbyteorder("="), copy=False)
    if f.photometric_interpretation == "MONOCHROME1":
        # GDCM turns MONOCHROME1 into MONOCHROME2 (inverts the stored values): undo it, so the values are always
        # the stored ones whatever the decoder (as pydicom and dcm2niix give them); the viewer displays them inverted
        arr = (np.int64(2 ** _bits_stored(f) - 1) - arr if arr.dtype.kind == "u" else -1 - arr.astype(np.int64)).astype(arr.dtype)
    return arr


def _bits_stored(f: DicomFile) -> int:
    bits = f.bits_stored
    return bits if bits and 0 < bits <= f.bits_allocated else f.bits_allocated


def mask_stored_bits(arr: np.ndarray, f: DicomFile) -> np.ndarray:
    """Clear the bits above BitsStored (unsigned) or sign-extend from them (signed), in place where possible.

    Scanners may write junk (overlays, 0x0F0F patterns) into the unused high
    bits of a 12-bit image in 16-bit words; every decoder must give the same
    values, so this runs after each of them (a no-op on clean data).
    """
    bits = _bits_stored(f)
    if bits >= arr.dtype.itemsize * 8 or arr.dtype.kind not in "iu":
        return arr
    if not arr.flags.writeable:
        arr = arr.copy()
    if arr.dtype.kind == "u":
        arr &= arr.dtype.type((1 << bits) - 1)
    else:
        shift = arr.dtype.itemsize * 8 - bits
        arr <<= shift
        arr >>= shift  # arithmetic shift: sign-extends from the stored high bit
    return arr


def _read_colour(f: DicomFile, index: int, engine: str) -> np.ndarray:
    """Frame ``index`` of a colour file as RGB, shape (rows, columns, 3).

    pydicom decodes it (YBR converted to RGB, PALETTE COLOR looked up in its
    LUTs); compressed encodings pydicom has no plugin for go through GDCM,
    which gives RGB too.
    """
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f.path, force=True)
            arr = ds.pixel_array
            if f.number_of_frames > 1:
                arr = arr[index]
            if f.photometric_interpretation == "PALETTE COLOR":
                from pydicom.pixels import apply_color_lut

                arr = apply_color_lut(arr, ds)
    except Exception as exc:  # no pydicom plugin for this encoding, or damaged data
        if engine != "gdcm" or f.photometric_interpretation == "PALETTE COLOR":
            raise DecodeError(f"{f.path}: cannot decode colour pixel data ({type(exc).__name__}: {exc})") from exc
        arr = _read_gdcm(f, index)
    if arr.shape != (f.rows, f.columns, 3):
        raise DecodeError(f"{f.path}: decoded colour image is {arr.shape} but the header says {f.rows} x {f.columns} x 3")
    return np.ascontiguousarray(arr)


def _decode(f: DicomFile, index: int, engine: str) -> np.ndarray:
    if engine == "numpy":
        return _read_raw(f, index)
    if engine == "gdcm":
        return _read_gdcm(f, index)
    return _read_pydicom(f, index)


_MOSAIC_CACHE: dict[tuple[str, int, float], np.ndarray] = {}
_MOSAIC_LOCK = threading.Lock()


def _decoded_mosaic(f: DicomFile, engine: str) -> np.ndarray:
    """The whole (masked) mosaic image of ``f``, decoded once for all its tiles (a small cache of recent files)."""
    key = (f.path, f.size, os.path.getmtime(f.path))
    with _MOSAIC_LOCK:
        found = _MOSAIC_CACHE.get(key)
    if found is not None:
        return found
    arr = _decode(f, 0, engine)
    if arr.shape != (f.rows, f.columns):
        raise DecodeError(f"{f.path}: decoded image is {arr.shape[-2:]} pixels but the header says {f.rows} x {f.columns}")
    arr = mask_stored_bits(arr, f)
    arr.flags.writeable = False
    with _MOSAIC_LOCK:
        if len(_MOSAIC_CACHE) >= 8:
            _MOSAIC_CACHE.pop(next(iter(_MOSAIC_CACHE)))
        _MOSAIC_CACHE[key] = arr
    return arr


def read_stored(f: DicomFile, index: int = 0) -> np.ndarray:
    """Stored values (before rescale) of frame ``index`` of file ``f``, shape (rows, columns).

    Raises
    ------
    DecodeError
        If the transfer syntax has no installed decoder or the data are
        truncated or corrupt; the message names the file.
    """
    engine = decoder_for(f.transfer_syntax_uid)
    if engine is None:
        raise DecodeError(f"{f.path}: no installed decoder for transfer syntax {f.transfer_syntax_uid}")
    if not f.has_pixel_data:
        raise DecodeError(f"{f.path}: the file has no pixel data")
    n_images = f.mosaic.n if f.mosaic is not None else max(f.number_of_frames, 1)
    if not 0 <= index < n_images:
        raise DecodeError(f"{f.path}: frame {index + 1} asked for, but the file has {n_images} frame(s)")
    try:
        if is_colour(f):
            return _read_colour(f, index, engine)
        if f.mosaic is not None:
            return f.mosaic.tile(_decoded_mosaic(f, engine), index)
        arr = _decode(f, index, engine)
        if arr.shape != (f.rows, f.columns):
            raise DecodeError(f"{f.path}: decoded image is {arr.shape[-2:]} pixels but the header says {f.rows} x {f.columns}")
        return mask_stored_bits(arr, f)
    except DecodeError:
        raise
    except PermissionError as exc:
        raise DecodeError(f"{f.path}: permission denied while reading pixel data") from exc
    except OSError as exc:  # the file vanished or became unreadable since the scan
        raise DecodeError(f"{f.path}: cannot read pixel data ({exc.strerror or exc})") from exc
    except (ValueError, struct.error, IndexError, MemoryError) as exc:  # sizes in the header that do not match the data
        raise DecodeError(f"{f.path}: pixel data do not match the header ({type(exc).__name__}: {exc})") from exc


def output_dtype(volume: Volume) -> np.dtype:
    """The dtype a volume loads into after rescale: stored type, int16 (exact) or float32."""
    f = volume.files[0]
    if volume.kind == "segmentation":
        return np.dtype(np.uint8)
    if is_colour(f):  # RGB: 8 bits, or 16 (a 16-bit palette or RGB); no rescale
        wide = f.bits_allocated > 8 or f.photometric_interpretation == "PALETTE COLOR"
        return np.dtype(np.uint16 if wide else np.uint8)
    stored = _stored_dtype(f).newbyteorder("=")
    pairs = {(fr.rescale_slope, fr.rescale_intercept) for fr in volume.frames}
    if pairs == {(1.0, 0.0)}:
        return stored
    integral = all(float(s).is_integer() and float(i).is_integer() for s, i in pairs)
    if integral and stored.itemsize <= 2:
        bits = f.bits_stored if f.bits_stored and 0 < f.bits_stored <= f.bits_allocated else f.bits_allocated
        lo = -(2 ** (bits - 1)) if stored.kind == "i" else 0
        hi = 2 ** (bits - 1) - 1 if stored.kind == "i" else 2**bits - 1
        ends = [v for s, i in pairs for v in (lo * s + i, hi * s + i)]
        if min(ends) >= -32768 and max(ends) <= 32767:
            return np.dtype(np.int16)
        if volume.modality == "CT":
            return np.dtype(np.int16)  # Hounsfield units always fit; padding values saturate
    return np.dtype(np.float32)


def read_frame(volume: Volume, frame: Frame, dtype: np.dtype | None = None) -> np.ndarray:
    """One frame of ``volume`` in real-world units (rescale applied), as ``dtype``."""
    dtype = np.dtype(dtype or output_dtype(volume))
    f = _file_of(volume, frame)
    stored = read_stored(f, frame.index)
    if is_colour(f):
        return stored.astype(dtype, copy=False)
    slope, inter = frame.rescale_slope, frame.rescale_intercept
    if (slope, inter) == (1.0, 0.0) and stored.dtype == dtype:
        return stored
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = stored.astype(np.int32) * int(slope) + int(inter)
        return np.clip(out, info.min, info.max).astype(dtype)
    return (stored.astype(np.float32) * np.float32(slope) + np.float32(inter)).astype(dtype, copy=False)


def read_frame_into(volume: Volume, frame: Frame, out: np.ndarray) -> None:
    """Like :func:`read_frame`, writing into ``out`` (shape (rows, columns), C-contiguous) without temporaries.

    Uncompressed little-endian frames whose stored type is ``out``'s type are
    read straight into ``out`` and rescaled in place when slope is 1 and the
    intercept cannot overflow (CT: int16 + -1024); everything else goes
    through :func:`read_frame`. Same results, same errors.
    """
    f = _file_of(volume, frame)
    slope, inter = frame.rescale_slope, frame.rescale_intercept
    direct = (
        f.transfer_syntax_uid in (_IMPLICIT, "1.2.840.10008.1.2.1")
        and f.samples_per_pixel == 1
        and f.mosaic is None
        and out.flags.c_contiguous
        and out.shape == (f.rows, f.columns)
        and _stored_dtype(f).newbyteorder("=") == out.dtype
        and slope == 1.0
        and float(inter).is_integer()
        and 0 <= frame.index < max(f.number_of_frames, 1)
    )
    if not direct or f.pixel_offset is None:
        out[...] = read_frame(volume, frame, out.dtype)
        return
    nbytes = _frame_bytes(f)
    try:
        with open(f.path, "rb", buffering=0) as fh:
            fh.seek(f.pixel_offset)
            found = pixel_element(f.transfer_syntax_uid, f.pixel_offset, fh.read(12))
            if found is None or found[1] == 0xFFFFFFFF or found[1] < nbytes * f.number_of_frames:
                raise _Fallback
            start = found[0]
            fh.seek(start + frame.index * nbytes)
            got = fh.readinto(out.data.cast("B"))
    except _Fallback:
        out[...] = read_frame(volume, frame, out.dtype)  # gives the precise error
        return
    except (OSError, struct.error):
        out[...] = read_frame(volume, frame, out.dtype)
        return
    if got < nbytes:
        out[...] = read_frame(volume, frame, out.dtype)
        return
    mask_stored_bits(out, f)
    if inter:
        info = np.iinfo(out.dtype) if out.dtype.kind in "iu" else None
        if info is not None and (int(out.min()) + int(inter) < info.min or int(out.max()) + int(inter) > info.max):
            out[...] = read_frame(volume, frame, out.dtype)  # would overflow: clip as read_frame does
            return
        out += out.dtype.type(inter)


class _Fallback(Exception):
    """Internal: the direct read does not apply to this frame."""


#: each volume's files by path, made at its first frame read (a Volume hashes by identity)
_FILES_BY_PATH: weakref.WeakKeyDictionary[Volume, dict[str, DicomFile]] = weakref.WeakKeyDictionary()


def _file_of(volume: Volume, frame: Frame) -> DicomFile:
    cache = _FILES_BY_PATH.get(volume)
    if cache is None:
        cache = _FILES_BY_PATH[volume] = {f.path: f for f in volume.files}
    return cache[frame.path]


def voxel_bytes(volume: Volume) -> int:
    """Bytes the loaded volume takes in memory."""
    return int(np.prod(volume.array_shape)) * output_dtype(volume).itemsize


def _check_loadable(volume: Volume) -> None:
    if volume.kind == "segmentation":
        return
    if not volume.is_image:
        raise DecodeError(
            f"series {volume.key} ({volume.series_description!r}) has no pixel data: {volume.warnings[0] if volume.warnings else ''}"
        )
    bad = sorted({f.transfer_syntax_uid for f in volume.files if decoder_for(f.transfer_syntax_uid) is None})
    if bad:
        raise DecodeError(
            f"series {volume.key} ({volume.series_description!r}): no installed decoder for transfer syntax {', '.join(bad)} "
            f"(files such as {volume.files[0].path})"
        )
    for f in volume.files:
        problem = pixel_format_problem(f)
        if problem:
            raise DecodeError(f"series {volume.key} ({volume.series_description!r}): {problem} (files such as {f.path})")


def load_volume(
    volume: Volume,
    *,
    dtype: np.dtype | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    read_into: Callable[[int, np.ndarray], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Read every frame of ``volume`` into one array of ``volume.shape`` (rescale applied).

    Frames are read by a small thread pool (file reads release the GIL) into
    one pre-allocated array, so peak memory stays close to the voxel bytes.
    ``read_into(k, out)`` fills frame ``k`` (default :func:`read_frame_into`);
    the reader passes one that blanks undecodable frames instead of raising.
    ``progress(done, total)`` is called after each frame; ``cancel()`` is asked
    between frames (a True answer stops the reading threads and raises).

    Raises
    ------
    DecodeError
        If a frame cannot be decoded; the message names the file.
    Cancelled
        When ``cancel()`` returned True (the partial array is dropped).
    """
    _check_loadable(volume)
    if volume.kind == "segmentation":
        from .rtstruct import RTSTRUCT_SOP_CLASS, load_rtstruct
        from .segmentation import load_segmentation

        return load_rtstruct(volume) if volume.sop_class_uid == RTSTRUCT_SOP_CLASS else load_segmentation(volume)
    dtype = np.dtype(dtype or output_dtype(volume))
    try:
        out = np.empty(volume.array_shape, dtype=dtype)
    except (MemoryError, ValueError) as exc:
        raise DecodeError(
            f"series {volume.key} ({volume.series_description!r}): not enough memory for {'x'.join(map(str, volume.shape))} "
            f"voxels of {dtype} ({voxel_bytes(volume) / 1e9:.1f} GB); load it lazily instead"
        ) from exc
    flat = out.reshape((-1, *volume.frame_shape))
    total = len(volume.frames)
    done = 0
    fill = read_into or (lambda k, dest: read_frame_into(volume, volume.frames[k], dest))

    stop = threading.Event()

    def work(k: int) -> None:
        if not stop.is_set():
            fill(k, flat[k])

    def stopped() -> bool:
        if cancel is not None and cancel():
            stop.set()
        return stop.is_set()

    def cancelled() -> Cancelled:
        return Cancelled(f"loading series {volume.key} ({volume.series_description!r}) cancelled after {done} of {total} frames")

    n = workers if workers is not None else min(4, os.cpu_count() or 1)
    if n <= 1 or total < 8:
        for k in range(total):
            if stopped():
                raise cancelled()
            work(k)
            done += 1
            if progress:
                progress(done, total)
        return out
    pool = ThreadPoolExecutor(max_workers=n)
    try:
        for _ in pool.map(work, range(total)):
            done += 1
            if progress:
                progress(done, total)
            if stopped():
                raise cancelled()
    finally:
        stop.set()  # on any exit before the end (cancel, error, Ctrl-C): the queued frames are skipped
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def load_lazy(volume: Volume, *, dtype: np.dtype | None = None, read: Callable[[int], np.ndarray] | None = None) -> Any:
    """A dask array of ``volume.shape`` that reads one frame per chunk, on demand.

    ``read(k)`` returns frame ``k`` (default :func:`read_frame`); the reader
    passes one that blanks undecodable frames instead of raising.
    """
    import uuid

    import dask.array as da

    _check_loadable(volume)
    if volume.kind == "segmentation":  # one SEG file decodes as a whole
        return da.from_array(load_volume(volume), chunks=-1)
    dtype = np.dtype(dtype or output_dtype(volume))
    frames = volume.frames
    frame_shape = volume.frame_shape
    lead = volume.shape[:-2]
    get = read or (lambda k: read_frame(volume, frames[k], dtype))

    def block(block_info: Any = None) -> np.ndarray:
        idx = block_info[None]["chunk-location"]
        k = int(np.ravel_multi_index(idx[: len(lead)], lead))
        return get(k)[(None,) * len(lead)]

    chunks = tuple((1,) * n for n in lead) + tuple((n,) for n in frame_shape)
    # an explicit name spares dask from hashing the closure (and the volume in it): ~0.1 s on 1,000 slices
    name = f"dicom-{volume.series_instance_uid}-{volume.key}-{uuid.uuid4().hex}"
    return da.map_blocks(block, dtype=dtype, chunks=chunks, meta=np.empty((0,) * len(chunks), dtype), name=name)

"""Small 8-bit pictures of a volume's middle slice, for lists of series (the series browser's thumbnails).

A thumbnail is the middle frame of the first time point, decoded by
:func:`load.read_frame` (one frame, rescale applied), windowed with the
series' own first WindowCenter/WindowWidth (else the 1-99.5 percentiles of the
frame), MONOCHROME1 inverted as a viewer shows it, and shrunk by nearest
neighbour to fit ``size`` x ``size`` pixels with the true aspect ratio of the
pixel spacing. Thumbnails are kept in memory, keyed by volume key, file path
and modification time, so a file changed on disk is read again; nothing is
written to disk.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

from .volume import Volume
from .windowing import sample_limits, window_limits

__all__ = ["middle_frame_index", "thumbnail", "cached_thumbnail", "clear_cache"]

#: thumbnails kept in memory (about 2-7 KiB each at 48 px)
CACHE_SIZE = 2048
_cache: OrderedDict[tuple[str, str, str, int, int], np.ndarray | None] = OrderedDict()
_lock = threading.Lock()


def middle_frame_index(volume: Volume) -> int:
    """Index in ``volume.frames`` of the middle slice of the first time point."""
    grid = volume.frame_grid()
    first = grid[0] if grid and grid[0] else volume.frames
    return volume.frames.index(first[len(first) // 2])


def _window(volume: Volume, frame: np.ndarray) -> tuple[float, float]:
    """The limits of a thumbnail: those the image opens with (:func:`display.contrast_limits`' rule) on its slice."""
    return window_limits(volume.window) or sample_limits(frame)


def _shrink(img: np.ndarray, size: int, aspect: float) -> np.ndarray:
    """Nearest-neighbour resize of ``img`` (rows, cols[, 3]) to fit size x size; ``aspect`` = row spacing / column spacing."""
    rows, cols = img.shape[:2]
    height_mm, width_mm = rows * aspect, float(cols)
    scale = size / max(height_mm, width_mm)
    out_h = max(1, min(size, int(round(height_mm * scale))))
    out_w = max(1, min(size, int(round(width_mm * scale))))
    ri = np.minimum((np.arange(out_h) + 0.5) * rows / out_h, rows - 1).astype(int)
    ci = np.minimum((np.arange(out_w) + 0.5) * cols / out_w, cols - 1).astype(int)
    return np.ascontiguousarray(img[ri][:, ci])


def thumbnail(volume: Volume, size: int = 48) -> np.ndarray | None:
    """The middle slice of ``volume`` as uint8, (h, w) grey or (h, w, 3) RGB, fitting ``size`` x ``size``.

    Parameters
    ----------
    volume : Volume
        Any volume; only loadable image volumes have a picture.
    size : int
        Longest side in pixels.

    Returns
    -------
    numpy.ndarray or None
        None for volumes without decodable pixels (no pixel data, no decoder,
        segmentations).

    Raises
    ------
    DecodeError, DicomSeriesError
        If the middle frame cannot be read (the message names the file).
    """
    from . import load
    from .display import colormap

    if volume.kind == "segmentation" or not volume.frames or not volume.loadable:
        return None
    frame = volume.frames[middle_frame_index(volume)]
    pixels = np.asarray(load.read_frame(volume, frame))
    spacing = frame.pixel_spacing or (1.0, 1.0)
    aspect = float(spacing[0]) / float(spacing[1]) if spacing[1] else 1.0
    if pixels.ndim == 3:  # colour: stretch 16-bit values to 8 bits
        top = 255.0 if pixels.dtype == np.uint8 else float(max(pixels.max(), 1))
        rgb = np.clip(pixels.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
        return _shrink(rgb, size, aspect)
    small = _shrink(pixels.astype(np.float32, copy=False), size, aspect)
    lo, hi = _window(volume, pixels.astype(np.float32, copy=False))
    out = np.clip((small - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    if colormap(volume) == "gray_r":  # MONOCHROME1: the lowest value is white
        out = 255 - out
    return out


def _cache_key(volume: Volume, size: int) -> tuple[str, str, str, int, int]:
    frame = volume.frames[middle_frame_index(volume)] if volume.frames else None
    path = frame.path if frame is not None else ""
    try:
        mtime = os.stat(path).st_mtime_ns if path else 0
    except OSError:
        mtime = -1
    return (volume.series_instance_uid, volume.key, path, mtime, size)


def cached_thumbnail(volume: Volume, size: int = 48) -> np.ndarray | None:
    """:func:`thumbnail`, remembered in memory by (series UID, volume key, file path, modification time, size)."""
    key = _cache_key(volume, size)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    pic = thumbnail(volume, size)
    with _lock:
        _cache[key] = pic
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return pic


def clear_cache() -> None:
    """Forget every cached thumbnail."""
    with _lock:
        _cache.clear()

"""Loading that survives undecodable frames: such a frame becomes a blank slice, and the failure a warning.

A viewer should show a series with one corrupt slice rather than nothing:
:func:`read_tolerant` reads a volume eagerly (numpy) or lazily (dask) through
:mod:`load`, fills every frame the decoder rejects with the volume's blank
value (:func:`fill_value`) and reports the files concerned. Only when no frame
at all can be decoded does it raise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import load
from .errors import DecodeError

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["fill_value", "TolerantReader", "read_tolerant"]


def fill_value(volume: Volume, dtype: np.dtype) -> Any:
    """What an undecodable slice is filled with: stored value 0 after rescale (air in CT, black in MR)."""
    v = volume.rescale[1]
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(np.clip(round(v), info.min, info.max))
    return v


class TolerantReader:
    """Reads frames through :func:`load.read_frame`; a frame that cannot be decoded becomes a blank slice.

    Parameters
    ----------
    volume : Volume
        The volume to read.
    dtype : numpy.dtype
        The output type (:func:`load.output_dtype`).
    on_failure : callable, optional
        ``on_failure(message)`` is called once per file that fails while reading
        frame by frame (:meth:`__call__`, the lazy path), e.g. to show a notification.

    Attributes
    ----------
    failed : dict
        File path -> what went wrong, for every file that could not be decoded.
    """

    def __init__(self, volume: Volume, dtype: np.dtype, on_failure: Callable[[str], object] | None = None) -> None:
        self.volume = volume
        self.dtype = np.dtype(dtype)
        self.on_failure = on_failure
        self.fill = fill_value(volume, self.dtype)
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def _record(self, path: str, exc: DecodeError) -> bool:
        with self._lock:
            new = path not in self.failed
            self.failed.setdefault(path, str(exc))
        return new

    def __call__(self, k: int) -> np.ndarray:
        """Frame ``k`` (flat frame index), blank if it cannot be decoded."""
        frame = self.volume.frames[k]
        try:
            return load.read_frame(self.volume, frame, self.dtype)
        except DecodeError as exc:
            if self._record(frame.path, exc) and self.on_failure is not None:
                self.on_failure(f"{exc} -- slice {k + 1} shown blank")
            return np.full(self.volume.shape[-2:], self.fill, dtype=self.dtype)

    def into(self, k: int, out: np.ndarray) -> None:
        """Frame ``k`` into ``out`` (the fast path of :func:`load.read_frame_into`), blank if it cannot be decoded."""
        frame = self.volume.frames[k]
        try:
            load.read_frame_into(self.volume, frame, out)
        except DecodeError as exc:
            self._record(frame.path, exc)
            out[...] = self.fill

    def problems(self) -> list[str]:
        """One warning naming every file that could not be decoded so far (none if all went well)."""
        if not self.failed:
            return []
        return [
            f"{len(self.failed)} file(s) could not be decoded and are shown blank: "
            + "; ".join(self.failed[p] for p in sorted(self.failed))
        ]


def read_tolerant(
    volume: Volume,
    *,
    lazy: bool,
    dtype: np.dtype | None = None,
    on_failure: Callable[[str], object] | None = None,
    workers: int | None = None,
) -> tuple[Any, list[str]]:
    """The voxels of ``volume`` with undecodable frames blank, and the warnings about them.

    Parameters
    ----------
    volume : Volume
        A loadable volume.
    lazy : bool
        A dask array read frame by frame on demand (:func:`load.load_lazy`; failures
        go to ``on_failure`` when they happen) or a numpy array read now
        (:func:`load.load_volume`; failures are in the returned warnings).
    dtype : numpy.dtype, optional
        Output type (default :func:`load.output_dtype`).
    on_failure : callable, optional
        Called with a message for each file that fails during lazy reading.
    workers : int, optional
        Threads for eager reading.

    Returns
    -------
    (array, list of str)
        The data (``volume.shape``, plus a trailing RGB axis for colour) and the warnings.

    Raises
    ------
    DecodeError
        If the volume cannot be loaded at all (no pixel data, no decoder, not one frame decoded).
    """
    dtype = np.dtype(dtype or load.output_dtype(volume))
    reader = TolerantReader(volume, dtype, on_failure)
    if lazy:  # the scan already skipped files too short for their pixel data
        return load.load_lazy(volume, dtype=dtype, read=reader), []
    out = load.load_volume(volume, dtype=dtype, workers=workers, read_into=reader.into)
    if reader.failed and len(reader.failed) == len(volume.files):
        raise DecodeError(f"no slice could be decoded: {next(iter(reader.failed.values()))}")
    return out, reader.problems()

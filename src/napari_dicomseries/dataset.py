"""The pydicom path of the scan: a full header read by pydicom, made safe to use.

The fast parser (:mod:`rawheader`) reads ordinary little-endian files without
pydicom; big endian, deflate and odd files, and anyone who asks for
``DicomFile.dataset``, go through pydicom here: :func:`read_dataset` (no
pixel data) and :func:`tame`, which converts every top-level value once so a
damaged element never raises later. pydicom is imported inside the functions.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from .errors import NotDicomError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["read_dataset", "tame", "deflated_has_pixels"]


def read_dataset(path: str) -> Dataset:
    """The header of ``path`` read by pydicom (no pixel data); :class:`NotDicomError` naming the file when it fails."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise NotDicomError(f"{path}: cannot read the header again ({type(exc).__name__}: {exc})") from exc


def tame(ds: Dataset, path: str) -> list[str]:
    """Convert the top-level values of ``ds`` now; keep those pydicom cannot convert as raw bytes (VR OB).

    pydicom converts values on first access, so a damaged element (unknown VR
    code, a binary value of the wrong length) would raise in whatever code
    touches it later (``for elem in ds``, ``ds.get(...)``). After this, every
    top-level element can be read. Conversion warnings are silenced here once.
    Sequences are left alone (their items are converted when used). Returns
    warnings naming the elements read with the dictionary's VR or kept as bytes.
    """
    from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
    from pydicom.dataelem import RawDataElement

    bad: list[str] = []
    fixed: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag in list(ds.keys()):
            raw = ds.get_item(tag)
            if not isinstance(raw, RawDataElement) or raw.length == 0xFFFFFFFF or raw.VR == "SQ":
                continue
            if raw.VR is None and dictionary_has_tag(tag) and dictionary_VR(tag) == "SQ":
                continue
            try:
                ds[tag]
                continue
            except Exception:  # noqa: BLE001 - whatever pydicom raises, the value is unusable as it is
                pass
            value = raw.value if isinstance(raw.value, bytes) else b""
            # as UN, pydicom reads the bytes with the dictionary's VR (this rescues an unknown VR code) ...
            try:  # (pydicom converts a private element as it is set, so setting it can raise too)
                ds[tag] = RawDataElement(tag, "UN", len(value), value, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian)
                ds[tag]
                fixed.append(f"{keyword_for_tag(tag) or 'private tag'} {tag}")
                continue
            except Exception:  # noqa: BLE001 - ... or the value stays raw bytes
                ds[tag] = RawDataElement(tag, "OB", len(value), value, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian)
                bad.append(f"{keyword_for_tag(tag) or 'private tag'} {tag}")
    out = []
    if fixed:
        out.append(f"{path}: {len(fixed)} element(s) with an invalid VR read with the dictionary's VR: {', '.join(fixed[:5])}")
    if bad:
        out.append(f"{path}: {len(bad)} element(s) with a malformed value kept as raw bytes: {', '.join(bad[:5])}")
    return out


def deflated_has_pixels(path: str) -> bool:
    """Whether a deflated file holds pixel data (its data set must be inflated as a whole to know)."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = pydicom.dcmread(path, force=True)
    return any(k in full for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))

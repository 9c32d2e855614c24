"""Transfer syntaxes: which engine decodes each, and where the pixel data value starts.

:func:`decoder_for` names the installed engine for a transfer syntax (numpy for
native data, GDCM through SimpleITK for the JPEG family and RLE, else a pydicom
pixel plugin when one is installed); :func:`pixel_element` finds the pixel data
value from the first bytes of its element. The scan, the volume builder and the
loader all ask here. UIDs are named as in :mod:`pydicom.uid` (see :mod:`uids`);
pydicom is imported only to ask about a syntax not listed here.
"""

from __future__ import annotations

import struct

from . import uids

__all__ = ["UNCOMPRESSED", "PYDICOM_NATIVE", "GDCM_SYNTAXES", "DEFLATE", "decoder_for", "pixel_element"]

#: Native (uncompressed) transfer syntaxes: numpy reads them.
UNCOMPRESSED = frozenset({uids.ImplicitVRLittleEndian, uids.ExplicitVRLittleEndian, uids.ExplicitVRBigEndian})
#: Transfer syntaxes pydicom decodes with numpy alone.
PYDICOM_NATIVE = UNCOMPRESSED | {uids.DeflatedExplicitVRLittleEndian, uids.RLELossless}
#: Transfer syntaxes SimpleITK's GDCM decodes.
GDCM_SYNTAXES = frozenset({
    uids.JPEGBaseline8Bit, uids.JPEGExtended12Bit, uids.JPEGLossless, uids.JPEGLosslessSV1, uids.JPEGLSLossless, uids.JPEGLSNearLossless,
    uids.JPEG2000Lossless, uids.JPEG2000, uids.RLELossless,
})  # fmt: skip
#: The data set is compressed as a whole: only pydicom reads it, and file positions say nothing.
DEFLATE = uids.DeflatedExplicitVRLittleEndian
#: VRs pixel data can have, whose explicit-VR element header has a 32-bit length (``pydicom.valuerep.BYTES_VR``; tested).
_PIXEL_LONG_VRS = frozenset({b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"})


def decoder_for(transfer_syntax_uid: str) -> str | None:
    """Name the installed engine that decodes a transfer syntax.

    Parameters
    ----------
    transfer_syntax_uid : str
        The TransferSyntaxUID of a file.

    Returns
    -------
    str or None
        ``"numpy"``, ``"gdcm"`` or ``"pydicom"``; None when no installed engine decodes it.
    """
    if transfer_syntax_uid in UNCOMPRESSED:
        return "numpy"
    if transfer_syntax_uid in PYDICOM_NATIVE:
        return "pydicom"
    if transfer_syntax_uid in GDCM_SYNTAXES:
        return "gdcm"
    try:
        from pydicom.pixels import get_decoder

        if get_decoder(transfer_syntax_uid).is_available:
            return "pydicom"
    except Exception:  # noqa: BLE001 - unknown UID or plugin trouble: no decoder
        pass
    return None


def pixel_element(transfer_syntax_uid: str, pixel_offset: int, elem: bytes) -> tuple[int, int] | None:
    """Where the pixel data value starts and how long it is, from the first 12 bytes of its element.

    Parameters
    ----------
    transfer_syntax_uid : str
        The file's transfer syntax (gives the byte order and whether VRs are explicit).
    pixel_offset : int
        File offset of the pixel data element's tag.
    elem : bytes
        The first 12 bytes of the element (fewer when the file ends there).

    Returns
    -------
    tuple of int or None
        ``(start, length)`` of the value, ``length`` 0xFFFFFFFF for encapsulated (compressed) data; None if
        the element is cut short.
    """
    endian = ">" if transfer_syntax_uid == uids.ExplicitVRBigEndian else "<"
    if len(elem) < 8:
        return None
    if transfer_syntax_uid == uids.ImplicitVRLittleEndian:
        return pixel_offset + 8, struct.unpack("<I", elem[4:8])[0]
    if elem[4:6] in _PIXEL_LONG_VRS:
        if len(elem) < 12:
            return None
        return pixel_offset + 12, struct.unpack(endian + "I", elem[8:12])[0]
    return pixel_offset + 8, struct.unpack(endian + "H", elem[6:8])[0]

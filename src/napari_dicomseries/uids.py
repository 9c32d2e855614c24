"""The DICOM UIDs the core names, spelled as in :mod:`pydicom.uid` but without importing pydicom.

Importing pydicom costs a quarter of a second, and the scan of an ordinary
little-endian folder never needs it (see :mod:`rawheader`), so the UIDs the
scan compares against are plain strings here, each named exactly as
``pydicom.uid`` names it; a test checks every name against pydicom.
"""

from __future__ import annotations

__all__ = [
    "ImplicitVRLittleEndian",
    "ExplicitVRLittleEndian",
    "ExplicitVRBigEndian",
    "DeflatedExplicitVRLittleEndian",
    "RLELossless",
    "JPEGBaseline8Bit",
    "JPEGExtended12Bit",
    "JPEGLossless",
    "JPEGLosslessSV1",
    "JPEGLSLossless",
    "JPEGLSNearLossless",
    "JPEG2000Lossless",
    "JPEG2000",
    "MediaStorageDirectoryStorage",
    "RTStructureSetStorage",
    "RTPlanStorage",
    "EncapsulatedPDFStorage",
    "RawDataStorage",
    "KeyObjectSelectionDocumentStorage",
    "GrayscaleSoftcopyPresentationStateStorage",
]

# transfer syntaxes
ImplicitVRLittleEndian = "1.2.840.10008.1.2"
ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
ExplicitVRBigEndian = "1.2.840.10008.1.2.2"
DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
RLELossless = "1.2.840.10008.1.2.5"
JPEGBaseline8Bit = "1.2.840.10008.1.2.4.50"
JPEGExtended12Bit = "1.2.840.10008.1.2.4.51"
JPEGLossless = "1.2.840.10008.1.2.4.57"
JPEGLosslessSV1 = "1.2.840.10008.1.2.4.70"
JPEGLSLossless = "1.2.840.10008.1.2.4.80"
JPEGLSNearLossless = "1.2.840.10008.1.2.4.81"
JPEG2000Lossless = "1.2.840.10008.1.2.4.90"
JPEG2000 = "1.2.840.10008.1.2.4.91"

# SOP classes
MediaStorageDirectoryStorage = "1.2.840.10008.1.3.10"
RTStructureSetStorage = "1.2.840.10008.5.1.4.1.1.481.3"
RTPlanStorage = "1.2.840.10008.5.1.4.1.1.481.5"
EncapsulatedPDFStorage = "1.2.840.10008.5.1.4.1.1.104.1"
RawDataStorage = "1.2.840.10008.5.1.4.1.1.66"
KeyObjectSelectionDocumentStorage = "1.2.840.10008.5.1.4.1.1.88.59"
GrayscaleSoftcopyPresentationStateStorage = "1.2.840.10008.5.1.4.1.1.11.1"

"""The full header of a file (``DicomFile.dataset``) never raises for a malformed element: it is kept as bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ImplicitVRLittleEndian, generate_uid

from napari_dicomseries.scan import read_header


def _implicit_ct_with_private_text_where_the_dictionary_says_fd(path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    # Philips writes (01F1,1026) as text; pydicom's private dictionary says FD (8 bytes per value): 6 bytes cannot be FD
    ds.add_new(0x01F10010, "LO", "ELSCINT1")
    ds.add_new(0x01F11026, "UN", b"0.993 ")
    ds.PixelData = np.zeros((4, 4), np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True, implicit_vr=True, little_endian=True)


def test_a_private_value_that_cannot_take_its_dictionary_vr_is_kept_as_bytes(tmp_path: Path) -> None:
    from pydicom.datadict import get_private_entry

    assert get_private_entry(0x01F11026, "ELSCINT1")[0] == "FD"  # the premise: the dictionary's VR cannot hold 6 bytes
    path = tmp_path / "I1"
    _implicit_ct_with_private_text_where_the_dictionary_says_fd(path)
    f = read_header(path)
    ds = f.dataset  # used to raise pydicom's BytesLengthException
    assert [e.tag for e in ds]  # every element can be read
    assert ds[0x01F11026].VR == "OB" and ds[0x01F11026].value == b"0.993 "
    assert any("(01F1,1026)" in w and str(path) in w for w in f.warnings)

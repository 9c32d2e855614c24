"""The tag, UID and VR tables the fast header path keeps without pydicom agree with pydicom's dictionary."""

from __future__ import annotations

import subprocess
import sys

import pydicom.uid
import pytest
from pydicom import valuerep
from pydicom.datadict import dictionary_VR, tag_for_keyword

from napari_dicomseries import elements, files, rawheader, syntax, tags, uids


def test_every_tag_constant_is_the_dictionary_tag_of_its_keyword() -> None:
    names = [n for n in tags.__all__ if n != "VR"]
    assert len(names) >= 60
    for name in names:
        assert getattr(tags, name) == tag_for_keyword(name), name
    # and nothing in the module escapes the list
    assert {n for n in vars(tags) if not n.startswith("_") and n[0].isupper()} == set(tags.__all__)


def test_tag_vrs_are_the_dictionary_vrs() -> None:
    assert len(tags.VR) >= 50
    for tag, vr in tags.VR.items():
        assert dictionary_VR(tag) == vr, hex(tag)


def test_uid_names_are_pydicoms() -> None:
    for name in uids.__all__:
        assert getattr(uids, name) == getattr(pydicom.uid, name), name


def test_vr_tables_are_pydicoms() -> None:
    assert files.VRS == {vr.value.encode() for vr in valuerep.VR if len(vr.value) == 2}
    assert rawheader.LONG_VRS == {vr.encode() for vr in valuerep.EXPLICIT_VR_LENGTH_32}
    assert syntax._PIXEL_LONG_VRS == {vr.encode() for vr in valuerep.BYTES_VR}
    assert elements.TEXT_VRS == set(valuerep.STR_VR)
    assert set(elements.NUMBER_FORMATS) == (set(valuerep.FLOAT_VR) | set(valuerep.INT_VR)) - {"DS", "IS", "AT"}


@pytest.mark.parametrize("module", ["tags", "uids", "files", "syntax", "elements", "frame", "rawheader", "scan"])
def test_fast_path_modules_import_no_pydicom(module: str) -> None:
    code = f"import sys, napari_dicomseries.{module}; print(sorted(m for m in ('pydicom', 'SimpleITK') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"

"""The napari reader (npe2 + ViewerModel, no display) over the corpus of bad inputs mixed with a good study.

The corpus and its fixtures (``mixed``, ``deny_unreadable``) are shared with ``tests/core/test_corpus.py``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from ..corpus import GOOD_SHAPES, Case, digest
from ..data import SHARED_DATA

pytestmark = pytest.mark.timeout(60)


def test_reader_over_mixed_corpus(
    mixed: tuple[Path, list[Case], dict], deny_unreadable: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    npe2 = pytest.importorskip("npe2")
    viewer_model = pytest.importorskip("napari.components").ViewerModel
    root, _cases, before = mixed
    monkeypatch.setenv("NAPARI_DICOMSERIES_LOCALIZERS", "1")
    monkeypatch.setenv("NAPARI_DICOMSERIES_MAX_LAYERS", "0")  # every volume of the corpus (46) as a layer: no limit
    npe2.PluginManager.instance().discover()
    viewer = viewer_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = viewer.open(str(root), plugin="napari-dicomseries")  # must not raise
    good = str(root / "good_study")
    shapes = {}
    for layer in layers:
        vol = layer.metadata["dicom"]["volume"]
        if layer.metadata["dicom"]["files"][0].startswith(good):
            shapes[vol["series_number"]] = tuple(vol["shape"])
            axes = layer.metadata["dicom"]["axes"]  # non-axial volumes are transposed to the world's axis order
            assert tuple(layer.data.shape) == tuple(vol["shape"][a] for a in axes)
    assert shapes == GOOD_SHAPES
    # the broken inputs are reported as warnings (napari notifications) naming the file, not as tracebacks
    messages = [str(w.message) for w in caught]
    assert any("truncated" in m and str(root / "real_truncated") in m for m in messages) or not SHARED_DATA.is_dir()
    assert any("no installed decoder" in m for m in messages)
    assert any("not opened: BitsAllocated 12 is not supported" in m for m in messages)  # the real reason, not a guess
    assert digest(root) == before

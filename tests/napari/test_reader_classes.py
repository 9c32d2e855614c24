"""Which classes of volume the napari reader opens and which one it shows first, on the cases of
``tests/core/test_classify.py`` (built by :mod:`tests.dicom_cases`; the core's classification is checked there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_dicomseries._reader import read_volumes

from ..dicom_cases import SIZE, lone_secondary_capture, secondary_captures, three_plane_localizer, tilted_axial_and_oblique


@pytest.mark.parametrize("per_plane", [(3, 3, 3), (1, 1, 1), (5, 2)])
def test_three_plane_localizer_without_localizer_image_type(tmp_path: Path, per_plane: tuple[int, ...]) -> None:
    three_plane_localizer(tmp_path, per_plane)
    # the reader leaves the scout parts out and shows the image
    layers = read_volumes(tmp_path, lazy=False)
    assert [kw["metadata"]["dicom"]["volume"]["series_number"] for _, kw, _ in layers] == [2]


def test_secondary_captures_and_dose_reports(tmp_path: Path) -> None:
    secondary_captures(tmp_path)
    # the reader opens the images only
    layers = read_volumes(tmp_path, lazy=False)
    assert [kw["metadata"]["dicom"]["volume"]["series_number"] for _, kw, _ in layers] == [2]


def test_a_secondary_capture_alone_still_opens(tmp_path: Path) -> None:
    lone_secondary_capture(tmp_path)
    ((data, kwargs, _),) = read_volumes(tmp_path, lazy=False)
    assert kwargs["metadata"]["dicom"]["volume"]["kind"] == "secondary" and kwargs["visible"]
    assert data.shape == (1, SIZE, SIZE)


def test_tilted_axial_ct_is_axial(tmp_path: Path) -> None:
    tilted_axial_and_oblique(tmp_path)
    # the thin tilted axial series is the one shown
    layers = read_volumes(tmp_path, lazy=False)
    shown = [kw["metadata"]["dicom"]["volume"]["series_number"] for _, kw, _ in layers if kw["visible"]]
    assert shown == [3]

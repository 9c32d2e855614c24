"""Window/level presets (core ``windowing``): the limits, the series' own windows read from the files, which presets
a volume gets. Expected values come from pydicom's reading of the real files, not from the module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.load import load_volume
from napari_dicomseries.slices import slice_table
from napari_dicomseries.windowing import (
    CT_PRESETS,
    MAX_SERIES_WINDOWS,
    PRESET_ORDER,
    contrast_limits,
    full_range,
    is_hounsfield,
    presets_for,
    series_windows,
    window_of_limits,
)


def _first(folder: Path) -> pydicom.Dataset:
    path = sorted(p for p in folder.rglob("*") if p.is_file())[0]
    return pydicom.dcmread(path, stop_before_pixels=True)


def test_contrast_limits_are_center_plus_minus_half_width() -> None:
    assert contrast_limits(-600, 1500) == (-1350.0, 150.0)
    assert contrast_limits(40, 80) == (0.0, 80.0)
    assert contrast_limits(0.5, 1) == (0.0, 1.0)
    for c, w in [(-600.0, 1500.0), (12.25, 3.5), (1e4, 0.001)]:
        lo, hi = contrast_limits(c, w)
        assert hi - lo == pytest.approx(w) and (lo + hi) / 2 == pytest.approx(c)
        assert window_of_limits(lo, hi) == pytest.approx((c, w))
    for bad in [(0, 0), (0, -10), (float("nan"), 100), (0, float("inf"))]:
        with pytest.raises(ValueError, match="window"):
            contrast_limits(*bad)


def test_ct_presets_are_the_usual_radiology_windows() -> None:
    by_name = {p.name: (p.center, p.width) for p in CT_PRESETS}
    assert by_name == {
        "lung": (-600, 1500),
        "mediastinum": (40, 400),
        "bone": (400, 1800),
        "brain": (40, 80),
        "abdomen": (40, 350),
    }
    assert PRESET_ORDER == ("series", "lung", "mediastinum", "bone", "brain", "abdomen", "full range")


def test_series_window_of_a_real_ct_is_the_files_value(shared_data: Path) -> None:
    ds = _first(shared_data / "ct_ge_lightspeed_lung")
    own = series_windows(ds)
    assert len(own) == 1
    assert (own[0].center, own[0].width) == (float(ds.WindowCenter), float(ds.WindowWidth))
    assert own[0].limits == (
        float(ds.WindowCenter) - float(ds.WindowWidth) / 2,
        float(ds.WindowCenter) + float(ds.WindowWidth) / 2,
    )
    assert is_hounsfield(ds)
    presets = presets_for(ds, data_range=(-1024.0, 3071.0))
    assert [p.source for p in presets] == ["series"] + ["standard"] * len(CT_PRESETS) + ["data"]
    assert presets[-1].limits == (-1024.0, 3071.0)


def test_multi_valued_window_with_explanations(shared_data: Path) -> None:
    # a real header given two windows, as many CT scanners write them (values and explanations pair by position)
    ds = _first(shared_data / "ct_ge_lightspeed_lung")
    ds.WindowCenter = [40, 400]
    ds.WindowWidth = [400, 2000]
    ds.WindowCenterWidthExplanation = ["SOFT TISSUE", "BONE"]
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(_to_bytes(ds)), force=True)  # as read from a file: MultiValue
    own = series_windows(ds)
    assert [(p.center, p.width, p.explanation) for p in own] == [(40.0, 400.0, "SOFT TISSUE"), (400.0, 2000.0, "BONE")]
    assert own[0].name == "series (SOFT TISSUE)" and own[1].name == "series 2 (BONE)"
    # backslash-separated text (a slice-table row or a raw value) gives the same
    row = {"WindowCenter": "40\\400", "WindowWidth": "400\\2000", "WindowCenterWidthExplanation": "SOFT TISSUE\\BONE"}
    assert [(p.center, p.width, p.explanation) for p in series_windows(row)] == [(p.center, p.width, p.explanation) for p in own]


def _to_bytes(ds: pydicom.Dataset) -> bytes:
    from io import BytesIO

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def test_mr_gets_its_own_window_and_full_range_only(shared_data: Path) -> None:
    ds = _first(shared_data / "siemens_mosaic_12bit")
    assert ds.Modality == "MR"
    assert not is_hounsfield(ds)
    presets = presets_for(ds, data_range=(0.0, 2908.0))
    assert [p.source for p in presets] == ["series", "data"]
    assert (presets[0].center, presets[0].width) == (float(ds.WindowCenter), float(ds.WindowWidth))
    assert presets[0].explanation == str(ds.WindowCenterWidthExplanation)


def test_ct_without_hounsfield_units_gets_no_ct_presets(shared_data: Path) -> None:
    # seg_sparse's CT says RescaleType US (unspecified): its values are not HU
    ct = next(p for p in (shared_data / "seg_sparse" / "ct").rglob("*") if p.is_file())
    ds = pydicom.dcmread(ct, stop_before_pixels=True)
    assert ds.Modality == "CT" and ds.RescaleType == "US"
    assert not is_hounsfield(ds)
    assert all(p.source != "standard" for p in presets_for(ds))
    # and a CT without any rescale tags neither
    assert not is_hounsfield({"Modality": "CT"})
    assert is_hounsfield({"Modality": "CT", "RescaleIntercept": -1024, "RescaleSlope": 1})


def test_full_range_is_data_min_max(shared_data: Path) -> None:
    volumes, _ = open_folder(shared_data / "ct_ge_lightspeed_lung")
    hu = np.asarray(load_volume(volumes[0]))
    p = full_range(hu)
    assert p is not None and p.source == "data"
    assert p.limits == (float(hu.min()), float(hu.max()))
    assert full_range(np.array([], dtype=np.int16)) is None
    assert full_range(np.full((3, 3), 7.0)).limits == (6.5, 7.5)  # constant image: width 1 around its value
    assert full_range(np.array([np.nan, 1.0, 3.0])).limits == (1.0, 3.0)


@pytest.mark.slow  # reads the 641 headers of the DTI series (~15 s on 2 shared cores)
def test_per_slice_automatic_windows_are_not_presets(shared_data: Path) -> None:
    # Philips DTI writes a different window on many slices: offering them all would bury the presets
    volumes, _ = open_folder(shared_data / "philips_dti")
    vol = next(v for v in volumes if v.ndim == 4)
    rows = slice_table(vol)
    distinct = {(float(r["WindowCenter"]), float(r["WindowWidth"])) for r in rows}
    assert len(distinct) > MAX_SERIES_WINDOWS
    presets = presets_for(rows[0], headers=rows)
    own = [p for p in presets if p.source == "series"]
    first = pydicom.dcmread(rows[0]["file"], stop_before_pixels=True)
    assert [(p.center, p.width) for p in own] == [(float(first.WindowCenter), float(first.WindowWidth))]
    # a few distinct windows over the slices are all offered, the first slice's first
    few = [
        dict(rows[0]),
        dict(rows[1], WindowCenter=50.0, WindowWidth=350.0),
        dict(rows[2], WindowCenter=50.0, WindowWidth=350.0),
    ]
    own = [p for p in presets_for(few[0], headers=few) if p.source == "series"]
    assert [(p.center, p.width) for p in own] == [(float(first.WindowCenter), float(first.WindowWidth)), (50.0, 350.0)]


def test_layers_and_thumbnails_open_with_one_rule(synthetic_study: Path) -> None:
    """A layer (``display.contrast_limits``) and a thumbnail open with the image's own window when it makes one,
    else with percentiles of its finite values: a zero or negative width, or NaN in float data, never gives
    limits that are equal, inverted or NaN."""
    from napari_dicomseries import display, thumbnail
    from napari_dicomseries.windowing import sample_limits, window_limits

    volume = next(v for v in open_folder(str(synthetic_study))[0] if v.is_image and v.window)
    data = load_volume(volume)
    middle = np.asarray(data[volume.n_slices // 2])
    own = (volume.window[0] - volume.window[1] / 2, volume.window[0] + volume.window[1] / 2)
    assert display.contrast_limits(volume, data) == own == thumbnail._window(volume, middle)
    for bad in ((40.0, 0.0), (40.0, -10.0), (float("nan"), 400.0)):
        volume.window = bad
        assert window_limits(bad) is None
        lo, hi = display.contrast_limits(volume, data)
        assert np.isfinite([lo, hi]).all() and lo < hi
        assert thumbnail._window(volume, middle) == sample_limits(middle)
    floats = np.asarray(data, dtype=np.float32)
    floats[:, :4] = np.nan
    lo, hi = display.contrast_limits(volume, floats)
    assert np.isfinite([lo, hi]).all() and lo < hi
    assert sample_limits(np.full(5, 7.0)) == (7.0, 8.0) and sample_limits(np.array([np.nan])) == (0.0, 1.0)

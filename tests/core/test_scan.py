"""Scan, group and classify: the ``ls`` pipeline on synthetic and real scanner data."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from napari_dicomseries import open_folder
from napari_dicomseries import scan as scan_module
from napari_dicomseries.classify import kernel_class, orientation_class
from napari_dicomseries.cli import main
from napari_dicomseries.commands._progress import TerminalBar
from napari_dicomseries.errors import Cancelled
from napari_dicomseries.scan import scan
from napari_dicomseries.synthetic import STUDY_SERIES, write_series

from ..data import tree_digest


def ls_json(capsys: pytest.CaptureFixture[str], *paths: Path) -> dict:
    assert main(["ls", *map(str, paths), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _by_number(out: dict) -> dict[int, dict]:
    return {s["series_number"]: s for s in out["series"]}


# ----------------------------------------------------------------------------- synthetic study


def test_synthetic_study_volumes_and_classes(synthetic_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ls_json(capsys, synthetic_study)
    assert out["skipped"] == []
    series = _by_number(out)
    assert sorted(series) == [1, 2, 3, 4, 5]
    scout = series[1]
    assert scout["kind"] == "localizer" and scout["orientation"] == "coronal" and scout["n_slices"] == 1
    # what the files say, read independently with pydicom
    headers: dict[int, list[pydicom.Dataset]] = {}
    for p in synthetic_study.iterdir():
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        headers.setdefault(int(ds.SeriesNumber), []).append(ds)
    for spec in STUDY_SERIES:
        s = series[spec.number]
        files = headers[spec.number]
        zs = sorted(float(d.ImagePositionPatient[2]) for d in files)
        assert s["kind"] == "image" and s["orientation"] == "axial"
        assert s["shape"] == [len(files), int(files[0].Rows), int(files[0].Columns)]
        assert s["n_slices"] == len(files)
        assert s["spacing"][0] == pytest.approx(zs[1] - zs[0], abs=1e-4)
        assert s["spacing"][1:] == pytest.approx([float(x) for x in files[0].PixelSpacing], abs=1e-6)
        assert s["origin"][2] == pytest.approx(zs[0])  # origin at the lowest slice, not the first file
        assert s["kernel_class"] == spec.kernel.lower()
        assert s["thickness_class"] == ("thin" if spec.thickness <= 1.5 else "thick")
        assert s["direction"] == pytest.approx([1, 0, 0, 0, 1, 0, 0, 0, 1])
        assert s["warnings"] == [] and s["split_reason"] is None
    # the four reconstructions are one acquisition; the scout another
    groups = {series[n]["acquisition_group"] for n in (2, 3, 4, 5)}
    assert len(groups) == 1 and series[1]["acquisition_group"] not in groups


def test_geometry_matches_gdcm_series_reader(synthetic_study: Path) -> None:
    volumes, _ = open_folder(synthetic_study)
    by_uid = {v.series_instance_uid: v for v in volumes}
    for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(synthetic_study)):
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(synthetic_study), uid)
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(names)
        img = reader.Execute()
        v = by_uid[uid]
        assert tuple(reversed(img.GetSize())) == v.shape
        assert img.GetOrigin() == pytest.approx(v.origin, abs=1e-4)
        if v.n_slices > 1:
            assert tuple(reversed(img.GetSpacing())) == pytest.approx(v.spacing, abs=1e-4)
            assert img.GetDirection() == pytest.approx(v.direction, abs=1e-6)


def test_scan_reads_no_pixel_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only headers are read: count the bytes read and forbid every decoder."""
    folder = tmp_path / "s"
    write_series(folder, STUDY_SERIES[0], scale=0.25)  # 128 x 128 slices: 32 KB of pixels each
    read_bytes = 0

    class Counting:
        def __init__(self, path: str) -> None:
            self._fh = open(path, "rb")

        def read(self, n: int = -1) -> bytes:
            nonlocal read_bytes
            b = self._fh.read(n)
            read_bytes += len(b)
            return b

        def __getattr__(self, name: str):  # seek, tell, ...
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("pixel data decoded during a scan")

    monkeypatch.setattr(scan_module, "_open", Counting)
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(forbidden))
    monkeypatch.setattr(sitk, "ReadImage", forbidden)
    result = scan(folder, workers=1)
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert len(result.files) == 17
    assert 0 < read_bytes < 0.2 * total, (read_bytes, total)
    # with pixels: every file's header is a few KB, pixel data is most of the file
    assert all(f.has_pixel_data and f.pixel_offset and f.pixel_offset < f.size for f in result.files)


def test_files_are_sorted_by_position_not_name(tmp_path: Path) -> None:
    """Instance 1 is the top slice; names are random: order must come from positions."""
    paths = write_series(tmp_path, STUDY_SERIES[0], scale=0.125)
    volumes, _ = open_folder(tmp_path)
    (v,) = volumes
    zs = [f.position[2] for f in v.frames]
    assert zs == sorted(zs)
    instance_numbers = [f.instance_number for f in v.frames]
    assert instance_numbers == sorted(instance_numbers, reverse=True)
    assert len(paths) == v.n_slices


def test_input_folder_unchanged_by_every_command(
    synthetic_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(synthetic_study)
    assert main(["ls", str(synthetic_study)]) == 0
    assert main(["ls", str(synthetic_study), "--json"]) == 0
    first = sorted(synthetic_study.iterdir())[0]
    assert main(["inspect", str(first), "--private", "--json"]) == 0
    capsys.readouterr()
    assert tree_digest(synthetic_study) == before


def test_junk_is_skipped_with_reasons(synthetic_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(synthetic_study, folder)
    (folder / "notes.txt").write_text("exported by PACS\n")
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "junk.dcm").write_bytes(bytes(range(256)) * 4)
    good = next(folder.glob("*.dcm"))
    (folder / "truncated.dcm").write_bytes(good.read_bytes()[:300])
    sub = folder / "sub"
    sub.mkdir()
    shutil.copy(good, sub / "copy.dcm")  # a copied file: same SOPInstanceUID
    out = ls_json(capsys, folder)
    reasons = {Path(s["path"]).name: s["reason"] for s in out["skipped"]}
    assert set(reasons) == {"notes.txt", "empty.dcm", "junk.dcm", "truncated.dcm"}
    assert "empty" in reasons["empty.dcm"]
    assert "not a DICOM file" in reasons["notes.txt"]
    assert "truncated" in reasons["truncated.dcm"] or "unreadable" in reasons["truncated.dcm"]
    series = _by_number(out)
    assert sorted(series) == [1, 2, 3, 4, 5]
    dup = [s for s in out["series"] if any("duplicate" in w for w in s["warnings"])]
    assert len(dup) == 1 and dup[0]["shape"][0] in (9, 33, 1)


def test_missing_slice_and_localizer_split(tmp_path: Path, synthetic_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gap"
    shutil.copytree(synthetic_study, folder)
    files = [(pydicom.dcmread(p, stop_before_pixels=True), p) for p in folder.iterdir()]
    s2 = sorted((float(d.ImagePositionPatient[2]), p) for d, p in files if int(d.SeriesNumber) == 2)
    removed = s2[4]
    removed[1].unlink()
    out = ls_json(capsys, folder)
    # the default gap policy splits the series at the gap: two regular parts that together hold every slice
    parts = [s for s in out["series"] if s["series_number"] == 2]
    assert [s["n_slices"] for s in parts] == [4, len(s2) - 5]
    z0, z1 = s2[3][0], s2[5][0]
    for s in parts:
        assert s["gap_policy"] == "split" and "cut at gaps" in s["split_reason"]
        assert any("missing 1 slice between z = " in w and f"{z0:.1f}" in w and f"{z1:.1f}" in w for w in s["warnings"]), s[
            "warnings"
        ]
        assert s["spacing"][0] == pytest.approx(s2[1][0] - s2[0][0])
    assert parts[1]["origin"][2] == pytest.approx(z1)
    # on request, one volume with the usual spacing (and a warning that says how far slices are misplaced)
    from napari_dicomseries.cli import main

    assert main(["ls", str(folder), "--json", "--gaps", "keep"]) == 0
    (kept,) = [s for s in json.loads(capsys.readouterr().out)["series"] if s["series_number"] == 2]
    assert kept["n_slices"] == len(s2) - 1 and kept["gap_policy"] == "keep"
    assert any("gaps=keep" in w for w in kept["warnings"])


def test_series_split_records_reason(tmp_path: Path) -> None:
    """A scout saved into the same series as the axial images becomes its own volume."""
    from napari_dicomseries.synthetic import write_study

    write_study(tmp_path, scale=0.125)
    axial_uid = None
    for p in tmp_path.iterdir():
        ds = pydicom.dcmread(p)
        if int(ds.SeriesNumber) == 2:
            axial_uid = ds.SeriesInstanceUID
            break
    for p in tmp_path.iterdir():
        ds = pydicom.dcmread(p)
        if int(ds.SeriesNumber) == 1:
            ds.SeriesInstanceUID = axial_uid
            ds.SeriesNumber = 2
            ds.save_as(p)
    volumes, _ = open_folder(tmp_path)
    parts = [v for v in volumes if v.series_number == 2]
    assert len(parts) == 2
    reasons = {v.kind: v.split_reason for v in parts}
    assert "ImageType=LOCALIZER" in reasons["localizer"]
    assert "ImageOrientationPatient" in reasons["localizer"]
    assert {v.key for v in parts} == {"2.1", "2.2"}


# ----------------------------------------------------------------------------- real data


def test_ge_lightspeed_lung(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "ct_ge_lightspeed_lung"
    out = ls_json(capsys, folder)
    (s,) = out["series"]
    assert s["shape"] == [40, 512, 512]
    assert s["spacing"] == pytest.approx([2.5, 0.898438, 0.898438], abs=1e-6)
    assert s["kernel_class"] == "lung" and s["thickness_class"] == "thick" and s["kind"] == "image"
    # independent reference: GDCM's series reader
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    img = reader.Execute()
    assert s["origin"] == pytest.approx(img.GetOrigin(), abs=1e-4)
    assert s["origin"][2] == pytest.approx(-161.5)
    first = pydicom.dcmread(folder / "1-031.dcm", stop_before_pixels=True)
    assert float(first.ImagePositionPatient[2]) == pytest.approx(-64.0)  # first file is the top slice


def test_transfer_syntaxes_nine_volumes(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ls_json(capsys, shared_data / "transfer_syntaxes")
    assert len(out["series"]) == 9
    assert sorted(s["series_number"] for s in out["series"]) == list(range(1, 10))
    syntaxes = set()
    for s in out["series"]:
        # each file is a Siemens mosaic of 35 slices of 64 x 64 (6 x 6 tiles of the 384 x 384 image)
        assert s["shape"] == [35, 64, 64] and s["kind"] == "image" and s["loadable"]
        syntaxes.add(s["transfer_syntax_uid"])
        assert s["split_reason"] == f"SeriesNumber={s['series_number']}"
    assert len(syntaxes) >= 7


def test_enhanced_multiframe_is_one_4d_volume(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "enhanced_siemens_xa10"
    out = ls_json(capsys, folder)
    (s,) = out["series"]
    assert s["shape"] == [4, 6, 64, 64]
    assert s["time_tag"] == "TemporalPositionIndex"
    ds = pydicom.dcmread(folder / "6_1.dcm", stop_before_pixels=True)
    groups = ds.PerFrameFunctionalGroupsSequence[0]
    if "PixelMeasuresSequence" not in groups:
        groups = ds.SharedFunctionalGroupsSequence[0]
    ps = [float(x) for x in groups.PixelMeasuresSequence[0].PixelSpacing]
    zs = sorted(float(fg.PlanePositionSequence[0].ImagePositionPatient[2]) for fg in ds.PerFrameFunctionalGroupsSequence)
    assert s["spacing"] == pytest.approx([zs[1] - zs[0], *ps], abs=1e-4)
    assert s["origin"][2] == pytest.approx(zs[0], abs=1e-4)


def test_real_geometry_matches_dcm2niix(shared_data: Path, tmp_path: Path) -> None:
    """The volume's corners sit where dcm2niix's affine puts them (RAS -> LPS)."""
    nib = pytest.importorskip("nibabel")
    exe = shutil.which("dcm2niix")
    if exe is None:
        pytest.skip("dcm2niix not installed")
    for name in ("ct_ge_lightspeed_lung", "enhanced_siemens_xa10"):
        out = tmp_path / name
        out.mkdir()
        subprocess.run([exe, "-z", "n", "-f", "%s", "-o", str(out), str(shared_data / name)], check=True, capture_output=True)
        (nii,) = out.glob("*.nii")
        ref = nib.load(nii)
        volumes, _ = open_folder(shared_data / name)
        (v,) = volumes
        nz, ny, nx = v.shape[-3:]
        assert ref.shape[:3] == (nx, ny, nz)
        ras_to_lps = np.diag([-1, -1, 1, 1])
        corners_ref = []
        corners_our = []
        for k in (0, nz - 1):
            for j in (0, ny - 1):
                for i in (0, nx - 1):
                    corners_our.append(v.world_position((k, j, i)))
        for ci in (0, nx - 1):
            for cj in (0, ny - 1):
                for ck in (0, nz - 1):
                    p = ras_to_lps @ ref.affine @ np.array([ci, cj, ck, 1.0])
                    corners_ref.append(tuple(p[:3]))
        # same set of 8 corner positions (dcm2niix may flip axes)
        for c in corners_our:
            d = min(np.linalg.norm(np.subtract(c, r)) for r in corners_ref)
            assert d < 0.01, (name, c, d)


# ----------------------------------------------------------------------------- classes


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("STANDARD", "standard"), ("SOFT", "standard"), ("LUNG", "lung"), ("BONE", "bone"), ("DETAIL", "bone"),
        ("B30f", "standard"), ("Br40d", "standard"), ("Bl57d", "lung"), ("B70f", "lung"), ("Qr40d", "standard"),
        ("I26f", "standard"), ("Hr64h", "bone"), ("B80f", "bone"),
        ("B", "standard"), ("L", "lung"), ("YC", "lung"), ("YD", "bone"), ("D", "bone"),
        ("FC13", "standard"), ("FC30", "bone"), ("FC52", "lung"),
        ("XYZZY", "other"),
    ],
)  # fmt: skip
def test_kernel_vocabularies(kernel: str, expected: str) -> None:
    cls, reason = kernel_class(kernel)
    assert cls == expected, reason
    assert kernel in reason


def test_kernel_falls_back_on_description() -> None:
    assert kernel_class("", "Thorax 1.25 LUNG")[0] == "lung"
    cls, reason = kernel_class("ZZ9", "")
    assert cls == "other" and "unknown kernel" in reason


@pytest.mark.parametrize(
    ("iop", "expected"),
    [
        ((1, 0, 0, 0, 1, 0), "axial"),
        ((1, 0, 0, 0, 0, -1), "coronal"),
        ((0, 1, 0, 0, 0, -1), "sagittal"),
        ((1, 0, 0, 0, np.cos(0.5), np.sin(0.5)), "oblique"),
        ((1, 0, 0, 0, np.cos(0.1), np.sin(0.1)), "axial"),
    ],
)
def test_orientation_classes(iop: tuple[float, ...], expected: str) -> None:
    row, col = np.array(iop[:3], float), np.array(iop[3:], float)
    direction = np.column_stack([row, col, np.cross(row, col)]).reshape(-1)
    assert orientation_class(direction)[0] == expected


def test_sagittal_and_oblique_series(tmp_path: Path) -> None:
    sag = tmp_path / "sag"
    obl = tmp_path / "obl"
    write_series(sag, STUDY_SERIES[0], scale=0.125, orientation=(0, 1, 0, 0, 0, -1))
    a = np.deg2rad(25)
    write_series(obl, STUDY_SERIES[0], scale=0.125, orientation=(1, 0, 0, 0, np.cos(a), np.sin(a)))
    (vs,), _ = open_folder(sag)
    (vo,), _ = open_folder(obl)
    assert vs.orientation == "sagittal" and vo.orientation == "oblique"
    assert "25.0 degrees" in vo.reasons["orientation"]
    # origin = position of the slice with the lowest position along the normal
    for v, folder in ((vs, sag), (vo, obl)):
        n = np.asarray(v.normal)
        pos = [
            np.array([float(x) for x in pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient])
            for p in folder.iterdir()
        ]
        lowest = min(pos, key=lambda p: p @ n)
        assert v.origin == pytest.approx(tuple(lowest), abs=1e-3)


# ----------------------------------------------------------------------------- CLI and boundary


def test_core_and_cli_import_no_gui() -> None:
    """The CLI, every core module and every command import no napari, Qt or magicgui."""
    code = (
        "import importlib, pkgutil, sys, napari_dicomseries, napari_dicomseries.cli, napari_dicomseries.commands as c;"
        "core = [m.name for m in pkgutil.iter_modules(napari_dicomseries.__path__) if not m.name.startswith('_')];"
        "cmds = [m.name for m in pkgutil.iter_modules(c.__path__)];"
        "[importlib.import_module('napari_dicomseries.' + n) for n in core];"
        "[importlib.import_module('napari_dicomseries.commands.' + n) for n in cmds];"
        "napari_dicomseries.cli.build_parser();"
        "assert {'scan', 'volume', 'load', 'compare', 'metrics', 'export'} <= set(core), core;"
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PySide2', 'PyQt6', 'PySide6', 'magicgui', 'vispy') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cli_ls_table_and_inspect(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", str(shared_data / "ct_ge_lightspeed_lung")]) == 0
    text = capsys.readouterr().out
    assert "40x512x512" in text and "LUNG" in text and "lung" in text
    assert main(["inspect", str(shared_data / "ct_ge_lightspeed_lung" / "1-031.dcm"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    rows = {t["keyword"]: t for t in rep["tags"]}
    assert rows["ConvolutionKernel"]["value"] == "LUNG"
    # a PersonName is one value, not a list of letters
    ds = pydicom.dcmread(shared_data / "ct_ge_lightspeed_lung" / "1-031.dcm", stop_before_pixels=True)
    assert rows["PatientName"]["value"] == str(ds.PatientName) and "\\" not in rows["PatientName"]["value"]
    from napari_dicomseries.slices import slice_table

    (vol,), _ = open_folder(shared_data / "ct_ge_lightspeed_lung")
    assert slice_table(vol)[0]["PatientName"] == str(ds.PatientName)
    assert rows["SliceThickness"]["name"] == "Slice Thickness" and rows["SliceThickness"]["vr"] == "DS"
    assert rep["image_shape"] == [1, 512, 512] and rep["pixel_type"] == "int16"
    assert rep["origin"][2] == pytest.approx(-64.0)
    assert not any(t["tag"][1:5] in ("0009", "0019", "0043") for t in rep["tags"])  # no private tags by default
    assert main(["inspect", str(shared_data / "ct_ge_lightspeed_lung" / "1-031.dcm"), "--private", "--json"]) == 0
    private = [t for t in json.loads(capsys.readouterr().out)["tags"] if int(t["tag"][1:5], 16) % 2 == 1]
    assert private and all(t["private_creator"] for t in private)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_text("hello")
    assert main(["inspect", str(junk)]) == 2
    err = capsys.readouterr().err
    assert str(junk) in err and "not a DICOM file" in err and "Traceback" not in err


def test_cli_demo_writes_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", str(tmp_path / "demo"), "--scale", "0.125"]) == 0
    text = capsys.readouterr().out
    assert "wrote 85 DICOM files" in text
    for desc in ("Scout", "5mm STANDARD", "5mm LUNG", "1.25mm STANDARD", "1.25mm LUNG"):
        assert desc in text
    # refuses a non-empty folder rather than mixing two studies
    assert main(["demo", str(tmp_path / "demo"), "--scale", "0.125"]) == 2


@pytest.mark.slow
def test_fast_header_path_agrees_with_pydicom(shared_data: Path, synthetic_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast top-level parser and pydicom give the same frames for every file."""
    from napari_dicomseries import rawheader

    paths = sorted(synthetic_study.iterdir()) + sorted(p for p in shared_data.rglob("*.dcm"))
    fast = {p: scan_module.read_header(p) for p in paths}
    monkeypatch.setattr(rawheader, "parse", lambda fh, wanted, sequences=frozenset(), first=None: None)
    slow = {p: scan_module.read_header(p) for p in paths}
    # the fast parser reads little-endian files, enhanced multi-frame ones included; big endian and deflate go to pydicom
    pydicom_only = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
    expect_slow = {
        p for p in paths if str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) in pydicom_only
    }
    assert 0 < len(expect_slow) < 8
    n_enhanced = 0
    for p in paths:
        a, b = fast[p], slow[p]
        assert (a._dataset is None) == (p not in expect_slow), p  # read without pydicom unless big endian / deflate
        n_enhanced += a.enhanced and a._dataset is None
        assert a.frames == b.frames, p
        for name in ("transfer_syntax_uid", "sop_class_uid", "series_instance_uid", "series_number", "rows", "columns",
                     "number_of_frames", "bits_allocated", "bits_stored", "pixel_representation", "pixel_offset",
                     "has_pixel_data", "frame_of_reference_uid", "modality", "tags"):  # fmt: skip
            assert getattr(a, name) == getattr(b, name), (p, name)
    assert n_enhanced >= 4 + 3 + 21  # enhanced_siemens_xa10, philips_enhanced_asl, siemens_xa30_dwi (and SEG objects)


def test_parallel_scan_equals_serial_and_progress(synthetic_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serial = scan(synthetic_study, workers=1, progress=TerminalBar("scanning", enabled=True))
    bar = capsys.readouterr().err
    assert "85/85" in bar and bar.endswith("\n")
    parallel = scan(synthetic_study, workers=2, progress=TerminalBar("scanning"))  # stderr is no terminal here: no bar
    assert capsys.readouterr().err == ""
    assert [f.path for f in serial.files] == [f.path for f in parallel.files]
    assert [f.frames for f in serial.files] == [f.frames for f in parallel.files]
    seen = []
    scan([synthetic_study / p.name for p in sorted(synthetic_study.iterdir())[:10]], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (10, 10)


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_can_be_cancelled(synthetic_study: Path, workers: int) -> None:
    """cancel() is asked between files (between chunks with workers): the scan stops with Cancelled, early."""
    seen: list[tuple[int, int]] = []
    asked = 0

    def cancel() -> bool:
        nonlocal asked
        asked += 1
        return len(seen) >= 1  # after the first progress report

    with pytest.raises(Cancelled, match="cancelled after"):
        scan(synthetic_study, workers=workers, progress=lambda d, t: seen.append((d, t)), cancel=cancel)
    assert len(seen) == 1 and seen[0][0] < seen[0][1] == 85 and asked >= 2
    assert len(scan(synthetic_study, workers=workers, cancel=lambda: False).files) == 85  # never cancelled: all read


def test_fast_path_imports_neither_pydicom_nor_simpleitk(shared_data: Path) -> None:
    """Scanning, grouping and classifying a little-endian CT folder runs without importing pydicom or SimpleITK."""
    code = (
        "import sys\n"
        "from napari_dicomseries import open_folder\n"
        "from napari_dicomseries.scan import scan\n"
        f"r = scan({str(shared_data / 'ct_ge_lightspeed_lung')!r})\n"
        "print(len(r.files), sorted(m for m in ('pydicom', 'SimpleITK') if m in sys.modules))\n"
        f"volumes, _ = open_folder({str(shared_data / 'ct_ge_lightspeed_lung')!r})\n"
        "v = volumes[0]\n"
        "print(len(volumes), v.series_description, v.convolution_kernel, v.kernel_class, "
        "sorted(m for m in ('pydicom', 'SimpleITK') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120).stdout
    scanned, listed = out.splitlines()
    assert scanned == "40 []"
    assert listed == "1 lung LUNG lung []"  # the descriptive tags come from the fast header path too


class _ShortReads(io.RawIOBase):
    """A file whose reads return at most 5 bytes, as a network or FUSE file system may before the end."""

    def __init__(self, path: str) -> None:
        self._f = open(path, "rb", buffering=0)  # (closed with this object)
        self.name = path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self._f.read(min(len(b), 5))
        b[: len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()
        super().close()


def test_short_reads_give_the_same_files(shared_data: Path, synthetic_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files read through reads that return a few bytes at a time give what whole reads give (headers longer than
    the first 4 KB, the pixel element read apart, the pydicom path)."""
    paths = sorted(str(p) for p in synthetic_study.iterdir())[:20]
    for name in ("philips_dti", "transfer_syntaxes", "missing_slice", "cr_monochrome1", "siemens_xa30_dwi"):
        paths += sorted(str(p) for p in (shared_data / name).rglob("*") if p.is_file() and p.name != "README.md")[:6]
    whole = [scan_module.read_path(p) for p in paths]
    monkeypatch.setattr(scan_module, "_open", _ShortReads)
    short = [scan_module.read_path(p) for p in paths]
    names = [f.name for f in dataclasses.fields(scan_module.DicomFile) if f.name != "_dataset"]
    assert sum(isinstance(f, scan_module.DicomFile) for f in whole) >= len(paths) - 2
    for p, a, b in zip(paths, whole, short, strict=True):
        if isinstance(a, scan_module.DicomFile):
            assert isinstance(b, scan_module.DicomFile), (p, b)
            assert [getattr(a, n) for n in names] == [getattr(b, n) for n in names], p
        else:
            assert a == b, p

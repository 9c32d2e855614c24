"""dcm2niix as the oracle for the real scanner folders: run it, run our export, match volume by volume.

Not a test file: ``tests/core/test_real_data.py`` and ``benchmarks/real_data_report.py`` use it.

For one DICOM folder:

* :func:`dcm2niix_volumes` runs ``dcm2niix -p n -z y -b y -ba n -f %s_%j`` into a temporary folder (never into
  the input) and reads every NIfTI it writes with nibabel (voxels, RAS affine, ``.bval`` / ``.bvec``), marking the
  derived copies (:data:`DERIVED_POSTFIXES`: ``_Eq``, ``_Tilt``, ``_ROIn``, ``_ADC``);
* :func:`our_volumes` runs :func:`napari_dicomseries.export.export_folder` into another temporary folder;
* :func:`match_folder` pairs every non-derived dcm2niix volume with one of ours and says why when it cannot.

Both runs are cached per folder for the life of the process (one pytest session, one report run); the
temporary folders are removed at exit.

Matching rules (:func:`compare`): candidates are our volumes with the dcm2niix volume's SeriesNumber (from the
JSON sidecars; not yet matched ones first; dcm2niix's own post-fixes ``_e2``, ``_ph``, ``_real``, ``_i00001``, a
clash letter, play no part). A pair matches when, after both images are put in their closest canonical
(RAS) voxel order and trailing length-1 axes beyond the third are dropped,

* the shapes are equal,
* the voxels are identical: compared exactly as int64 when both files hold integers, else both as float32 (our
  export writes rescaled values as float32; dcm2niix writes stored integers with ``scl_slope``/``scl_inter``,
  which nibabel applies in float64),
* the affines differ by at most :data:`AFFINE_TOL_MM` in every element (when dcm2niix writes no spatial
  transform at all, ``qform_code = sform_code = 0``, e.g. a radiograph without ImagePositionPatient, only the
  voxel sizes are compared, and the note says so),
* the ``.bval`` are equal and the ``.bvec`` within :data:`BVEC_TOL` wherever dcm2niix writes them.

The one layout difference allowed (and named in the match note): a 3-D dcm2niix volume may equal one 3-D volume
``[..., t]`` of a 4-D export of ours (dcm2niix splits echoes / magnitude and phase of one series into files,
a 4-D export may keep them on its 4th axis), and a 4-D dcm2niix volume may equal our 3-D volumes taken in turn.

:data:`KNOWN_DCM2NIIX_WRONG` lists the few dcm2niix volumes whose geometry is demonstrably wrong; they are checked
against the DICOM headers instead (:func:`header_check`: every frame's four ImagePositionPatient corners must be
the corners of a slice of one of our exports of that series).
"""

from __future__ import annotations

import atexit
import fnmatch
import functools
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

#: Largest allowed difference of any affine element (mm).
AFFINE_TOL_MM = 1e-3
#: Largest allowed difference of a b-vector component (unit vectors, written with 5-6 decimals).
BVEC_TOL = 1e-4
#: dcm2niix file-name post-fixes of the copies it derives from a volume it also writes raw (FILENAMING.md in
#: rordenlab/dcm2niix): ``_Eq`` resampled to equal slice spacing, ``_Tilt`` gantry tilt resampled away,
#: ``_ROIn`` DICOM overlay n, ``_ADC`` the Philips series with its derived isotropic / ADC / trace volume kept
#: (the raw file without it is written too). A trailing letter (``a``, ``b``) is dcm2niix's name-clash suffix.
DERIVED_POSTFIXES = ("Eq", "Tilt", "ROI", "ADC")
_DERIVED = re.compile(r"(Eq|Tilt|ROI\d*|ADC)[a-z]?")

#: dcm2niix volumes whose output is demonstrably wrong, ``(folder, fnmatch pattern on the dcm2niix file stem)``
#: -> why, and what is checked instead. Each entry is checked against the headers (:func:`header_check`).
KNOWN_DCM2NIIX_WRONG: dict[tuple[str, str], str] = {
    ("missing_slice", "2_*"): (
        "001: four axial slices at z = 18.11, 23.11, 28.11, 38.11 (a 5 mm slice missing); dcm2niix warns "
        "'Interslice distance varies' and still writes the raw 512x512x4 with one 5 mm step, so its last slice "
        "sits at z = 33.11 where no image is (its _Eq copy is resampled). Checked instead: the "
        "ImagePositionPatient corners of every file are the corners of a slice of our export(s) of series 2."
    ),
    ("missing_slice", "3_*"): (
        "002: the same with 15.5 deg gantry tilt (z = -52.69, -51.91, -51.14, -49.58, x and y fixed); dcm2niix's "
        "raw 512x512x4 steps along the slice normal (no shear) with one step, so 3 of 4 files are off (its "
        "_Tilt_Eq copy is resampled). Checked instead: the ImagePositionPatient corners of every file are the "
        "corners of a slice of our export(s) of series 3."
    ),
    ("seg_ct_liver", "100_*"): (
        "partial_overlaps.dcm: 7 SEG frames of 5 segments lie at only 3 positions (PerFrameFunctionalGroups "
        "PlanePosition z = -128.69, -127.69, -126.69, repeated per segment), but dcm2niix stacks them as 7 slices "
        "1 mm apart from z = -133.69 (512x512x7), so 4 frames are placed where no frame is. Checked instead: the "
        "ImagePositionPatient corners of every frame are the corners of a slice of our export of series 100."
    ),
    ("seg_sparse", "300_*_Raw*"): (
        "sparse-labelmap-*.dcm: 2 label-map frames at z = -177.75 and -172.75 (5 mm apart, the middle slice is a "
        "gap), but dcm2niix writes them as 24x38x2 with a 2.5 mm slice step, putting the second frame at "
        "z = -175.25. Checked instead: the ImagePositionPatient corners of every frame are the corners of a slice "
        "of our export of series 300."
    ),
}


# ----------------------------------------------------------------------------- reading NIfTI


@dataclass
class Nifti:
    """One NIfTI file as compared: canonical voxels, RAS affine, diffusion tables."""

    name: str  # file stem (no .nii.gz)
    path: Path
    series_number: int | None
    series_uid: str
    data: np.ndarray  # closest canonical voxel order, trailing length-1 axes beyond 3 dropped
    affine: np.ndarray  # 4x4 RAS of ``data``
    has_transform: bool  # qform_code or sform_code > 0
    zooms: tuple[float, ...]
    integer: bool  # stored as integers without scaling
    scl_inter: float = 0.0  # |scl_inter| applied by nibabel (0 when none)
    bval: np.ndarray | None = None
    bvec: np.ndarray | None = None  # 3 x N
    derived: bool = False
    sidecar: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``data``."""
        return tuple(self.data.shape)


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return path.stem


def read_nifti(path: Path, postfix: str = "") -> Nifti:
    """Read ``path`` (and its ``.json``, ``.bval``, ``.bvec`` beside it) into a :class:`Nifti`.

    Parameters
    ----------
    path : Path
        A ``.nii.gz`` or ``.nii`` file.
    postfix : str
        The dcm2niix post-fix of the name (``_e2_ph``, ``_Eq_1``); decides :attr:`Nifti.derived`.

    Returns
    -------
    Nifti
        Voxels in the closest canonical orientation, with the matching affine.
    """
    img = nib.load(path)
    stem = _stem(path)
    side_path = path.with_name(stem + ".json")
    side = json.loads(side_path.read_text()) if side_path.exists() else {}
    hdr = img.header
    has_transform = int(hdr["qform_code"]) > 0 or int(hdr["sform_code"]) > 0
    slope, inter = img.dataobj.slope, img.dataobj.inter
    integer = np.issubdtype(img.get_data_dtype(), np.integer) and slope in (0.0, 1.0) and inter == 0.0
    raw = np.asarray(img.dataobj.get_unscaled() if integer else img.get_fdata(dtype=np.float64))
    ornt = nib.orientations.io_orientation(img.affine)  # closest canonical (RAS) voxel order
    data = nib.orientations.apply_orientation(raw, ornt)
    affine = img.affine @ nib.orientations.inv_ornt_aff(ornt, img.shape[:3])
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    bval = bvec = None
    if path.with_name(stem + ".bval").exists():
        bval = np.loadtxt(path.with_name(stem + ".bval"), ndmin=1)
    if path.with_name(stem + ".bvec").exists():
        bvec = np.loadtxt(path.with_name(stem + ".bvec"), ndmin=2)
    number = side.get("SeriesNumber")
    return Nifti(
        name=stem,
        path=path,
        series_number=int(number) if number is not None else None,
        series_uid=str(side.get("SeriesInstanceUID", "")),
        data=data,
        affine=np.asarray(affine, dtype=np.float64),
        has_transform=has_transform,
        zooms=tuple(float(z) for z in zooms),
        integer=bool(integer),
        scl_inter=0.0 if integer or not np.isfinite(inter) else abs(float(inter)),
        bval=bval,
        bvec=bvec,
        derived=any(_DERIVED.fullmatch(tok) for tok in postfix.split("_") if tok),
        sidecar=side,
    )


# ----------------------------------------------------------------------------- the two runs

_TMP_DIRS: list[str] = []


@atexit.register
def _cleanup() -> None:
    for d in _TMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


def _tmpdir(prefix: str) -> Path:
    d = tempfile.mkdtemp(prefix=prefix)
    _TMP_DIRS.append(d)
    return Path(d)


@dataclass
class Run:
    """The volumes one tool wrote for one folder, and how long it took."""

    volumes: list[Nifti]
    seconds: float
    log: str = ""
    out_dir: Path | None = None


def run_dcm2niix(src: Path, out: Path) -> list[Path]:
    """Run dcm2niix (``-p n -z y -f %s_%d``) on ``src`` into ``out``; the NIfTI files it wrote, sorted.

    Skips the test when dcm2niix is not installed.
    """
    import pytest

    exe = dcm2niix_exe()
    if exe is None:
        pytest.skip("dcm2niix not installed")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [exe, "-p", "n", "-z", "y", "-f", "%s_%d", "-o", str(out), str(src)], check=True, capture_output=True, timeout=300
    )
    return sorted(out.glob("*.nii.gz"))


def dcm2niix_exe() -> str | None:
    """Path of the ``dcm2niix`` binary, or None."""
    return shutil.which("dcm2niix")


@functools.cache
def dcm2niix_volumes(folder: Path) -> Run:
    """Run dcm2niix (``-p n -z y -b y -ba n -f %s_%j``) on ``folder`` into a temporary folder and read its output.

    ``%s_%j`` (SeriesNumber, SeriesInstanceUID) gives every series its own name; dcm2niix appends its post-fixes
    (``_e2``, ``_ph``, ``_real``, ``_Eq_1``, ``_Tilt_Eq_1``, ``_ADC``, ...) and a letter on a name clash, so the
    post-fix is what follows the ``{SeriesNumber}_{SeriesInstanceUID}`` the sidecar gives (``-ba n`` keeps it).

    Parameters
    ----------
    folder : Path
        A folder of DICOM files (read only).

    Returns
    -------
    Run
        Every NIfTI written, derived copies marked, sorted by name.
    """
    exe = dcm2niix_exe()
    if exe is None:
        raise FileNotFoundError("dcm2niix not on PATH (pip install dcm2niix)")
    out = _tmpdir(f"dcm2niix_{folder.name}_")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [exe, "-p", "n", "-z", "y", "-b", "y", "-ba", "n", "-f", "%s_%j", "-o", str(out), str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - t0
    volumes = []
    for nii in sorted(out.glob("*.nii*")):
        stem = _stem(nii)
        side_path = nii.with_name(stem + ".json")
        side = json.loads(side_path.read_text()) if side_path.exists() else {}
        prefix = f"{side.get('SeriesNumber', '')}_{side.get('SeriesInstanceUID', '')}"
        postfix = stem[len(prefix) :] if stem.startswith(prefix) else stem
        volumes.append(read_nifti(nii, postfix))
    return Run(volumes, seconds, proc.stdout + proc.stderr, out)


@functools.cache
def our_volumes(folder: Path) -> Run:
    """Run :func:`napari_dicomseries.export.export_folder` on ``folder`` into a temporary folder, read the output.

    Volumes that the export skips or fails are listed in :attr:`Run.log` (one line each), not raised.
    """
    from napari_dicomseries.errors import DicomSeriesError
    from napari_dicomseries.export import export_folder

    out = _tmpdir(f"ours_{folder.name}_")
    t0 = time.perf_counter()
    try:
        results = export_folder(folder, out)
    except DicomSeriesError as exc:  # the whole folder refused: every dcm2niix volume is then unmatched, with this
        return Run([], time.perf_counter() - t0, f"export_folder failed: {exc}", out)
    seconds = time.perf_counter() - t0
    log = []
    for r in results:
        if r.skipped or r.error:
            log.append(
                f"series {r.key} ({r.series_description!r}): {'skipped: ' + r.skipped if r.skipped else 'failed: ' + str(r.error)}"
            )
    volumes = [read_nifti(Path(r.nifti)) for r in results if r.nifti]
    return Run(volumes, seconds, "\n".join(log), out)


# ----------------------------------------------------------------------------- comparing


def _voxel_diff(ref: Nifti, ours: Nifti, a: np.ndarray | None = None, b: np.ndarray | None = None) -> str | None:
    """None when the voxels (default: all of ``ref`` and ``ours``) are identical, else what differs.

    Integers (both files) compare exactly. Otherwise both are compared as float32 up to two float32 steps of the
    larger of the two values and ``|scl_inter|``: NIfTI stores ``scl_slope``/``scl_inter`` as float32, so
    dcm2niix's ``stored * slope + inter`` carries their rounding (e.g. RescaleIntercept -1000, RescaleSlope
    0.0152590218967: a true 0 comes back as -2.3e-7).
    """
    a = ref.data if a is None else a
    b = ours.data if b is None else b
    if ref.integer and ours.integer:
        if np.array_equal(a.astype(np.int64), b.astype(np.int64)):
            return None
        x, y = a.astype(np.float64), b.astype(np.float64)
        bad = x != y
    else:
        x, y = a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)
        scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), max(ref.scl_inter, ours.scl_inter))
        bad = np.abs(x - y) > 2 * np.spacing(scale.astype(np.float32)).astype(np.float64)
        if not bad.any():
            return None
    d = np.abs(x - y)
    k = np.unravel_index(int(np.argmax(np.where(bad, d, -1))), bad.shape)
    return (
        f"voxels differ in {int(bad.sum())}/{bad.size} voxels (max |diff| {d.max():.6g}, e.g. at {tuple(int(i) for i in k)}: "
        f"dcm2niix {x[k]:.6g}, ours {y[k]:.6g}; ranges dcm2niix {x.min():.6g}..{x.max():.6g}, ours {y.min():.6g}..{y.max():.6g})"
    )


def _affine_diff(ref: Nifti, ours: Nifti) -> tuple[str | None, str]:
    """(failure or None, note)."""
    if not ref.has_transform:
        z = np.abs(np.asarray(ref.zooms) - np.asarray(ours.zooms)).max()
        if z > AFFINE_TOL_MM:
            return f"voxel size {ours.zooms} vs dcm2niix {ref.zooms}", ""
        return None, "dcm2niix writes no spatial transform (qform_code = sform_code = 0): voxel sizes compared"
    d = float(np.abs(ref.affine - ours.affine).max())
    if d > AFFINE_TOL_MM:
        return (
            f"affine max |diff| {d:.4g} mm (dcm2niix {np.round(ref.affine[:3], 4).tolist()}, ours {np.round(ours.affine[:3], 4).tolist()})",
            "",
        )
    return None, ""


def _dwi_diff(ref: Nifti, ours: Nifti, index: int | None = None) -> str | None:
    """Compare b-values / vectors where dcm2niix writes them (``index``: ours is one volume of that 4-D)."""
    problems = []
    if ref.bval is not None:
        if ours.bval is None:
            problems.append(f"bval: dcm2niix writes {ref.bval.size} b-values, ours no .bval")
        else:
            mine = ours.bval if index is None else ours.bval[index : index + 1]
            if mine.shape != ref.bval.shape or not np.array_equal(mine, ref.bval):
                problems.append(f"bval: dcm2niix {ref.bval.tolist()} vs ours {mine.tolist()}")
    if ref.bvec is not None:
        if ours.bvec is None:
            problems.append(f"bvec: dcm2niix writes {ref.bvec.shape[1]} directions, ours no .bvec")
        else:
            mine = ours.bvec if index is None else ours.bvec[:, index : index + 1]
            if mine.shape != ref.bvec.shape:
                problems.append(f"bvec: shape {mine.shape} vs dcm2niix {ref.bvec.shape}")
            else:
                d = float(np.abs(mine - ref.bvec).max())
                if d > BVEC_TOL:
                    k = int(np.argmax(np.abs(mine - ref.bvec).max(axis=0)))
                    problems.append(
                        f"bvec: max |diff| {d:.4g} (volume {k}: dcm2niix {ref.bvec[:, k].tolist()}, ours {mine[:, k].tolist()})"
                    )
    return "; ".join(problems) or None


@dataclass
class Outcome:
    """What became of one dcm2niix volume."""

    folder: str
    name: str  # dcm2niix file stem
    shape: tuple[int, ...]
    matched: bool
    ours: str = ""  # our file stem(s) it matched or was compared with
    reason: str = ""  # why not matched (shape / voxels / affine / bval / bvec / no candidate)
    note: str = ""  # how it matched (layout difference, header check, no transform)

    def line(self) -> str:
        """One line for reports and assertion messages."""
        shape = "x".join(map(str, self.shape))
        if self.matched:
            return f"{self.name} ({shape}) = ours {self.ours}" + (f" [{self.note}]" if self.note else "")
        return f"{self.name} ({shape}): {self.reason}"


def _order_hint(ref: Nifti, ours: Nifti) -> str:
    """For 4-D volumes of one shape whose voxels differ: which of our 3-D volumes equals each of dcm2niix's."""
    order = []
    for t in range(ref.shape[3]):
        same = [u for u in range(ours.shape[3]) if _voxel_diff(ref, ours, ref.data[..., t], ours.data[..., u]) is None]
        order.append(str(same[0]) if len(same) == 1 else ("/".join(map(str, same)) if same else "-"))
    return f"4th axis: dcm2niix volume t equals our volume [{', '.join(order)}] ('-': none)"


def compare(ref: Nifti, ours: Nifti) -> tuple[str | None, str]:
    """Whole-file comparison of a dcm2niix volume with one of ours: (failure or None, note)."""
    if ref.shape != ours.shape:
        return f"shape: dcm2niix {ref.shape} vs ours {ours.shape}", ""
    fail, note = _affine_diff(ref, ours)
    voxels = _voxel_diff(ref, ours)
    if voxels and ref.data.ndim == 4:
        voxels += "; " + _order_hint(ref, ours)
    problems = [p for p in (voxels, fail, _dwi_diff(ref, ours)) if p]
    return ("; ".join(problems) or None), note


def _compare_sub(ref: Nifti, ours: list[Nifti]) -> tuple[str | None, str]:
    """Layout difference: a 3-D ref equal to volume t of a 4-D export, or a 4-D ref equal to our 3-D volumes in turn.

    Returns
    -------
    (our stem(s) or None, note when matched / the closest failure otherwise)
    """
    closest = ""
    if ref.data.ndim == 3:
        for o in ours:
            if o.data.ndim != 4 or o.shape[:3] != ref.shape:
                continue
            fail = _affine_diff(ref, o)[0]
            if fail:
                closest = closest or f"as a volume of our 4-D {o.name}: {fail}"
                continue
            for t in range(o.shape[3]):
                fail = _voxel_diff(ref, o, b=o.data[..., t]) or _dwi_diff(ref, o, t)
                if fail is None:
                    return o.name, f"volume {t} of our 4-D {o.shape} (dcm2niix splits this series into 3-D files)"
                closest = closest or f"as volume {t} of our 4-D {o.name}: {fail}"
    elif ref.data.ndim == 4 and ref.bval is None and ref.bvec is None:
        picked = []
        for t in range(ref.shape[3]):
            hit = next(
                (
                    o
                    for o in ours
                    if o.data.ndim == 3
                    and o.shape == ref.shape[:3]
                    and not _affine_diff(ref, o)[0]
                    and _voxel_diff(ref, o, a=ref.data[..., t]) is None
                ),
                None,
            )
            if hit is None:
                return None, ""
            picked.append(hit.name)
        return "+".join(picked), f"our 3-D exports in turn make dcm2niix's 4-D {ref.shape}"
    return None, closest


def known_wrong(folder: str, name: str) -> str | None:
    """The :data:`KNOWN_DCM2NIIX_WRONG` entry for this dcm2niix volume, if any."""
    for (f, pattern), why in KNOWN_DCM2NIIX_WRONG.items():
        if f == folder and fnmatch.fnmatchcase(name, pattern):
            return why
    return None


def _pick(ds: object, frame: object, shared: object, seq: str, key: str) -> object:
    """``key`` from the frame's functional group ``seq``, else the shared one, else the top level of ``ds``."""
    for src in (frame, shared):
        if src is not None and seq in src and key in src[seq][0]:
            return src[seq][0][key].value
    return ds.get(key)


def _frame_corners(folder: Path, series_uid: str) -> list[np.ndarray]:
    """The four LPS corners (4 x 3) of every frame of every file of ``series_uid`` under ``folder``."""
    import pydicom

    corners = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM: not part of the series
            continue
        if str(ds.get("SeriesInstanceUID", "")) != series_uid:
            continue
        shared = ds.get("SharedFunctionalGroupsSequence", [None])[0]
        frames = ds.get("PerFrameFunctionalGroupsSequence") or [None]
        for fg in frames:
            ipp = _pick(ds, fg, shared, "PlanePositionSequence", "ImagePositionPatient")
            iop = _pick(ds, fg, shared, "PlaneOrientationSequence", "ImageOrientationPatient")
            ps = _pick(ds, fg, shared, "PixelMeasuresSequence", "PixelSpacing")
            if ipp is None or iop is None or ps is None:
                continue
            o, r, c = np.array(ipp, float), np.array(iop[:3], float), np.array(iop[3:], float)
            w, h = (int(ds.Columns) - 1) * float(ps[1]), (int(ds.Rows) - 1) * float(ps[0])
            corners.append(np.array([o, o + w * r, o + h * c, o + w * r + h * c]))
    return corners


def misplaced_frames(frames: list[np.ndarray], volumes: list[Nifti]) -> list[int]:
    """Indices of the frames (4 x 3 LPS corners each) whose corners are not the corners of a slice of any volume."""
    flip = np.diag([-1.0, -1.0, 1.0])  # LPS -> RAS
    slabs = []
    for o in volumes:
        n = o.shape[:3]
        for axis in range(3):  # the slice axis is not known after the canonical reordering: try each
            b, c = (x for x in range(3) if x != axis)
            for k in range(n[axis]):
                ijk = np.zeros((4, 3))
                ijk[:, axis] = k
                ijk[[1, 3], b] = n[b] - 1
                ijk[[2, 3], c] = n[c] - 1
                slabs.append((o.affine[:3, :3] @ ijk.T + o.affine[:3, 3:4]).T)  # 4 corners, RAS
    bad = []
    for n, fc in enumerate(frames):
        ras = fc @ flip
        # every frame corner is a corner of the slice (in any order: the voxel order may differ)
        if not any(np.abs(c[:, None, :] - ras[None, :, :]).max(axis=2).min(axis=0).max() <= AFFINE_TOL_MM for c in slabs):
            bad.append(n)
    return bad


def header_check(folder: Path, ref: Nifti, ours: list[Nifti]) -> tuple[str | None, str]:
    """For a dcm2niix volume listed as wrong: every frame's ImagePositionPatient corners are a slice of ours.

    The frames are those of every file of the volume's SeriesInstanceUID; the slices those of every export of
    ours with its SeriesNumber (a series split into parts by the export may place its frames in several files).

    Returns
    -------
    (failure or None, our file stem(s))
    """
    frames = _frame_corners(folder, ref.series_uid)
    if not frames:
        return f"header check: no frame of SeriesInstanceUID {ref.series_uid} with geometry found", ""
    cands = [o for o in ours if o.series_number == ref.series_number and o.has_transform]
    names = "+".join(o.name for o in cands)
    if not cands:
        return f"header check: no export of ours for series {ref.series_number} ({len(frames)} frames to place)", ""
    bad = misplaced_frames(frames, cands)
    if bad:
        return f"header check: {len(bad)}/{len(frames)} frames (#{', #'.join(map(str, bad))}) are no slice of ours {names}", names
    return None, names


def match_folder(folder: Path) -> list[Outcome]:
    """Pair every non-derived dcm2niix volume of ``folder`` with one of ours; one :class:`Outcome` each."""
    refs = [v for v in dcm2niix_volumes(folder).volumes if not v.derived]
    run = our_volumes(folder)
    ours = run.volumes
    out = []
    used: set[str] = set()
    for ref in refs:
        why = known_wrong(folder.name, ref.name)
        if why is not None:
            fail, name = header_check(folder, ref, ours)
            out.append(
                Outcome(
                    folder.name,
                    ref.name,
                    ref.shape,
                    fail is None,
                    name,
                    fail or "",
                    "dcm2niix wrong, checked against headers: " + why,
                )
            )
            continue
        # candidates: our volumes of the same SeriesNumber (all of ours when dcm2niix has none), unused ones first
        same = [o for o in ours if ref.series_number is None or o.series_number == ref.series_number]
        same.sort(key=lambda o: o.name in used)
        failures = []
        hit = None
        for o in same:
            fail, note = compare(ref, o)
            if fail is None:
                hit = (o.name, note)
                break
            failures.append(f"vs ours {o.name}: {fail}")
        if hit is None:
            name, note = _compare_sub(ref, same)
            if name is not None:
                hit = (name, note)
            elif note:
                failures.append(note)
        if hit is not None:
            used.update(hit[0].split("+"))
            out.append(Outcome(folder.name, ref.name, ref.shape, True, hit[0], note=hit[1]))
            continue
        # what the export skipped or failed of this series says more than a comparison with another part
        skipped = [line for line in run.log.splitlines() if re.match(rf"series {ref.series_number}(\.\d+)? ", line)]
        extra = f" (our export: {'; '.join(skipped)})" if skipped else ""
        if not same:
            reason = f"no candidate: our export wrote no volume of series {ref.series_number}{extra}"
            out.append(Outcome(folder.name, ref.name, ref.shape, False, "", reason))
        else:
            out.append(
                Outcome(folder.name, ref.name, ref.shape, False, ",".join(o.name for o in same), " | ".join(failures) + extra)
            )
    return out

"""Every folder under ../shared/data, automatically: the export matches dcm2niix volume by volume.

The folder list is read at collection time, so a new folder is covered with no code. dcm2niix (``-p n``) is the
oracle (``tests/oracle.py``): every volume it writes, other than its derived ``_Eq`` / ``_Tilt`` / ``_ROI`` /
``_ADC`` copies, must have a voxel-identical export with an affine within 1e-3 mm (bval/bvec equal where dcm2niix
writes them). Where dcm2niix is demonstrably wrong (:data:`KNOWN_DCM2NIIX_WRONG`, each claim re-checked here) the
volume is checked against the DICOM headers instead.

That each folder opens in a napari viewer: ``tests/qt/test_real_data_viewer.py`` (same folder list).
"""

from __future__ import annotations

import fnmatch
import warnings
from pathlib import Path

import numpy as np
import pytest

from .. import oracle
from ..data import SHARED_DATA, SHARED_FOLDERS, tree_digest
from ..oracle import KNOWN_DCM2NIIX_WRONG

DATA = SHARED_DATA  # Path(__file__).resolve().parents[2] / "shared" / "data" unless DICOMSERIES_SHARED_DATA is set
FOLDERS = SHARED_FOLDERS
IDS = [p.name for p in FOLDERS]
#: Folders whose dcm2niix comparison takes over 2 s here (multi-frame and diffusion series, a 512 x 512 CT): ``slow``.
SLOW_FOLDERS = {"philips_dti", "philips_enhanced_asl", "siemens_xa30_dwi", "ct_ge_lightspeed_lung"}

__all__ = ["KNOWN_DCM2NIIX_WRONG"]


def _need_dcm2niix() -> None:
    if oracle.dcm2niix_exe() is None:
        pytest.skip("dcm2niix not installed (pip install dcm2niix)")


@pytest.mark.parametrize(
    "folder", [pytest.param(p, marks=[pytest.mark.slow] if p.name in SLOW_FOLDERS else []) for p in FOLDERS], ids=IDS
)
def test_matches_dcm2niix(folder: Path) -> None:
    """Every non-derived dcm2niix volume has a voxel-identical export of ours (see ``tests/oracle.py`` for the rules)."""
    _need_dcm2niix()
    before = tree_digest(folder)
    outcomes = oracle.match_folder(folder)
    assert tree_digest(folder) == before, f"{folder.name}: an input file changed"
    ref = oracle.dcm2niix_volumes(folder)
    assert outcomes, f"{folder.name}: dcm2niix wrote no non-derived volume:\n{ref.log}"
    for o in outcomes:
        if o.note.startswith("dcm2niix wrong"):  # say so, also when it passes
            warnings.warn(f"{folder.name}: {o.name} checked against the DICOM headers, not dcm2niix ({o.note})", stacklevel=1)
    bad = [o for o in outcomes if not o.matched]
    if bad:
        lines = "\n".join(f"  - {o.line()}" for o in bad)
        ours = oracle.our_volumes(folder)
        written = ", ".join(f"{v.name} {v.shape}" for v in ours.volumes) or "nothing"
        skipped = ("\n  our export skipped/failed: " + ours.log.replace("\n", "; ")) if ours.log else ""
        pytest.fail(
            f"{folder.name}: {len(outcomes) - len(bad)}/{len(outcomes)} dcm2niix volumes matched; unmatched:\n{lines}\n"
            f"  our export wrote: {written}{skipped}",
            pytrace=False,
        )


@pytest.mark.parametrize("entry", sorted(KNOWN_DCM2NIIX_WRONG), ids=lambda e: f"{e[0]}:{e[1]}")
def test_known_dcm2niix_wrong_is_wrong(entry: tuple[str, str]) -> None:
    """Each KNOWN_DCM2NIIX_WRONG claim still holds: dcm2niix's volume puts some frame where its header does not."""
    _need_dcm2niix()
    folder = DATA / entry[0]
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    vols = [v for v in oracle.dcm2niix_volumes(folder).volumes if not v.derived and fnmatch.fnmatchcase(v.name, entry[1])]
    assert vols, f"no dcm2niix volume of {entry[0]} matches {entry[1]!r}: stale KNOWN_DCM2NIIX_WRONG entry"
    for v in vols:
        frames = oracle._frame_corners(folder, v.series_uid)
        assert frames, f"{v.name}: no frame geometry read from the headers"
        assert oracle.misplaced_frames(frames, [v]), f"{v.name}: dcm2niix places every frame where its header does: not wrong"


def _nifti(data: np.ndarray, affine: np.ndarray, **kw: object) -> oracle.Nifti:
    return oracle.Nifti(
        name="x", path=Path("x.nii.gz"), series_number=1, series_uid="1.2", data=data, affine=affine,
        has_transform=True, zooms=(1.0, 1.0, 1.0), integer=data.dtype.kind in "iu", **kw,
    )  # fmt: skip


def test_oracle_detects_each_kind_of_difference() -> None:
    """The comparison is not blind: one voxel, 2e-3 mm, one b-value, a 2e-4 b-vector step or a shape each fail it."""
    rng = np.random.default_rng(0)
    data = rng.integers(-1000, 3000, size=(4, 5, 3, 2)).astype(np.int16)
    aff = np.diag([0.8, 0.8, 2.5, 1.0])
    bval = np.array([0.0, 1000.0])
    bvec = np.array([[0.0, 0.6], [0.0, 0.8], [0.0, 0.0]])
    ref = _nifti(data, aff, bval=bval, bvec=bvec)
    assert oracle.compare(ref, _nifti(data.astype(np.int32), aff.copy(), bval=bval, bvec=bvec + 5e-5))[0] is None
    one = data.copy()
    one[1, 2, 0, 1] += 1
    assert "voxels differ in 1/" in oracle.compare(ref, _nifti(one, aff, bval=bval, bvec=bvec))[0]
    shifted = aff.copy()
    shifted[2, 3] += 2e-3
    assert "affine max |diff| 0.002" in oracle.compare(ref, _nifti(data, shifted, bval=bval, bvec=bvec))[0]
    assert "bval" in oracle.compare(ref, _nifti(data, aff, bval=np.array([0.0, 1005.0]), bvec=bvec))[0]
    assert "bval" in oracle.compare(ref, _nifti(data, aff))[0]
    assert "bvec" in oracle.compare(ref, _nifti(data, aff, bval=bval, bvec=bvec + 2e-4))[0]
    assert "shape" in oracle.compare(ref, _nifti(data[..., 0], aff, bval=bval, bvec=bvec))[0]
    # float data (rescaled): equal up to float32 steps only
    f = data.astype(np.float64) * 0.5
    ref_f = _nifti(f, aff)
    assert oracle.compare(ref_f, _nifti(f.astype(np.float32), aff))[0] is None
    assert "voxels differ" in oracle.compare(ref_f, _nifti((f + 1e-3).astype(np.float32), aff))[0]
    # a 4-D order difference is named
    swapped = _nifti(data[..., ::-1].copy(), aff)
    assert "equals our volume [1, 0]" in oracle.compare(_nifti(data, aff), swapped)[0]

"""Export volumes to NIfTI-1 (``.nii`` / ``.nii.gz``) with a JSON sidecar, geometry as dcm2niix writes it.

This module chooses and names what to write; :mod:`.nifti` writes the image
(geometry, atomic files) and :mod:`.sidecar` builds the JSON sidecar.

:func:`export_volume` writes one volume: voxel values are the loaded values
(rescale slope and intercept applied: int16 Hounsfield units for CT), placed
by the gap policy; a 4-D volume becomes one 4-D NIfTI whose fourth pixel
dimension is the RepetitionTime in seconds when the series has one; a
diffusion series is written in dcm2niix's voxel order with its ``.bval`` /
``.bvec`` beside it. A gantry-tilted (sheared) volume gets a warning in its
result and its sidecar (see :func:`nifti.write_nifti_array`).

:func:`export_volumes` writes volumes already opened (by
:func:`~napari_dicomseries.open_folder` or from an archive index): it selects
them (:func:`selection.select_series`: series numbers, volume keys or UIDs),
names the files from a template (:func:`output_stems`) and checks every target
before writing the first, so a run without ``force`` writes all or nothing; it
refuses an output folder that is an input folder (or the archive of an index)
or lies inside one (``allow_inside_input`` lifts that), and never writes over
an input file, even with ``force``. :func:`export_folder` scans a folder and
hands its volumes to :func:`export_volumes`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import diffusion, selection
from .errors import Cancelled, DicomSeriesError, OutputExistsError
from .gaps import placed
from .geometry import Geometry
from .jobs import check_cancel
from .nifti import nifti_paths, write_nifti_array
from .sidecar import SOFTWARE, sidecar
from .volume import Volume

__all__ = [
    "ExportResult",
    "DEFAULT_TEMPLATE",
    "export_volume",
    "export_folder",
    "export_volumes",
    "output_stems",
    "select_volumes",
]

#: File name template of :func:`export_folder`; fields: series, key, description, kernel, modality, kind,
#: kernel_class, thickness_class, orientation, uid (last 8 characters of the SeriesInstanceUID).
DEFAULT_TEMPLATE = "{key}_{description}_{kernel}"
#: Above this many voxel bytes for the two largest volumes, :func:`export_folder` exports one volume at a time.
MAX_PARALLEL_BYTES = 2 * 2**30

# ----------------------------------------------------------------------------- results


@dataclass
class ExportResult:
    """What happened to one volume: the files written, or why it was skipped or failed."""

    key: str
    series_number: int | None
    series_description: str
    nifti: str | None = None
    sidecar: str | None = None
    shape: tuple[int, ...] = ()  # NIfTI order: (x, y, z) or (x, y, z, t)
    dtype: str = ""
    seconds: float = 0.0
    skipped: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    bval: str | None = None  # diffusion series: the .bval / .bvec written beside the image
    bvec: str | None = None

    @property
    def ok(self) -> bool:
        """True when the volume was written."""
        return self.nifti is not None and self.error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``export --json``)."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["ok"] = self.ok
        return d


# ----------------------------------------------------------------------------- one volume


def _repetition_time_s(side: Mapping[str, Any]) -> float | None:
    tr = side.get("RepetitionTime")
    return float(tr) if isinstance(tr, (int, float)) and tr > 0 else None


def _result_for(volume: Volume) -> ExportResult:
    return ExportResult(key=volume.key, series_number=volume.series_number, series_description=volume.series_description)


def export_volume(
    volume: Volume,
    out_path: str | os.PathLike[str],
    *,
    array: Any = None,
    gzip: bool | None = None,
    force: bool = False,
    patient_tags: bool = False,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
    write_progress: Callable[[int, int], object] | None = None,
) -> ExportResult:
    """Write one volume as NIfTI (``out_path``, ``.nii.gz`` added unless given) with its JSON sidecar.

    Parameters
    ----------
    volume : Volume
        A loadable image volume.
    out_path : path
        Target file, with or without ``.nii`` / ``.nii.gz``.
    array : array-like, optional
        The voxels (default: :func:`load.load_volume`), of ``volume.shape``.
    gzip : bool, optional
        Compress (default: from the extension, else True).
    force : bool
        Replace existing files.
    patient_tags : bool
        Keep the tags that identify the patient in the sidecar.
    progress : callable, optional
        ``progress(done, total)`` while frames are read.
    cancel : callable, optional
        Asked between frames, before writing and between chunks of the compression; True raises
        :class:`~napari_dicomseries.errors.Cancelled` and nothing is written (the files are written under temporary
        names and renamed into place only when complete).
    write_progress : callable, optional
        ``write_progress(done, total)`` in bytes while the NIfTI is written and compressed
        (see :func:`nifti.write_nifti_array`).

    Raises
    ------
    OutputExistsError, DecodeError, GeometryError, DicomSeriesError
        The message names the file or series.
    Cancelled
        When ``cancel()`` returned True before the files were moved into place.
    """
    from . import load

    t0 = time.perf_counter()
    res = _result_for(volume)
    nii, js, gz = nifti_paths(out_path, gzip)
    if not force:
        for t in (nii, js):
            if os.path.lexists(t):
                raise OutputExistsError(f"{t} exists already (use --force / force=True to replace it)")
    if array is None:
        array = load.load_volume(volume, progress=progress, cancel=cancel)
    elif tuple(np.shape(array)) != tuple(volume.array_shape):
        raise ValueError(f"array of shape {np.shape(array)} does not match series {volume.key} of shape {volume.array_shape}")
    array, geometry = placed(volume, array)
    affine = geometry.affine_lps()
    spacing, _, _, exact = Geometry(geometry.shape, affine).itk()
    notes = []
    if not exact:
        notes.append(
            "sheared voxel grid (gantry tilt): sform holds the exact sheared transform, qform the nearest rigid one "
            f"(slice normal, {spacing[2]:.4g} mm between slices); readers that use the qform misplace slices"
        )
    side = sidecar(volume, patient_tags=patient_tags, extra={"warnings": notes} if notes else None)
    desc = f"{SOFTWARE} series {volume.key} {volume.series_description}".strip()
    if volume.gap_policy == "resample" and geometry.shape != tuple(volume.shape):
        notes.append(
            f"resampled linearly from {volume.n_slices} to {geometry.shape[-3]} slices of {geometry.spacing[0]:.4g} mm "
            "(gaps=resample): slices in the gaps are interpolated"
        )
    # diffusion series: dcm2niix's voxel order (rows reversed) and .bval/.bvec beside the image
    gradients = diffusion.gradient_table(volume) if volume.ndim == 4 else None
    if gradients:
        if not force:
            for t in diffusion.bval_bvec_paths(nii):
                if os.path.lexists(t):
                    raise OutputExistsError(f"{t} exists already (use --force / force=True to replace it)")
        array, affine = diffusion.dcm2niix_layout(array, affine)
    check_cancel(cancel, f"export of series {volume.key}")
    written = write_nifti_array(
        array,
        affine,
        nii,
        side,
        gzip=gz,
        force=force,
        time_spacing=_repetition_time_s(side),
        description=desc,
        rgb=volume.samples_per_pixel == 3,
        progress=write_progress,
        cancel=cancel,
    )
    res.nifti, res.sidecar = str(written[0]), str(written[1])
    if gradients:
        res.bval, res.bvec = (str(p) for p in diffusion.write_bval_bvec(gradients, affine, written[0]))
    shape = tuple(int(x) for x in np.shape(array))[: len(geometry.shape)]  # without a colour axis
    res.shape = shape[::-1] if len(shape) == 3 else (shape[3], shape[2], shape[1], shape[0])
    res.dtype = str(getattr(array, "dtype", ""))
    res.warnings = volume.warning_messages + notes
    res.seconds = time.perf_counter() - t0
    return res


# ----------------------------------------------------------------------------- a folder

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(text: str) -> str:
    s = _SAFE.sub("_", text.strip())
    s = re.sub(r"_{2,}", "_", s)
    return s.strip("._-")


_FIELDS = ("key", "series", "description", "kernel", "modality", "kind", "kernel_class", "thickness_class", "orientation", "uid")


def _fields(v: Volume) -> dict[str, str]:
    return {
        "series": str(v.series_number) if v.series_number is not None else v.key,
        "key": v.key.replace(".", "-") if v.series_number is not None else v.key,
        "description": v.series_description,
        "kernel": v.convolution_kernel,
        "modality": v.modality,
        "kind": v.kind,
        "kernel_class": v.kernel_class,
        "thickness_class": v.thickness_class,
        "orientation": v.orientation,
        "uid": v.series_instance_uid[-8:],
    }


def output_stems(volumes: Sequence[Volume], template: str = DEFAULT_TEMPLATE, max_length: int = 120) -> list[str]:
    """File names (without extension) for ``volumes`` from ``template``, safe and without collisions.

    Each field is reduced to ``A-Z a-z 0-9 . _ -`` (other runs become ``_``);
    an empty field disappears with its separator; ``{kernel}`` is dropped when
    the description already names the kernel (``5mm LUNG`` + ``LUNG``); names
    that collide (also case-insensitively) get ``_2``, ``_3`` ...

    Raises
    ------
    ValueError
        If the template names an unknown field.
    """
    try:
        template.format(**dict.fromkeys(_FIELDS, "x"))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad file name template {template!r} ({exc}); fields: {', '.join(_FIELDS)}") from exc
    stems: list[str] = []
    taken: set[str] = set()
    for v in volumes:
        f = {k: _safe(x) for k, x in _fields(v).items()}
        if f["kernel"] and re.search(
            rf"(^|[^A-Za-z0-9]){re.escape(f['kernel'].lower())}($|[^A-Za-z0-9])", f["description"].lower()
        ):
            f["kernel"] = ""
        name = _safe(template.format(**f))[:max_length].strip("._-") or _safe(v.key) or "volume"
        base, n = name, 2
        while name.lower() in taken:
            name = f"{base}_{n}"
            n += 1
        taken.add(name.lower())
        stems.append(name)
    return stems


def select_volumes(
    volumes: Sequence[Volume], series: Sequence[int | str] | None = None, *, skip_localizers: bool = False
) -> tuple[list[Volume], list[ExportResult]]:
    """The volumes to export and an :class:`ExportResult` (with ``skipped``) for each one left out.

    ``series`` holds series numbers (every volume of that series), volume keys
    such as ``"3.2"`` or SeriesInstanceUIDs (see :func:`selection.matching`).

    Raises
    ------
    SeriesNotFoundError
        If an entry of ``series`` matches no volume.
    """
    chosen: list[Volume] = []
    skipped: list[ExportResult] = []
    for v in selection.select_series(volumes, series):
        reason = None
        if not v.is_image or v.kind == "non-image":
            reason = v.warnings[0].message if v.warnings else "no pixel data"
        elif skip_localizers and v.kind == "localizer":
            reason = "localizer (--skip-localizers)"
        if reason:
            r = _result_for(v)
            r.skipped = reason
            skipped.append(r)
        else:
            chosen.append(v)
    return chosen, skipped


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


#: The reading of a volume's frames counts for 1/_READ_SHARE of its progress, the write (compression) for the rest.
_READ_SHARE = 5


def _refuse_inside(out: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse an output folder that is one of ``inputs`` (folders; a file stands for its folder) or inside one."""
    for s in inputs:
        sp = Path(s).expanduser().resolve()
        folder = sp if sp.is_dir() else sp.parent
        if _inside(out, folder):
            raise DicomSeriesError(
                f"output folder {out} is {'the' if out == folder else 'inside the'} input folder {folder}: "
                "choose another folder (or allow it explicitly with --allow-inside-input)"
            )


def export_folder(
    src: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    series: Sequence[int | str] | None = None,
    skip_localizers: bool = False,
    gzip: bool = True,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    template: str = DEFAULT_TEMPLATE,
    patient_tags: bool = False,
    allow_inside_input: bool = False,
    recursive: bool = True,
    workers: int | None = None,
    gaps: str | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[ExportResult]:
    """Export every volume under ``src`` (or those of ``series``) to ``out_dir``: NIfTI + JSON each.

    Scans ``src`` (:func:`napari_dicomseries.open_folder`), then writes with :func:`export_volumes`.

    Parameters
    ----------
    src : path or iterable of paths
        Folder(s) or file(s) to scan.
    out_dir : path
        Output folder (created). It may not be an input folder or lie inside
        one unless ``allow_inside_input`` (an export must not mix its files
        with the DICOM files it reads).
    series : sequence of int or str, optional
        Series numbers or volume keys to export (default: every image volume,
        localizers included, as dcm2niix does).
    skip_localizers : bool
        Leave out scouts / localizers.
    gzip : bool
        ``.nii.gz`` (default) or ``.nii``.
    force : bool
        Replace existing files. Without it, the run stops before writing
        anything if one target exists.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"scanning"`` (files) and
        ``"exporting"`` (see :func:`export_volumes`).
    template : str
        File name template (see :func:`output_stems`).
    patient_tags : bool
        Keep the tags that identify the patient in the sidecars.
    allow_inside_input : bool
        Allow ``out_dir`` to be an input folder or inside one.
    recursive : bool
        Walk the sub-folders of ``src``.
    workers : int, optional
        Volumes exported at once (see :func:`export_volumes`).
    gaps : {"split", "resample", "keep"}, optional
        Volumes with missing slices or irregular spacing (default ``split``, see
        :func:`gaps.apply_gap_policy`): as the reader and ``ls`` show them.
    cancel : callable, optional
        Asked between files of the scan, then as :func:`export_volumes` asks it; True raises
        :class:`~napari_dicomseries.errors.Cancelled` and leaves no new file.

    Returns
    -------
    list of ExportResult
        One per volume, in series order: written, skipped (with the reason)
        or failed (with the error; the other volumes are still written).

    Raises
    ------
    OutputExistsError
        If a target exists and ``force`` is False (nothing written).
    SeriesNotFoundError
        If a requested series is not in the input.
    DicomSeriesError
        If ``out_dir`` lies inside an input folder, or the input holds no DICOM.
    Cancelled
        When ``cancel()`` returned True (see ``cancel``).
    """
    from . import open_folder

    output_stems([], template)  # a bad template fails before the scan
    srcs = [src] if isinstance(src, (str, os.PathLike)) else list(src)
    out = Path(out_dir).expanduser().resolve()
    if not allow_inside_input:
        _refuse_inside(out, srcs)
    if out.exists() and not out.is_dir():
        raise DicomSeriesError(f"output {out} exists and is not a folder")
    scan_cb = (lambda d, t: progress("scanning", d, t)) if progress else None
    volumes, result = open_folder(src, recursive=recursive, progress=scan_cb, gaps=gaps, cancel=cancel)
    if not result.files:
        why = (
            f" ({len(result.skipped)} file(s) skipped, e.g. {result.skipped[0].path}: {result.skipped[0].reason})"
            if result.skipped
            else ""
        )
        raise DicomSeriesError(f"no DICOM files in {result.root or src}{why}")
    return export_volumes(
        volumes,
        out,
        series=series,
        skip_localizers=skip_localizers,
        gzip=gzip,
        force=force,
        progress=progress,
        template=template,
        patient_tags=patient_tags,
        inputs=srcs,
        input_files=[f.path for f in result.files],
        allow_inside_input=allow_inside_input,
        workers=workers,
        cancel=cancel,
    )


def export_volumes(
    volumes: Sequence[Volume],
    out_dir: str | os.PathLike[str],
    series: Sequence[int | str] | None = None,
    skip_localizers: bool = False,
    gzip: bool = True,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    template: str = DEFAULT_TEMPLATE,
    patient_tags: bool = False,
    inputs: Iterable[str | os.PathLike[str]] | None = None,
    input_files: Iterable[str | os.PathLike[str]] | None = None,
    allow_inside_input: bool = False,
    workers: int | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[ExportResult]:
    """Export ``volumes`` (from :func:`~napari_dicomseries.open_folder`, :func:`index_query.open_index`, ...) to ``out_dir``.

    The one writing path of :func:`export_folder`, for volumes already opened: selects (``series``,
    ``skip_localizers``), names the files (``template``), checks every target before writing the first, then writes
    NIfTI + JSON sidecar for each volume, two at a time when they fit in memory.

    Parameters
    ----------
    volumes : sequence of Volume
        The volumes to choose from (all of them by default).
    out_dir : path
        Output folder (created). It may not be one of ``inputs`` or lie inside one unless ``allow_inside_input``.
    series : sequence of int or str, optional
        Series numbers, volume keys or UIDs to export (default: every image volume, localizers included).
    skip_localizers : bool
        Leave out scouts / localizers.
    gzip : bool
        ``.nii.gz`` (default) or ``.nii``.
    force : bool
        Replace existing files. Without it, the run stops before writing anything if one target exists.
    progress : callable, optional
        ``progress("exporting", done, total)``: two units per frame; reading the frames counts for a fifth of a
        volume's units, writing and compressing it for the rest (reported chunk by chunk).
    template : str
        File name template (see :func:`output_stems`).
    patient_tags : bool
        Keep the tags that identify the patient in the sidecars.
    inputs : iterable of paths, optional
        Folders the output may not be or lie inside (a file stands for its folder): the folders scanned, the
        archive of an index. Default: the folders holding the files of ``volumes``.
    input_files : iterable of paths, optional
        Files never written over, even with ``force`` (default: the files of ``volumes``; they are always included).
    allow_inside_input : bool
        Allow ``out_dir`` to be one of ``inputs`` or inside one.
    workers : int, optional
        Volumes exported at once (default 2, or 1 when the two largest volumes take more than
        :data:`MAX_PARALLEL_BYTES` together).
    cancel : callable, optional
        Asked between frames of each volume, before each write and between chunks of each compression (a few
        hundredths of a second apart); True stops every volume being exported, removes the files this run created
        (those that did not exist before it), and raises :class:`~napari_dicomseries.errors.Cancelled`. No file is
        ever left half-written (each is written under a temporary name and renamed when complete).

    Returns
    -------
    list of ExportResult
        One per volume selected or skipped, in the order of ``volumes``.

    Raises
    ------
    OutputExistsError
        If a target exists and ``force`` is False (nothing written).
    SeriesNotFoundError
        If a requested series is not among ``volumes``.
    DicomSeriesError
        If ``out_dir`` lies inside an input folder or is a file, or a target is an input file.
    Cancelled
        When ``cancel()`` returned True (see ``cancel``).
    """
    from . import load

    output_stems([], template)  # a bad template fails before anything else
    out = Path(out_dir).expanduser().resolve()
    own_files = [p for v in volumes for p in v.paths]
    if not allow_inside_input:
        folders = list(inputs) if inputs is not None else sorted({os.path.dirname(p) for p in own_files})
        _refuse_inside(out, folders)
    if out.exists() and not out.is_dir():
        raise DicomSeriesError(f"output {out} exists and is not a folder")
    chosen, skipped = select_volumes(volumes, series, skip_localizers=skip_localizers)
    stems = output_stems(chosen, template)
    ext = ".nii.gz" if gzip else ".nii"
    targets = [(out / (s + ext), out / (s + ".json")) for s in stems]
    protected = {os.path.realpath(f) for f in own_files}
    protected.update(os.path.realpath(f) for f in input_files or ())
    for pair in targets:
        for t in pair:
            if os.path.realpath(t) in protected:
                raise DicomSeriesError(f"{t} is one of the input DICOM files: refusing to write over it")
    if not force:
        existing = [str(t) for pair in targets for t in pair if os.path.lexists(t)]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise OutputExistsError(f"{existing[0]} exists already{more}: nothing written (use --force to replace)")
    check_cancel(cancel, f"export to {out}")
    out_existed = out.exists()
    out.mkdir(parents=True, exist_ok=True)
    existed = {str(t) for pair in targets for t in pair if os.path.lexists(t)}
    created: list[str] = []
    replaced: list[str] = []
    total = 2 * sum(len(v.frames) for v in chosen) or 1  # each frame: read, then written
    lock = threading.Lock()
    state = {"done": 0}

    def report(n: int) -> None:
        if progress:
            with lock:
                state["done"] += n
                progress("exporting", state["done"], total)

    if workers is None:
        sizes = sorted((load.voxel_bytes(v) if v.loadable else 0 for v in chosen), reverse=True)
        workers = 1 if len(chosen) < 2 or sum(sizes[:2]) > MAX_PARALLEL_BYTES else min(2, os.cpu_count() or 1)

    def one(v: Volume, nii: Path) -> ExportResult:
        units = 2 * len(v.frames)
        read_units = max(1, units // _READ_SHARE) if units > 1 else units
        write_units = units - read_units - 1  # the last unit when the volume is done
        reported = [0]

        def credit(n: int) -> None:  # thread-safe: the reading threads and the writer both credit units
            with lock:
                n = min(n, units - reported[0])
                reported[0] += n
            if n > 0:
                report(n)

        def read_cb(d: int, t: int) -> None:  # frames read: the first fifth of the volume's units
            credit(read_units * d // max(t, 1) - min(reported[0], read_units))

        def write_cb(d: int, t: int) -> None:  # bytes written and compressed: the rest but one
            credit(read_units + write_units * d // max(t, 1) - reported[0])

        try:
            arr = load.load_volume(v, progress=read_cb if progress else None, workers=2, cancel=cancel)
            r = export_volume(
                v, nii, array=arr, gzip=gzip, force=force, patient_tags=patient_tags, cancel=cancel,
                write_progress=write_cb if progress else None,
            )  # fmt: skip
            with lock:
                for path in (r.nifti, r.sidecar, r.bval, r.bvec):
                    if path:
                        (replaced if path in existed else created).append(path)
            del arr
        except Cancelled:
            raise
        except DicomSeriesError as exc:
            r = _result_for(v)
            msg = str(exc)
            r.error = msg if msg.startswith(f"series {v.key} ") else f"series {v.key} ({v.series_description!r}): {msg}"
        credit(units - reported[0])
        return r

    try:
        if workers <= 1 or len(chosen) < 2:
            results = [one(v, nii) for v, (nii, _js) in zip(chosen, targets, strict=True)]
        else:
            # two volumes at a time: one is read and its headers compared while the other is compressed
            # (zlib releases the GIL while it compresses)
            with ThreadPoolExecutor(max_workers=min(workers, len(chosen))) as pool:
                results = list(pool.map(one, chosen, [nii for nii, _js in targets]))
        check_cancel(cancel, f"export to {out}")
    except (Cancelled, KeyboardInterrupt) as exc:
        # all or nothing: the files this run created go; those it replaced (force) stay complete
        for path in created:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if not out_existed:
            with contextlib.suppress(OSError):
                out.rmdir()  # only when empty
        if isinstance(exc, Cancelled):
            kept = f"; {len(replaced)} file(s) replaced (--force) before that stay, complete" if replaced else ""
            raise Cancelled(f"export to {out} cancelled: no new file kept{kept}") from None
        raise
    by_key = {r.key: r for r in results + skipped}
    return [by_key[v.key] for v in volumes if v.key in by_key]

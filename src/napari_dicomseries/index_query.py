"""Reading an archive index (see :mod:`index`): the volume table, queries through DuckDB, and :class:`Volume` objects.

* :func:`list_index`: what ``ls --json`` prints for the archive, from the volume table alone (the archive is not
  read);
* :func:`find`: volumes matching filters (modality, kernel class, thin, orientation, description, study, ...), a
  DuckDB query over the volume table, as typed rows (:class:`IndexVolume`);
* :func:`list_entries`: every volume of the volume table with the fields a volume browser shows (the attribute names of
  :class:`~volume.Volume`), as :class:`IndexEntry` rows: a listing that reads neither the shards nor the archive;
* :func:`open_index`: the same :class:`~volume.Volume` objects as :func:`napari_dicomseries.open_folder` gives for
  the selected volumes: their studies' :class:`~scan.DicomFile` objects are rebuilt from the shards (no header is
  read again) and go through the same pipeline, so ``load_volume``, export, compare and the napari reader work on
  them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .errors import Cancelled, DicomSeriesError
from .index import SUMMARY_TEXT_COLUMNS, read_manifest, summary_field

if TYPE_CHECKING:
    from .scan import ScanResult, Skipped
    from .volume import Volume

__all__ = ["IndexListing", "IndexVolume", "IndexEntry", "list_index", "list_entries", "find", "open_index", "require_index"]


#: The volume-table columns of the ``ls`` table and its notes (see :meth:`IndexListing.table`).
_LS_COLUMNS = (
    "key", "series_number", "series_description", "modality", "convolution_kernel", "kernel_class", "kind", "orientation",
    "shape", "spacing_slice", "spacing_row", "spacing_column", "thickness_class", "acquisition_group", "series_instance_uid",
    "is_image", "notes",
)  # fmt: skip


class IndexListing:
    """The volume table of an index as ``ls`` shows it.

    The ``ls --json`` summaries (:attr:`series`) are parsed on first use; :meth:`table` gives what the ``ls``
    table and its notes print without them.
    """

    __slots__ = ("root", "skipped_rows", "pending_studies", "columns", "_path", "_series", "_skipped")

    def __init__(
        self,
        root: str,
        columns: dict[str, list[Any]],
        skipped_rows: list[tuple[str, str]],
        pending_studies: list[str],
        volumes_path: str | None,
    ) -> None:
        self.root = root
        #: the volume table's columns of the ``ls`` table (``_LS_COLUMNS``), in ``ls`` order
        self.columns = columns
        #: (path, reason) of every file skipped, in the scan's order
        self.skipped_rows = skipped_rows
        #: studies whose volumes are out of date (the last run was interrupted); empty when complete
        self.pending_studies = pending_studies
        self._path = volumes_path
        self._series: list[dict[str, Any]] | None = None
        self._skipped: list[Skipped] | None = None

    @property
    def series(self) -> list[dict[str, Any]]:
        """One ``ls --json`` summary per volume, in ``ls`` order (parsed from the volume table on first use)."""
        if self._series is None:
            self._series = [json.loads(t) for t in _read_columns(self._path, ["summary"])["summary"]] if self._path else []
        return self._series

    @property
    def is_image(self) -> list[bool]:
        """Whether each volume has pixel data forming images (``Volume.is_image``)."""
        return [bool(b) for b in self.columns["is_image"]]

    @property
    def skipped(self) -> list[Skipped]:
        """The files skipped (not DICOM, unreadable, ...), as the scan lists them."""
        if self._skipped is None:
            from .scan import Skipped

            self._skipped = [Skipped(p, r) for p, r in self.skipped_rows]
        return self._skipped

    def table(self) -> list[dict[str, Any]]:
        """Per volume, the fields of its summary that the ``ls`` table and notes print (``commands.ls``), from columns.

        ``key``, ``series_number``, ``series_description``, ``modality``, ``convolution_kernel``, ``kernel_class``,
        ``kind``, ``orientation``, ``shape``, ``spacing``, ``thickness_class``, ``acquisition_group``,
        ``series_instance_uid``, ``warnings``, ``split_reason``, ``references`` and ``segments`` (their labels).
        """
        c = self.columns
        if "notes" not in c:  # a volume table written before the notes column: from the summaries
            return self.series
        rows = []
        loads = json.loads
        for key, sn, desc, mod, kernel, kc, kind, orient, shape, s0, s1, s2, tc, acq, uid, notes in zip(
            *(c[n] for n in _LS_COLUMNS if n != "is_image"), strict=True
        ):
            n = loads(notes) if notes else _NO_NOTES
            rows.append({
                "key": key,
                "series_number": sn,
                "series_description": desc,
                "modality": mod,
                "convolution_kernel": kernel,
                "kernel_class": kc,
                "kind": kind,
                "orientation": orient,
                "shape": [int(x) for x in shape.split("x")] if shape else [],
                "spacing": [] if s0 is None else [round(s0, 6), round(s1, 6), round(s2, 6)],
                "thickness_class": tc,
                "acquisition_group": acq,
                "series_instance_uid": uid,
                "warnings": n["warnings"],
                "split_reason": n["split_reason"],
                "references": n["references"],
                "segments": [{"label": label} for label in n["segments"]],
            })  # fmt: skip
        return rows

    def to_json(self) -> dict[str, Any]:
        """The ``ls --json`` object."""
        return {"root": self.root, "series": self.series, "skipped": [{"path": p, "reason": r} for p, r in self.skipped_rows]}


_NO_NOTES: dict[str, Any] = {"warnings": [], "split_reason": "", "references": [], "segments": []}


def _read_columns(path: str, names: list[str]) -> dict[str, list[Any]]:
    """Columns of the volume table ``path`` (those of ``names`` it has) as lists, in ``order``.

    ``pyarrow.parquet.ParquetFile`` (``read_table`` goes through ``pyarrow.dataset``, which imports pandas).
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    have = set(pf.schema_arrow.names)
    table = pf.read(columns=["order", *(n for n in names if n in have)])
    columns = {n: table[n].to_pylist() for n in table.column_names}
    order = columns.pop("order")
    if any(a > b for a, b in zip(order, order[1:], strict=False)):  # written in order; sorted here if not
        perm = sorted(range(len(order)), key=order.__getitem__)
        columns = {n: [c[i] for i in perm] for n, c in columns.items()}
    return columns


@dataclass(frozen=True, slots=True)
class IndexVolume:
    """One row of the volume table, as :func:`find` returns it."""

    key: str
    series_number: int | None
    series_description: str
    modality: str
    convolution_kernel: str
    kernel_class: str
    thickness_class: str
    orientation: str
    kind: str
    shape: tuple[int, ...]
    spacing: tuple[float, float, float] | None
    n_files: int
    n_slices: int
    n_warnings: int
    warning_codes: tuple[str, ...]
    acquisition_group: str
    loadable: bool
    study_instance_uid: str
    series_instance_uid: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = asdict(self)
        d["shape"], d["warning_codes"] = list(self.shape), list(self.warning_codes)
        d["spacing"] = list(self.spacing) if self.spacing else None
        return d


def _volumes_path(index: str, manifest: dict[str, Any]) -> str | None:
    name = manifest.get("volumes")
    return os.path.join(index, name) if name else None


def list_index(db: str | os.PathLike[str]) -> IndexListing:
    """The volume table of the index ``db`` as ``ls`` lists it, and the paths skipped; reads only the index.

    Reads the manifest and the columns of the ``ls`` table from the volume table; the summaries are parsed only
    when asked for (:attr:`IndexListing.series`).

    Raises
    ------
    PathNotFoundError, NotAnIndexError
        When ``db`` does not exist or is not an index.
    """
    index = os.fspath(db)
    manifest = read_manifest(index)
    path = _volumes_path(index, manifest)
    columns = _read_columns(path, list(_LS_COLUMNS)) if path is not None else {n: [] for n in _LS_COLUMNS}
    return IndexListing(manifest["archive"], columns, _skipped(manifest), list(manifest.get("pending_studies", [])), path)


def _skipped(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """The paths skipped while walking, then the skipped files of each shard (path, reason), as the manifest lists them."""
    skipped = [(p["path"], p["reason"]) for p in manifest.get("problems", [])]
    for s in manifest["shards"]:
        skipped += [(p, r) for p, r in s["skipped"]]
    return skipped


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def find(
    db: str | os.PathLike[str],
    *,
    modality: str | None = None,
    kernel_class: str | None = None,
    thin: bool | None = None,
    orientation: str | None = None,
    description: str | None = None,
    study: str | None = None,
    kind: str | None = None,
    keys: Sequence[str] | None = None,
) -> list[IndexVolume]:
    """The volumes of the index ``db`` that match every filter given (DuckDB over the volume table), in ``ls`` order.

    Parameters
    ----------
    db : path
        The index folder.
    modality, kernel_class, orientation, kind : str, optional
        Equal to (case-insensitive): ``CT``; ``lung``; ``axial``; ``image``.
    thin : bool, optional
        Thin (True: slice thickness <= 1.5 mm) or not thin (False).
    description : str, optional
        A regular expression searched in the series description (case-insensitive).
    study : str, optional
        StudyInstanceUID.
    keys : sequence of str, optional
        Volume keys, series numbers or SeriesInstanceUIDs (as the commands' ``--series`` takes them).

    Returns
    -------
    list of IndexVolume

    Raises
    ------
    PathNotFoundError, NotAnIndexError
        When ``db`` does not exist or is not an index.
    DicomSeriesError
        For a description that is not a regular expression.
    """
    import duckdb

    index = os.fspath(db)
    manifest = read_manifest(index)
    path = _volumes_path(index, manifest)
    if path is None:
        return []
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("modality", modality), ("kernel_class", kernel_class), ("orientation", orientation), ("kind", kind)):
        if value is not None:
            where.append(f"lower({column}) = lower(?)")
            params.append(value)
    if thin is not None:
        where.append("thin = ?")
        params.append(thin)
    if description is not None:
        try:
            re.compile(description)
        except re.error as exc:
            raise DicomSeriesError(f"--description {description!r}: not a regular expression ({exc})") from None
        where.append("regexp_matches(series_description, ?, 'i')")
        params.append(description)
    if study is not None:
        where.append("study_instance_uid = ?")
        params.append(study)
    if keys is not None:
        marks = ", ".join("?" for _ in keys)
        where.append(
            f"(key IN ({marks}) OR base_key IN ({marks}) OR series_instance_uid IN ({marks}) OR CAST(series_number AS VARCHAR) IN ({marks}))"
        )
        params += [*keys, *keys, *keys, *keys]
    sql = (
        "SELECT key, series_number, series_description, modality, convolution_kernel, kernel_class, thickness_class, "
        "orientation, kind, shape, spacing_slice, spacing_row, spacing_column, n_files, n_slices, n_warnings, warning_codes, "
        f"acquisition_group, loadable, study_instance_uid, series_instance_uid FROM read_parquet({_sql_text(path)})"
        + (" WHERE " + " AND ".join(where) if where else "")
        + ' ORDER BY "order"'
    )
    con = duckdb.connect()
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        con.close()
    out = []
    for r in rows:
        (key, sn, desc, mod, kernel, kc, tc, orient, kd, shape, s0, s1, s2, nf, ns, nw, codes, acq, loadable, st, se) = r
        out.append(
            IndexVolume(
                key=key,
                series_number=sn,
                series_description=desc,
                modality=mod,
                convolution_kernel=kernel,
                kernel_class=kc,
                thickness_class=tc,
                orientation=orient,
                kind=kd,
                shape=tuple(int(x) for x in shape.split("x")) if shape else (),
                spacing=(s0, s1, s2) if s0 is not None else None,
                n_files=nf,
                n_slices=ns,
                n_warnings=nw,
                warning_codes=tuple(c for c in codes.split(",") if c),
                acquisition_group=acq,
                loadable=bool(loadable),
                study_instance_uid=st,
                series_instance_uid=se,
            )
        )
    return out


def open_index(
    db: str | os.PathLike[str],
    *,
    keys: Sequence[str] | None = None,
    gaps: str | None = None,
    progress: Callable[[int, int], object] | None = None,
    cancel: Callable[[], bool] | None = None,
    **filters: Any,
) -> tuple[list[Volume], ScanResult]:
    """The volumes of an index as :func:`napari_dicomseries.open_folder` gives them for the archive (or a selection).

    The :class:`~scan.DicomFile` objects of the studies holding the selected volumes are rebuilt from the shards
    (no header is parsed again) and go through the pipeline of ``open_folder`` (build, classify, gap policy); keys
    and acquisition groups are those of the whole archive (as ``ls INDEX`` shows them).

    Parameters
    ----------
    db : path
        The index folder.
    keys : sequence of str, optional
        Volume keys, series numbers or SeriesInstanceUIDs to open (with all the parts of each).
    gaps : {"split", "resample", "keep"}, optional
        The gap policy (default :data:`gaps.DEFAULT_GAP_POLICY`).
    progress : callable, optional
        ``progress(done, total)`` over the studies rebuilt.
    cancel : callable, optional
        Asked between studies; True raises :class:`Cancelled`.
    **filters
        Filters of :func:`find` (``modality="CT"``, ``thin=True``, ...).

    Returns
    -------
    (list of Volume, ScanResult)
        The volumes in ``ls`` order; the scan holds the files of the studies opened, and the skipped paths of the
        whole index when nothing was selected.

    Raises
    ------
    PathNotFoundError, NotAnIndexError
        When ``db`` does not exist or is not an index.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .build import build_volumes
    from .classify import classify
    from .gaps import DEFAULT_GAP_POLICY, apply_gap_policy
    from .index_shards import read_files
    from .scan import ScanResult, Skipped

    index = os.fspath(db)
    manifest = read_manifest(index)
    archive = manifest["archive"]
    selected = find(index, keys=keys, **filters)
    units = {(r.study_instance_uid, _base_of(r)) for r in selected}
    studies = sorted({r.study_instance_uid for r in selected})
    stored: dict[tuple[str, int], dict[str, Any]] = {}
    path = _volumes_path(index, manifest)
    if path and studies:
        t = pq.ParquetFile(path).read(columns=["study_instance_uid", "pre_index", "base_key", "acquisition_group", "order"])
        t = t.filter(pc.is_in(t["study_instance_uid"], value_set=_strings(studies)))
        for r in t.to_pylist():
            unit = stored.setdefault((r["study_instance_uid"], r["pre_index"]), r)
            unit["order"] = min(unit["order"], r["order"])
    shard_files = [s["file"] for s in manifest["shards"] if set(s["studies"]) & set(studies)]
    by_study = read_files(index, shard_files, archive, studies)
    out: list[tuple[tuple[int, int], Volume]] = []
    files = []
    for n, (study, sfiles) in enumerate(by_study.items()):
        if cancel is not None and cancel():
            raise Cancelled(f"{index}: cancelled while opening study {study}")
        files += sfiles
        for pre_index, v in enumerate(classify(build_volumes(sfiles))):
            row = stored.get((study, pre_index))
            if row is not None:
                v.key = row["base_key"]
                if v.acquisition_group:
                    v.acquisition_group = row["acquisition_group"]
            if (study, v.key) not in units:
                continue
            order = row["order"] if row is not None else 1 << 62
            for k, part in enumerate(apply_gap_policy([v], gaps or DEFAULT_GAP_POLICY)):
                out.append(((order, k), part))
        if progress is not None:
            progress(n + 1, len(by_study))
    out.sort(key=lambda ov: ov[0])
    skipped = [Skipped(p, r) for p, r in _skipped(manifest)] if not keys and not filters else []
    return [v for _, v in out], ScanResult(root=archive, files=files, skipped=skipped)


#: The volume-table columns :func:`list_entries` reads (those of an older table that are missing are left empty).
_ENTRY_COLUMNS = (
    "key", "base_key", "study_instance_uid", "series_instance_uid", "series_number", "series_description", "modality",
    "convolution_kernel", "kernel_class", "thickness_class", "orientation", "kind", "is_image", "loadable", "acquisition_group",
    "acquisition_datetime", "content_time", "instance_creation_time", "shape", "n_files", "spacing_slice", "spacing_row",
    "spacing_column", "slice_thickness", "warning_codes", "notes",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One volume of the volume table as a listing shows it, before any :class:`~volume.Volume` is built.

    The fields carry the names of the :class:`~volume.Volume` attributes they stand for (``kind``, ``spacing``,
    ``slice_thickness``, ``content_time``, ...), with the values of the volume the index built with its gap policy
    (``manifest["gaps"]``); ``warnings`` holds the warning messages (``Volume.warning_messages``). ``base_key`` is the
    key of the volume before the gap policy cut it (``3`` for ``3.part2``).
    """

    key: str
    base_key: str
    study_instance_uid: str
    series_instance_uid: str
    series_number: int | None
    series_description: str
    modality: str
    convolution_kernel: str
    kernel_class: str
    thickness_class: str
    orientation: str
    kind: str
    is_image: bool
    loadable: bool
    acquisition_group: str
    acquisition_datetime: str
    content_time: str
    instance_creation_time: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    slice_thickness: float | None
    n_files: int
    warnings: tuple[str, ...]
    warning_codes: tuple[str, ...]
    split_reason: str | None

    @property
    def warning_messages(self) -> list[str]:
        """The warning messages, as ``Volume.warning_messages`` gives them."""
        return list(self.warnings)

    @property
    def n_slices(self) -> int:
        """Number of slices (the length of the slice axis)."""
        return self.shape[-3] if len(self.shape) >= 3 else 0


def list_entries(db: str | os.PathLike[str]) -> list[IndexEntry]:
    """Every volume of the index ``db``, in ``ls`` order, as :class:`IndexEntry` rows; reads only the volume table.

    No shard (instance table) and no file of the archive is read and no :class:`~volume.Volume` is built, so this
    takes the time of reading a few columns of the volume table (its warnings from the ``notes`` column, which is
    null for most volumes); :func:`open_index` gives the volumes themselves.

    Raises
    ------
    PathNotFoundError, NotAnIndexError
        When ``db`` does not exist or is not an index.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    index = os.fspath(db)
    manifest = read_manifest(index)
    path = _volumes_path(index, manifest)
    if path is None:
        return []
    pf = pq.ParquetFile(path)
    have = set(pf.schema_arrow.names)
    wanted = [n for n in ("order", *_ENTRY_COLUMNS) if n in have]
    older = [n for n in SUMMARY_TEXT_COLUMNS if n not in have]  # a table written before these columns were added
    table = pf.read(columns=wanted + (["summary"] if older and "summary" in have else []))
    if "order" in have:
        table = table.take(pc.sort_indices(table["order"]))
    n = table.num_rows
    cols: dict[str, list[Any]] = {name: table[name].to_pylist() for name in wanted}
    if older:
        summaries = table["summary"].to_pylist() if "summary" in have else [None] * n
        for name in older:
            cols[name] = [summary_field(s, name) for s in summaries]
    empty: list[Any] = [None] * n
    get = lambda name: cols.get(name, empty)  # noqa: E731 - a short local accessor
    out = []
    loads = json.loads
    for (
        key, base, study, series, sn, desc, mod, kernel, kc, tc, orient, kind, img, loadable, acq, acq_dt, content, created,
        shape, nf, s0, s1, s2, thick, codes, notes,
    ) in zip(
        get("key"), get("base_key"), get("study_instance_uid"), get("series_instance_uid"), get("series_number"),
        get("series_description"), get("modality"), get("convolution_kernel"), get("kernel_class"), get("thickness_class"),
        get("orientation"), get("kind"), get("is_image"), get("loadable"), get("acquisition_group"),
        get("acquisition_datetime"), get("content_time"), get("instance_creation_time"), get("shape"), get("n_files"),
        get("spacing_slice"), get("spacing_row"), get("spacing_column"), get("slice_thickness"), get("warning_codes"),
        get("notes"), strict=True,
    ):  # fmt: skip
        note = loads(notes) if notes else _NO_NOTES
        out.append(
            IndexEntry(
                key=key or "",
                base_key=base or key or "",
                study_instance_uid=study or "",
                series_instance_uid=series or "",
                series_number=sn,
                series_description=desc or "",
                modality=mod or "",
                convolution_kernel=kernel or "",
                kernel_class=kc or "",
                thickness_class=tc or "",
                orientation=orient or "",
                kind=kind or "",
                is_image=bool(img),
                loadable=bool(loadable),
                acquisition_group=acq or "",
                acquisition_datetime=acq_dt or "",
                content_time=content or "",
                instance_creation_time=created or "",
                shape=tuple(int(x) for x in shape.split("x")) if shape else (),
                spacing=() if s0 is None else (s0, s1, s2),
                slice_thickness=thick,
                n_files=nf or 0,
                warnings=tuple(note["warnings"]),
                warning_codes=tuple(c for c in (codes or "").split(",") if c),
                split_reason=note["split_reason"] or None,
            )
        )
    return out


def _base_of(r: IndexVolume) -> str:
    """The key of the volume before the gap policy cut it (``3.part2`` -> ``3``)."""
    m = re.fullmatch(r"(.*)\.part\d+", r.key)
    return m.group(1) if m else r.key


def _strings(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())


def require_index(path: str | os.PathLike[str]) -> None:
    """Raise the error of :func:`index.read_manifest` when ``path`` is not an index (for the commands)."""
    read_manifest(path)

"""The archive index's data: one row per file (Parquet shards), one row per volume, and the tasks that write them.

This module holds what runs on the workers of :func:`index.build_index` (and in
the calling process for small jobs): :func:`index_group` parses the headers of
some groups of files with :func:`scan.read_path` (the scan's own parser), writes
one Parquet shard per group atomically, and builds the volume rows of the studies
it met from the headers in memory; :func:`study_volumes` rebuilds the
:class:`~scan.DicomFile` objects of some studies from the shards and runs the
pipeline of :func:`napari_dicomseries.open_folder` on them (build, classify, gap
policy), returning one row per volume.

A :class:`~scan.DicomFile` is stored as JSON of its dataclass fields (never
pickle: an index on a shared disk must not be able to run code when read);
:func:`decode_file` rebuilds it exactly, frames and mosaic included.
"""

from __future__ import annotations

import gc
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from . import scan as _scan
from .elements import remember
from .frame import Frame
from .index_run import fingerprint, relative, walk_key
from .scan import DicomFile, Skipped
from .siemens import Mosaic

__all__ = [
    "INSTANCE_COLUMNS",
    "VOLUME_COLUMNS",
    "PATIENT_COLUMNS",
    "encode_file",
    "decode_file",
    "walk_key",
    "notes_of",
    "relative",
    "index_group",
    "study_volumes",
    "relabel",
]

#: Patient-identifying columns, filled only when the index is built with ``patient_tags=True`` (else null).
PATIENT_COLUMNS = {
    "patient_name": 0x00100010,
    "patient_id": 0x00100020,
    "patient_birth_date": 0x00100030,
    "patient_sex": 0x00100040,
    "accession_number": 0x00080050,
}
_CHARSET = 0x00080005

#: Instance table: column -> Arrow type name (see :func:`_instance_schema`).
INSTANCE_COLUMNS = {
    "path": "string",
    "size": "int64",
    "mtime_ns": "int64",
    "error": "string",
    "sop_class_uid": "string",
    "sop_instance_uid": "string",
    "series_instance_uid": "string",
    "study_instance_uid": "string",
    "frame_of_reference_uid": "string",
    "modality": "string",
    "series_number": "string",
    "series_description": "string",
    "manufacturer": "string",
    "convolution_kernel": "string",
    "transfer_syntax_uid": "string",
    "photometric_interpretation": "string",
    "image_type": "string",
    "rows": "int32",
    "columns": "int32",
    "number_of_frames": "int32",
    "n_frames": "int32",
    "has_pixel_data": "bool",
    "enhanced": "bool",
    "slice_thickness": "float64",
    "n_warnings": "int32",
    **dict.fromkeys(PATIENT_COLUMNS, "string"),
    "dicomfile": "string",
}

#: Volume table: column -> Arrow type name.
VOLUME_COLUMNS = {
    "order": "int64",
    "key": "string",
    "base_key": "string",
    "study_instance_uid": "string",
    "series_instance_uid": "string",
    "series_number": "int64",
    "series_description": "string",
    "modality": "string",
    "convolution_kernel": "string",
    "kernel_class": "string",
    "thickness_class": "string",
    "thin": "bool",
    "orientation": "string",
    "kind": "string",
    "is_image": "bool",
    "loadable": "bool",
    "acquisition_group": "string",
    "acquisition_datetime": "string",
    "content_time": "string",
    "instance_creation_time": "string",
    "frame_of_reference_uid": "string",
    "shape": "string",
    "n_files": "int64",
    "n_slices": "int64",
    "spacing_slice": "float64",
    "spacing_row": "float64",
    "spacing_column": "float64",
    "slice_thickness": "float64",
    "n_warnings": "int64",
    "warning_codes": "string",
    # what ``ls`` prints below its table (warnings, split reason, segments and references), JSON, null when none:
    # the table and its notes are printed without parsing the summaries
    "notes": "string",
    # where the volume came from in its study's pipeline (for the global keys, see :func:`relabel`)
    "study_order": "int64",
    "pre_index": "int64",
    "part_suffix": "string",
    "local_acquisition_group": "string",
    "summary": "string",
}


def _schema(columns: dict[str, str]) -> Any:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(name, types[t]) for name, t in columns.items()])


# ----------------------------------------------------------------------------- DicomFile <-> JSON

_FILE_FIELDS = tuple(f.name for f in fields(DicomFile) if f.name not in ("_dataset", "path", "frames", "mosaic"))
_FRAME_FIELDS = tuple(f.name for f in fields(Frame))
_MOSAIC_FIELDS = tuple(f.name for f in fields(Mosaic))


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the dataclasses hold (nested too)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


#: one encoder for every file (``json.dumps`` with options makes one per call); no circularity check (plain data)
_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

# A file's JSON is written in two parts each, for the file and for its frames: the fields that differ from file to
# file of a series (``_OWN``), encoded every time, then the others (``_SHARED``), whose JSON is remembered (see
# :func:`_shared_json`). :func:`decode_file` reads the fields by name (a frame row by the ``fields`` list it holds),
# so the order is free.
_FILE_OWN = ("size", "sop_instance_uid", "pixel_offset", "warnings", "tags")
_FILE_SHARED = tuple(n for n in _FILE_FIELDS if n not in _FILE_OWN)
_FRAME_OWN = ("path", "index", "sop_instance_uid", "position", "instance_number")
_FRAME_SHARED = tuple(n for n in _FRAME_FIELDS if n not in _FRAME_OWN)
#: the fields of each part, read at once (a tuple, made in C)
_FILE_OWN_VALUES, _FILE_SHARED_VALUES = attrgetter(*_FILE_OWN), attrgetter(*_FILE_SHARED)
_FRAME_OWN_VALUES, _FRAME_SHARED_VALUES = attrgetter(*_FRAME_OWN), attrgetter(*_FRAME_SHARED)
#: what comes between a file's fields and its frame rows: the rows' field list, the same for every file
_FRAMES_HEAD = ',"frames":{"fields":' + _ENCODE([*_FRAME_OWN, *_FRAME_SHARED]) + ',"rows":['
#: JSON of the ``_SHARED`` part of a file or frame, by the identity of its values (see :func:`_shared_json`)
_SHARED_JSON: dict[tuple[Any, ...], tuple[tuple[Any, ...], str]] = {}


def _shared_json(values: tuple[Any, ...], names: tuple[str, ...] | None) -> str:
    """The JSON of ``values`` without its brackets: a list's items, or with ``names`` an object's members.

    Remembered by the identity of the values: the scan converts a value that repeats across the files of a series
    once (:func:`elements.remember`), so their frames hold the very same objects and their JSON is made once. The
    entry keeps the values alive, so an identity cannot be taken by another object while its entry exists (equal
    values are not enough: ``0.0 == -0.0`` and ``1 == 1.0 == True`` are written differently).
    """
    key = (id(names), *map(id, values))  # (the names too: a file's part and a frame's never meet)
    hit = _SHARED_JSON.get(key)
    if hit is not None:
        return hit[1]
    text = _ENCODE(values if names is None else dict(zip(names, values, strict=True)))[1:-1]
    remember(_SHARED_JSON, key, (values, text))
    return text


def encode_file(f: DicomFile) -> str:
    """``f`` as JSON: its fields, its frames as a table (a frame's path only when it differs from the file's).

    The pydicom data set (read on demand) is not stored.
    """
    rows = []
    for fr in f.frames:
        own = _FRAME_OWN_VALUES(fr)
        if own[0] == f.path:
            own = (None, *own[1:])
        rows.append(f"[{_ENCODE(own)[1:-1]},{_shared_json(_FRAME_SHARED_VALUES(fr), None)}]")
    mosaic = "null" if f.mosaic is None else _ENCODE({name: getattr(f.mosaic, name) for name in _MOSAIC_FIELDS})
    own_file = _ENCODE(dict(zip(_FILE_OWN, _FILE_OWN_VALUES(f), strict=True)))[:-1]
    shared = _shared_json(_FILE_SHARED_VALUES(f), _FILE_SHARED)
    return f'{own_file},{shared}{_FRAMES_HEAD}{",".join(rows)}]}},"mosaic":{mosaic}}}'


def decode_file(path: str, text: str) -> DicomFile:
    """The :class:`DicomFile` of ``path`` stored by :func:`encode_file`."""
    doc = json.loads(text)
    table = doc.pop("frames")
    names = table["fields"]
    frames = []
    for row in table["rows"]:
        values = {n: _tuples(v) for n, v in zip(names, row, strict=True)}
        if values.get("path") is None:
            values["path"] = path
        frames.append(Frame(**values))
    mosaic = doc.pop("mosaic")
    if mosaic is not None:
        mosaic = Mosaic(**{k: _tuples(v) for k, v in mosaic.items()})
    known = {k: v for k, v in doc.items() if k in _FILE_FIELDS}
    return DicomFile(path=path, frames=tuple(frames), mosaic=mosaic, **known)


# ----------------------------------------------------------------------------- instance rows


def _patient_values(path: str) -> dict[str, str | None]:
    """The patient-identifying values of a file (only with ``patient_tags``), read by the scan's header parser."""
    from . import rawheader
    from .elements import RawItem

    out: dict[str, str | None] = dict.fromkeys(PATIENT_COLUMNS)
    wanted = {*PATIENT_COLUMNS.values(), _CHARSET}
    try:
        with open(path, "rb") as fh:
            raw = rawheader.parse(fh, wanted)
        if raw is not None:
            item = RawItem(raw.values)
            item.charset = item.text(_CHARSET) or ""
            for name, tag in PATIENT_COLUMNS.items():
                out[name] = item.string(tag) or None
            return out
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=[*PATIENT_COLUMNS.values(), _CHARSET])
        for name, tag in PATIENT_COLUMNS.items():
            if tag in ds:
                out[name] = str(ds[tag].value).strip() or None
    except Exception:  # noqa: BLE001 - the values are a convenience; the file's row is complete without them
        pass
    return out


def instance_row(path: str, size: int, mtime_ns: int, item: DicomFile | Skipped, patient_tags: bool) -> dict[str, Any]:
    """The instance-table row of one file: query columns and the encoded :class:`DicomFile` (or the error)."""
    row: dict[str, Any] = dict.fromkeys(INSTANCE_COLUMNS)
    row.update(path=path, size=size, mtime_ns=mtime_ns)
    if isinstance(item, Skipped):
        row["error"] = item.reason
        return row
    f = item
    fr = f.frames[0] if f.frames else None
    row.update(
        sop_class_uid=f.sop_class_uid,
        sop_instance_uid=f.sop_instance_uid,
        series_instance_uid=f.series_instance_uid,
        study_instance_uid=f.study_instance_uid,
        frame_of_reference_uid=f.frame_of_reference_uid,
        modality=f.modality,
        series_number=f.series_number,
        series_description=f.tags.get("SeriesDescription", ""),
        manufacturer=f.tags.get("Manufacturer", ""),
        convolution_kernel=f.tags.get("ConvolutionKernel", ""),
        transfer_syntax_uid=f.transfer_syntax_uid,
        photometric_interpretation=f.photometric_interpretation,
        image_type="\\".join(fr.image_type) if fr is not None else "",
        rows=f.rows,
        columns=f.columns,
        number_of_frames=f.number_of_frames,
        n_frames=len(f.frames),
        has_pixel_data=f.has_pixel_data,
        enhanced=f.enhanced,
        slice_thickness=fr.slice_thickness if fr is not None else None,
        n_warnings=len(f.warnings),
        dicomfile=encode_file(f),
    )
    if patient_tags:
        row.update(_patient_values(path))
    return row


#: Columns whose values repeat (Parquet dictionary encoding pays off); the others (paths, instance UIDs, the
#: encoded headers and summaries) are written plain, which is faster.
_PLAIN = {"path", "sop_instance_uid", "dicomfile", "summary", "mtime_ns", "size"}


def _write_table(rows: list[dict[str, Any]], columns: dict[str, str], out_dir: str, prefix: str) -> str:
    """Write ``rows`` as one Parquet file in ``out_dir`` atomically (a temporary name, then ``os.replace``); its name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(columns)
    # column by column (``Table.from_pylist`` converts row dicts about 20 times slower)
    table = pa.Table.from_arrays([pa.array([r[n] for r in rows], schema.field(n).type) for n in columns], schema=schema)
    name = f"{prefix}-{uuid.uuid4().hex}.parquet"
    tmp = os.path.join(out_dir, f".tmp-{name}")
    try:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=[n for n in columns if n not in _PLAIN])
        os.replace(tmp, os.path.join(out_dir, name))
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return name


#: A rewritten group is cut into shards of at most this many files.
SHARD_MAX = 1000


def dask_setup(worker: Any = None) -> None:
    """Import what the tasks use, as a dask worker preload (see :class:`index_run.Runner`).

    Run as a ``LocalCluster`` of :func:`index.build_index` starts, while the archive is walked: the pipeline of
    the volumes, and pyarrow with its pandas (which it imports on its first array).
    """
    import pyarrow as pa

    from . import build, classify, gaps  # noqa: F401

    pa.array([0])


def index_group(
    archive: str,
    index_dir: str,
    parts: Sequence[tuple[Sequence[tuple[str, int | None, int | None]], str | None]],
    patient_tags: bool,
    policy: str | None = None,
) -> dict[str, Any]:
    """Parse the files of some groups, write their shards and build their studies' volumes (a build_index task).

    Parameters
    ----------
    archive : str
        The archive root (absolute); the entries are relative to it.
    index_dir : str
        The index folder (shards go to ``instances/`` in it).
    parts : sequence of (entries, old shard)
        Consecutive groups of files in walk order: each one's ``(relative path, size, mtime_ns)`` now (size and
        mtime None when the walk did not stat the file: it is stat'ed here), and the shard that held it before
        (``instances/...``) or None: rows of files whose size and mtime are unchanged are taken from it, not parsed
        again.
    patient_tags : bool
        Fill the patient columns.
    policy : str, optional
        A gap policy: also build the volume rows of every study met, from the headers in memory (the caller uses
        those of the studies that lie wholly in these groups, and rebuilds the others with :func:`study_volumes`).

    Returns
    -------
    dict
        ``parts``: per group, one small summary per shard written (``file``, ``first``, ``last``, ``fingerprint``
        (:func:`index_run.fingerprint` of what was recorded), ``n``, ``studies``, ``errors``, ``skipped`` (the
        paths and reasons of the error rows), and on the first one ``parsed``, ``reused``, ``removed``);
        ``volumes``: study -> volume rows (with ``policy``). Never the instance rows: the memory of the caller
        stays flat.
    """
    # The cyclic garbage collector is paused for the task: its headers, rows and frames are freed by reference
    # counting, while the collector would walk the task's growing heap of them again and again (4-6 % of the task).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _index_group(archive, index_dir, parts, patient_tags, policy)
    finally:
        if collecting:
            gc.enable()


def _index_group(
    archive: str,
    index_dir: str,
    parts: Sequence[tuple[Sequence[tuple[str, int | None, int | None]], str | None]],
    patient_tags: bool,
    policy: str | None,
) -> dict[str, Any]:
    out_dir = os.path.join(index_dir, "instances")
    by_study: dict[str, list[DicomFile | tuple[str, str]]] = {}
    result: list[list[dict[str, Any]]] = []
    for entries, old_shard in parts:
        old: dict[str, dict[str, Any]] = {}
        if old_shard:
            import pyarrow.parquet as pq

            try:
                for row in pq.ParquetFile(os.path.join(index_dir, old_shard)).read().to_pylist():
                    old[row["path"]] = row
            except (OSError, ValueError):  # a shard gone or damaged: everything is parsed again
                old = {}
        rows: list[dict[str, Any]] = []
        parsed = reused = 0
        stated: list[tuple[str, int, int]] = []  # the entries with their size and mtime
        for rel, walked_size, walked_mtime in entries:
            path = os.path.join(archive, rel)
            st = None
            if walked_size is None or walked_mtime is None:  # not stat'ed by the walk (a first index): stat'ed here,
                try:  # once for the row and the parser
                    st = os.stat(path)
                    size, mtime_ns = st.st_size, st.st_mtime_ns
                except OSError:
                    size, mtime_ns = -1, -1  # read_path says why
            else:
                size, mtime_ns = walked_size, walked_mtime
            stated.append((rel, size, mtime_ns))
            prev = old.get(path)
            if prev is not None and prev["size"] == size and prev["mtime_ns"] == mtime_ns:
                rows.append(prev)
                reused += 1
                if policy is not None and prev["error"] is None:
                    by_study.setdefault(prev["study_instance_uid"], []).append((path, prev["dicomfile"]))
                continue
            item = _scan.read_path(path, st)
            rows.append(instance_row(path, size, mtime_ns, item, patient_tags))
            parsed += 1
            if policy is not None and isinstance(item, DicomFile):
                by_study.setdefault(item.study_instance_uid, []).append(item)
        summaries = []
        for start in range(0, len(rows), SHARD_MAX):
            chunk = rows[start : start + SHARD_MAX]
            part = stated[start : start + SHARD_MAX]
            name = _write_table(chunk, INSTANCE_COLUMNS, out_dir, "part")
            skipped = [[r["path"], r["error"]] for r in chunk if r["error"] is not None]
            summaries.append({
                "file": f"instances/{name}",
                "first": part[0][0],
                "last": part[-1][0],
                "fingerprint": fingerprint(part),
                "n": len(chunk),
                "studies": sorted({r["study_instance_uid"] for r in chunk if r["error"] is None}),
                "errors": len(skipped),
                "skipped": skipped,
            })  # fmt: skip
        if summaries:
            now = {os.path.join(archive, rel) for rel, _, _ in entries}
            summaries[0].update(parsed=parsed, reused=reused, removed=len(old.keys() - now))
        result.append(summaries)
    volumes: dict[str, list[dict[str, Any]]] = {}
    if policy is not None:
        for study, items in by_study.items():
            files = [f if isinstance(f, DicomFile) else decode_file(*f) for f in items]
            volumes[study] = volume_rows(files, policy)
    return {"parts": result, "volumes": volumes}


# ----------------------------------------------------------------------------- volumes


def read_files(index_dir: str, shard_files: Iterable[str], archive: str, studies: Iterable[str]) -> dict[str, list[DicomFile]]:
    """The :class:`DicomFile` objects of ``studies`` stored in the shards, per study, in walk order."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = sorted(set(studies))
    out: dict[str, list[tuple[Any, DicomFile]]] = {s: [] for s in wanted}
    for shard in shard_files:
        table = pq.ParquetFile(os.path.join(index_dir, shard)).read(columns=["path", "error", "study_instance_uid", "dicomfile"])
        mask = pc.and_(pc.is_in(table["study_instance_uid"], value_set=_pa_array(wanted)), pc.is_null(table["error"]))
        for row in table.filter(mask).to_pylist():
            f = decode_file(row["path"], row["dicomfile"])
            out[row["study_instance_uid"]].append((walk_key(relative(row["path"], archive)), f))
    return {s: [f for _, f in sorted(items, key=lambda kf: kf[0])] for s, items in out.items()}


def _pa_array(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())


def volume_rows(files: list[DicomFile], policy: str) -> list[dict[str, Any]]:
    """The volume-table rows of one study's files: the pipeline of ``open_folder`` (build, classify, gap policy)."""
    from .build import build_volumes
    from .classify import classify
    from .gaps import apply_gap_policy

    rows: list[dict[str, Any]] = []
    for pre_index, v in enumerate(classify(build_volumes(files))):
        pre_key = v.key
        for part in apply_gap_policy([v], policy):
            s = part.summary()
            spacing = list(part.spacing) + [None] * 3
            rows.append({
                "key": part.key,
                "base_key": pre_key,
                "study_instance_uid": part.study_instance_uid,
                "series_instance_uid": part.series_instance_uid,
                "series_number": part.series_number,
                "series_description": part.series_description,
                "modality": part.modality,
                "convolution_kernel": part.convolution_kernel,
                "kernel_class": str(part.kernel_class),
                "thickness_class": str(part.thickness_class),
                "thin": str(part.thickness_class) == "thin",
                "orientation": str(part.orientation),
                "kind": str(part.kind),
                "is_image": part.is_image,
                "loadable": s["loadable"],
                "acquisition_group": part.acquisition_group,
                "acquisition_datetime": part.acquisition_datetime,
                "content_time": part.content_time,
                "instance_creation_time": part.instance_creation_time,
                "frame_of_reference_uid": part.frame_of_reference_uid,
                "shape": "x".join(str(n) for n in part.shape),
                "n_files": len(part.files),
                "n_slices": part.n_slices,
                "spacing_slice": spacing[0] if part.shape else None,
                "spacing_row": spacing[1] if part.shape else None,
                "spacing_column": spacing[2] if part.shape else None,
                "slice_thickness": part.slice_thickness,
                "n_warnings": len(part.warnings),
                "warning_codes": ",".join(s["warning_codes"]),
                "notes": notes_of(s),
                "study_order": len(rows),
                "pre_index": pre_index,
                "part_suffix": part.key[len(pre_key) :] if part.key.startswith(pre_key) else "",
                "local_acquisition_group": part.acquisition_group,
                "summary": json.dumps(s),
            })  # fmt: skip
    return rows


def notes_of(summary: dict[str, Any]) -> str | None:
    """The ``notes`` column: the fields of a summary that ``ls`` prints below its table, when any is set."""
    notes = {
        "warnings": summary["warnings"],
        "split_reason": summary["split_reason"],
        "references": summary["references"],
        "segments": [seg["label"] for seg in summary["segments"]],
    }
    return json.dumps(notes) if any(notes.values()) else None


def study_volumes(
    index_dir: str, archive: str, shard_files: Sequence[str], studies: Sequence[str], policy: str
) -> list[dict[str, Any]]:
    """The volume rows of ``studies`` (a task of :func:`index.build_index`): small, returned to the caller."""
    rows: list[dict[str, Any]] = []
    for files in read_files(index_dir, shard_files, archive, studies).values():
        if files:
            rows.extend(volume_rows(files, policy))
    return rows


def _sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """The order of ``build_volumes`` (series number, series UID, images first), then the study's own order."""
    sn = row["series_number"]
    return (sn is None, sn or 0, row["series_instance_uid"], not row["is_image"], row["study_instance_uid"], row["study_order"])


def relabel(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give volumes built study by study the keys and acquisition groups a scan of the whole archive gives.

    ``build_volumes`` numbers the parts of a series number used more than once (``3.1``, ``3.2``) over every
    volume it gets, and ``classify`` numbers acquisition groups (``A1``, ``A2``) in that order: this repeats both
    over the rows of every study, sets ``order``, ``key``, ``base_key`` and ``acquisition_group`` and patches
    the ``summary`` JSON. Returns the rows in the archive's order.
    """
    from collections import Counter

    rows = sorted(rows, key=_sort_key)
    units: dict[tuple[str, int], int | None] = {}
    for r in rows:
        units.setdefault((r["study_instance_uid"], r["pre_index"]), r["series_number"])
    counts = Counter(units.values())
    seen: Counter[int | None] = Counter()
    base: dict[tuple[str, int], str] = {}
    groups: dict[tuple[str, str, str], str] = {}
    for order, r in enumerate(rows):
        unit = (r["study_instance_uid"], r["pre_index"])
        if unit not in base:
            sn = r["series_number"]
            seen[sn] += 1
            b = str(sn) if sn is not None else r["series_instance_uid"]
            base[unit] = b if counts[sn] == 1 else f"{b}.{seen[sn]}"
        group = ""
        if r["local_acquisition_group"]:
            acq = (r["study_instance_uid"], r["frame_of_reference_uid"], r["acquisition_datetime"])
            group = groups.setdefault(acq, f"A{len(groups) + 1}")
        key = base[unit] + r["part_suffix"]
        if key != r["key"] or group != r["acquisition_group"]:
            summary = json.loads(r["summary"])
            summary["key"], summary["acquisition_group"] = key, group
            r["summary"] = json.dumps(summary)
        r.update(order=order, key=key, base_key=base[unit], acquisition_group=group)
    return rows


def write_volumes(rows: list[dict[str, Any]], index_dir: str) -> str:
    """Write the volume table (one file, atomically); its name relative to the index."""
    return "volumes/" + _write_table(rows, VOLUME_COLUMNS, os.path.join(index_dir, "volumes"), "volumes")

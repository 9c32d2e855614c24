"""``export DIR OUT``: every volume of a folder as NIfTI (.nii.gz) with a JSON sidecar of its DICOM tags.

Like dcm2niix, every image volume is written, scouts included (leave them out
with --skip-localizers); a 4-D series becomes one 4-D file. File names come
from --template (fields: {key} {series} {description} {kernel} {modality}
{kind} {kernel_class} {thickness_class} {orientation} {uid}); {kernel} is
dropped when the description names it already; unsafe characters become "_"
and clashing names get "_2", "_3". Nothing is overwritten without --force:
if one target exists, nothing is written. OUT may not be the input folder or
inside it unless --allow-inside-input is given.

DIR may also be an archive index (napari-dicomseries index ARCHIVE --db INDEX):
the volumes come from the index (with --series, only the studies holding them
are opened; no header is read again), the voxels from the archive, and OUT may
be inside neither the ARCHIVE nor the index.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import DicomSeriesError
from ..export import DEFAULT_TEMPLATE, export_folder, export_volumes
from ..index import single_index
from ..jobs import SCALE
from ._options import add_gaps_option, check_inputs, open_inputs
from ._progress import Interrupt, StageBar, add_quiet_option, run_cancellable


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="write every volume as NIfTI + JSON sidecar",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="DIR", help="folder (or file) with the DICOM series, or an archive index")
    p.add_argument("out", metavar="OUT", help="output folder (created if needed)")
    p.add_argument("--series", nargs="+", metavar="N", help="only these series numbers or volume keys (e.g. 3 or 3.2)")
    p.add_argument("--skip-localizers", action="store_true", help="leave out scouts / localizers")
    p.add_argument("--gzip", action=argparse.BooleanOptionalAction, default=True, help="write .nii.gz (default) or .nii")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--template", default=DEFAULT_TEMPLATE, help=f"file name template (default {DEFAULT_TEMPLATE!r})")
    p.add_argument("--patient-tags", action="store_true", help="keep patient names, IDs and birth date in the sidecars")
    p.add_argument("--allow-inside-input", action="store_true", help="allow OUT to be the input folder or inside it")
    p.add_argument("--no-recursive", action="store_true", help="do not walk sub-folders of DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    add_quiet_option(p)
    add_gaps_option(p)
    return p


class _Bar:
    """``export_folder``'s ``progress(stage, done, total)`` on one terminal bar: scanning 5 %, exporting 95 %.

    An index is opened before the bar (no scan): its export starts at 5 %.
    """

    def __init__(self) -> None:
        self.bar = StageBar("export")
        self.enabled = self.bar.enabled

    def __call__(self, stage: str, done: int, total: int) -> None:
        frac = done / max(total, 1)
        overall = 0.05 * frac if stage == "scanning" else 0.05 + 0.95 * frac
        self.bar.stage(f"{stage} {done}/{total}" if stage == "scanning" else stage)
        self.bar(int(SCALE * overall), SCALE)

    def close(self) -> None:
        self.bar.close()


def _options(args: argparse.Namespace, bar: _Bar, cancel: Any) -> dict[str, Any]:
    """The export keywords the command line sets, for a folder and for an index alike."""
    return dict(
        series=args.series,
        skip_localizers=args.skip_localizers,
        gzip=args.gzip,
        force=args.force,
        progress=bar if bar.enabled else None,
        template=args.template,
        patient_tags=args.patient_tags,
        allow_inside_input=args.allow_inside_input,
        cancel=cancel,
    )


def _export(args: argparse.Namespace, bar: _Bar, cancel: Any) -> list[Any]:
    index = single_index(args.src)
    if index is not None:
        return _export_index(args, index, bar, cancel)
    return export_folder(args.src, args.out, recursive=not args.no_recursive, gaps=args.gaps, **_options(args, bar, cancel))


def _export_index(args: argparse.Namespace, index: str, bar: _Bar, cancel: Any) -> list[Any]:
    """The volumes of an index (only the studies of ``--series``), written as for a folder.

    OUT may not be inside the archive the index lists (the input folder) nor inside the index itself.
    """
    from ..index import read_manifest

    archive = read_manifest(index)["archive"]
    volumes, result = open_inputs(args, index, keys=args.series)
    return export_volumes(
        volumes,
        args.out,
        inputs=[archive, index],
        input_files=[f.path for f in result.files],
        **_options(args, bar, cancel),
    )


def run(args: argparse.Namespace) -> int:
    return run_cancellable(args, lambda intr: _run(args, intr))


def _run(args: argparse.Namespace, intr: Interrupt) -> int:
    check_inputs(args.src)
    bar = _Bar()
    try:
        with intr.cooperating() as cancel:
            results = _export(args, bar, cancel)
    except ValueError as exc:  # a bad template
        print(f"napari-dicomseries export: error: {exc}", file=sys.stderr)
        return 2
    except DicomSeriesError:  # some are OSErrors too (OutputExistsError is a FileExistsError): reported as they are
        raise
    except OSError as exc:  # e.g. the output folder cannot be created (a file on its path, read-only, ...)
        what = exc.strerror or str(exc)
        if exc.filename is not None and os.path.abspath(os.fsdecode(exc.filename)) != os.path.abspath(args.out):
            what = f"{os.fsdecode(exc.filename)}: {what}"
        raise DicomSeriesError(f"{args.out}: cannot write the output there ({what})") from exc
    finally:
        bar.close()
    failed = [r for r in results if r.error]
    if args.json:
        print(json.dumps({"out": args.out, "results": [r.to_dict() for r in results]}, indent=2))
    else:
        for r in results:
            label = f"[{r.key}] {r.series_description}"
            if r.ok:
                shape = "x".join(str(s) for s in r.shape)
                print(f"{r.nifti}  {shape} {r.dtype}  {label}")
                for w in r.warnings:
                    print(f"  [{r.key}] warning: {w}")
            elif r.skipped:
                print(f"skipped {label}: {r.skipped}")
        n_ok = sum(r.ok for r in results)
        print(f"{n_ok} volume(s) written to {args.out}" + (f", {len(failed)} failed" if failed else ""))
    for r in failed:
        print(f"napari-dicomseries export: error: {r.error}", file=sys.stderr)
    return 1 if failed else 0

"""``export DIR OUT``: every volume of a folder as NIfTI (.nii.gz) with a JSON sidecar of its DICOM tags.

Like dcm2niix, every image volume is written, scouts included (leave them out
with --skip-localizers); a 4-D series becomes one 4-D file. File names come
from --template (fields: {key} {series} {description} {kernel} {modality}
{kind} {kernel_class} {thickness_class} {orientation} {uid}); {kernel} is
dropped when the description names it already; unsafe characters become "_"
and clashing names get "_2", "_3". Nothing is overwritten without --force:
if one target exists, nothing is written. OUT may not be the input folder or
inside it unless --allow-inside-input is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ..errors import DicomSeriesError
from ..export import DEFAULT_TEMPLATE, export_folder
from ._options import add_gaps_option, check_inputs


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="write every volume as NIfTI + JSON sidecar",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="DIR", help="folder (or file) with the DICOM series")
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
    add_gaps_option(p)
    return p


class _Bar:
    """A progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.stage = ""
        self.last: tuple[str | None, int] = (None, -1)
        self.t0 = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        # the scan draws its own bar on a terminal
        if not self.enabled or stage == "scanning" or time.monotonic() - self.t0 < 0.3:
            return
        pct = int(100 * done / max(total, 1))
        if (stage, pct) == self.last:
            return
        if self.stage and stage != self.stage:
            sys.stderr.write("\n")
        self.stage = stage
        self.last = (stage, pct)
        sys.stderr.write(f"\r{stage:<10} {'#' * (pct // 4):<25} {pct:3d}%")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.stage:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    check_inputs(args.src)
    bar = _Bar()
    try:
        results = export_folder(
            args.src,
            args.out,
            series=args.series,
            skip_localizers=args.skip_localizers,
            gzip=args.gzip,
            force=args.force,
            progress=bar if bar.enabled else None,
            template=args.template,
            patient_tags=args.patient_tags,
            allow_inside_input=args.allow_inside_input,
            recursive=not args.no_recursive,
            gaps=args.gaps,
        )
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

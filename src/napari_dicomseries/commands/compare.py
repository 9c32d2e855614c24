"""``compare DIR A B``: voxel difference of two volumes (B resampled onto A's grid when they differ) and mask overlap.

Masks for Dice, Jaccard, Hausdorff distance and volume (mL), on A's grid:

  --hu-range LO HI / --preset NAME    A's mask: LO <= HU <= HI of A; B's mask: the same range of B (after resampling).
  --mask-a SEG:SEGMENT --mask-b SEG:SEGMENT
                                      A's mask: segment SEGMENT of segmentation SEG; B's mask: the other segment.
  --mask-a SEG:SEGMENT --hu-range LO HI
                                      A's mask: the segment; B's mask: LO <= HU <= HI of image B (after resampling
                                      onto A's grid). The other way round with --mask-b: A's mask is the HU range of
                                      image A, B's the segment. (Both --mask-a and --mask-b with an HU range, or one
                                      of them alone, is refused.)

SEG is a segmentation volume (series number, volume key or SeriesInstanceUID, as `seg DIR` lists them; DICOM SEG, or
RTSTRUCT on its series' grid), SEGMENT a segment number or label. Without :SEGMENT every segment of SEG is used: two
such sides are paired by segment number, otherwise each segment of one side meets each of the other (one table
section per pair). A segment's mask is put onto A's grid by nearest neighbour in physical space when its grid differs
(voxels outside the segmentation are outside the mask); as for HU masks, only the voxels B covers count. Its
FrameOfReferenceUID must be A's unless --allow-different-frame.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..errors import DicomSeriesError, GeometryError
from ..metrics import HU_PRESETS, compare_volumes, segment_pairs
from ..volume import Volume
from ._options import RangeAction, add_gaps_option, hu_value, non_negative_float, open_selected
from ._progress import Interrupt, StageBar, add_quiet_option, run_cancellable
from ._table import format_table


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "compare",
        help="difference statistics and Dice of two volumes (HU ranges or segmentations as masks)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="DIR", help="folder (or file) to scan")
    p.add_argument("a", metavar="A", help="first (reference) volume: series number, key or SeriesInstanceUID")
    p.add_argument("b", metavar="B", help="second volume, resampled onto A's grid if needed")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--hu-range", nargs=2, type=hu_value, action=RangeAction, metavar=("LO", "HI"),
        help="masks LO <= HU <= HI of both for Dice etc. (LO <= HI; HI may be inf)",
    )  # fmt: skip
    g.add_argument("--preset", choices=sorted(HU_PRESETS), help="an HU range by name: " + ", ".join(
        f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in HU_PRESETS.items()))  # fmt: skip
    p.add_argument(
        "--mask-a",
        type=mask_spec,
        metavar="SEG[:SEGMENT]",
        help="A's mask: a segment (number or label; all when omitted) of segmentation SEG, on A's grid",
    )
    p.add_argument(
        "--mask-b",
        type=mask_spec,
        metavar="SEG[:SEGMENT]",
        help="B's mask, as --mask-a; with only one of them, --hu-range/--preset makes the other (see above)",
    )
    p.add_argument("--interpolation", choices=("linear", "nearest"), default="linear", help="how B is resampled (default linear)")
    p.add_argument("--tolerance", type=non_negative_float, default=0.0, help="a voxel differs when |B - A| > this (default 0)")
    p.add_argument("--allow-different-frame", action="store_true", help="compare even if the FrameOfReferenceUIDs differ")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_quiet_option(p)
    add_gaps_option(p)
    return p


def mask_spec(text: str) -> tuple[str, str | None]:
    """An argparse type: ``SEG`` or ``SEG:SEGMENT`` as (SEG, SEGMENT or None)."""
    seg, colon, segment = text.partition(":")
    if not seg.strip():
        raise argparse.ArgumentTypeError(f"no segmentation before ':' in {text!r} (SEG:SEGMENT, e.g. 1:1 or 1:Liver)")
    if colon and not segment.strip():
        raise argparse.ArgumentTypeError(f"no segment after ':' in {text!r} (leave out ':' for every segment)")
    return seg.strip(), (segment.strip() if colon else None)


def _check_masks(args: argparse.Namespace, hu: tuple[float, float] | None) -> None:
    """Refuse, before anything is scanned, mask options that do not make two masks."""
    if args.mask_a and args.mask_b and hu is not None:
        raise DicomSeriesError("--mask-a and --mask-b make both masks: leave out --hu-range/--preset")
    for mine, other in (("a", "b"), ("b", "a")):
        if getattr(args, f"mask_{mine}") and not getattr(args, f"mask_{other}") and hu is None:
            raise DicomSeriesError(
                f"--mask-{mine} needs a mask for {other.upper()}: --mask-{other} SEG:SEGMENT, or --hu-range LO HI / --preset "
                f"(the HU range of image {other.upper()})"
            )


def _check_frames(a: Volume, b: Volume) -> None:
    """Refuse, before any pixel is read, two volumes whose FrameOfReferenceUIDs differ (naming the option to insist)."""
    fa, fb = a.frame_of_reference_uid, b.frame_of_reference_uid
    if fa and fa == fb:
        return
    if not fa and not fb:
        why = "neither has a FrameOfReferenceUID, so it is unknown whether their patient coordinates agree"
    elif not fa or not fb:
        why = (
            f"series {(b if fa else a).key} has no FrameOfReferenceUID, so it is unknown whether their patient coordinates agree"
        )
    else:
        why = f"their FrameOfReferenceUIDs differ ({fa} and {fb}), so their patient coordinates may not agree"
    raise GeometryError(
        f"series {a.key} ({a.series_description!r}) and {b.key} ({b.series_description!r}): {why}; "
        "add --allow-different-frame to compare them anyway (only if you know they are registered)"
    )


def run(args: argparse.Namespace) -> int:
    return run_cancellable(args, lambda intr: _run(args, intr))


def _run(args: argparse.Namespace, intr: Interrupt) -> int:
    hu = tuple(args.hu_range) if args.hu_range else (HU_PRESETS[args.preset] if args.preset else None)
    _check_masks(args, hu)
    specs = [m for m in (args.mask_a, args.mask_b) if m]
    a, b, *segs = open_selected(args, args.path, args.a, args.b, *(m[0] for m in specs))
    if not args.allow_different_frame:
        _check_frames(a, b)
        for seg in segs:
            _check_frames(a, seg)
    pairs = None
    if specs:
        seg_a = segs.pop(0) if args.mask_a else None
        seg_b = segs.pop(0) if args.mask_b else None
        pairs = segment_pairs(seg_a, args.mask_a[1] if args.mask_a else None, seg_b, args.mask_b[1] if args.mask_b else None)
    bar = StageBar(f"comparing {a.key} and {b.key}")
    with intr.cooperating() as cancel:
        res = compare_volumes(
            a,
            b,
            interpolation=args.interpolation,
            hu_range=hu,
            tolerance=args.tolerance,
            allow_different_frame=args.allow_different_frame,
            segments=pairs,
            progress=bar,
            cancel=cancel,
        )
    bar.close()
    if args.json:
        d = res.to_dict()
        d["a"] = {"key": a.key, "description": a.series_description}
        d["b"] = {"key": b.key, "description": b.series_description}
        d["hu_range"] = None if hu is None else [x if math.isfinite(x) else None for x in hu]
        d["mask_a"] = ":".join(x for x in args.mask_a if x) if args.mask_a else None
        d["mask_b"] = ":".join(x for x in args.mask_b if x) if args.mask_b else None
        print(json.dumps(d, indent=2))
        return 0
    print(f"A = {a.key} {a.series_description!r}   B = {b.key} {b.series_description!r}")
    print(format_table(["section", "measure", "value"], [r for r in res.rows() if r[0] != "note"], max_width=100))
    for m in res.messages:
        print(f"note: {m}")
    return 0

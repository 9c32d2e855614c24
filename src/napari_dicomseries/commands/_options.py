"""Arguments shared by several commands."""

from __future__ import annotations

import argparse

from ..compare import DEFAULT_TOLERANCE

VOLUME_HELP = "series number, volume key (3.2) or SeriesInstanceUID"


def add_tag_options(p: argparse.ArgumentParser) -> None:
    """--search, --private, --tolerance and --json, as ``tags`` and ``diff`` take them."""
    p.add_argument("--search", metavar="TEXT", default="", help="only tags whose keyword, name or number matches")
    p.add_argument("--private", action="store_true", help="include private tags, with their private creator")
    p.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help=f"numbers closer than this are equal (default {DEFAULT_TOLERANCE:g})"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

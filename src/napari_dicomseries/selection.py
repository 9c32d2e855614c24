"""Which volumes a user names: one matcher for volume keys, SeriesInstanceUIDs and series numbers.

Every command that takes volumes by name (``tags --series``, ``diff A B``,
``compare A B``, ``export --series``) matches them with :func:`matching`:
a volume key (``"3"``, or ``"3.2"`` for the second volume of a split series)
names that volume; otherwise a SeriesInstanceUID or a series number names
every volume of that series. :func:`select_volume` wants exactly one volume
(a series split into several is ambiguous there); :func:`select_series`
takes all the volumes of each name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import SeriesNotFoundError
from .volume import Volume

__all__ = ["matching", "select_volume", "select_series"]


def matching(volumes: Sequence[Volume], spec: str | int) -> list[Volume]:
    """The volumes that ``spec`` names, in the order of ``volumes`` (empty when none).

    Parameters
    ----------
    volumes : sequence of Volume
        The volumes to choose from (keys are unique).
    spec : str or int
        A volume key (``"3"``, ``"3.2"``), a SeriesInstanceUID or a series
        number; surrounding blanks are ignored.

    Returns
    -------
    list of Volume
        The volume whose key is ``spec``; else every volume of the series
        whose SeriesInstanceUID is ``spec``; else every volume of the series
        whose number is ``spec`` (written as an integer).
    """
    s = str(spec).strip()
    by_key = [v for v in volumes if v.key == s]
    if by_key:
        return by_key[:1]
    matches = [v for v in volumes if v.series_instance_uid == s]
    if not matches and re.fullmatch(r"[+-]?\d+", s):
        number = int(s)
        matches = [v for v in volumes if v.series_number == number]
    return matches


def _available(volumes: Sequence[Volume]) -> str:
    return ", ".join(f"{v.key} ({v.series_description or v.modality or 'no description'})" for v in volumes) or "none"


def select_volume(volumes: Sequence[Volume], spec: str | int) -> Volume:
    """The one volume that ``spec`` names: a volume key ("3" or "3.2"), a series number or a SeriesInstanceUID.

    Raises
    ------
    SeriesNotFoundError
        If nothing matches, or a series number or UID matches several volumes
        (a split series): the message lists the available volumes.
    """
    s = str(spec).strip()
    matches = matching(volumes, s)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SeriesNotFoundError(
            f"series {s} has {len(matches)} volumes ({', '.join(v.key for v in matches)}): name one by its key; "
            f"available: {_available(volumes)}"
        )
    raise SeriesNotFoundError(
        f"no series {s!r} (series number, volume key or SeriesInstanceUID); available: {_available(volumes)}"
    )


def select_series(volumes: Sequence[Volume], specs: Sequence[str | int] | None = None) -> list[Volume]:
    """Every volume that an entry of ``specs`` names (see :func:`matching`), in the order of ``volumes``.

    Parameters
    ----------
    volumes : sequence of Volume
        The volumes to choose from.
    specs : sequence of str or int, optional
        Volume keys, SeriesInstanceUIDs or series numbers; None or empty
        selects every volume.

    Raises
    ------
    SeriesNotFoundError
        If an entry names no volume (the message lists every such entry and the
        volumes there are).
    """
    if not specs:
        return list(volumes)
    wanted = {str(s).strip() for s in specs}
    chosen: set[int] = set()
    missing = []
    for s in wanted:
        found = matching(volumes, s)
        if not found:
            missing.append(s)
        chosen.update(id(v) for v in found)
    if missing:
        raise SeriesNotFoundError(
            f"no series {', '.join(sorted(missing))} in the input; it has "
            + (", ".join(v.key for v in volumes) if volumes else "no DICOM series")
        )
    return [v for v in volumes if id(v) in chosen]

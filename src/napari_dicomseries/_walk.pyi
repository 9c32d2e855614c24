"""Types of the C element walk (``_walk.c``).

See :mod:`napari_dicomseries.rawheader`, :func:`elements.memo_lookup` and :func:`frame.build_raw_frame`.
"""

from typing import Any

def walk(
    data: bytes,
    p: int,
    explicit: bool,
    keys: bytes,
    kinds: dict[int, tuple[int, int]],
    values: dict[int, tuple[bytes, bytes]],
    present: set[int],
) -> int: ...
def meta(data: bytes | bytearray, p: int) -> tuple[int, bytes | None] | None: ...
def lookup(d: dict[int, Any], specs: tuple[tuple[int, dict[Any, Any] | None, Any], ...]) -> tuple[list[Any], list[int]]: ...
def fill(obj: Any, names: tuple[str, ...], values: tuple[Any, ...]) -> Any: ...

"""Types of the C element walk (``_walk.c``); see :mod:`napari_dicomseries.rawheader`."""

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

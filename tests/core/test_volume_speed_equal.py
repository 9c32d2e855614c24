"""The volume builder's fast paths give what the plain definitions give, on the real scanner exports.

The builder groups frames by a memoized split key and does its 3-vector arithmetic in plain floats rather than
numpy (both for speed, see :mod:`grouping` and :func:`geometry.cross3`). These tests hold each fast path against
its definition: the per-frame key of ``grouping._SPLIT_KEYS``, ``numpy.cross`` and ``numpy.linalg.norm``, and the
numpy formula of ``Geometry.direction``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from napari_dicomseries import open_folder
from napari_dicomseries.frame import Frame
from napari_dicomseries.geometry import Geometry, cross3, norm3
from napari_dicomseries.grouping import _SPLIT_KEYS, split_series
from napari_dicomseries.scan import scan

from ..data import SHARED_FOLDERS


def _series_frames(folder: Path) -> list[list[Frame]]:
    by_series: dict[tuple[str, str], list[Frame]] = defaultdict(list)
    for f in scan(folder, workers=1).files:
        if f.is_image:
            by_series[(f.series_instance_uid, f.series_number)].extend(f.frames)
    return list(by_series.values())


@pytest.mark.parametrize("folder", SHARED_FOLDERS, ids=lambda p: p.name)
def test_split_series_groups_as_the_per_frame_key(folder: Path) -> None:
    """The memoized split key makes the groups (members and their order) that the key of each frame makes."""
    n_groups = 0
    for frames in _series_frames(folder):
        expected: dict[tuple, list[int]] = defaultdict(list)
        for n, f in enumerate(frames):
            expected[tuple(fn(f) for _, fn in _SPLIT_KEYS)].append(n)
        index = {id(f): n for n, f in enumerate(frames)}
        got = [[index[id(f)] for f in group] for group, _ in split_series(frames)]
        assert sorted(got) == sorted(expected.values())
        n_groups += len(got)
    assert n_groups > 0


def test_split_series_memo_tells_every_split_field_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames that differ in one split field each (localizer, echo, orientation, size, spacing, position present,
    the full ImageType), interleaved: the memoized key makes the groups, their order and reasons of the key made
    per frame (the memo switched off). A field left out of the memo's key would put two of them together."""
    from napari_dicomseries import grouping

    base = Frame(
        "a.dcm", 0, "1", (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.5, 0.5), 1.0, None, 1, 1, 1, None,
        None, None, None, None, ("ORIGINAL", "PRIMARY", "AXIAL"), 1.0, 0.0, None, None, 64, 64,
    )  # fmt: skip
    variants = [
        {},
        {"image_type": ("ORIGINAL", "PRIMARY", "LOCALIZER")},
        {"echo_number": 2},
        {"orientation": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)},
        {"rows": 32},
        {"columns": 32},
        {"pixel_spacing": (0.7, 0.7)},
        {"position": None},
        {"image_type": ("DERIVED", "SECONDARY", "AXIAL")},
        {"orientation": (-0.0, 1.0, 0.0, 0.0, 0.0, -1.0)},  # -0.0 and 0.0: one key, as without the memo
    ]
    frames = []
    for k in range(3):
        for v, variant in enumerate(variants):
            fields = {"sop_instance_uid": f"{k}.{v}", "instance_number": 10 * k + v, "position": (0.0, 0.0, float(k))}
            frames.append(dataclasses.replace(base, **{**fields, **variant}))

    def groups(out: list) -> list:
        return [([f.sop_instance_uid for f in g], reason) for g, reason in out]

    memoized = groups(split_series(frames))
    monkeypatch.setattr(grouping, "_finite", lambda v: False)  # never remembered: the key of each frame
    per_frame = groups(split_series(frames))
    assert memoized == per_frame
    assert len(memoized) == len(variants) - 1  # every variant apart, but -0.0 with 0.0


def _ulps(a: float, b: float) -> float:
    return abs(a - b) / math.ulp(max(abs(a), abs(b)) or 1.0)


@pytest.mark.parametrize("folder", SHARED_FOLDERS, ids=lambda p: p.name)
def test_plain_float_vectors_as_numpy(folder: Path) -> None:
    """cross3 is numpy's cross to the bit; norm3 numpy's norm (to the bit where the BLAS dot sums in order, as here)."""
    orientations = {f.orientation for frames in _series_frames(folder) for f in frames if f.orientation is not None}
    for o in orientations:
        a, b = np.asarray(o[:3], float), np.asarray(o[3:], float)
        c = cross3(o[:3], o[3:])
        assert c == tuple(np.cross(a, b).tolist())
        assert _ulps(norm3(c), float(np.linalg.norm(np.cross(a, b)))) <= 1
        assert _ulps(norm3(o[:3]), float(np.linalg.norm(a))) <= 1


def _numpy_direction(g: Geometry) -> tuple[float, ...]:
    """``Geometry.direction`` as numpy computes it (the definition the plain-float property follows)."""
    row = g.affine[:3, 2] / (np.linalg.norm(g.affine[:3, 2]) or 1.0)
    col = g.affine[:3, 1] / (np.linalg.norm(g.affine[:3, 1]) or 1.0)
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal) or 1.0
    if np.dot(normal, g.affine[:3, 0]) < 0:
        normal = -normal
    return tuple(float(x) for x in np.column_stack([row, col, normal]).reshape(-1))


@pytest.mark.parametrize("folder", SHARED_FOLDERS, ids=lambda p: p.name)
def test_geometry_direction_as_numpy(folder: Path) -> None:
    """Every volume's grid gives the direction of the numpy formula (within an ulp; a sheared grid included)."""
    volumes = [v for v in open_folder(folder)[0] if v.shape]
    assert volumes
    for v in volumes:
        g = v.geometry
        assert all(_ulps(x, y) <= 1 for x, y in zip(g.direction, _numpy_direction(g), strict=True)), v.key
        assert g.direction is g.direction  # computed once: the affine cannot change

"""What the packed splat formats share: the Morton order they write splats in (neighbours end up
side by side, so ranges are tight and images compress), "smallest three" quaternions, and
256-entry scalar codebooks."""

from __future__ import annotations

import math

import numpy as np
import torch

HALF_SQRT2 = math.sqrt(2.0) * 0.5
# which axes' signs each SH coefficient (1..24, 3DGS order) takes on when axes change sign
_SH_AXES = ("y", "z", "x", "xy", "yz", "", "xz", "", "y", "xyz", "y", "z", "x", "z", "x",
            "xy", "yz", "xy", "yz", "", "xz", "", "xz", "y")
_OTHERS = np.array([[j for j in range(4) if j != i] for i in range(4)])


def _part1by2(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64) & 0x3FF
    v = (v | (v << 16)) & 0xFF0000FF
    v = (v | (v << 8)) & 0x0300F00F
    v = (v | (v << 4)) & 0x030C30C3
    return (v | (v << 2)) & 0x09249249


def morton_order(means: torch.Tensor) -> torch.Tensor:
    """The order splats are written in: by the 30-bit Morton code of their position in the
    bounding box (stable, so ties keep their order); the identity where the box is flat or not
    finite."""
    p = means.detach().cpu().double().numpy()
    if len(p) == 0:
        return torch.zeros(0, dtype=torch.long)
    lo, hi = p.min(0), p.max(0)
    extent = hi - lo
    if not np.isfinite(extent).all() or (extent == 0).all():
        return torch.arange(len(p))
    mul = np.where(extent > 0, 1024 / np.where(extent > 0, extent, 1), 0)
    cells = np.minimum(1023, np.floor((p - lo) * mul)).astype(np.int64)
    code = (_part1by2(cells[:, 2]) << 2) | (_part1by2(cells[:, 1]) << 1) | _part1by2(cells[:, 0])
    return torch.from_numpy(np.argsort(code, kind="stable"))


def flip_axes(means: np.ndarray, quats: np.ndarray, sh: np.ndarray, signs) -> None:
    """Turn splats from one axis-aligned system to another, in place (float64 arrays; quats
    (w, x, y, z)); signs (sx, sy, sz): +1 where an axis agrees between the two, -1 where it is
    reversed. An even number of reversals is a half turn: its own inverse."""
    sx, sy, sz = signs
    if (sx, sy, sz) == (1, 1, 1):
        return
    axis = {"x": sx, "y": sy, "z": sz}
    means *= np.array([sx, sy, sz], np.float64)
    quats[:, 1:] *= np.array([sy * sz, sx * sz, sx * sy], np.float64)
    if sh.shape[1] > 1:
        sh[:, 1:] *= np.array([math.prod(axis[a] for a in _SH_AXES[k]) for k in range(sh.shape[1] - 1)], np.float64)[:, None]


def smallest_three(quats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the largest component [N], the other three in index order mapped to [0, 1] [N, 3])
    of unit (w, x, y, z) quaternions made positive in their largest component; a zero quaternion
    counts as the identity."""
    q = np.asarray(quats, np.float64)
    n = len(q)
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(norm > 0, q / np.where(norm > 0, norm, 1), np.array([1.0, 0.0, 0.0, 0.0]))
    largest = np.argmax(np.abs(q), axis=1)
    q = q * np.where(q[np.arange(n), largest] < 0, -1.0, 1.0)[:, None]
    return largest, q[np.arange(n)[:, None], _OTHERS[largest]] * HALF_SQRT2 + 0.5


def from_smallest_three(largest: np.ndarray, three: np.ndarray) -> np.ndarray:
    """(w, x, y, z) quaternions [N, 4] from smallest_three's (largest, three in [0, 1])."""
    n = len(largest)
    values = (np.asarray(three, np.float64) - 0.5) / HALF_SQRT2
    quats = np.empty((n, 4))
    quats[np.arange(n)[:, None], _OTHERS[largest]] = values
    quats[np.arange(n), largest] = np.sqrt(np.clip(1 - (values ** 2).sum(1), 0, None))
    return quats


def codebook(values: np.ndarray, size: int = 256, iterations: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """(`size` ascending float32 centres, a uint8/uint16 label per value): one-dimensional k-means
    (Lloyd's, started from a mix of the values' quantiles and an even spread over their range, so
    that sparse tails keep centres). Exact where there are at most `size` distinct values."""
    v = np.asarray(values, np.float64).ravel()
    if len(v) == 0:
        return np.zeros(size, np.float32), np.zeros(0, np.uint8 if size <= 256 else np.uint16)
    s = np.sort(v)
    distinct = np.unique(s.astype(np.float32)).astype(np.float64)
    if len(distinct) <= size:
        centres = np.concatenate([distinct, np.full(size - len(distinct), distinct[-1])])
    else:
        t = (np.arange(size) + 0.5) / size
        centres = np.sort(0.5 * np.quantile(s, t) + 0.5 * (s[0] + (s[-1] - s[0]) * t))
        total = np.concatenate([[0.0], np.cumsum(s)])
        for _ in range(iterations):
            cuts = np.searchsorted(s, (centres[1:] + centres[:-1]) / 2)
            starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(s)]])
            counts = ends - starts
            moved = np.where(counts > 0, (total[ends] - total[starts]) / np.maximum(counts, 1), centres)
            if np.allclose(moved, centres, rtol=0, atol=1e-12):
                break
            centres = np.sort(moved)
    centres = centres.astype(np.float32)
    return centres, nearest(centres, v)


def nearest(centres: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The index of the nearest of ascending `centres` for each value (ties go to the lower)."""
    c = np.asarray(centres, np.float64)
    mid = (c[1:] + c[:-1]) / 2
    index = np.searchsorted(mid, np.asarray(values, np.float64), side="left")
    return index.astype(np.uint8 if len(c) <= 256 else np.uint16)

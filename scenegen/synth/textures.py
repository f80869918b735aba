"""Procedural solid textures: colour as a function of a 3D point in the object's own frame, so
surfaces need no UV maps and the pattern moves with the object. Multi-octave value noise gives
the fine, non-repeating detail that feature matching (SIFT) and photometric training need.

Kinds: solid (flat colour), noise (blotches between two colours), checker (squares with fine
noise), wood (rings with noise), speckle (dense dots: the easiest for structure from motion).
"""

from __future__ import annotations

import numba

from .. import compiled  # noqa: F401  (threading layer)
import numpy as np

from ..errors import InvalidArgumentError

KINDS = ("solid", "noise", "checker", "wood", "speckle")


@numba.njit(cache=True, inline="always")
def _hash(ix, iy, iz, seed):
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791) ^ (seed * 2654435761)
    h = h & 0xFFFFFFFF
    h = ((h >> 16) ^ h) * 0x45D9F3B & 0xFFFFFFFF
    h = ((h >> 16) ^ h) * 0x45D9F3B & 0xFFFFFFFF
    h = (h >> 16) ^ h
    return (h & 0xFFFFFF) / 16777216.0


@numba.njit(cache=True, parallel=True)
def fbm(points, frequency, octaves, seed):
    """Fractal value noise in [0, 1] at points [N, 3] (float64): `octaves` layers, each at twice
    the frequency and half the weight of the one before."""
    n = points.shape[0]
    out = np.empty(n)
    for i in numba.prange(n):
        total = 0.0
        weight = 0.5
        norm = 0.0
        f = frequency
        for o in range(octaves):
            x = points[i, 0] * f + 17.3 * o
            y = points[i, 1] * f + 31.7 * o
            z = points[i, 2] * f + 7.1 * o
            x0 = np.floor(x)
            y0 = np.floor(y)
            z0 = np.floor(z)
            fx = x - x0
            fy = y - y0
            fz = z - z0
            fx = fx * fx * (3 - 2 * fx)
            fy = fy * fy * (3 - 2 * fy)
            fz = fz * fz * (3 - 2 * fz)
            ix = np.int64(x0)
            iy = np.int64(y0)
            iz = np.int64(z0)
            v = 0.0
            for dx in range(2):
                wx = fx if dx else 1 - fx
                for dy in range(2):
                    wy = fy if dy else 1 - fy
                    for dz in range(2):
                        wz = fz if dz else 1 - fz
                        v += wx * wy * wz * _hash(ix + dx, iy + dy, iz + dz, seed + o)
            total += weight * v
            norm += weight
            weight *= 0.5
            f *= 2.0
        out[i] = total / norm
    return out


def texture_colours(kind: str, points: np.ndarray, colour, colour2=None, scale: float = 0.1, seed: int = 0) -> np.ndarray:
    """RGB [N, 3] in [0, 1] of texture `kind` at object-frame points [N, 3]. `scale` is the size of
    the pattern's features in scene units; `colour2` defaults to a darker `colour`."""
    if kind not in KINDS:
        raise InvalidArgumentError(f"texture must be one of {', '.join(KINDS)}; got {kind!r}")
    if not scale > 0:
        raise InvalidArgumentError(f"texture scale must be positive, got {scale}")
    c1 = np.asarray(colour, dtype=np.float64).reshape(1, 3)
    c2 = c1 * 0.45 if colour2 is None else np.asarray(colour2, dtype=np.float64).reshape(1, 3)
    pts = np.ascontiguousarray(points, dtype=np.float64)
    if kind == "solid" or len(pts) == 0:
        return np.repeat(c1, len(pts), 0)
    detail = fbm(pts, 4.0 / scale, 3, seed)[:, None]
    if kind == "noise":
        w = np.clip((fbm(pts, 1.0 / scale, 4, seed + 101)[:, None] - 0.5) * 2.5 + 0.5, 0, 1)
        out = (1 - w) * c1 + w * c2
        out *= 0.8 + 0.4 * detail
    elif kind == "checker":
        cells = np.floor(pts / scale).astype(np.int64).sum(1) % 2
        out = np.where(cells[:, None] == 0, c1, c2) * (0.85 + 0.3 * detail)
    elif kind == "wood":
        warp = fbm(pts, 0.5 / scale, 3, seed + 202)
        rings = np.hypot(pts[:, 0], pts[:, 2]) / scale * 2 + 3 * warp
        w = (0.5 + 0.5 * np.cos(2 * np.pi * rings))[:, None] ** 2
        out = ((1 - w) * c1 + w * c2) * (0.85 + 0.3 * detail)
    else:  # speckle
        dots = fbm(pts, 3.0 / scale, 2, seed + 303)[:, None]
        w = np.clip((dots - 0.55) * 8, 0, 1)
        out = ((1 - w) * c1 + w * c2) * (0.8 + 0.4 * detail)
    return np.clip(out, 0, 1)

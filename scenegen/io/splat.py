"""The 32-byte `.splat` layout used by web splat viewers.

Per splat, no header: position float32 x3, linear scale float32 x3, RGBA uint8 x4 (colour is the
view-independent DC colour, A the opacity), rotation uint8 x4 encoding (w, x, y, z) as q*128+128.
SH of degree >= 1 cannot be stored and are dropped on write. Splats are written most important
first (large and opaque), as the viewers expect for progressive loading.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..errors import FormatError, InvalidArgumentError
from ..gaussians import Gaussians
from ..sh import rgb_to_sh_dc, sh_to_colour
from ..common.atomic import atomic_write_bytes
from .ply import ON_INVALID, apply_invalid_policy
from ..common.source import read_source

SPLAT_DTYPE = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
# Encoded unit quaternions have norm 1 within the uint8 rounding error; anything else was not
# written as q*128+128.
_QUAT_NORM_TOLERANCE = 0.05


def read_splat(source, *, on_invalid: str = "raise") -> Gaussians:
    """Read a `.splat` file (path or bytes).

    on_invalid: what to do with non-finite rows, non-positive scales or rotations that are not
    encoded unit quaternions: "raise" (FormatError), "drop" them, or "repair" (identity rotation,
    rows that cannot be repaired dropped).
    """
    if on_invalid not in ON_INVALID:
        raise FormatError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    data, name = read_source(source, what=".splat")
    if len(data) == 0:
        raise FormatError(f"{name}: the file is empty; a .splat holds 32 bytes per splat")
    if len(data) % SPLAT_DTYPE.itemsize:
        raise FormatError(
            f"{name}: {len(data)} bytes is not a multiple of {SPLAT_DTYPE.itemsize}; the file is truncated or not a .splat"
        )
    rec = np.frombuffer(data, dtype=SPLAT_DTYPE)
    rgba = rec["rgba"].astype(np.float32) / 255.0
    q = (rec["rot"].astype(np.float32) - 128.0) / 128.0
    scale = rec["scale"].astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_scale = np.log(scale)
    norm = np.linalg.norm(q, axis=1)
    bad_rot = np.abs(norm - 1.0) > _QUAT_NORM_TOLERANCE
    bad_scale = ~(scale > 0).all(axis=1)
    if on_invalid == "raise" and (bad_rot.any() or bad_scale.any()):
        raise FormatError(
            f"{name}: {int(bad_rot.sum())} of {len(rec)} splats have rotations that are not encoded unit quaternions "
            f"(norms {norm.min():.2f}..{norm.max():.2f}, expected 1) and {int(bad_scale.sum())} have non-positive scales; "
            "pass on_invalid='repair' to use identity rotations or on_invalid='drop' to skip those splats"
        )
    if on_invalid == "repair":
        q[bad_rot] = (1.0, 0.0, 0.0, 0.0)
    # Keep the logit finite while 0 and 255 still encode back to 0 and 255.
    alpha = np.clip(rgba[:, 3], 1e-4, 1 - 1e-4)
    g = Gaussians(
        means=torch.from_numpy(rec["position"].copy()),
        scales=torch.from_numpy(np.where(bad_scale[:, None], np.nan, log_scale).astype(np.float32)),
        quats=torch.from_numpy(np.where(bad_rot[:, None] & (on_invalid == "drop"), 0.0, q).astype(np.float32)),
        opacities=torch.logit(torch.from_numpy(alpha)),
        sh=rgb_to_sh_dc(torch.from_numpy(rgba[:, :3].copy())).unsqueeze(1),
    )
    return apply_invalid_policy(g, "drop" if on_invalid != "raise" else "raise", name)


def splat_bytes(gaussians: Gaussians) -> bytes:
    g = gaussians.detach().to("cpu", torch.float32)
    if len(g) == 0:
        raise InvalidArgumentError("cannot write a .splat with no Gaussians (the format has no header to say 'empty')")
    scales = torch.exp(g.scales)
    alpha = torch.sigmoid(g.opacities)
    order = torch.argsort(-(scales.prod(dim=1) * alpha), stable=True)
    rec = np.zeros(len(g), dtype=SPLAT_DTYPE)
    rec["position"] = g.means[order].numpy()
    rec["scale"] = scales[order].numpy()
    rgb = sh_to_colour(g.sh[order]).clamp(0, 1)
    rec["rgba"] = (torch.cat([rgb, alpha[order, None]], 1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    q = g.quats[order]
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
    rec["rot"] = (q * 128 + 128).round().clamp(0, 255).to(torch.uint8).numpy()
    return rec.tobytes()


def write_splat(path: str | os.PathLike, gaussians: Gaussians) -> None:
    """Write `gaussians` as a `.splat` file, atomically (SH beyond the DC term are dropped)."""
    atomic_write_bytes(path, splat_bytes(gaussians))

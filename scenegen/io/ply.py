"""The standard 3D Gaussian Splatting PLY: read any property order, write the reference layout.

Layout written: x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity scale_0..2 rot_0..3, all
float32, binary little endian. f_rest is channel-major (index = c * (K-1) + k - 1). Reading accepts
ascii and both binary byte orders, any property order, extra properties (ignored) and extra
elements, and checks every count against the file size before allocating.
"""

from __future__ import annotations

import os
import re

import numpy as np
import torch

from ..errors import FormatError
from ..gaussians import Gaussians
from ..sh import num_sh_bases
from ..common.atomic import atomic_write_bytes
from ..common.source import read_source

from ..common.ply_table import vertex_table

ON_INVALID = ("raise", "drop", "repair")
_REST = re.compile(r"^f_rest_(\d+)$")


def _require(table: dict, names: list[str], source: str) -> np.ndarray:
    missing = [n for n in names if n not in table]
    if missing:
        raise FormatError(
            f"{source}: not a 3D Gaussian Splatting PLY: missing properties {missing}. "
            "A 3DGS PLY has x y z f_dc_0..2 opacity scale_0..2 rot_0..3 (and optional f_rest_*)"
        )
    return np.stack([np.asarray(table[n], dtype=np.float32) for n in names], axis=-1)


def apply_invalid_policy(g: Gaussians, on_invalid: str, name: str) -> Gaussians:
    """Handle rows with non-finite values or zero quaternions: raise, drop them, or repair them."""
    if on_invalid not in ON_INVALID:
        raise FormatError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
    finite = g.finite_rows()
    bad_quat = finite & (g.quats.norm(dim=-1) < 1e-8)
    bad = ~finite | bad_quat
    if not bad.any():
        return g
    if on_invalid == "raise":
        raise FormatError(
            f"{name}: {int((~finite).sum())} Gaussians have NaN/infinite values and {int(bad_quat.sum())} have zero-length "
            "quaternions; pass on_invalid='drop' to skip them or on_invalid='repair' to fix rotations"
        )
    if on_invalid == "repair":
        quats = g.quats.clone()
        quats[bad_quat] = torch.tensor([1.0, 0.0, 0.0, 0.0])
        g = Gaussians(g.means, g.scales, quats, g.opacities, g.sh)
        return g[finite]
    return g[~bad]


def read_ply(source, *, on_invalid: str = "raise") -> Gaussians:
    """Read a 3DGS PLY (path or bytes) into Gaussians.

    on_invalid: what to do with NaN/infinite rows or zero quaternions: "raise" (FormatError),
    "drop" them, or "repair" (identity rotation for zero quaternions; non-finite rows dropped).
    """
    data, name = read_source(source, what="PLY")
    return decode_ply(data, name, on_invalid)


def decode_ply(data: bytes, name: str, on_invalid: str = "raise") -> Gaussians:
    """read_ply on bytes already read; `name` names them in errors."""
    table = vertex_table(data, name)
    means = _require(table, ["x", "y", "z"], name)
    dc = _require(table, ["f_dc_0", "f_dc_1", "f_dc_2"], name)
    opac = _require(table, ["opacity"], name)[:, 0]
    scales = _require(table, ["scale_0", "scale_1", "scale_2"], name)
    quats = _require(table, ["rot_0", "rot_1", "rot_2", "rot_3"], name)
    rest_ids = sorted(int(m.group(1)) for p in table if (m := _REST.match(p)))
    if rest_ids != list(range(len(rest_ids))) or len(rest_ids) not in (0, 9, 24, 45):
        raise FormatError(
            f"{name}: found {len(rest_ids)} f_rest_* properties; a 3DGS PLY has 0, 9, 24 or 45 (SH degree 0..3), numbered from 0"
        )
    k = len(rest_ids) // 3 + 1
    sh = np.zeros((means.shape[0], k, 3), dtype=np.float32)
    sh[:, 0] = dc
    if k > 1:
        rest = _require(table, [f"f_rest_{i}" for i in rest_ids], name).reshape(-1, 3, k - 1)
        sh[:, 1:] = rest.transpose(0, 2, 1)
    g = Gaussians(
        means=torch.from_numpy(means.copy()), scales=torch.from_numpy(scales.copy()), quats=torch.from_numpy(quats.copy()),
        opacities=torch.from_numpy(opac.copy()), sh=torch.from_numpy(sh),
    )
    return apply_invalid_policy(g, on_invalid, name)


def read_ply_properties(source, names: list[str]) -> dict[str, np.ndarray]:
    """Named per-vertex columns of a PLY (float32), e.g. the extra columns ply_bytes wrote."""
    data, name = read_source(source, what="PLY")
    table = vertex_table(data, name)
    missing = [n for n in names if n not in table]
    if missing:
        raise FormatError(f"{name}: the PLY lacks the properties {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    return {n: np.asarray(table[n], dtype=np.float32) for n in names}


def ply_property_names(sh_degree: int) -> list[str]:
    k = num_sh_bases(sh_degree)
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(3 * (k - 1))]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


def ply_bytes(gaussians: Gaussians, extra: dict | None = None) -> bytes:
    """The 3DGS PLY encoding of `gaussians` (float32, binary little endian). `extra`: more
    per-Gaussian float columns (name -> [N]) written after the standard ones; 3DGS viewers skip them."""
    g = gaussians.detach().to("cpu", torch.float32)
    n, k = len(g), g.sh.shape[1]
    extra = extra or {}
    names = ply_property_names(g.sh_degree) + list(extra)
    cols = np.empty((n, len(names)), dtype="<f4")
    cols[:, 0:3] = g.means.numpy()
    cols[:, 3:6] = 0
    cols[:, 6:9] = g.sh[:, 0].numpy()
    rest = 3 * (k - 1)
    cols[:, 9 : 9 + rest] = g.sh[:, 1:].permute(0, 2, 1).reshape(n, rest).numpy()
    cols[:, 9 + rest] = g.opacities.numpy()
    cols[:, 10 + rest : 13 + rest] = g.scales.numpy()
    cols[:, 13 + rest : 17 + rest] = g.quats.numpy()
    for j, values in enumerate(extra.values()):
        if np.shape(values) != (n,):
            raise FormatError(f"extra PLY column {list(extra)[j]!r} must hold one number per Gaussian ({n})")
        cols[:, 17 + rest + j] = values
    header = "ply\nformat binary_little_endian 1.0\n" f"element vertex {n}\n" + "".join(f"property float {p}\n" for p in names) + "end_header\n"
    return header.encode("ascii") + cols.tobytes()


def write_ply(path: str | os.PathLike, gaussians: Gaussians) -> None:
    """Write `gaussians` as a standard 3DGS PLY, atomically."""
    atomic_write_bytes(path, ply_bytes(gaussians))

"""Real spherical harmonics exactly as 3D Gaussian Splatting evaluates them, and their rotation.

Coefficients are stored [N, K, 3] with K = (degree + 1) ** 2; index 0 is the DC term. The
colour of a Gaussian seen along unit direction d is `0.5 + sum_k sh[k] * Y_k(d)`, clamped at 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SH_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C3 = (
    -0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
    -0.4570457994644658, 1.445305721320277, -0.5900435899266435,
)


def num_sh_bases(degree: int) -> int:
    """K for an SH degree (0..3)."""
    return (degree + 1) ** 2


def sh_degree_from_bases(k: int) -> int:
    """SH degree for K coefficients; raises ValueError unless K is 1, 4, 9 or 16."""
    degree = int(round(math.sqrt(k))) - 1
    if degree < 0 or degree > 3 or num_sh_bases(degree) != k:
        raise ValueError(f"{k} SH coefficients per channel is not a degree 0..3 layout (expected 1, 4, 9 or 16)")
    return degree


def eval_sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """SH basis values Y_k(d) for unit directions. dirs: [..., 3] -> [..., (degree+1)^2]."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [
            _C2[0] * xy,
            _C2[1] * yz,
            _C2[2] * (2 * zz - xx - yy),
            _C2[3] * xz,
            _C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            _C3[0] * y * (3 * xx - yy),
            _C3[1] * xy * z,
            _C3[2] * y * (4 * zz - xx - yy),
            _C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            _C3[4] * x * (4 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def sh_to_colour(sh: Tensor, dirs: Tensor | None = None) -> Tensor:
    """Colours from SH. sh: [..., K, 3]; dirs: [..., 3] unit viewing directions (None: DC only)."""
    if dirs is None:
        return (SH_C0 * sh[..., 0, :] + 0.5).clamp_min(0)
    basis = eval_sh_basis(sh_degree_from_bases(sh.shape[-2]), dirs)
    return ((basis.unsqueeze(-1) * sh).sum(-2) + 0.5).clamp_min(0)


def rgb_to_sh_dc(rgb: Tensor) -> Tensor:
    """DC coefficient that renders as `rgb`. rgb: [..., 3] -> [..., 3]."""
    return (rgb - 0.5) / SH_C0


def _fibonacci_directions(n: int, dtype, device) -> Tensor:
    i = torch.arange(n, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    d = torch.stack([torch.cos(theta) * torch.sin(phi), torch.sin(theta) * torch.sin(phi), torch.cos(phi)], -1)
    return d.to(dtype=dtype, device=device)


def sh_rotation_matrices(R: Tensor, degree: int) -> list[Tensor]:
    """Per-band matrices D_l with rotated coefficients c'_l = D_l @ c_l, for l = 1..degree.

    A rotated field f'(d) = f(R^T d) stays in each band, so D_l is found exactly by least squares
    over well-spread sample directions. R: [3, 3].
    """
    R64 = R.detach().to(torch.float64, copy=True)
    dirs = _fibonacci_directions(64, torch.float64, R64.device)
    Y = eval_sh_basis(degree, dirs)
    Y_rot = eval_sh_basis(degree, dirs @ R64)  # rows are R^T d
    mats = []
    for band in range(1, degree + 1):
        sl = slice(band * band, (band + 1) * (band + 1))
        D = torch.linalg.lstsq(Y[:, sl], Y_rot[:, sl]).solution
        mats.append(D.to(R.dtype))
    return mats


def rotate_sh(sh: Tensor, R: Tensor) -> Tensor:
    """SH coefficients of the same colours after rotating the object by R. sh: [N, K, 3]; R: [3, 3]."""
    degree = sh_degree_from_bases(sh.shape[-2])
    if degree == 0:
        return sh
    parts = [sh[..., :1, :]]
    for band, D in enumerate(sh_rotation_matrices(R, degree), start=1):
        sl = slice(band * band, (band + 1) * (band + 1))
        parts.append(torch.einsum("ij,...jc->...ic", D.to(sh.device, sh.dtype), sh[..., sl, :]))
    return torch.cat(parts, dim=-2)


def __getattr__(name: str):
    from .deprecated import module_name

    return module_name(__name__, name)

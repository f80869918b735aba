"""Projection of 3D Gaussians to screen space and their view-dependent colours, in PyTorch.

Shared by the reference and the compiled CPU backend (which replaces only the rasterisation),
so both see exactly the same 2D Gaussians; autograd carries gradients through it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..camera import Cameras
from ..gaussians import Gaussians
from ..geometry import quat_to_rotmat
from ..sh import eval_sh_basis
from .types import RenderConfig


def project_gaussians(g: Gaussians, cams: Cameras, cfg: RenderConfig):
    """Per camera: means2d [C, N, 2], conics [C, N, 3] (a, b, c of the inverse 2D covariance),
    depths [C, N], radii [C, N] (0 = culled), opacity [C, N] (after antialias compensation)."""
    w2c = cams.w2c.to(g.means.dtype)
    R, t = w2c[:, :3, :3], w2c[:, :3, 3]
    pc = torch.einsum("cij,nj->cni", R, g.means) + t[:, None]  # [C, N, 3]
    x, y, z = pc.unbind(-1)
    fx, fy = cams.fx[:, None].to(z.dtype), cams.fy[:, None].to(z.dtype)
    cx, cy = cams.cx[:, None].to(z.dtype), cams.cy[:, None].to(z.dtype)
    W, H = cams.width[:, None].to(z.dtype), cams.height[:, None].to(z.dtype)
    in_front = (z > cfg.near) & (z < cfg.far)
    zs = torch.where(in_front, z, torch.ones_like(z))
    # Clamp the point used in the Jacobian to a bit beyond the frustum, as 3DGS does.
    margin_x, margin_y = 0.3 * (0.5 * W / fx), 0.3 * (0.5 * H / fy)
    tx = torch.minimum(torch.maximum(x / zs, -(cx / fx + margin_x)), (W - cx) / fx + margin_x) * zs
    ty = torch.minimum(torch.maximum(y / zs, -(cy / fy + margin_y)), (H - cy) / fy + margin_y) * zs
    # T = J R with the EWA Jacobian J = [[fx/z, 0, -fx tx/z^2], [0, fy/z, -fy ty/z^2]]. Written
    # elementwise: batches of tiny matrix products are many times slower on a CPU.
    Rg = quat_to_rotmat(g.quats)
    M = Rg * torch.exp(g.scales).unsqueeze(-2)
    m0, m1, m2_ = M[:, 0], M[:, 1], M[:, 2]  # rows of M, [N, 3]
    s00, s01, s02 = (m0 * m0).sum(-1), (m0 * m1).sum(-1), (m0 * m2_).sum(-1)
    s11, s12, s22 = (m1 * m1).sum(-1), (m1 * m2_).sum(-1), (m2_ * m2_).sum(-1)
    cov_rows = torch.stack([torch.stack([s00, s01, s02], -1), torch.stack([s01, s11, s12], -1),
                            torch.stack([s02, s12, s22], -1)], 0)  # [3 rows, N, 3] of M M^T
    inv_z = 1 / zs
    row0 = (fx * inv_z)[..., None] * R[:, None, 0, :] - (fx * tx * inv_z * inv_z)[..., None] * R[:, None, 2, :]
    row1 = (fy * inv_z)[..., None] * R[:, None, 1, :] - (fy * ty * inv_z * inv_z)[..., None] * R[:, None, 2, :]
    S0 = row0[..., 0:1] * cov_rows[0] + row0[..., 1:2] * cov_rows[1] + row0[..., 2:3] * cov_rows[2]  # row0 @ cov3d
    S1 = row1[..., 0:1] * cov_rows[0] + row1[..., 1:2] * cov_rows[1] + row1[..., 2:3] * cov_rows[2]
    a, b, c = (S0 * row0).sum(-1), (S0 * row1).sum(-1), (S1 * row1).sum(-1)
    det_orig = a * c - b * b
    a, c = a + cfg.eps2d, c + cfg.eps2d
    det = a * c - b * b
    opacity = torch.sigmoid(g.opacities)[None].expand_as(z)
    if cfg.antialiased:
        opacity = opacity * torch.sqrt((det_orig / det).clamp_min(0))
    valid = in_front & (det > 0)
    det_safe = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], -1)
    mid = 0.5 * (a + c)
    lam = mid + torch.sqrt((mid * mid - det_safe).clamp_min(0.1))
    radii = torch.ceil(3 * torch.sqrt(lam)).detach()
    means2d = torch.stack([fx * x / zs + cx, fy * y / zs + cy], -1)
    m2 = means2d.detach()
    on_screen = (m2[..., 0] + radii > 0) & (m2[..., 0] - radii < W) & (m2[..., 1] + radii > 0) & (m2[..., 1] - radii < H)
    radii = torch.where(valid & on_screen, radii, torch.zeros_like(radii)).long()
    return means2d, conics, z, radii, opacity


def view_colours(g: Gaussians, cams: Cameras, degree: int) -> Tensor:
    """Per-camera colours [C, N, 3] from SH evaluated along each camera-to-Gaussian direction."""
    k = (degree + 1) ** 2
    dirs = g.means[None] - cams.positions[:, None].to(g.means.dtype)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = eval_sh_basis(degree, dirs)  # [C, N, k]
    # A sum over k rather than an einsum, which would become N tiny matrix products.
    return ((basis.unsqueeze(-1) * g.sh[None, :, :k]).sum(-2) + 0.5).clamp_min(0)



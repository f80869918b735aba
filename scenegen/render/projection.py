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
    zero = torch.zeros_like(zs)
    J = torch.stack([fx / zs, zero, -fx * tx / zs**2, zero, fy / zs, -fy * ty / zs**2], -1).reshape(*zs.shape, 2, 3)
    Rg = quat_to_rotmat(g.quats)
    M = Rg * torch.exp(g.scales).unsqueeze(-2)
    cov3d = M @ M.transpose(-1, -2)  # [N, 3, 3]
    T = J @ R[:, None]  # [C, N, 2, 3]
    cov2d = T @ cov3d[None] @ T.transpose(-1, -2)
    a, b, c = cov2d[..., 0, 0], cov2d[..., 0, 1], cov2d[..., 1, 1]
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


def view_colors(g: Gaussians, cams: Cameras, degree: int) -> Tensor:
    """Per-camera colours [C, N, 3] from SH evaluated along each camera-to-Gaussian direction."""
    k = (degree + 1) ** 2
    dirs = g.means[None] - cams.positions[:, None].to(g.means.dtype)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = eval_sh_basis(degree, dirs)  # [C, N, k]
    return (torch.einsum("cnk,nkd->cnd", basis, g.sh[:, :k]) + 0.5).clamp_min(0)



"""The pure-PyTorch reference rasterizer: readable, differentiable, and the spec for every backend.

Pipeline per camera: EWA projection of each Gaussian to a 2D covariance (plus a low-pass
filter), culling behind the near plane and off screen, a global depth sort, and then per tile
front-to-back alpha blending with 3DGS's rules (alpha = min(0.99, opacity * G), skip alpha
below 1/255, stop once transmittance would fall below 1e-4).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...camera import Cameras
from ...gaussians import Gaussians
from ...geometry import quat_to_rotmat
from ...sh import eval_sh_basis
from ..types import RenderConfig, RenderOutput


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


def rasterize_torch(g: Gaussians, cams: Cameras, *, sh_degree: int, background: Tensor,
                    object_ids: Tensor | None, cfg: RenderConfig) -> RenderOutput:
    means2d, conics, depths, radii, opacity = project_gaussians(g, cams, cfg)
    colors = view_colors(g, cams, sh_degree)
    H, W = int(cams.height[0]), int(cams.width[0])
    ts = cfg.tile_size
    dtype = g.means.dtype
    rgb_out, alpha_out, depth_out, id_out = [], [], [], []
    for ci in range(len(cams)):
        order = torch.argsort(depths[ci].detach())
        order = order[radii[ci, order] > 0]
        m2, con, op, col, dep = means2d[ci, order], conics[ci, order], opacity[ci, order], colors[ci, order], depths[ci, order]
        r = radii[ci, order].to(dtype)
        lo, hi = (m2.detach() - r[:, None]), (m2.detach() + r[:, None])
        rgb_rows, acc_rows, dep_rows, id_rows = [], [], [], []
        for ty0 in range(0, H, ts):
            rgb_tiles, acc_tiles, dep_tiles, id_tiles = [], [], [], []
            for tx0 in range(0, W, ts):
                th, tw = min(ts, H - ty0), min(ts, W - tx0)
                hit = (hi[:, 0] >= tx0) & (lo[:, 0] <= tx0 + tw) & (hi[:, 1] >= ty0) & (lo[:, 1] <= ty0 + th)
                idx = hit.nonzero().squeeze(1)
                if idx.numel() == 0:
                    rgb_tiles.append(torch.zeros(th, tw, 3, dtype=dtype))
                    acc_tiles.append(torch.zeros(th, tw, 1, dtype=dtype))
                    dep_tiles.append(torch.zeros(th, tw, 1, dtype=dtype))
                    id_tiles.append(torch.full((th, tw), -1, dtype=torch.long))
                    continue
                py, px = torch.meshgrid(torch.arange(ty0, ty0 + th, dtype=dtype) + 0.5,
                                        torch.arange(tx0, tx0 + tw, dtype=dtype) + 0.5, indexing="ij")
                dx = px.reshape(-1, 1) - m2[idx, 0][None]
                dy = py.reshape(-1, 1) - m2[idx, 1][None]
                cn = con[idx]
                sigma = 0.5 * (cn[:, 0] * dx * dx + cn[:, 2] * dy * dy) + cn[:, 1] * dx * dy
                alpha = (op[idx][None] * torch.exp(-sigma)).clamp(max=cfg.max_alpha)
                alpha = torch.where((sigma >= 0) & (alpha >= cfg.min_alpha), alpha, torch.zeros_like(alpha))
                T_after = torch.cumprod(1 - alpha, dim=1)
                T_before = torch.cat([torch.ones_like(T_after[:, :1]), T_after[:, :-1]], dim=1)
                keep = (T_after.detach() >= cfg.transmittance_threshold).to(dtype)
                w = alpha * T_before * keep  # [P, n]
                rgb_tiles.append((w @ col[idx]).reshape(th, tw, 3))
                acc = w.sum(1, keepdim=True)
                acc_tiles.append(acc.reshape(th, tw, 1))
                dep_tiles.append(((w @ dep[idx][:, None]) / acc.clamp_min(1e-10)).reshape(th, tw, 1))
                best = w.detach().argmax(dim=1)
                tile_ids = torch.where(acc.detach().squeeze(1) > 0, order[idx][best], torch.full_like(best, -1))
                id_tiles.append(tile_ids.reshape(th, tw))
            rgb_rows.append(torch.cat(rgb_tiles, 1)); acc_rows.append(torch.cat(acc_tiles, 1))  # noqa: E702
            dep_rows.append(torch.cat(dep_tiles, 1)); id_rows.append(torch.cat(id_tiles, 1))  # noqa: E702
        acc_full = torch.cat(acc_rows, 0)
        rgb_out.append(torch.cat(rgb_rows, 0) + (1 - acc_full) * background.to(dtype))
        alpha_out.append(acc_full)
        depth_out.append(torch.cat(dep_rows, 0))
        gid = torch.cat(id_rows, 0)
        if object_ids is not None:
            gid = torch.where(gid >= 0, object_ids[gid.clamp_min(0)], gid)
        id_out.append(gid)
    return RenderOutput(
        rgb=torch.stack(rgb_out), alpha=torch.stack(alpha_out), depth=torch.stack(depth_out),
        radii=radii, means2d=means2d, object_id=torch.stack(id_out) if object_ids is not None else None, backend="torch",
    )

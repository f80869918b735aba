"""The pure-PyTorch reference rasterizer: readable, differentiable, and the spec for every backend.

Pipeline per camera: EWA projection of each Gaussian to a 2D covariance (plus a low-pass
filter), culling behind the near plane and off screen (render/projection.py, shared by every
CPU backend), a global depth sort, and then per tile front-to-back alpha blending with 3DGS's
rules (alpha = min(0.99, opacity * G), skip alpha below 1/255, stop once transmittance would
fall below 1e-4). A Gaussian touches the pixels whose centres lie within `radius` of its
centre in x and in y.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...camera import Cameras
from ...gaussians import Gaussians
from ..projection import project_gaussians, view_colours
from ..types import RenderConfig, RenderOutput


def rasterize_torch(g: Gaussians, cams: Cameras, *, sh_degree: int, background: Tensor,
                    object_ids: Tensor | None, cfg: RenderConfig) -> RenderOutput:
    means2d, conics, depths, radii, opacity = project_gaussians(g, cams, cfg)
    colours = view_colours(g, cams, sh_degree)
    H, W = int(cams.height[0]), int(cams.width[0])
    ts = cfg.tile_size
    dtype = g.means.dtype
    dev = dict(device=g.means.device)
    rgb_out, alpha_out, depth_out, id_out = [], [], [], []
    for ci in range(len(cams)):
        order = torch.argsort(depths[ci].detach())
        order = order[radii[ci, order] > 0]
        m2, con, op, col, dep = means2d[ci, order], conics[ci, order], opacity[ci, order], colours[ci, order], depths[ci, order]
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
                    rgb_tiles.append(torch.zeros(th, tw, 3, dtype=dtype, **dev))
                    acc_tiles.append(torch.zeros(th, tw, 1, dtype=dtype, **dev))
                    dep_tiles.append(torch.zeros(th, tw, 1, dtype=dtype, **dev))
                    id_tiles.append(torch.full((th, tw), -1, dtype=torch.long, **dev))
                    continue
                py, px = torch.meshgrid(torch.arange(ty0, ty0 + th, dtype=dtype, **dev) + 0.5,
                                        torch.arange(tx0, tx0 + tw, dtype=dtype, **dev) + 0.5, indexing="ij")
                dx = px.reshape(-1, 1) - m2[idx, 0][None]
                dy = py.reshape(-1, 1) - m2[idx, 1][None]
                cn = con[idx]
                sigma = 0.5 * (cn[:, 0] * dx * dx + cn[:, 2] * dy * dy) + cn[:, 1] * dx * dy
                alpha = (op[idx][None] * torch.exp(-sigma)).clamp(max=cfg.max_alpha)
                # A Gaussian reaches the pixels whose centres lie in its square of half-side `radius`:
                # a per-pixel rule, so the image never depends on the tile size.
                in_box = (dx.abs() <= r[idx][None]) & (dy.abs() <= r[idx][None])
                alpha = torch.where(in_box & (sigma >= 0) & (alpha >= cfg.min_alpha), alpha, torch.zeros_like(alpha))
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

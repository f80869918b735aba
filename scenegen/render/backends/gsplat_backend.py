"""The `gsplat` backend: CUDA rasterisation through gsplat, for Gaussians on a CUDA device."""

from __future__ import annotations

import torch
from torch import Tensor

from ...camera import Cameras
from ...gaussians import Gaussians
from ..types import RenderConfig, RenderOutput


def is_available() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return True


def rasterize_gsplat(g: Gaussians, cams: Cameras, *, sh_degree: int, background: Tensor,
                     object_ids: Tensor | None, cfg: RenderConfig) -> RenderOutput:
    from gsplat import rasterization

    H, W = int(cams.height[0]), int(cams.width[0])
    C = len(cams)
    render_colours, render_alphas, meta = rasterization(
        means=g.means, quats=g.quats, scales=torch.exp(g.scales), opacities=torch.sigmoid(g.opacities),
        colors=g.sh, sh_degree=sh_degree, viewmats=cams.w2c.to(g.means), Ks=cams.K.to(g.means), width=W, height=H,
        near_plane=cfg.near, far_plane=cfg.far, eps2d=cfg.eps2d, tile_size=16, render_mode="RGB+ED",
        rasterize_mode="antialiased" if cfg.antialiased else "classic", backgrounds=None, packed=False,
    )
    rgb = render_colours[..., :3]
    alpha = render_alphas
    depth = render_colours[..., 3:4]
    rgb = rgb + (1 - alpha) * background.to(rgb).view(1, 1, 1, 3)
    object_id = None
    if object_ids is not None:
        # gsplat has no per-Gaussian arg-max output: this is the object with the largest summed
        # blending weight at each pixel (the cpu and torch backends give the single heaviest Gaussian's).
        n_obj = int(object_ids.max()) + 1 if len(object_ids) else 1
        onehot = torch.nn.functional.one_hot(object_ids, n_obj).to(g.means)
        with torch.no_grad():
            weights, w_alpha, _ = rasterization(
                means=g.means, quats=g.quats, scales=torch.exp(g.scales), opacities=torch.sigmoid(g.opacities),
                colors=onehot, viewmats=cams.w2c.to(g.means), Ks=cams.K.to(g.means), width=W, height=H,
                near_plane=cfg.near, far_plane=cfg.far, eps2d=cfg.eps2d, packed=False,
                rasterize_mode="antialiased" if cfg.antialiased else "classic",
            )
        object_id = torch.where(w_alpha[..., 0] > 0, weights.argmax(-1), torch.full_like(w_alpha[..., 0], -1, dtype=torch.long))
    radii = meta["radii"]
    if radii.dim() == 3:  # newer gsplat: per-axis radii [C, N, 2]
        radii = radii.max(dim=-1).values
    return RenderOutput(rgb=rgb, alpha=alpha, depth=depth, radii=radii.long().reshape(C, -1), means2d=meta["means2d"],
                        object_id=object_id, backend="gsplat")

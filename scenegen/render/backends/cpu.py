"""The `cpu` backend: projection in PyTorch (shared with the reference), rasterisation in compiled,
multi-threaded kernels with a hand-written backward pass (cpu_kernels.py)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...camera import Cameras
from ...gaussians import Gaussians
from ..types import RenderConfig, RenderOutput

DEFAULT_TILE = 8


def is_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _f32(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy())


def tile_ranges(means2d: Tensor, radii: Tensor, conics: Tensor, opacities: Tensor, width: int, height: int,
                min_alpha: float, tile: int) -> Tensor:
    """Inclusive tile ranges [N, 4] (x0, x1, y0, y1) of the pixels each Gaussian can reach.

    Tighter than the radius box: a pixel gets alpha >= min_alpha only inside the ellipse
    opacity * exp(-d^2 / 2) = min_alpha, so the box is the smaller of that ellipse's bounding box
    and the radius box. Faint Gaussians then touch far fewer tiles, and the image is unchanged.
    """
    a, b, c = conics.unbind(-1)
    det = (a * c - b * b).clamp_min(1e-20)
    level = (2 * torch.log((opacities / min_alpha).clamp_min(1.0))) * 1.001
    r = radii.to(means2d.dtype)
    ext = torch.stack([torch.sqrt(level * c / det), torch.sqrt(level * a / det)], -1) + 0.01
    ext = torch.minimum(ext, r[:, None])
    lo = means2d - ext - 0.5
    hi = means2d + ext - 0.5
    tiles_x, tiles_y = (width + tile - 1) // tile, (height + tile - 1) // tile
    x0 = torch.floor(lo[:, 0] / tile).clamp(0, tiles_x - 1)
    x1 = torch.floor(hi[:, 0] / tile).clamp(0, tiles_x - 1)
    y0 = torch.floor(lo[:, 1] / tile).clamp(0, tiles_y - 1)
    y1 = torch.floor(hi[:, 1] / tile).clamp(0, tiles_y - 1)
    return torch.stack([x0, x1, y0, y1], 1).to(torch.int32)


class _Rasterize(torch.autograd.Function):
    """Screen-space Gaussians of one camera -> rgb [H, W, 3], alpha [H, W], depth [H, W]."""

    @staticmethod
    def forward(ctx, means2d, conics, colours, opacities, depths, radii, background, width, height, cfg, tile):
        from . import cpu_kernels as K

        n = means2d.shape[0]
        visible = (radii > 0).nonzero().squeeze(1)
        # Visible Gaussians are in front of the near plane, so their depths are positive.
        order = visible[torch.from_numpy(K.argsort_positive(_f32(depths[visible]))).long()]
        rects = tile_ranges(means2d.detach(), radii, conics.detach(), opacities.detach(), width, height, cfg.min_alpha, tile)
        tiles_x, tiles_y = (width + tile - 1) // tile, (height + tile - 1) // tile
        n_chunks = max(1, min(K.threads(), len(order)))
        offsets, ids = K.bin_gaussians(order.to(torch.int32).numpy(), rects.numpy(), tiles_x * tiles_y, tiles_x, n_chunks)
        arrays = (_f32(means2d), _f32(conics), _f32(colours), _f32(opacities), _f32(depths), _f32(radii))
        bg = _f32(background)
        rgb = np.empty((height, width, 3), np.float32)
        alpha, depth, final_t = (np.empty((height, width), np.float32) for _ in range(3))
        last = np.empty((height, width), np.int32)
        best = np.empty((height, width), np.int32)
        K.forward(*arrays, offsets, ids, width, height, tile, bg, np.float32(cfg.min_alpha), np.float32(cfg.max_alpha),
                  np.float32(cfg.transmittance_threshold), rgb, alpha, depth, final_t, last, best, K.threads())
        ctx.kernel_inputs = (offsets, ids, width, height, tile, bg, cfg)
        ctx.final = (final_t, last)
        ctx.n = n
        ctx.dtypes = [t.dtype for t in (means2d, conics, colours, opacities, depths)]
        out_dtype = means2d.dtype
        best_t = torch.from_numpy(best).long()
        ctx.mark_non_differentiable(best_t)
        alpha_t, depth_t = torch.from_numpy(alpha), torch.from_numpy(depth)
        # Saved through autograd, so an in-place change before backward is caught, not silently used.
        ctx.save_for_backward(means2d, conics, colours, opacities, depths, radii, alpha_t, depth_t)
        return torch.from_numpy(rgb).to(out_dtype), alpha_t.to(out_dtype), depth_t.to(out_dtype), best_t

    @staticmethod
    def backward(ctx, g_rgb, g_alpha, g_depth, _g_best):
        from . import cpu_kernels as K

        offsets, ids, width, height, tile, bg, cfg = ctx.kernel_inputs
        final_t, last = ctx.final
        *inputs, alpha_t, depth_t = ctx.saved_tensors
        arrays = tuple(_f32(t) for t in inputs)
        alpha, depth = _f32(alpha_t), _f32(depth_t)
        zeros = np.zeros((height, width), np.float32)
        grads = np.zeros((max(1, min(K.threads(), len(offsets) - 1)), ctx.n, 10), np.float32)
        K.backward(*arrays, offsets, ids, width, height, tile, bg, np.float32(cfg.min_alpha), np.float32(cfg.max_alpha),
                   alpha, depth, final_t, last,
                   _f32(g_rgb) if g_rgb is not None else np.zeros((height, width, 3), np.float32),
                   _f32(g_alpha) if g_alpha is not None else zeros,
                   _f32(g_depth) if g_depth is not None else zeros, grads, K.threads())
        per_gaussian = torch.from_numpy(K.sum_chunks(grads) if grads.shape[0] > 1 else grads[0])
        d_mean, d_conic, d_opac, d_colour, d_depth = (per_gaussian[:, 0:2], per_gaussian[:, 2:5], per_gaussian[:, 5],
                                                     per_gaussian[:, 6:9], per_gaussian[:, 9])
        dt = ctx.dtypes
        return (d_mean.to(dt[0]), d_conic.to(dt[1]), d_colour.to(dt[2]), d_opac.to(dt[3]), d_depth.to(dt[4]),
                None, None, None, None, None, None)


def _project(means, scales, quats, opacities, sh, cam, degree: int, cfg: RenderConfig, colour_culled: bool = True):
    """cpu_projection.project_forward on one camera: ((means2d, conics, depths, radii, opacities,
    colours) as numpy arrays, (view, campos, intrinsics) as the kernels take them). With
    colour_culled False, Gaussians outside the view get colour 0 instead of their SH colour."""
    from . import cpu_projection as P

    n = means.shape[0]
    view = np.ascontiguousarray(cam.w2c.detach().double().cpu().numpy()[:3])
    campos = np.ascontiguousarray(cam.position.detach().double().cpu().numpy())
    intr = (float(cam.fx), float(cam.fy), float(cam.cx), float(cam.cy), int(cam.width), int(cam.height))
    means2d, conics, colours = np.empty((n, 2), np.float32), np.empty((n, 3), np.float32), np.empty((n, 3), np.float32)
    depths, opac, radii = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.int64)
    P.project_forward(_f32(means), _f32(scales), _f32(quats), _f32(opacities), _f32(sh), degree, view, campos, *intr,
                      cfg.near, cfg.far, cfg.eps2d, cfg.antialiased, colour_culled, means2d, conics, depths, radii, opac, colours)
    return (means2d, conics, depths, radii, opac, colours), (view, campos, intr)


class _Project(torch.autograd.Function):
    """Gaussians seen by one camera -> means2d [N, 2], conics [N, 3], depths [N], radii [N],
    opacities [N], colours [N, 3] (cpu_projection.py; the same maths as render/projection.py)."""

    @staticmethod
    def forward(ctx, means, scales, quats, opacities, sh, cam, degree, cfg):
        (means2d, conics, depths, radii, opac, colours), (view, campos, intr) = _project(means, scales, quats, opacities, sh, cam,
                                                                                       degree, cfg)
        ctx.saved = (degree, view, campos, intr, cfg, radii, colours)
        ctx.save_for_backward(means, scales, quats, opacities, sh)
        ctx.dtype = means.dtype
        radii_t = torch.from_numpy(radii)
        ctx.mark_non_differentiable(radii_t)
        dt = means.dtype
        return (torch.from_numpy(means2d).to(dt), torch.from_numpy(conics).to(dt), torch.from_numpy(depths).to(dt),
                radii_t, torch.from_numpy(opac).to(dt), torch.from_numpy(colours).to(dt))

    @staticmethod
    def backward(ctx, g_means2d, g_conics, g_depths, _g_radii, g_opac, g_colours):
        from . import cpu_projection as P

        degree, view, campos, intr, cfg, radii, colours = ctx.saved
        inputs = tuple(_f32(t) for t in ctx.saved_tensors)
        n = inputs[0].shape[0]

        def grad(g, shape):
            return _f32(g) if g is not None else np.zeros(shape, np.float32)

        d = [np.zeros_like(a) for a in inputs]
        P.project_backward(*inputs, degree, view, campos, *intr, cfg.eps2d, cfg.antialiased, radii, colours,
                           grad(g_means2d, (n, 2)), grad(g_conics, (n, 3)), grad(g_depths, n), grad(g_opac, n),
                           grad(g_colours, (n, 3)), *d)
        return (*(torch.from_numpy(a).to(ctx.dtype) for a in d), None, None, None)


def rasterize_cpu(g: Gaussians, cams: Cameras, *, sh_degree: int, background: Tensor,
                  object_ids: Tensor | None, cfg: RenderConfig, tile: int = DEFAULT_TILE) -> RenderOutput:
    H, W = int(cams.height[0]), int(cams.width[0])
    sh = g.sh[:, : (sh_degree + 1) ** 2]
    projected = [_Project.apply(g.means, g.scales, g.quats, g.opacities, sh, cams[ci], sh_degree, cfg) for ci in range(len(cams))]
    # One stacked means2d feeds the rasterizer, so `RenderOutput.means2d.grad` holds the screen-space
    # gradients that densification accumulates.
    means2d_all = torch.stack([p[0] for p in projected])
    radii_all = torch.stack([p[3] for p in projected])
    rgbs, alphas, dep, id_maps = [], [], [], []
    for ci, (_, conics, depths, radii, opacity, colours) in enumerate(projected):
        rgb, alpha, depth, best = _Rasterize.apply(means2d_all[ci], conics, colours, opacity, depths, radii,
                                                  background, W, H, cfg, tile)
        rgbs.append(rgb)
        alphas.append(alpha[..., None])
        dep.append(depth[..., None])
        if object_ids is not None:
            id_maps.append(torch.where(best >= 0, object_ids.cpu()[best.clamp_min(0)], best))
    return RenderOutput(
        rgb=torch.stack(rgbs), alpha=torch.stack(alphas), depth=torch.stack(dep), radii=radii_all, means2d=means2d_all,
        object_id=torch.stack(id_maps) if object_ids is not None else None, backend="cpu",
    )


def render_image_cpu(g: Gaussians, cam, *, sh_degree: int, background: Tensor, cfg: RenderConfig) -> np.ndarray:
    """The colour image [H, W, 3] uint8 of one camera, for display (no gradients, alpha or depth):
    the projection, sort and binning of rasterize_cpu, then cpu_kernels.forward_image."""
    from . import cpu_kernels as K

    width, height = int(cam.width), int(cam.height)
    sh = g.sh[:, : (sh_degree + 1) ** 2]
    (means2d, conics, depths, radii, opac, colours), _ = _project(g.means, g.scales, g.quats, g.opacities, sh, cam, sh_degree, cfg,
                                                                 colour_culled=False)
    visible = np.flatnonzero(radii > 0)
    order = visible[K.argsort_positive(np.ascontiguousarray(depths[visible]))].astype(np.int32)
    rects = tile_ranges(torch.from_numpy(means2d), torch.from_numpy(radii), torch.from_numpy(conics), torch.from_numpy(opac),
                        width, height, cfg.min_alpha, DEFAULT_TILE)
    tiles_x, tiles_y = (width + DEFAULT_TILE - 1) // DEFAULT_TILE, (height + DEFAULT_TILE - 1) // DEFAULT_TILE
    n_chunks = max(1, min(K.threads(), len(order)))
    offsets, ids = K.bin_gaussians(order, rects.numpy(), tiles_x * tiles_y, tiles_x, n_chunks)
    image = np.empty((height, width, 3), np.uint8)
    K.forward_image(means2d, conics, colours, opac, radii.astype(np.float32), offsets, ids, width, height, _f32(background),
                    np.float32(cfg.min_alpha), np.float32(cfg.max_alpha), np.float32(cfg.transmittance_threshold), image,
                    K.threads())
    return image

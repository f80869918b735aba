"""Picking: which object is seen at each pixel of a scene's render (what a click selects)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..camera import Camera
from ..errors import InvalidArgumentError
from ..gaussians import Gaussians
from ..sh import rgb_to_sh_dc


def object_ids(scene, camera: Camera, t: float | None = None, *, min_alpha: float = 0.5, backend: str = "auto") -> Tensor:
    """[H, W] long: at each pixel of `scene` (a scenegen.Scene) seen by `camera` at time t, the
    object id (index into scene.object_names) whose Gaussians carry the most blending weight
    there, -1 where the scene covers less than `min_alpha`. Unlike RenderOutput.object_id (the
    single heaviest Gaussian), a surface of many faint Gaussians wins over one strong Gaussian
    behind it. Costs one render per three objects."""
    from . import render

    gaussians, ids = scene.gaussians_at(t)
    n_obj = len(scene.object_names)
    weights = []
    with torch.no_grad():
        for first in range(0, n_obj, 3):
            onehot = torch.stack([(ids == first + c).float() for c in range(3)], 1)  # [N, 3]
            sh = torch.zeros(len(gaussians), 1, 3, dtype=gaussians.sh.dtype, device=gaussians.device)
            sh[:, 0] = rgb_to_sh_dc(onehot.to(gaussians.sh.dtype))
            g = Gaussians(gaussians.means, gaussians.scales, gaussians.quats, gaussians.opacities, sh)
            out = render(g, camera, sh_degree=0, background=(0.0, 0.0, 0.0), backend=backend)
            weights.append(out.rgb[0])
            alpha = out.alpha[0, ..., 0]
    per_object = torch.cat(weights, -1)[..., :n_obj]  # [H, W, n_obj]
    best = per_object.argmax(-1)
    return torch.where(alpha >= min_alpha, best, torch.full_like(best, -1))


def object_at(scene, camera: Camera, u: float, v: float, t: float | None = None, *, backend: str = "auto") -> str | None:
    """The name of the object of `scene` seen at pixel (u, v) of `camera` at time t (what a click
    in the viewer picks), None where nothing is drawn."""
    if not isinstance(camera, Camera):
        raise InvalidArgumentError(f"object_at needs one Camera, got {type(camera).__name__}")
    try:
        u, v = int(u), int(v)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"object_at: the pixel must be two numbers (u, v), got ({u!r}, {v!r})") from None
    if not (0 <= u < camera.width and 0 <= v < camera.height):
        raise InvalidArgumentError(f"pixel ({u}, {v}) is outside the {camera.width}x{camera.height} image")
    oid = int(object_ids(scene, camera, t, backend=backend)[v, u])
    return None if oid < 0 else scene.object_names[oid]


__all__ = ["object_ids", "object_at"]

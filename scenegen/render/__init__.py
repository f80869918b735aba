"""Rendering: one front door, `render(gaussians, cameras, ...)`, over interchangeable backends.

Backends: `torch`, the pure-PyTorch reference (differentiable, the spec every other backend is
tested against). `backend="auto"` picks the fastest backend that can run here and says which
once; naming a backend that cannot run raises BackendUnavailableError with the fix.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from ..camera import Camera, Cameras
from ..errors import BackendUnavailableError, InvalidArgumentError
from ..gaussians import Gaussians
from .types import RenderConfig, RenderOutput

__all__ = ["render", "RenderConfig", "RenderOutput", "available_backends", "BACKENDS"]

BACKENDS = ("torch",)
_PLANNED = {
    "cpu": "the compiled CPU backend is not part of this build yet; use backend='torch'",
    "gsplat": "the CUDA backend needs a CUDA GPU and gsplat (pip install 'scenegen[cuda]'); use backend='torch'",
}
_log = logging.getLogger("scenegen.render")
_announced: set[str] = set()


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine, fastest first."""
    return list(BACKENDS)


def _pick_backend(name: str) -> str:
    if name == "auto":
        chosen = available_backends()[0]
        if chosen not in _announced:
            _announced.add(chosen)
            _log.info("scenegen.render: using the %r backend", chosen)
        return chosen
    if name in BACKENDS:
        return name
    if name in _PLANNED:
        raise BackendUnavailableError(f"render backend {name!r} is unavailable: {_PLANNED[name]}")
    raise InvalidArgumentError(f"unknown render backend {name!r}; choose one of {('auto',) + BACKENDS}")


def render(
    gaussians: Gaussians,
    cameras: Camera | Cameras,
    *,
    sh_degree: int | None = None,
    background: Tensor | tuple[float, float, float] | None = None,
    object_ids: Tensor | None = None,
    backend: str = "auto",
    config: RenderConfig | None = None,
) -> RenderOutput:
    """Rasterise `gaussians` from each camera.

    gaussians: Gaussians with N splats. cameras: a Camera or Cameras [C] of one image size.
    sh_degree: SH degree to evaluate (default: all the Gaussians carry). background: RGB [3]
    composited behind (default black). object_ids: [N] long, to get RenderOutput.object_id.
    Camera distortion is not rasterised: images are rendered as from the pinhole camera.
    """
    if not isinstance(gaussians, Gaussians):
        raise InvalidArgumentError(f"render: gaussians must be a Gaussians, got {type(gaussians).__name__}")
    cams = Cameras.stack([cameras]) if isinstance(cameras, Camera) else cameras
    if not isinstance(cams, Cameras):
        raise InvalidArgumentError(f"render: cameras must be a Camera or Cameras, got {type(cameras).__name__}")
    if len(cams) == 0:
        raise InvalidArgumentError("render: no cameras given")
    if (cams.width != cams.width[0]).any() or (cams.height != cams.height[0]).any():
        raise InvalidArgumentError("render: all cameras in one call must share an image size; render them in groups")
    degree = gaussians.sh_degree if sh_degree is None else int(sh_degree)
    if not 0 <= degree <= gaussians.sh_degree:
        raise InvalidArgumentError(f"render: sh_degree must be in 0..{gaussians.sh_degree} for these Gaussians, got {sh_degree}")
    bg = torch.zeros(3) if background is None else torch.as_tensor(background, dtype=torch.float32).reshape(-1)
    if bg.shape != (3,):
        raise InvalidArgumentError(f"render: background must be 3 numbers (RGB), got shape {list(bg.shape)}")
    if object_ids is not None:
        object_ids = torch.as_tensor(object_ids, dtype=torch.long, device=gaussians.device)
        if object_ids.shape != (len(gaussians),):
            raise InvalidArgumentError(f"render: object_ids must be [N={len(gaussians)}], got {list(object_ids.shape)}")
    cfg = config or RenderConfig()
    name = _pick_backend(backend)
    from .backends.torch_ref import rasterize_torch

    return rasterize_torch(gaussians, cams.to(gaussians.device), sh_degree=degree, background=bg.to(gaussians.device),
                           object_ids=object_ids, cfg=cfg) if name == "torch" else None

"""Rendering: one front door, `render(gaussians, cameras, ...)`, over interchangeable backends.

Backends: `torch`, the pure-PyTorch reference (differentiable, the spec every other backend is
tested against); `cpu`, compiled multi-threaded kernels with a hand-written backward (numba);
`gsplat`, CUDA through gsplat for CUDA tensors. `backend="auto"` picks the fastest backend that can run here and says which
once; naming a backend that cannot run raises BackendUnavailableError with the fix.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType

import torch
from torch import Tensor

from ..camera import Camera, Cameras
from ..errors import BackendUnavailableError, InvalidArgumentError
from ..gaussians import Gaussians
from .types import RenderConfig, RenderOutput

__all__ = ["render", "render_image", "RenderConfig", "RenderOutput", "available_backends", "BACKENDS"]

BACKENDS = ("gsplat", "cpu", "torch")  # fastest first
_INSTALL_HINT = {
    "cpu": "the compiled CPU backend needs numba: pip install 'numba>=0.60'",
    "gsplat": "the CUDA backend needs a CUDA GPU, CUDA tensors and gsplat: pip install 'scenegen[cuda]'",
}
_log = logging.getLogger("scenegen.render")
_announced: set[str] = set()


def _runs_here(name: str, device: torch.device | None = None) -> bool:
    if name == "torch":
        return True
    if name == "cpu":
        from .backends.cpu import is_available

        return (device is None or device.type == "cpu") and is_available()
    from .backends.gsplat_backend import is_available

    return (device is None or device.type == "cuda") and is_available()


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine, fastest first."""
    return [name for name in BACKENDS if _runs_here(name)]


def _pick_backend(name: str, device: torch.device) -> str:
    if name == "auto":
        chosen = next(b for b in BACKENDS if _runs_here(b, device))
        if chosen not in _announced:
            _announced.add(chosen)
            _log.info("scenegen.render: using the %r backend", chosen)
        return chosen
    if name not in BACKENDS:
        raise InvalidArgumentError(f"unknown render backend {name!r}; choose one of {('auto',) + BACKENDS}")
    if not _runs_here(name, device):
        raise BackendUnavailableError(f"render backend {name!r} cannot run here ({device} tensors): {_INSTALL_HINT[name]}")
    return name


def _checked(gaussians, cameras, sh_degree, background) -> tuple[Cameras, int, Tensor]:
    """The arguments render() and render_image() share, checked: (cameras, SH degree, background)."""
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
    return cams, degree, bg


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
    cams, degree, bg = _checked(gaussians, cameras, sh_degree, background)
    if object_ids is not None:
        object_ids = torch.as_tensor(object_ids, dtype=torch.long, device=gaussians.device)
        if object_ids.shape != (len(gaussians),):
            raise InvalidArgumentError(f"render: object_ids must be [N={len(gaussians)}], got {list(object_ids.shape)}")
        if len(object_ids) and int(object_ids.min()) < 0:
            raise InvalidArgumentError("render: object_ids must be non-negative (-1 marks empty pixels in the output)")
    cfg = config or RenderConfig()
    name = _pick_backend(backend, gaussians.device)
    if name == "cpu":
        from .backends.cpu import rasterize_cpu as rasterize
    elif name == "gsplat":
        from .backends.gsplat_backend import rasterize_gsplat as rasterize
    else:
        from .backends.torch_ref import rasterize_torch as rasterize
    return rasterize(gaussians, cams.to(gaussians.device), sh_degree=degree, background=bg.to(gaussians.device),
                     object_ids=object_ids, cfg=cfg)


def render_image(
    gaussians: Gaussians,
    camera: Camera,
    *,
    sh_degree: int | None = None,
    background: Tensor | tuple[float, float, float] | None = None,
    backend: str = "auto",
    config: RenderConfig | None = None,
):
    """The colour image of one camera as uint8 [H, W, 3] (a numpy array), for display: what
    render(...).rgb gives, rounded to 8 bits, with no gradients, alpha or depth. On the `cpu`
    backend it uses a blending kernel that computes nothing else and visits only the rows of each
    tile a splat reaches (several times faster for small splats); other backends go through
    render()."""
    import numpy as np

    if not isinstance(camera, Camera):
        raise InvalidArgumentError(f"render_image: camera must be one Camera, got {type(camera).__name__}")
    cams, degree, bg = _checked(gaussians, camera, sh_degree, background)
    cfg = config or RenderConfig()
    name = _pick_backend(backend, gaussians.device)
    with torch.no_grad():
        if name == "cpu":
            from .backends.cpu import render_image_cpu

            return render_image_cpu(gaussians.detach(), camera, sh_degree=degree, background=bg, cfg=cfg)
        rgb = render(gaussians, cams, sh_degree=degree, background=bg, backend=name, config=cfg).rgb[0]
    return (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


class _CallableModule(ModuleType):
    """`scenegen.render` is both this package and the render() front door: once a submodule such
    as scenegen.render.views is imported, Python binds the name to the package, so the package
    itself forwards calls to render()."""

    def __call__(self, *args, **kwargs) -> RenderOutput:
        return render(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

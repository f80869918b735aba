"""Typed inputs and outputs of the renderer."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class RenderConfig:
    """Rasterisation settings shared by every backend (3DGS semantics by default)."""

    near: float = 0.01  # Gaussians closer than this (camera z) are culled
    far: float = 1e10
    eps2d: float = 0.3  # low-pass filter added to the 2D covariance, in pixels^2
    antialiased: bool = False  # scale opacity by the low-pass compensation (Mip-Splatting style)
    tile_size: int = 16
    min_alpha: float = 1.0 / 255.0  # blending weights below this are skipped
    max_alpha: float = 0.99
    transmittance_threshold: float = 1e-4  # stop blending a pixel when T falls below this


@dataclass
class RenderOutput:
    """What a render returns. C cameras of H x W pixels, N Gaussians.

    rgb [C, H, W, 3]; alpha [C, H, W, 1]; depth [C, H, W, 1] (expected depth: alpha-weighted
    camera z divided by alpha, 0 where nothing was hit); object_id [C, H, W] long (id of the
    Gaussian with the largest blending weight, -1 on empty pixels) when ids were given;
    radii [C, N] long (0 for culled Gaussians); means2d [C, N, 2] projected centres in pixels.
    """

    rgb: Tensor
    alpha: Tensor
    depth: Tensor
    radii: Tensor
    means2d: Tensor
    object_id: Tensor | None = None
    backend: str = "torch"

    @property
    def visible(self) -> Tensor:
        """[C, N] bool: Gaussians that touched the image."""
        return self.radii > 0

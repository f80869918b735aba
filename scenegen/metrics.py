"""Image quality metrics: PSNR and SSIM (the Gaussian-window SSIM of Wang et al. 2004, as 3DGS
and scikit-image with `gaussian_weights=True` compute it). Images are [..., H, W, 3] in [0, 1]."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .errors import InvalidArgumentError


def _check(a: Tensor, b: Tensor, name: str):
    if a.shape != b.shape:
        raise InvalidArgumentError(f"{name}: images must have the same shape, got {list(a.shape)} and {list(b.shape)}")
    if a.dim() < 3 or a.shape[-1] not in (1, 3):
        raise InvalidArgumentError(f"{name}: images must be [..., H, W, C] with C = 1 or 3, got {list(a.shape)}")


def psnr(a: Tensor, b: Tensor, max_value: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB per image: [..., H, W, C] -> [...]."""
    _check(a, b, "psnr")
    mse = ((a - b) ** 2).flatten(-3).mean(-1)
    return 10 * torch.log10(max_value**2 / mse.clamp_min(1e-12))


SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2  # the stabilising constants of SSIM for images in [0, 1]


@functools.lru_cache(maxsize=8)
def _window(size: int, sigma: float, channels: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """The separable Gaussian window as a vertical and a horizontal 1D filter per channel."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).to(dtype)
    return g.view(1, 1, size, 1).expand(channels, 1, size, 1).contiguous(), g.view(1, 1, 1, size).expand(channels, 1, 1, size).contiguous()


def ssim_map(a: Tensor, b: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-pixel SSIM [B, C, H', W'] ('valid' windows only) of images [..., H, W, C]. Differentiable."""
    _check(a, b, "ssim")
    x = a.reshape(-1, *a.shape[-3:]).permute(0, 3, 1, 2)
    y = b.reshape(-1, *b.shape[-3:]).permute(0, 3, 1, 2)
    if x.shape[-1] < window or x.shape[-2] < window:
        raise InvalidArgumentError(f"ssim: images must be at least {window}x{window} pixels, got {x.shape[-1]}x{x.shape[-2]}")
    wv, wh = (w.to(x.device) for w in _window(window, sigma, x.shape[1], x.dtype))
    groups = x.shape[1]

    def conv(t):  # Gaussian filtering, as two 1D passes (11 + 11 taps instead of 121)
        return torch.nn.functional.conv2d(torch.nn.functional.conv2d(t, wv, groups=groups), wh, groups=groups)
    mu_x, mu_y = conv(x), conv(y)
    sxx = conv(x * x) - mu_x**2
    syy = conv(y * y) - mu_y**2
    sxy = conv(x * y) - mu_x * mu_y
    c1, c2 = SSIM_C1, SSIM_C2
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))


def ssim(a: Tensor, b: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM per image: [..., H, W, C] -> [...]."""
    m = ssim_map(a, b, window, sigma)
    return m.flatten(1).mean(1).reshape(a.shape[:-3])

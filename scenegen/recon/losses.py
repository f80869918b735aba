"""Photometric training loss: L1 plus structural dissimilarity, as 3DGS trains."""

from __future__ import annotations

from torch import Tensor

from ..metrics import ssim, ssim_map
from .fused_ssim import fusable, fused_dissimilarity

SSIM_WINDOW = 11


def photometric_loss(rendered: Tensor, target: Tensor, ssim_lambda: float, weights: Tensor | None = None) -> Tensor:
    """(1 - lambda) * L1 + lambda * (1 - SSIM) of images [..., H, W, 3]. With `weights` [H, W] in
    [0, 1] (images [H, W, 3]), both are weighted means over the pixels: a pixel of weight 0 does
    not count. Float32 images on the CPU take the fused SSIM (fused_ssim.py), anything else the
    reference metrics.ssim_map."""
    if weights is None:
        l1 = (rendered - target).abs().mean()
    else:
        weights = weights.to(device=rendered.device, dtype=rendered.dtype)
        l1 = ((rendered - target).abs().mean(-1) * weights).sum() / weights.sum().clamp_min(1e-12)
    if ssim_lambda == 0:
        return l1
    if fusable(rendered, target, weights, SSIM_WINDOW):
        dissimilarity = fused_dissimilarity(rendered, target, SSIM_WINDOW, weights)
    elif weights is None:
        dissimilarity = 1 - ssim(rendered, target).mean()
    else:
        m = SSIM_WINDOW // 2
        inner = weights[m:weights.shape[0] - m, m:weights.shape[1] - m]  # the centres of the 'valid' SSIM windows
        dissimilarity = ((1 - ssim_map(rendered, target, SSIM_WINDOW)).mean(1)[0] * inner).sum() / inner.sum().clamp_min(1e-12)
    return (1 - ssim_lambda) * l1 + ssim_lambda * dissimilarity

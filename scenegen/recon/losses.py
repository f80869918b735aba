"""Photometric training loss: L1 plus structural dissimilarity, as 3DGS trains."""

from __future__ import annotations

from torch import Tensor

from ..metrics import ssim


def photometric_loss(rendered: Tensor, target: Tensor, ssim_lambda: float) -> Tensor:
    """(1 - lambda) * L1 + lambda * (1 - SSIM) of images [..., H, W, 3]."""
    l1 = (rendered - target).abs().mean()
    if ssim_lambda == 0:
        return l1
    return (1 - ssim_lambda) * l1 + ssim_lambda * (1 - ssim(rendered, target).mean())

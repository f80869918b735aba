import numpy as np
import pytest
import torch

from scenegen.errors import InvalidArgumentError
from scenegen.metrics import psnr, ssim


def test_psnr_known_values():
    a = torch.zeros(1, 4, 4, 3)
    b = torch.full((1, 4, 4, 3), 0.1)
    assert psnr(a, b).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(a, a).item() > 100


def test_ssim_matches_scikit_image_on_random_images():
    metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        a = torch.rand(40, 48, 3, generator=gen, dtype=torch.float64)
        b = (a + 0.2 * torch.randn(40, 48, 3, generator=gen, dtype=torch.float64)).clamp(0, 1)
        ours = ssim(a, b).item()
        theirs = metrics.structural_similarity(a.numpy(), b.numpy(), channel_axis=2, data_range=1.0,
                                               gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert ours == pytest.approx(theirs, abs=1e-6)


def test_ssim_identity_batch_and_gradient():
    a = torch.rand(2, 16, 16, 3)
    assert torch.allclose(ssim(a, a), torch.ones(2))
    b = a.clone().requires_grad_()
    (1 - ssim(a, b * 0.9).mean()).backward()
    assert b.grad.abs().sum() > 0


def test_bad_shapes_raise():
    with pytest.raises(InvalidArgumentError):
        psnr(torch.zeros(4, 4, 3), torch.zeros(4, 5, 3))
    with pytest.raises(InvalidArgumentError):
        ssim(torch.zeros(5, 5, 3), torch.zeros(5, 5, 3))
    assert np.isfinite(psnr(torch.zeros(4, 4, 3), torch.zeros(4, 4, 3)).item())

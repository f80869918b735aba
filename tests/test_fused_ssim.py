"""The fused SSIM of the training loss against the reference metrics.ssim_map: value and gradient,
plain and weighted means, batches and single channels, and where the reference still serves."""

import pytest
import torch

from scenegen.metrics import ssim_map
from scenegen.recon import fused_ssim
from scenegen.recon.fused_ssim import fusable, fused_dissimilarity
from scenegen.recon.losses import photometric_loss


def pair(shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    target = torch.rand(*shape, generator=gen)
    rendered = (target + 0.2 * torch.randn(*shape, generator=gen)).clamp(0, 1)
    return rendered, target


def reference(rendered, target, weights=None):
    """1 - SSIM and its gradient in `rendered`, in float64 through the reference."""
    x = rendered.double().requires_grad_()
    m = 1 - ssim_map(x, target.double())
    if weights is None:
        value = m.mean()
    else:
        inner = weights.double()[5:-5, 5:-5]
        value = (m.mean(1)[0] * inner).sum() / inner.sum().clamp_min(1e-12)
    value.backward()
    return value.item(), x.grad


def fused(rendered, target, weights=None):
    x = rendered.clone().requires_grad_()
    value = fused_dissimilarity(x, target, 11, weights)
    value.backward()
    return value.item(), x.grad.double()


@pytest.mark.parametrize("shape", [(37, 52, 3), (2, 24, 30, 3), (20, 33, 1), (11, 11, 3)])
def test_value_and_gradient_match_the_reference(shape):
    rendered, target = pair(shape)
    want, want_grad = reference(rendered, target)
    got, got_grad = fused(rendered, target)
    assert got == pytest.approx(want, abs=2e-6)
    assert got_grad.shape == want_grad.shape
    assert torch.allclose(got_grad, want_grad, rtol=1e-4, atol=1e-4 * want_grad.abs().max().item())


def test_weighted_mean_matches_the_reference():
    rendered, target = pair((40, 48, 3), seed=1)
    weights = torch.rand(40, 48, generator=torch.Generator().manual_seed(2))
    weights[:, :20] = 0
    want, want_grad = reference(rendered, target, weights)
    got, got_grad = fused(rendered, target, weights)
    assert got == pytest.approx(want, abs=2e-6)
    assert torch.allclose(got_grad, want_grad, rtol=1e-4, atol=1e-4 * want_grad.abs().max().item())
    assert float(got_grad[:, :15].abs().max()) == 0  # no window centred on a weight-0 column reaches here


def test_all_weights_zero_count_nothing():
    rendered, target = pair((24, 24, 3))
    assert fused(rendered, target, torch.zeros(24, 24))[0] == 0
    assert reference(rendered, target, torch.zeros(24, 24))[0] == 0


def test_equal_images_have_no_dissimilarity_and_no_gradient():
    _, target = pair((30, 30, 3))
    value, grad = fused(target, target)
    assert value == pytest.approx(0.0, abs=1e-6)
    assert float(grad.abs().max()) < 1e-6


def test_the_training_loss_takes_the_fused_path_where_it_can(monkeypatch):
    rendered, target = pair((32, 40, 3))
    calls = []
    kernel = fused_ssim.ssim_forward
    monkeypatch.setattr(fused_ssim, "ssim_forward", lambda *a: calls.append(1) or kernel(*a))
    fast = photometric_loss(rendered, target, 0.2)
    assert calls == [1]
    slow = photometric_loss(rendered.double(), target.double(), 0.2)  # float64: the reference
    assert calls == [1]
    assert float(fast) == pytest.approx(float(slow), abs=1e-6)


def test_where_the_reference_serves():
    rendered, target = pair((32, 40, 3))
    assert fusable(rendered, target, None, 11)
    assert not fusable(rendered.double(), target.double(), None, 11)
    assert not fusable(rendered, target.clone().requires_grad_(), None, 11)
    assert not fusable(rendered, target, torch.ones(32, 40, requires_grad=True), 11)
    assert not fusable(rendered, target, None, 7)
    assert not fusable(rendered[:10], target[:10], None, 11)

"""The gsplat (CUDA) backend against the PyTorch reference. Runs only where CUDA and gsplat are."""

import pytest
import torch

from scenegen.render import available_backends, render
from test_render_cpu import cameras, random_scene

pytestmark = pytest.mark.skipif("gsplat" not in available_backends(), reason="needs a CUDA GPU and gsplat")


def test_forward_matches_reference_on_cuda():
    g = random_scene(300, 0, degree=2).to("cuda")
    cams = cameras(64, 48)
    fast = render(g, cams, backend="gsplat", background=(0.2, 0.3, 0.4))
    ref = render(g, cams, backend="torch", background=(0.2, 0.3, 0.4))
    assert fast.backend == "gsplat"
    # gsplat bins by 16x16 tiles (a Gaussian reaches a whole tile it overlaps), the reference by pixel boxes.
    assert (fast.rgb - ref.rgb).abs().mean() < 2e-3
    assert (fast.alpha - ref.alpha).abs().max() < 0.05


def test_gradients_match_reference_on_cuda():
    base = random_scene(200, 1, degree=1).to("cuda")
    cams = cameras(48, 40)
    weight = torch.randn(2, 40, 48, 3, device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    grads = {}
    for backend in ("gsplat", "torch"):
        g = base.clone().requires_grad_()
        (render(g, cams, backend=backend).rgb * weight).sum().backward()
        grads[backend] = {n: getattr(g, n).grad for n in ("means", "scales", "quats", "opacities", "sh")}
    for name, ref in grads["torch"].items():
        rel = (grads["gsplat"][name] - ref).norm() / ref.norm()
        assert rel < 0.05, f"{name}: relative error {rel:.3f}"


def test_auto_picks_gsplat_for_cuda_tensors():
    assert render(random_scene(10, 2).to("cuda"), cameras(16, 16, count=1)).backend == "gsplat"

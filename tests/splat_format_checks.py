"""What the tests of every splat format share: random Gaussians, comparisons that ignore a
quaternion's sign, and the PSNR of a re-read file's render against the original's."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from scenegen import Camera
from scenegen.gaussians import Gaussians
from scenegen.metrics import psnr
from scenegen.render import render
from scenegen.render.views import framing

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPLATS = DATA / "splats"


def random_gaussians(n: int, degree: int = 0, seed: int = 0, sh_range: float = 0.8) -> Gaussians:
    gen = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=gen) * 2, scales=torch.randn(n, 3, generator=gen) * 0.5 - 3,
        quats=torch.randn(n, 4, generator=gen), opacities=torch.randn(n, generator=gen) * 3,
        sh=(torch.rand(n, (degree + 1) ** 2, 3, generator=gen) * 2 - 1) * sh_range,
    )


def unit_quats_alike(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N] largest component difference of unit quaternions, q and -q being the same rotation."""
    a = a / a.norm(dim=1, keepdim=True)
    b = b / b.norm(dim=1, keepdim=True)
    return torch.minimum((a - b).abs().amax(1), (a + b).abs().amax(1))


def render_psnr(original: Gaussians, reread: Gaussians, views: int = 3, size: int = 160) -> float:
    """The lowest PSNR over a few views around the splats of `reread`'s render against `original`'s."""
    centre, radius = framing(original)
    worst = float("inf")
    for k in range(views):
        angle = 2 * math.pi * k / views
        eye = centre + radius * 1.6 * torch.tensor([math.cos(angle), math.sin(angle), 0.4])
        cam = Camera.look_at(eye, centre, fov_deg=50.0, width=size, height=size * 3 // 4)
        with torch.no_grad():
            a = render(original, cam, background=(1.0, 1.0, 1.0)).rgb[0].clamp(0, 1)
            b = render(reread, cam, background=(1.0, 1.0, 1.0)).rgb[0].clamp(0, 1)
        worst = min(worst, float(psnr(b, a)))
    return worst

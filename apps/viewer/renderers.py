"""The viewer's two ways to draw a scene: OpenGL quads (splat_gl.py) or scenegen's own rasterizer.

"auto" takes OpenGL when it runs on a real GPU, and scenegen's CPU backend otherwise: on a
CPU-only machine Mesa's llvmpipe shades every covered pixel of every quad, while the compiled CPU
rasterizer bins Gaussians into tiles and stops a pixel once it is opaque, which makes it several
times faster there (benchmarks/viewer_fps.py measures both).
"""

from __future__ import annotations

import numpy as np
import torch

from scenegen import Camera
from scenegen.render import render_image
from scenegen.gaussians import Gaussians
from scenegen.sh import rgb_to_sh_dc, sh_to_colour

RENDERERS = ("auto", "opengl", "cpu")
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software")
HIGHLIGHT = torch.tensor([1.0, 0.8, 0.1])
QUICK_BUDGET = 60_000  # quick frames (while the camera moves) draw at most this many Gaussians


def quick_subset(gaussians: Gaussians, budget: int = QUICK_BUDGET) -> torch.Tensor | None:
    """Indices of the `budget` Gaussians that cover the most (opacity times the area of their two
    largest axes), in their original order; None when there are no more than that. The quick
    frames drawn while the camera moves skip the rest; the frame drawn when it stops has all."""
    if len(gaussians) <= budget:
        return None
    scales = torch.exp(gaussians.scales.detach().float()).sort(dim=1).values
    significance = torch.sigmoid(gaussians.opacities.detach().float()) * scales[:, 1] * scales[:, 2]
    return torch.topk(significance, budget).indices.sort().values


class CPURenderer:
    """scenegen.render_image: the compiled CPU rasterizer's display kernel (or the fastest backend
    that runs here), straight to 8-bit RGB."""

    name = "scenegen cpu"

    def __init__(self):
        self.gaussians = Gaussians.empty()
        self.ids = torch.zeros(0, dtype=torch.long)
        self._lit: tuple[int | None, Gaussians] | None = None

    def set_gaussians(self, gaussians: Gaussians, object_ids=None):
        self.gaussians = gaussians.detach()
        self.ids = torch.zeros(len(gaussians), dtype=torch.long) if object_ids is None else torch.as_tensor(object_ids)
        self.subset = quick_subset(self.gaussians)
        self._lit = None

    def _highlighted(self, highlight: int | None) -> Gaussians:
        if highlight is None:
            return self.gaussians
        if self._lit is None or self._lit[0] != highlight:
            g = self.gaussians
            sh = g.sh.clone()
            mask = self.ids == highlight
            base = sh_to_colour(sh[mask][:, :1])
            sh[mask, 0] = rgb_to_sh_dc(0.55 * base + 0.45 * HIGHLIGHT)
            self._lit = (highlight, Gaussians(g.means, g.scales, g.quats, g.opacities, sh))
        return self._lit[1]

    def render(self, camera: Camera, background=(1.0, 1.0, 1.0), highlight: int | None = None,
               quick: bool = False) -> np.ndarray:
        if len(self.gaussians) == 0:
            return np.broadcast_to(np.asarray(background, np.float32), (int(camera.height), int(camera.width), 3)).copy()
        gaussians = self._highlighted(highlight)
        if quick and self.subset is not None:
            gaussians = gaussians[self.subset]
        return render_image(gaussians, camera, background=background)


def make_renderer(kind: str = "auto"):
    """A renderer: "opengl" (moderngl, raises when no context can be made), "cpu", or "auto"."""
    if kind not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS}, got {kind!r}")
    if kind == "cpu":
        return CPURenderer()
    try:
        from .splat_gl import GLSplatRenderer

        gl = GLSplatRenderer()
    except Exception:  # no moderngl, no driver, no context
        if kind == "opengl":
            raise
        return CPURenderer()
    if kind == "auto" and any(word in gl.renderer_name.lower() for word in SOFTWARE_GL):
        gl.release()
        return CPURenderer()
    gl.name = f"OpenGL ({gl.renderer_name})"
    return gl

"""An object's turn from its masks and colours, before training: a search over steady spins.

Training a rigid object's turn by gradient from an unturned start does not work: the object's
Gaussians first fit a blur of all its orientations, and a blur pulls no way round. So before
training, each masked object's steady spin about the up axis is searched for. For each candidate
total turn over the capture (every 10 degrees, then every 2 near the best), the object's visual
hull is carved in its own frame (a voxel inside the object's mask in nine tenths of the views that
see it, with the object carried by its mask path and the candidate spin; eight or seven tenths
when the masks disagree so much that the unturned hull keeps less than a quarter of a ball of
the object's size, as masks found from motion can), and scored by how well
its visible voxels agree in colour across views (the mean of their colours' standard deviations;
visibility from each view's own depth buffer of the hull). The right spin lines the surface up,
and its colours agree.

Two cases are refused, so that an object only turns when its colours ask for it:
- a spin that keeps the object facing the camera: the views then all see it from one side, the
  hull grows into a long cone towards the camera and its colours agree trivially (with the raw
  depth buffer, a still object scored best there when the camera orbits). A candidate whose views of the object span less than
  half the angle the unturned object's views span is out;
- a spin that scores less than 20% better than none: a round or plain object agrees in colour
  under any turn, and an object whose centre path or masks are off (masks found from motion)
  scores a little better under some turn by chance. On tabletop-dynamic the turning block scores
  23-40% better turned (by resolution and mask source), the sliding box up to 15% under a false
  turn with masks found from motion.

The up axis: the supporting plane's normal where it is known, else the cameras' up
(render.views.up_from_cameras).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ...camera import Cameras
from ...common.views import up_basis
from ...geometry import quat_to_rotmat, rotation_vector_to_quat

GRID = 32  # voxels along each side of the hull's cube
INSIDE_SHARES = (0.9, 0.8, 0.7)  # a hull voxel is inside the mask in this share of the views that see it: the first that keeps
MIN_HULL_SHARE = 0.25  # this share of a ball of the object's radius in the unturned hull
MIN_SPREAD = 0.5  # the views of a turned object span at least this share of the unturned one's
MIN_GAIN = 0.2  # the best spin scores at least this much better than none


@dataclass
class Spin:
    """A masked object's steady spin: `turn` radians over the capture about `axis`, zero at
    `mid`, about the object's centre moved by `offset` [3]; `score` and `still_score` (colour
    disagreement) for it and for no turn; `hull`: the visual hull's voxel centres [N, 3] in the
    object's frame under that spin; `voxel` their spacing."""

    turn: float
    axis: Tensor
    offset: Tensor
    mid: float
    duration: float
    score: float
    still_score: float
    hull: Tensor
    voxel: float

    def rotation_vectors(self, times) -> Tensor:
        """Rotation vectors [T, 3] of the object's turn at `times`."""
        t = torch.as_tensor(times, dtype=torch.float64).reshape(-1)
        angle = self.turn * (t - self.mid) / max(self.duration, 1e-12)
        return angle[:, None] * self.axis.double()[None]


class _Views:
    """The masked views of one object: cameras, object masks, images, times and its centres."""

    def __init__(self, cameras: Cameras, masks: Tensor, images: Tensor, times: Tensor, centres: Tensor, voxel: float):
        self.inside_share = INSIDE_SHARES[0]
        self.cameras, self.masks, self.images, self.times, self.centres = cameras, masks, images, times.double(), centres.float()
        self.h, self.w = masks.shape[1:]
        _, depth = cameras.project(centres.to(cameras.c2w.dtype)[:, None])
        pixels = float((cameras.fx * voxel / depth[:, 0].abs().clamp_min(1e-6)).median())  # a voxel's width on screen
        self.pool = 2 * max(1, round(1.25 * pixels)) + 1

    def near_middle(self, grid: Tensor, times: Tensor, mid: float) -> Tensor:
        """The voxels of `grid` that the view nearest the middle time (where no spin has turned
        the object yet) sees inside its mask grown by a few voxels: the others cannot be in any
        candidate's hull, or barely; dropping them first makes each trial cheaper."""
        k = int(torch.argmin((times - mid).abs()))
        uv, z = self.cameras[k : k + 1].project(grid + self.centres[k])
        u, v = uv[0, :, 0].floor().long(), uv[0, :, 1].floor().long()
        inside = (u >= 0) & (u < self.w) & (v >= 0) & (v < self.h) & (z[0] > 0)
        grown = torch.nn.functional.max_pool2d(self.masks[k][None, None].float(), self.pool, stride=1, padding=self.pool // 2)[0, 0] > 0
        keep = ~inside
        keep[inside] = grown[v[inside], u[inside]]
        return grid[keep]

    def evaluate(self, grid: Tensor, rotvecs: Tensor, offset: Tensor, voxel: float, up: Tensor):
        """(colour disagreement, hull mask [N], views' angular spread in radians) of the voxels
        `grid` [N, 3] (object frame) turned by `rotvecs` [F, 3] about the centres moved by
        `offset` [3]."""
        R = quat_to_rotmat(rotation_vector_to_quat(rotvecs.float()))
        centres = self.centres + offset.float()
        world = torch.einsum("fij,nj->fni", R, grid) + centres[:, None]
        uv, z = self.cameras.project(world)
        u, v = uv[..., 0].floor().long(), uv[..., 1].floor().long()
        F, h, w = len(self.masks), self.h, self.w
        inside = (u >= 0) & (u < w) & (v >= 0) & (v < h) & (z > 0)
        pixel = v.clamp(0, h - 1) * w + u.clamp(0, w - 1) + torch.arange(F)[:, None] * (h * w)
        in_mask = self.masks.reshape(-1)[pixel] & inside
        hull = in_mask.sum(0) >= self.inside_share * inside.sum(0).clamp_min(1)
        seen = inside & hull[None]
        depth = torch.full((F * h * w,), math.inf)
        depth.scatter_reduce_(0, pixel[seen], z[seen].float(), reduce="amin")
        # The nearest hull depth around each pixel, over a few voxels' width: the buffer has no
        # holes between the voxels' centres for hidden voxels to be seen through.
        nearest = -torch.nn.functional.max_pool2d(-depth.reshape(F, 1, h, w).clamp_max(1e30), self.pool, stride=1, padding=self.pool // 2)
        depth = nearest.reshape(-1)
        visible = (seen & (z.float() <= depth[pixel] + 1.5 * voxel)).float()[..., None]
        colours = self.images.reshape(-1, 3)[pixel]
        count = visible.sum(0)
        mean = (colours * visible).sum(0) / count.clamp_min(1)
        spread_sq = (((colours - mean) ** 2) * visible).sum(0) / count.clamp_min(1)
        enough = count[:, 0] >= 3
        score = float(spread_sq[enough].sum(1).sqrt().mean()) if bool(enough.any()) else math.inf
        # Where the cameras stand seen from the object, about the up axis.
        rel = torch.einsum("fji,fj->fi", R.double(), self.cameras.c2w[:, :3, 3].double() - centres.double())
        _, e1, e2 = (axis.double() for axis in up_basis(up))
        angle = torch.atan2(rel @ e2, rel @ e1)
        angle = torch.remainder(angle - angle[len(angle) // 2] + math.pi, 2 * math.pi) - math.pi
        return score, hull, float(angle.max() - angle.min())


def search_spin(cameras: Cameras, masks: Tensor, images: Tensor, times: Tensor, centres: Tensor, radius: float, up: Tensor,
                span: tuple[float, float] | None = None) -> Spin:
    """The steady spin about `up` that best explains object views (see the module doc).

    cameras: the F views; masks: [F, H, W] bool, the object's pixels; images: [F, H, W, 3];
    times: [F]; centres: [F, 3] the object's centre in each view (its mask path); radius: its
    size; span: the capture's (first, last) time (default: of `times`). Returns no turn when
    none is clearly better."""
    times = torch.as_tensor(times, dtype=torch.float64)
    t0, t1 = span if span is not None else (float(times.min()), float(times.max()))
    mid, duration = 0.5 * (t0 + t1), max(t1 - t0, 1e-12)
    up = up.double() / up.double().norm()
    half = 2.0 * radius
    line = torch.linspace(-half, half, GRID)
    grid = torch.stack(torch.meshgrid(line, line, line, indexing="ij"), -1).reshape(-1, 3)
    voxel = 2 * half / (GRID - 1)
    views = _Views(cameras, masks.bool(), images.float(), times, centres, voxel)
    grid = views.near_middle(grid, times, mid)
    phase = ((times - mid) / duration)[:, None] * up[None]

    zero = torch.zeros(3, dtype=torch.float64)
    ball = 4 / 3 * math.pi * (radius / voxel) ** 3  # voxels in a ball of the object's radius
    for share in INSIDE_SHARES:
        views.inside_share = share
        still_score, still_hull, still_spread = views.evaluate(grid, 0 * phase, zero, voxel, up)
        if int(still_hull.sum()) >= MIN_HULL_SHARE * ball:
            break
    best = [still_score, 0.0, zero, still_hull]

    def consider(turn_deg: float, offset: Tensor):
        score, hull, spread = views.evaluate(grid, math.radians(turn_deg) * phase, offset, voxel, up)
        if spread >= MIN_SPREAD * still_spread and score < best[0]:
            best[:] = [score, turn_deg, offset, hull]

    def refine_turn(step: float):
        for k in (-4, -3, -2, -1, 1, 2, 3, 4):
            consider(best[1] + step * k, best[2])

    for turn in range(-360, 361, 10):
        if turn:
            consider(float(turn), zero)
    refine_turn(2.0)
    if best[0] >= (1 - MIN_GAIN) * still_score:
        return Spin(0.0, up, zero, mid, duration, still_score, still_score, grid[still_hull], voxel)
    # Where the axis stands: shifts square to it, coarse then fine, then the turn once more.
    _, e1, e2 = (axis.double() for axis in up_basis(up))
    for step in (voxel, voxel / 3):
        turn, offset = best[1], best[2]
        for i in range(-2, 3):
            for j in range(-2, 3):
                if i or j:
                    consider(turn, offset + step * (i * e1 + j * e2))
    refine_turn(1.0)
    return Spin(math.radians(best[1]), up, best[2], mid, duration, best[0], still_score, grid[best[3]], voxel)


__all__ = ["Spin", "search_spin"]

"""Dynamic reconstruction: Gaussians with per-Gaussian motion fitted to a timed dataset.

The model (scenegen.gaussian_motion): each Gaussian's mean moves along a low-order polynomial +
Fourier basis of time, its orientation turns by an axis-angle on the same basis, and its opacity
fades in time around a learned centre. Why this model rather than a deformation network
(Deformable-3DGS, 4DGaussians): it is a handful of numbers per Gaussian, evaluated with one small
matrix product per frame, so a training step costs little more than a static one on the CPU; it
renders at any t, between training frames included, and stores in the PLY. An L1 penalty on the
displacements keeps still things still, which is what later splits moving objects from the
background; a coherence penalty (neighbours' coefficients differ little) makes parts move as
pieces, which is what lets a capture with one view per instant generalise to new viewpoints.
Densification copies the coefficients with the Gaussian.
"""

from __future__ import annotations

import torch

from ..common.points import neighbours
from ..data.dataset import Dataset
from ..gaussian_motion import GaussianMotion, MotionBasis
from ..gaussians import Gaussians
from ..scene import Scene
from .config import TrainConfig
from .densify import ParamSet
from .trainer import Trainer, _gaussians

MOTION_PARAMS = ("offsets", "rotations", "time_centres", "time_sharpness")
MIN_WINDOW_VIEWS = 4
COHERENCE_K = 8  # neighbours each Gaussian's motion is compared with
COHERENCE_SAMPLE = 8192  # Gaussians compared per step
NEIGHBOURS_EVERY = 100  # steps between neighbour searches (and whenever densification changes the count)


def wants_motion(dataset: Dataset, config: TrainConfig) -> bool:
    """Fit motion when asked to, or (motion="auto") when the dataset was captured at several times."""
    if config.motion == "static":
        return False
    timed = dataset.times is not None and len(torch.unique(dataset.times)) > 1
    if config.motion == "dynamic" and not timed:
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"{dataset.root}: motion='dynamic' needs a dataset with per-image times at several instants")
    return timed


class DynamicTrainer(Trainer):
    def __init__(self, dataset: Dataset, config: TrainConfig | None = None, out=None):
        super().__init__(dataset, config, out)
        times = self.train_ds.times
        self.times = times[self.indices].double()
        all_times = dataset.times.double()
        self.basis = MotionBasis(float(all_times.min()), float(all_times.max()), self.cfg.motion_degree, self.cfg.motion_fourier)
        still = GaussianMotion.still(len(self.params), self.basis)
        tensors = {k: v.detach() for k, v in self.params.params.items()}
        tensors.update({k: getattr(still, k) for k in MOTION_PARAMS})
        self.base_lrs = self._learning_rates()
        self.params = ParamSet(tensors, self.base_lrs, self.device)
        self._neighbours = None

    @property
    def motion_rate(self) -> float:
        """The displacement coefficients' starting rate, before the scene extent."""
        return self.cfg.lr_motion

    def _learning_rates(self) -> dict:
        lrs = super()._learning_rates()
        c = self.cfg
        lrs.update(offsets=self.motion_rate * self.extent, rotations=c.lr_motion_rotation, time_centres=c.lr_time, time_sharpness=c.lr_time)
        return lrs

    def _schedule(self, step: int):
        super()._schedule(step)
        # Displacements anneal with the means (same ratio of the starting rate); during the warm-up
        # the scene is fitted as if static.
        free = step > min(self.cfg.motion_warmup, self.cfg.steps // 3)
        self.params.group("offsets")["lr"] = free * self._means_lr(step) / self.cfg.lr_means * self.motion_rate
        for name in ("rotations", "time_centres", "time_sharpness"):
            self.params.group(name)["lr"] = free * self.base_lrs[name]

    def _next_view(self) -> int:
        """With `motion_curriculum` > 0, the window of times trained on opens outward from the
        middle of the capture (where every motion is zero) to its ends over that share of the
        steps after the warm-up (while the motion is held still, a wider window would only blur
        the scene), so each step asks the motion to go a little further than it already goes."""
        share = self.cfg.motion_curriculum
        if share <= 0:
            return super()._next_view()
        mid, half = 0.5 * (self.basis.t0 + self.basis.t1), 0.5 * (self.basis.t1 - self.basis.t0)
        warm = min(self.cfg.motion_warmup, self.cfg.steps // 3)
        reach = half * min(1.0, max(self.step - warm, 0) / max(share * (self.cfg.steps - warm), 1.0))
        self._open_keys(reach)
        distance = (self.times - mid).abs()
        eligible = (distance <= reach + 1e-9).nonzero().squeeze(1)
        if len(eligible) < MIN_WINDOW_VIEWS:
            eligible = torch.argsort(distance)[:MIN_WINDOW_VIEWS]
        return int(eligible[torch.randint(len(eligible), (1,), generator=self.generator)])

    def _open_keys(self, reach: float):
        """Called as the time window opens to `reach` around the middle (for keyframed models)."""

    def motion(self, detach: bool = False) -> GaussianMotion:
        """The motion being fitted (on the training device), or with detach=True a copy on the CPU."""
        p = self.params.params
        values = [p[k].detach().to("cpu") if detach else p[k] for k in MOTION_PARAMS]
        return GaussianMotion(self.basis, *values)

    def view_gaussians(self, i: int) -> Gaussians:
        return self.motion().apply(_gaussians(self.params), float(self.times[i]))

    def regularization(self, i: int):
        """Adds the sparsity of the displacements (what does not move stays still) and, once the
        motion is free, their coherence: each Gaussian's motion coefficients (displacement, over
        the scene's extent, and turn) differ little from its nearest neighbours'. A Gaussian seen
        by one view per instant can otherwise fit that view with a motion of its own that no
        other viewpoint agrees with; with neighbours moving alike, parts move as pieces."""
        p = self.params.params
        extent = max(self.extent, 1e-9)
        loss = super().regularization(i) + self.cfg.motion_l1 * p["offsets"].abs().mean() / extent
        weight = self.cfg.motion_coherence
        if weight <= 0 or self.step <= min(self.cfg.motion_warmup, self.cfg.steps // 3) or len(p["means"]) < 2:
            return loss
        n = len(p["means"])
        if self._neighbours is None or len(self._neighbours) != n or self.step % NEIGHBOURS_EVERY == 0:
            self._neighbours = neighbours(p["means"].detach(), COHERENCE_K + 1)[:, 1:]
        sample = torch.randint(n, (min(COHERENCE_SAMPLE, n),), generator=self.generator).to(self.device)
        near = self._neighbours[sample]
        for name, scale in (("offsets", 1.0 / extent), ("rotations", 0.1)):
            c = p[name]
            loss = loss + weight * scale * (c[sample][:, None] - c[near]).abs().mean()
        return loss

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self._neighbours is not None:  # recomputed only every NEIGHBOURS_EVERY steps: a resumed run needs the same ones
            state["coherence_neighbours"] = self._neighbours.detach().cpu()
        return state

    def restore(self, state: dict) -> None:
        super().restore(state)
        near = state.get("coherence_neighbours")
        if near is not None:  # as many rows as Gaussians when they were found (densification since means a new search)
            if not isinstance(near, torch.Tensor) or near.dtype != torch.long or near.dim() != 2 \
                    or (near.numel() and (near.min() < 0 or near.max() >= len(near))):
                raise ValueError("its coherence neighbours are not indices of its Gaussians")
            self._neighbours = near.to(self.device)

    def make_scene(self, metadata: dict) -> Scene:
        scene = super().make_scene(metadata)
        scene.background.motion = self.motion(detach=True)
        scene.time_range = (self.basis.t0, self.basis.t1)
        moving = self.motion(detach=True).path_length(torch.linspace(self.basis.t0, self.basis.t1, 9))
        scene.metadata["moving_gaussians"] = int((moving > 0.01 * self.extent).sum())
        return scene


def static_share(motion: GaussianMotion, times, tolerance: float) -> float:
    """The share of Gaussians whose mean stays within `tolerance` of its place over `times`."""
    if len(motion) == 0:
        return 1.0
    return float((motion.path_length(times) <= tolerance).double().mean())


__all__ = ["DynamicTrainer", "wants_motion", "static_share", "MOTION_PARAMS"]

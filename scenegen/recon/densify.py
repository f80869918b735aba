"""Adaptive density control (3DGS): clone small and split large Gaussians whose screen-space
gradient is high, prune transparent or oversized ones, and periodically reset opacities.
Parameters and their Adam moments are edited together, and the count never passes the cap."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..geometry import quat_to_rotmat
from .config import TrainConfig
from .distributed import sum_tensors, world

FUSED_ADAM = True  # torch's fused Adam where it has one: a kernel for all moments, 3x faster than foreach


class ParamSet:
    """Trainable per-Gaussian tensors by name (means, scales, quats, opacities, sh0, shN, and any
    more with N rows, such as motion coefficients) and their Adam."""

    NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")

    def __init__(self, tensors: dict[str, Tensor], lrs: dict[str, float], device: torch.device | str | None = None):
        self.NAMES = tuple(self.NAMES) + tuple(k for k in tensors if k not in self.NAMES)
        self.params = {k: torch.nn.Parameter(tensors[k].detach().to(device or tensors[k].device).clone().contiguous())
                       for k in self.NAMES}
        fused = FUSED_ADAM and self.params["means"].device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(
            [{"params": [self.params[k]], "lr": lrs[k], "name": k} for k in self.NAMES], eps=1e-15,
            **({"fused": True} if fused else {"foreach": True})
        )

    def __len__(self) -> int:
        return self.params["means"].shape[0]

    def group(self, name: str) -> dict:
        return next(g for g in self.optimizer.param_groups if g["name"] == name)

    def _rebuild(self, fn_param, fn_moment):
        for name in self.NAMES:
            old = self.params[name]
            new = torch.nn.Parameter(fn_param(name, old.detach()).contiguous())
            state = self.optimizer.state.pop(old, None)
            if state:
                state["exp_avg"] = fn_moment(state["exp_avg"]).contiguous()
                state["exp_avg_sq"] = fn_moment(state["exp_avg_sq"]).contiguous()
                self.optimizer.state[new] = state
            self.group(name)["params"] = [new]
            self.params[name] = new

    def keep(self, mask: Tensor):
        self._rebuild(lambda name, t: t[mask], lambda m: m[mask])

    def append(self, extra: dict[str, Tensor]):
        n_new = extra["means"].shape[0]
        self._rebuild(lambda name, t: torch.cat([t, extra[name].to(t.dtype)]),
                      lambda m: torch.cat([m, m.new_zeros(n_new, *m.shape[1:])]))

    def set_(self, name: str, value: Tensor):
        """Overwrite a parameter's values and zero its Adam moments (used by opacity reset)."""
        with torch.no_grad():
            self.params[name].copy_(value)
        state = self.optimizer.state.get(self.params[name])
        if state:
            state["exp_avg"].zero_()
            state["exp_avg_sq"].zero_()


class DensityControl:
    def __init__(self, cfg: TrainConfig, extent: float, generator: torch.Generator):
        self.cfg, self.extent, self.generator = cfg, extent, generator
        self.grad_sum = torch.zeros(0)
        self.count = torch.zeros(0)

    def reset_stats(self, n: int, device: torch.device | None = None):
        device = device or self.grad_sum.device
        self.grad_sum, self.count = torch.zeros(n, device=device), torch.zeros(n, device=device)

    def _gather(self) -> None:
        """Data-parallel training: every process holds its own views' share of the statistics;
        make each hold the sum (recon/distributed.py)."""
        self.grad_sum, self.count = sum_tensors([self.grad_sum, self.count])

    def state_dict(self) -> dict:
        """The statistics of all processes (summed into process 0's; the others start again from zero)."""
        if world()[1] > 1:
            self._gather()
            if world()[0] != 0:
                self.reset_stats(len(self.grad_sum))
        return {"grad_sum": self.grad_sum, "count": self.count}

    def load_state_dict(self, d: dict, device: torch.device | None = None):
        self.grad_sum, self.count = d["grad_sum"].to(device or d["grad_sum"].device), d["count"].to(device or d["count"].device)
        if world()[0] != 0:  # process 0 carries the saved sums
            self.reset_stats(len(self.grad_sum))

    def accumulate(self, means2d_grad: Tensor, radii: Tensor, width: int, height: int):
        """Add one step's screen-space gradient norms (in NDC units, as 3DGS thresholds them)."""
        if len(self.grad_sum) != means2d_grad.shape[1] or self.grad_sum.device != means2d_grad.device:
            self.reset_stats(means2d_grad.shape[1], means2d_grad.device)
        g = means2d_grad.detach().clone()
        g[..., 0] *= width / 2 * g.shape[0]
        g[..., 1] *= height / 2 * g.shape[0]
        visible = radii > 0
        norms = g.norm(dim=-1)
        self.grad_sum += (norms * visible).sum(0)
        self.count += visible.sum(0)

    def step(self, step: int, params: ParamSet) -> str | None:
        """Run whatever the schedule asks for at `step` (1-based); returns a note of what was done."""
        cfg = self.cfg
        note = None
        # Neither densify nor reset opacities in the last tenth of training: what they change
        # needs steps to settle before the result is saved.
        settling = step > cfg.steps - cfg.steps // 10
        if settling:
            return None
        if cfg.densify_from <= step <= cfg.densify_until and step % cfg.densify_every == 0:
            if world()[1] > 1:
                self._gather()
            note = self._densify_and_prune(params, prune_big=step > cfg.opacity_reset_every)
        # A reset needs densification steps after it to prune what stays transparent: none at
        # densify_until itself, where the Gaussians would only spend the steps left regrowing.
        if step % cfg.opacity_reset_every == 0 and step < cfg.densify_until:
            capped = torch.clamp(params.params["opacities"].detach(), max=math.log(0.01 / 0.99))
            params.set_("opacities", capped)
            note = (note or "") + " opacity reset"
        return note

    def _densify_and_prune(self, params: ParamSet, prune_big: bool) -> str:
        cfg = self.cfg
        n = len(params)
        device = params.params["means"].device
        if len(self.grad_sum) != n or self.grad_sum.device != device:
            self.reset_stats(n, device)
        avg = self.grad_sum / self.count.clamp_min(1)
        p = {k: v.detach() for k, v in params.params.items()}
        scale_max = torch.exp(p["scales"]).max(dim=1).values
        candidates = avg >= cfg.densify_grad_threshold
        small = scale_max <= cfg.percent_dense * self.extent
        clone, split = candidates & small, candidates & ~small
        # Respect the cap: keep the strongest candidates (a split adds one net Gaussian, as does a clone).
        room = max(cfg.max_gaussians - n, 0)
        if int(clone.sum() + split.sum()) > room:
            score = torch.where(clone | split, avg, torch.full_like(avg, -1.0))
            keep = torch.zeros(n, dtype=torch.bool, device=device)
            if room > 0:
                keep[torch.topk(score, room).indices] = True
            clone, split = clone & keep, split & keep
        new = {k: v[clone] for k, v in p.items()}
        # Split: two samples from the Gaussian, each 1/1.6 the size, replacing the original.
        if split.any():
            idx = split.nonzero().squeeze(1)
            reps = idx.repeat(2)
            stds = torch.exp(p["scales"][reps])
            offsets = torch.randn(len(reps), 3, generator=self.generator).to(device) * stds  # drawn on the CPU on every device
            R = quat_to_rotmat(p["quats"][reps])
            split_new = {k: v[reps] for k, v in p.items()}
            split_new["means"] = p["means"][reps] + (R @ offsets[:, :, None])[:, :, 0]
            split_new["scales"] = p["scales"][reps] - math.log(1.6)
            new = {k: torch.cat([new[k], split_new[k]]) for k in p}
        n_clone, n_split = int(clone.sum()), int(split.sum())
        params.append(new)
        # Drop the split originals, transparent Gaussians, and (after the first reset) oversized ones.
        alive = torch.ones(len(params), dtype=torch.bool, device=device)
        alive[:n] &= ~split
        op = torch.sigmoid(params.params["opacities"].detach())
        alive &= op >= cfg.prune_opacity
        if prune_big:
            too_big = torch.exp(params.params["scales"].detach()).max(1).values > 0.1 * self.extent
            alive &= ~too_big
        pruned = int((~alive).sum()) - n_split
        params.keep(alive)
        self.reset_stats(len(params))
        return f"+{n_clone} cloned +{n_split} split -{pruned} pruned -> {len(params)}"

"""Static reconstruction: fit 3D Gaussians to a posed dataset with the differentiable rasterizer."""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

from ..data.dataset import Dataset, resize_image
from ..errors import DatasetError, InvalidArgumentError, TrainingError
from ..gaussians import Gaussians
from ..common.atomic import atomic_path
from ..common.progress import Progress
from ..render import render
from ..scene import Scene
from .config import TrainConfig
from .densify import DensityControl, ParamSet
from .device import training_device
from .distributed import sum_gradients, world
from .init import initial_gaussians, scene_extent
from .losses import photometric_loss

log = logging.getLogger("scenegen.train")
CHECKPOINT = "checkpoint.pt"
RANDOM_INIT_PIXELS = 50
COARSE_MIN_SIDE = 100  # coarse-to-fine levels stop before the shorter side falls below this


def coarse_levels(cameras, levels: int) -> int:
    """How many times the images can be halved (at most `levels`) keeping every view's shorter
    side at COARSE_MIN_SIDE pixels or more."""
    shortest = int(torch.minimum(cameras.width, cameras.height).min())
    k = 0
    while k < levels and shortest / 2 ** (k + 1) >= COARSE_MIN_SIDE:
        k += 1
    return k


def halved(cameras, images: list[torch.Tensor], times: int):
    """The cameras and images at 1/2**times the resolution (area averages of the pixels)."""
    cams = cameras.rescale(0.5**times)
    return cams, [resize_image(img, int(cams.width[i]), int(cams.height[i])).contiguous() for i, img in enumerate(images)]


def load_training_images(ds: Dataset) -> tuple[list[int], list[torch.Tensor]]:
    """Every usable training image; all-black or non-finite images are reported and left out."""
    keep, images, bad = [], [], []
    for i in range(len(ds)):
        img = ds.image(i)
        if not torch.isfinite(img).all() or float(img.max()) < 1e-3:
            bad.append(str(ds.image_paths[i]))
            continue
        keep.append(i)
        images.append(img.contiguous())
    if bad:
        log.warning("scenegen train: leaving out %d unusable image(s) (all black or NaN): %s", len(bad), ", ".join(bad[:5]))
    if not images:
        raise DatasetError(f"{ds.root}: none of the {len(ds)} training images is usable (all are black or contain NaN)")
    return keep, images


def held_out(dataset: Dataset) -> Dataset | None:
    """The views to evaluate on: the "test" split, else "val", else (no splits at all) every 8th image."""
    for name in ("test", "val"):
        if name in dataset.splits:
            return dataset.split(name)
    if not dataset.splits:
        return dataset.split("test")
    log.info("scenegen train: the dataset has no test or val split; skipping evaluation")
    return None


def _gaussians(params: ParamSet) -> Gaussians:
    p = params.params
    return Gaussians(p["means"], p["scales"], p["quats"], p["opacities"], torch.cat([p["sh0"], p["shN"]], dim=1))


def _split_sh(g: Gaussians) -> dict:
    return {"means": g.means, "scales": g.scales, "quats": g.quats, "opacities": g.opacities,
            "sh0": g.sh[:, :1], "shN": g.sh[:, 1:]}


class Trainer:
    """One training run; `run()` returns the trained Gaussians. Checkpoints go to `out` when given."""

    # Whether the first steps may see halved images (TrainConfig.coarse_levels); False where the
    # trainer's pixel weights or regularisation are made at the training resolution.
    coarse_to_fine = True

    def __init__(self, dataset: Dataset, config: TrainConfig | None = None, out: Path | None = None):
        self.cfg = config or TrainConfig()
        if dataset.cameras is None:
            raise InvalidArgumentError(f"{dataset.root}: the dataset has no camera poses; run structure from motion first")
        self.dataset = dataset
        self.device = training_device(self.cfg.device, self.cfg.backend)
        self.out = None if out is None else Path(out)
        whole = bool(dataset.splits) and "train" not in dataset.splits  # splits without a train split: train on all
        self.view_indices = torch.arange(len(dataset)) if whole else dataset.split_indices("train")  # train_ds view -> dataset view
        self.train_ds = dataset if whole else dataset.subset(self.view_indices)
        self.scale_factor = self.cfg.downscale
        if self.cfg.max_image_size:
            longest = int(max(self.train_ds.cameras.width.max(), self.train_ds.cameras.height.max()))
            self.scale_factor = max(self.scale_factor, longest / self.cfg.max_image_size)
        if self.scale_factor != 1:
            self.train_ds = self.train_ds.downscaled(self.scale_factor)
        self.indices, self.images = load_training_images(self.train_ds)
        self.images = [img.to(self.device) for img in self.images]
        self.cameras = self.train_ds.cameras[self.indices]
        self.background = self.train_ds.background
        levels = coarse_levels(self.cameras, self.cfg.coarse_levels) if self.coarse_to_fine and self.cfg.coarse_share > 0 else 0
        self.coarse = [halved(self.cameras, self.images, k) for k in range(1, levels + 1)]  # level k at index k - 1
        self.extent = scene_extent(self.cameras)
        self.generator = torch.Generator().manual_seed(self.cfg.seed)
        # Without SfM points, no more random Gaussians than the images can pin down: one per
        # RANDOM_INIT_PIXELS observed pixels (D-NeRF's 50 views of 100x100 start from 10k, not 50k).
        pixels = sum(img.shape[0] * img.shape[1] for img in self.images)
        num_random = max(1, min(self.cfg.init_random_points, pixels // RANDOM_INIT_PIXELS))
        init = initial_gaussians(dataset.points, dataset.point_colours, self.cameras, num_random=num_random,
                                 opacity=self.cfg.init_opacity, sh_degree=self.cfg.sh_degree, generator=self.generator,
                                 max_count=self.cfg.max_gaussians)
        self.params = ParamSet(_split_sh(init), self._learning_rates(), self.device)
        self.density = DensityControl(self.cfg, self.extent, self.generator)
        n_img = len(self.images)
        self.exposure = torch.nn.Parameter(torch.cat([torch.ones(n_img, 3), torch.zeros(n_img, 3)], dim=1).to(self.device))
        self.exposure_opt = torch.optim.Adam([self.exposure], lr=self.cfg.lr_exposure)
        self.step = 0
        self.order = torch.randperm(n_img, generator=self.generator)
        self.cursor = 0
        self.history: list[dict] = []

    def _learning_rates(self) -> dict:
        c = self.cfg
        return {"means": c.lr_means * self.extent, "scales": c.lr_scales, "quats": c.lr_quats,
                "opacities": c.lr_opacities, "sh0": c.lr_sh0, "shN": c.lr_shN}

    def _means_lr(self, step: int) -> float:
        t = min(step / self.cfg.steps, 1.0)
        return math.exp((1 - t) * math.log(self.cfg.lr_means) + t * math.log(self.cfg.lr_means_final)) * self.extent

    def _schedule(self, step: int):
        self.params.group("means")["lr"] = self._means_lr(step)

    def _next_view(self) -> int:
        if self.cursor >= len(self.order):
            self.order = torch.randperm(len(self.images), generator=self.generator)
            self.cursor = 0
        i = int(self.order[self.cursor])
        self.cursor += 1
        return i

    def view_gaussians(self, i: int) -> Gaussians:
        """The (differentiable) Gaussians that training view i sees."""
        return _gaussians(self.params)

    def pixel_weights(self, i: int, rgb: torch.Tensor) -> torch.Tensor | None:
        """[H, W] weights of view i's pixels in the photometric loss (None: all count fully)."""
        return None

    def regularization(self, i: int) -> torch.Tensor | float:
        """Extra loss terms for the step on view i (after view_gaussians(i)): the mean opacity,
        so Gaussians that the images do not need fade out and are pruned. Without it, Gaussians
        that land where the training views see only background (or where one view alone sees
        them) stay opaque and show up as floaters from new viewpoints."""
        if self.cfg.opacity_l1 <= 0:
            return 0.0
        return self.cfg.opacity_l1 * torch.sigmoid(self.params.params["opacities"]).mean()

    def level_at(self, step: int) -> int:
        """The coarse-to-fine level of a step: how many times its images are halved."""
        for k in range(len(self.coarse), 0, -1):
            if step <= (len(self.coarse) - k + 1) * self.cfg.coarse_share * self.cfg.steps:
                return k
        return 0

    def view(self, i: int, level: int = 0):
        """Training view i's camera and image at a coarse-to-fine level."""
        if level == 0:
            return self.cameras[i], self.images[i]
        cams, images = self.coarse[level - 1]
        return cams[i], images[i]

    def sh_degree_at(self, step: int) -> int:
        return min(self.cfg.sh_degree, (step - 1) // self.cfg.sh_degree_interval)

    @property
    def gaussians(self) -> Gaussians:
        """The Gaussians as they stand, on the CPU (whatever device trains them)."""
        return _gaussians(self.params).detach().to("cpu")

    def synced_parameters(self) -> list[torch.Tensor]:
        """Everything an optimiser steps, in one fixed order: what data-parallel training sums
        the gradients of (recon/distributed.py)."""
        return list(self.params.params.values()) + [self.exposure]

    def train_step(self) -> dict:
        self.step += 1
        step, cfg = self.step, self.cfg
        self._schedule(step)
        rank, size = world()
        batch = cfg.views_per_step * size  # every process draws the whole step's views, and renders its share
        views = [self._next_view() for _ in range(batch)]
        degree, level = self.sh_degree_at(step), self.level_at(step)
        losses, errors = [], []
        for i in views[rank::size]:
            cam, target = self.view(i, level)
            out = render(self.view_gaussians(i), cam, sh_degree=degree, background=self.background, backend=cfg.backend)
            out.means2d.retain_grad()
            rgb = out.rgb[0]
            if cfg.exposure_compensation:
                rgb = rgb * self.exposure[i, :3] + self.exposure[i, 3:]
            loss = photometric_loss(rgb, target, cfg.ssim_lambda, self.pixel_weights(i, rgb)) + self.regularization(i)
            if not torch.isfinite(loss):
                raise TrainingError(f"the loss became {float(loss.detach())} at step {step} (view {self.train_ds.image_paths[self.indices[i]]}); "
                                    "the optimisation diverged: lower the learning rates or check the input images")
            (loss / batch if batch > 1 else loss).backward()  # the mean over the step's views
            if step <= cfg.densify_until:  # each view's screen-space gradient at full weight, as with one view
                self.density.accumulate(out.means2d.grad * batch if batch > 1 else out.means2d.grad, out.radii, cam.width, cam.height)
            losses.append(float(loss.detach()))
            with torch.no_grad():
                errors.append(float(((out.rgb[0].detach() - target) ** 2).mean()))
        sum_gradients(self.synced_parameters())
        self.params.optimizer.step()
        self.params.optimizer.zero_grad(set_to_none=True)
        if cfg.exposure_compensation:
            self.exposure_opt.step()
            self.exposure_opt.zero_grad(set_to_none=True)
        note = self.density.step(step, self.params)
        mse = sum(errors) / len(errors)
        record = {"step": step, "loss": sum(losses) / len(losses), "psnr": -10 * math.log10(max(mse, 1e-12)), "gaussians": len(self.params)}
        if note:
            record["density"] = note
        return record

    def make_scene(self, metadata: dict) -> Scene:
        """The trained scene, in the dataset's frame, with its capture cameras."""
        ds = self.dataset
        return Scene.from_gaussians(self.gaussians, cameras=ds.cameras, camera_times=ds.times, time_range=(0.0, 0.0),
                                    metadata=metadata)

    # checkpoints: plain tensors, loaded with weights_only=True (no pickle of arbitrary objects)
    def state_dict(self) -> dict:
        return {
            "step": self.step, "cursor": self.cursor, "order": self.order,
            "params": {k: v.detach() for k, v in self.params.params.items()},
            "optimizer": self.params.optimizer.state_dict(),
            "exposure": self.exposure.detach(), "exposure_optimizer": self.exposure_opt.state_dict(),
            "density": self.density.state_dict(), "generator": self.generator.get_state(),
            "config": json.dumps(self.cfg.to_dict()), "history": json.dumps(self.history),
        }

    def save_checkpoint(self, path: Path, state: dict | None = None):
        with atomic_path(path) as tmp:
            torch.save(self.state_dict() if state is None else state, tmp)

    def load_checkpoint(self, path: Path):
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")  # saved on any device, resumed on this one
        except Exception as exc:  # torch raises many types for a damaged file
            raise TrainingError(f"{path}: cannot read the checkpoint ({type(exc).__name__}: {exc}); delete it to start over") from None
        try:
            self.restore(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise TrainingError(f"{path}: the checkpoint does not fit this dataset and these settings "
                                f"({type(exc).__name__}: {exc}); start over without --resume") from None

    def restore(self, state: dict) -> None:
        """Take up the training state of a checkpoint read by load_checkpoint (subclasses add their
        fields); KeyError, TypeError or ValueError when it does not fit."""
        saved = json.loads(state["config"])
        if {k: saved.get(k) for k in ("steps", "seed", "sh_degree")} != {k: getattr(self.cfg, k) for k in ("steps", "seed", "sh_degree")}:
            log.warning("scenegen train: resuming with settings that differ from the checkpoint's")
        _check_state(state, self.cfg.steps, len(self.images), tuple(self.exposure.shape))
        k = state["params"]["shN"].shape[1] + 1
        if k != (self.cfg.sh_degree + 1) ** 2:
            raise ValueError(f"it holds SH with {k} coefficients, these settings want degree {self.cfg.sh_degree}")
        self.params = ParamSet(state["params"], self._learning_rates(), self.device)
        self.params.optimizer.load_state_dict(state["optimizer"])
        with torch.no_grad():
            self.exposure.copy_(state["exposure"])
        self.exposure_opt.load_state_dict(state["exposure_optimizer"])
        self.density.load_state_dict(state["density"], self.device)
        self.generator.set_state(state["generator"])
        self.step, self.cursor, self.order = int(state["step"]), int(state["cursor"]), state["order"]
        self.history = json.loads(state["history"])

    def run(self, *, progress: bool = True, callback: Callable[["Trainer", dict], None] | None = None,
            stop_after: int | None = None) -> Gaussians:
        """Train to cfg.steps (or `stop_after` steps, for tests that simulate an interruption)."""
        last = self.cfg.steps if stop_after is None else min(self.cfg.steps, stop_after)
        started, started_step = time.perf_counter(), self.step
        with Progress("train", self.cfg.steps, completed=self.step, enabled=progress) as bar, _deterministic(self.device):
            while self.step < last:
                record = self.train_step()
                if self.step % 10 == 0 or self.step == last:
                    self.history.append(record)
                    rate = (self.step - started_step) / max(time.perf_counter() - started, 1e-9)
                    bar.update(self.step, info=(
                        f"loss {record['loss']:.4f}  psnr {record['psnr']:.2f}  N {record['gaussians']}  {rate:.1f} it/s"))
                if record.get("density"):
                    log.debug("step %d: %s", self.step, record["density"])
                if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0 and (self.out is not None or world()[1] > 1):
                    state = self.state_dict()  # every process: it gathers the density statistics
                    if self.out is not None:
                        self.save_checkpoint(self.out / CHECKPOINT, state)
                if callback is not None:
                    callback(self, record)
        return self.gaussians


__all__ = ["Trainer", "held_out", "load_training_images", "CHECKPOINT"]


@contextmanager
def _deterministic(device: torch.device):
    """PyTorch's deterministic kernels while training on the CPU (they cost nothing measurable
    there): the scatter-adds of the motion and object paths otherwise sum in a varying order, and
    a run, or one resumed from its checkpoint, would not repeat bit for bit."""
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def _check_state(state: dict, steps: int, images: int, exposure_shape: tuple) -> None:
    """A checkpoint's numbers before any is used (ValueError naming the field): finite parameters
    with one row per Gaussian, a step within the run, the image order a permutation of the
    images, the exposure one per image."""
    params = state["params"]
    if not isinstance(params, dict) or not params:
        raise ValueError("'params' must map names to tensors")
    rows = {name: int(t.shape[0]) for name, t in params.items() if isinstance(t, torch.Tensor) and t.dim() > 0}
    if len(rows) != len(params) or len(set(rows.values())) != 1:
        raise ValueError(f"'params' must be tensors with one row per Gaussian, got rows {rows}")
    for name, t in params.items():
        if not torch.isfinite(t).all():
            raise ValueError(f"params[{name!r}] holds NaN or infinite values")
    step, cursor, order = state["step"], state["cursor"], state["order"]
    for what, value, hi in (("step", step, steps), ("cursor", cursor, images)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
            raise ValueError(f"'{what}' must be an integer from 0 to {hi}, got {str(value)[:20]}")
    if (not isinstance(order, torch.Tensor) or order.dtype != torch.long or order.shape != (images,)
            or not torch.equal(torch.sort(order).values, torch.arange(images))):
        raise ValueError(f"'order' must be a permutation of the {images} training images")
    exposure = state["exposure"]
    if not isinstance(exposure, torch.Tensor) or tuple(exposure.shape) != exposure_shape or not torch.isfinite(exposure).all():
        raise ValueError(f"'exposure' must be finite with shape {list(exposure_shape)}")

"""Settings of static reconstruction. Defaults suit a CPU: a few thousand steps, a Gaussian cap."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import InvalidArgumentError
from .device import check_device_name

OBJECT_METHODS = ("auto", "masks", "motion", "geometry", "none")


@dataclass
class TrainConfig:
    steps: int = 10_000
    downscale: float = 1.0  # train on images at 1/downscale resolution
    max_image_size: int = 800  # and at most this many pixels on the longer side (0: no limit)
    # coarse to fine: the first steps see the images halved `coarse_levels` times (while a side
    # stays >= COARSE_MIN_SIDE pixels), each coarser level for `coarse_share` of the steps,
    # coarsest first; the structure settles on cheap steps before the detail is fitted
    coarse_levels: int = 2
    coarse_share: float = 0.1
    sh_degree: int = 3  # final SH degree; raised by one every `sh_degree_interval` steps
    sh_degree_interval: int = 1000
    ssim_lambda: float = 0.2  # loss = (1 - lambda) L1 + lambda (1 - SSIM)
    # initialisation
    init_random_points: int = 50_000  # when the dataset has no SfM points (at most one per 50 training pixels)
    init_opacity: float = 0.1
    # learning rates (means' rate is scaled by the scene extent and decays exponentially)
    lr_means: float = 1.6e-4
    lr_means_final: float = 1.6e-6
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh0: float = 2.5e-3
    lr_shN: float = 2.5e-3 / 20
    # adaptive density control
    densify_from: int = 500
    densify_until: int = 6000
    densify_every: int = 100
    densify_grad_threshold: float = 2e-4
    percent_dense: float = 0.01  # clone below, split above this fraction of the scene extent
    prune_opacity: float = 0.005
    opacity_reset_every: int = 3000
    max_gaussians: int = 300_000
    views_per_step: int = 1  # views each process renders per step (the batch is this times the processes)
    opacity_l1: float = 0.01  # mean opacity penalty: Gaussians the images do not need fade out (floaters seen from few views)
    # motion (timed datasets; see scenegen.gaussian_motion and recon/dynamic_trainer.py)
    motion: str = "auto"  # "auto": dynamic when the dataset has several times; "static"; "dynamic"
    motion_degree: int = 2  # polynomial terms of the temporal basis
    motion_fourier: int = 1  # sine/cosine pairs of the temporal basis
    lr_motion: float = 1.6e-4  # displacement coefficients, times the scene extent: the means' rate, decaying like it
    lr_motion_with_objects: float = 5e-5  # lr_motion where objects are trained as rigid bodies (their Tracks carry the large motions)
    lr_motion_rotation: float = 1e-3
    lr_time: float = 1e-2  # temporal opacity centre and sharpness
    motion_l1: float = 1e-2  # sparsity of displacements (over the extent): what does not move stays still
    motion_coherence: float = 10.0  # neighbouring Gaussians move alike (their motion coefficients differ little)
    motion_curriculum: float = 0.0  # the time window trained on opens from the middle to the whole capture over this share of the steps after the warm-up
    lr_object_track: float = 1e-3  # rigid objects' keyframe positions, times the extent (eased off over the last fifth)
    lr_object_rotation: float = 1e-2  # rigid objects' keyframe rotation vectors
    object_smooth: float = 1.0  # rigid objects' keyframes bend little (second differences)
    object_mask_weight: float = 0.2  # silhouette loss of objects trained as rigid bodies (timed datasets with masks)
    motion_warmup: int = 500  # steps fitted as a static scene before the motion is freed (at most a third of them)
    # data
    exposure_compensation: bool = False  # learn a per-image colour gain and offset
    lr_exposure: float = 1e-3
    # objects found from motion (recon/objects/from_still_fit.py): leave out the pixels where the frame is
    # the still fit's render darkened (shadows). Off by default: a dull object over a surface of
    # its own hue (a grey backpack over grey stairs) is that surface darkened too
    motion_mask_shadows: bool = False
    # how the trained scene is split into objects (recon/objects): "auto" (the masks when the
    # dataset has them, else motion for a dynamic scene, else the clusters on the supporting
    # plane), "masks", "motion", "geometry" or "none"; saved with the scene's settings
    objects: str = "auto"
    # bookkeeping
    checkpoint_every: int = 1000
    seed: int = 0
    # where training runs (recon/device.py): "auto" (a CUDA GPU when torch sees one and gsplat
    # imports, else the CPU), "cpu", "cuda" or "cuda:N"; and the render backend it uses there
    # ("auto": cpu on the CPU, gsplat on CUDA; "torch", the reference, runs on either)
    device: str = "auto"
    backend: str = "auto"

    def __post_init__(self):
        if self.steps < 1:
            raise InvalidArgumentError(f"steps must be >= 1, got {self.steps}")
        if not 0 <= self.sh_degree <= 3:
            raise InvalidArgumentError(f"sh_degree must be 0..3, got {self.sh_degree}")
        if not 0 <= self.ssim_lambda <= 1:
            raise InvalidArgumentError(f"ssim_lambda must be in [0, 1], got {self.ssim_lambda}")
        if self.downscale < 1:
            raise InvalidArgumentError(f"downscale must be >= 1, got {self.downscale}")
        if self.max_gaussians < 1:
            raise InvalidArgumentError(f"max_gaussians must be >= 1, got {self.max_gaussians}")
        for name in ("sh_degree_interval", "densify_every", "opacity_reset_every", "views_per_step"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.coarse_share * self.coarse_levels < 1:
            raise InvalidArgumentError(f"coarse_share times coarse_levels must be in [0, 1), got {self.coarse_share} x {self.coarse_levels}")
        for name in ("checkpoint_every", "max_image_size", "coarse_levels", "init_random_points", "densify_from", "motion_warmup"):
            if getattr(self, name) < 0:
                raise InvalidArgumentError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.init_opacity < 1:
            raise InvalidArgumentError(f"init_opacity must be in (0, 1), got {self.init_opacity}")
        for name in ("lr_means", "lr_means_final", "lr_scales", "lr_quats", "lr_opacities", "lr_sh0", "lr_shN", "lr_exposure",
                     "lr_motion", "lr_motion_with_objects", "lr_motion_rotation", "lr_time", "lr_object_track", "lr_object_rotation"):
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.motion_curriculum <= 1:
            raise InvalidArgumentError(f"motion_curriculum must be in [0, 1], got {self.motion_curriculum}")
        for name in ("motion_l1", "motion_coherence", "opacity_l1", "object_mask_weight", "object_smooth"):
            if getattr(self, name) < 0:
                raise InvalidArgumentError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.motion not in ("auto", "static", "dynamic"):
            raise InvalidArgumentError(f"motion must be auto, static or dynamic; got {self.motion!r}")
        if self.objects not in OBJECT_METHODS:
            raise InvalidArgumentError(f"objects must be one of {', '.join(OBJECT_METHODS)}; got {self.objects!r}")
        if self.motion_degree < 0 or self.motion_fourier < 0 or self.motion_degree + self.motion_fourier == 0:
            raise InvalidArgumentError("motion_degree and motion_fourier must be >= 0 with at least one term")
        check_device_name(self.device)
        if self.backend not in ("auto", "cpu", "torch", "gsplat"):
            raise InvalidArgumentError(f"backend must be auto, cpu, torch or gsplat; got {self.backend!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, *, strict: bool = True) -> "TrainConfig":
        """Settings from a dict; with strict=False unknown keys (e.g. from another version) are ignored."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown and strict:
            raise InvalidArgumentError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "TrainConfig":
        """Settings from a JSON or YAML file (a mapping of setting -> value, e.g. one written by
        `to_dict`, or the "train" entry of a saved scene's metadata), then `overrides` on top."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidArgumentError(f"--config {path}: cannot read it ({exc.strerror or exc})") from None
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise InvalidArgumentError(f"--config {path}: not valid YAML ({exc})") from None
        else:
            from ..common.json_file import parse_json

            try:
                data = parse_json(text, f"--config {path}", error=InvalidArgumentError)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(f"{exc}; use a .yaml or .yml name for YAML") from None
        if isinstance(data, dict) and isinstance(data.get("train"), dict):
            data = data["train"]
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"--config {path}: expected a mapping of setting -> value, got {type(data).__name__}")
        known = {f.name: f.type for f in fields(cls)}
        for key, value in data.items():
            if key in known and known[key] in ("int", "float") and isinstance(value, bool):
                raise InvalidArgumentError(f"--config {path}: {key} must be a number, got {value!r}")
            if key in known and known[key] == "float" and isinstance(value, int):
                data[key] = float(value)
            elif key in known and known[key] in ("int", "float") and not isinstance(value, (int, float)):
                raise InvalidArgumentError(f"--config {path}: {key} must be a number, got {value!r}")
        try:
            return cls.from_dict({**data, **overrides})
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"--config {path}: {exc}") from None


__all__ = ["TrainConfig", "OBJECT_METHODS"]

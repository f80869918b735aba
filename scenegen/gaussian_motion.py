"""Per-Gaussian motion over time: displacement and rotation from a small temporal basis, and a
temporal opacity so Gaussians can appear and disappear.

For normalised time tau = 2 (t - t0) / (t1 - t0) - 1 in [-1, 1] the basis is
b(tau) = [tau, tau^2, ..., tau^P, sin(pi k tau), 1 - cos(pi k tau) for k = 1..F]: every function
is zero at tau = 0, so the stored Gaussians are the scene at the middle of its time range, and a
Gaussian with zero coefficients does not move. Each Gaussian has
- `offsets` [N, K, 3]: mean(t) = mean + b(tau) @ offsets;
- `rotations` [N, K, 3]: an axis-angle b(tau) @ rotations turning the Gaussian's shape (its
  view-dependent colour is not turned, as in Deformable-3DGS and 4DGaussians: per-Gaussian
  turns are small, and whole objects turn through their Track, which does rotate SH);
- `time_centres` [N] and `time_sharpness` [N] (w >= 0): opacity(t) = opacity * exp(-w (tau - c)^2 / 2);
  w = 0 (the start) is visible at every time, and the gradient in w is never zero.
Low-order and explicit, so it trains with the CPU rasterizer, evaluates at any t (between
training frames too) and stores as plain per-Gaussian numbers in the PLY.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .deprecated import renamed_attribute
from .errors import InvalidArgumentError
from .gaussians import Gaussians
from .geometry import quat_multiply, quat_normalize, rotation_vector_to_quat

MAX_TERMS = 16  # polynomial degree or Fourier pairs a basis may have (the trainers use 2 and 2)


@dataclass
class MotionBasis:
    t0: float
    t1: float
    degree: int = 2  # polynomial terms tau .. tau^degree
    fourier: int = 2  # sine/cosine pairs

    def __post_init__(self):
        if not (math.isfinite(self.t0) and math.isfinite(self.t1) and self.t1 >= self.t0):
            raise InvalidArgumentError(f"MotionBasis needs a finite time range t0 <= t1, got ({self.t0}, {self.t1})")
        terms = (self.degree, self.fourier)
        if not all(isinstance(v, int) and 0 <= v <= MAX_TERMS for v in terms) or self.degree + self.fourier == 0:
            raise InvalidArgumentError(f"MotionBasis needs degree and fourier from 0 to {MAX_TERMS} and at least one term; "
                                       f"got {str(self.degree)[:20]}, {str(self.fourier)[:20]}")

    @property
    def size(self) -> int:
        return self.degree + 2 * self.fourier

    def tau(self, t: float) -> float:
        if self.t1 == self.t0:
            return 0.0
        return 2.0 * (float(t) - self.t0) / (self.t1 - self.t0) - 1.0

    def __call__(self, t: float, dtype=torch.float32, device=None) -> Tensor:
        """b(tau(t)) [K]; times outside the range hold the value at its ends."""
        tau = min(1.0, max(-1.0, self.tau(t)))
        values = [tau ** p for p in range(1, self.degree + 1)]
        for k in range(1, self.fourier + 1):
            values += [math.sin(math.pi * k * tau), 1.0 - math.cos(math.pi * k * tau)]
        return torch.tensor(values, dtype=dtype, device=device)

    def to_dict(self) -> dict:
        return {"type": "poly-fourier", "t0": self.t0, "t1": self.t1, "degree": self.degree, "fourier": self.fourier}

    @classmethod
    def from_dict(cls, d: dict) -> "MotionBasis":
        if not isinstance(d, dict) or d.get("type") != "poly-fourier":
            raise InvalidArgumentError(f"unknown motion basis {d!r}; this version reads type 'poly-fourier'")
        try:
            degree, fourier = d["degree"], d["fourier"]
            if isinstance(degree, bool) or isinstance(fourier, bool) or not isinstance(degree, int) or not isinstance(fourier, int):
                raise TypeError(f"degree and fourier must be integers, got {str(degree)[:20]}, {str(fourier)[:20]}")
            return cls(float(d["t0"]), float(d["t1"]), degree, fourier)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidArgumentError(f"a motion basis needs t0, t1, degree and fourier ({exc})") from None


@dataclass
class GaussianMotion:
    """Motion coefficients of N Gaussians under `basis` (see the module doc)."""

    basis: MotionBasis
    offsets: Tensor  # [N, K, 3]
    rotations: Tensor  # [N, K, 3]
    time_centres: Tensor  # [N]
    time_sharpness: Tensor  # [N], >= 0 (negative values act as 0)

    time_centers = renamed_attribute("GaussianMotion.time_centers", "time_centres")

    def __post_init__(self):
        n, k = self.offsets.shape[0], self.basis.size
        for name, shape in (("offsets", (n, k, 3)), ("rotations", (n, k, 3)), ("time_centres", (n,)), ("time_sharpness", (n,))):
            if tuple(getattr(self, name).shape) != shape:
                raise InvalidArgumentError(f"GaussianMotion.{name} must be {list(shape)}, got {list(getattr(self, name).shape)}")

    @classmethod
    def still(cls, num: int, basis: MotionBasis, dtype=torch.float32, device=None) -> "GaussianMotion":
        """No motion for `num` Gaussians: zero coefficients, visible throughout."""
        kw = dict(dtype=dtype, device=device)
        return cls(basis, torch.zeros(num, basis.size, 3, **kw), torch.zeros(num, basis.size, 3, **kw), torch.zeros(num, **kw),
                   torch.zeros(num, **kw))

    def __len__(self) -> int:
        return self.offsets.shape[0]

    def __getitem__(self, index) -> "GaussianMotion":
        return GaussianMotion(self.basis, self.offsets[index], self.rotations[index], self.time_centres[index], self.time_sharpness[index])

    @classmethod
    def cat(cls, items: list["GaussianMotion"]) -> "GaussianMotion":
        return cls(items[0].basis, *(torch.cat([getattr(m, f) for m in items]) for f in ("offsets", "rotations", "time_centres", "time_sharpness")))

    def displacement(self, t: float) -> Tensor:
        """[N, 3] offset of every mean at time t."""
        b = self.basis(t, self.offsets.dtype, self.offsets.device)
        return torch.einsum("k,nkd->nd", b, self.offsets)

    def rotation_vector(self, t: float) -> Tensor:
        """[N, 3] axis-angle turn of every Gaussian at time t."""
        b = self.basis(t, self.rotations.dtype, self.rotations.device)
        return torch.einsum("k,nkd->nd", b, self.rotations)

    def turn(self, t: float) -> Tensor:
        """[N, 4] quaternion of every Gaussian's turn at time t."""
        return rotation_vector_to_quat(self.rotation_vector(t))

    @classmethod
    def fit(cls, basis: MotionBasis, times, displacements: Tensor, rotation_vectors: Tensor, time_centres: Tensor,
            time_sharpness: Tensor) -> "GaussianMotion":
        """Least-squares coefficients of displacements and rotation vectors [T, N, 3] sampled at `times` [T]."""
        B = torch.stack([basis(float(t), torch.float64) for t in times])  # [T, K]
        pinv = torch.linalg.pinv(B)  # [K, T]
        coef = [torch.einsum("kt,tnd->nkd", pinv, x.double()).to(time_centres.dtype) for x in (displacements, rotation_vectors)]
        return cls(basis, coef[0], coef[1], time_centres, time_sharpness)

    def trajectories(self, means: Tensor, times) -> Tensor:
        """[T, N, 3] positions of `means` [N, 3] (their places at the middle of the range) at `times`."""
        return torch.stack([means + self.displacement(float(t)) for t in times])

    def path_length(self, times) -> Tensor:
        """[N] largest distance of each mean from its position at the middle of the range, over `times`."""
        return torch.stack([self.displacement(float(t)).norm(dim=1) for t in times]).amax(0)

    def apply(self, gaussians: Gaussians, t: float) -> Gaussians:
        """The Gaussians at time t (differentiable in both the Gaussians and the coefficients)."""
        means = gaussians.means + self.displacement(t)
        quats = quat_multiply(self.turn(t), quat_normalize(gaussians.quats))
        tau = self.basis.tau(t)
        fade = -0.5 * self.time_sharpness.clamp_min(0) * (tau - self.time_centres) ** 2  # log of the opacity factor
        # logit(sigmoid(o) * exp(fade)) = log p + fade - log(1 - p exp(fade)), p = sigmoid(o)
        log_p = torch.nn.functional.logsigmoid(gaussians.opacities) + fade
        opacities = log_p - torch.log1p(-torch.exp(log_p).clamp(max=1 - 1e-6))
        return Gaussians(means, gaussians.scales, quats, opacities, gaussians.sh)


def motion_columns(motion: GaussianMotion) -> dict:
    """PLY columns (name -> float32 [N]) holding the coefficients: motion_offset_{k}_{x,y,z},
    motion_rotation_{k}_{x,y,z}, time_center, time_sharpness."""
    import numpy as np

    cols = {}
    off = motion.offsets.detach().cpu().float().numpy()
    rot = motion.rotations.detach().cpu().float().numpy()
    for k in range(motion.basis.size):
        for a, axis in enumerate("xyz"):
            cols[f"motion_offset_{k}_{axis}"] = off[:, k, a]
    for k in range(motion.basis.size):
        for a, axis in enumerate("xyz"):
            cols[f"motion_rotation_{k}_{axis}"] = rot[:, k, a]
    cols["time_center"] = motion.time_centres.detach().cpu().float().numpy()
    cols["time_sharpness"] = motion.time_sharpness.detach().cpu().float().numpy()
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in cols.items()}


def motion_column_names(basis: MotionBasis) -> list[str]:
    return ([f"motion_offset_{k}_{a}" for k in range(basis.size) for a in "xyz"]
            + [f"motion_rotation_{k}_{a}" for k in range(basis.size) for a in "xyz"] + ["time_center", "time_sharpness"])


def motion_from_columns(columns: dict, basis: MotionBasis) -> GaussianMotion:
    """The inverse of motion_columns."""
    import numpy as np

    k = basis.size

    def stack(kind):
        return torch.from_numpy(np.stack([np.stack([columns[f"motion_{kind}_{i}_{a}"] for a in "xyz"], -1) for i in range(k)], 1)
                                .astype(np.float32))

    return GaussianMotion(basis, stack("offset"), stack("rotation"), torch.from_numpy(np.array(columns["time_center"], np.float32)),
                          torch.from_numpy(np.array(columns["time_sharpness"], np.float32)))

"""Gaussians: the splats of a scene, stored exactly as the 3DGS PLY stores them.

means [N, 3]; scales [N, 3] as natural logs; quats [N, 4] (w, x, y, z, not necessarily unit);
opacities [N] as logits; sh [N, K, 3] with K = (degree + 1) ** 2 and index 0 the DC term.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import torch
from torch import Tensor

from .deprecated import renamed_attribute, renamed_keywords
from .errors import InvalidArgumentError
from .geometry import covariance_from_scale_quat, decompose_similarity, quat_multiply, quat_normalize, rotmat_to_quat
from .sh import num_sh_bases, rgb_to_sh_dc, rotate_sh, sh_degree_from_bases, sh_to_colour

FIELDS = ("means", "scales", "quats", "opacities", "sh")


@dataclass
class Gaussians:
    """A set of N 3D Gaussians. See the module docstring for the storage conventions."""

    means: Tensor  # [N, 3]
    scales: Tensor  # [N, 3] log scales
    quats: Tensor  # [N, 4] (w, x, y, z)
    opacities: Tensor  # [N] logits
    sh: Tensor  # [N, K, 3]

    def __post_init__(self):
        for name in FIELDS:
            if not torch.is_tensor(getattr(self, name)):
                raise InvalidArgumentError(f"Gaussians.{name} must be a torch tensor, got {type(getattr(self, name)).__name__}")
        n = self.means.shape[0] if self.means.dim() == 2 else -1
        expected = {"means": (n, 3), "scales": (n, 3), "quats": (n, 4), "opacities": (n,)}
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise InvalidArgumentError(
                    f"Gaussians.{name} must have shape {list(shape) if n >= 0 else '[N, 3]'}, got {list(getattr(self, name).shape)}"
                )
        if self.sh.dim() != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise InvalidArgumentError(f"Gaussians.sh must have shape [{n}, K, 3], got {list(self.sh.shape)}")
        try:
            sh_degree_from_bases(self.sh.shape[1])
        except ValueError as exc:
            raise InvalidArgumentError(f"Gaussians.sh: {exc}") from None
        devices = {getattr(self, name).device for name in FIELDS}
        if len(devices) > 1:
            raise InvalidArgumentError(f"Gaussians fields live on different devices: {sorted(map(str, devices))}")

    # construction
    @classmethod
    def empty(cls, sh_degree: int = 0, device=None) -> "Gaussians":
        return cls(
            means=torch.zeros(0, 3, device=device), scales=torch.zeros(0, 3, device=device),
            quats=torch.zeros(0, 4, device=device), opacities=torch.zeros(0, device=device),
            sh=torch.zeros(0, num_sh_bases(sh_degree), 3, device=device),
        )

    @classmethod
    @renamed_keywords("Gaussians.from_points", colors="colours")
    def from_points(cls, points: Tensor, colours: Tensor | None = None, *, scale: float | Tensor = 0.01,
                    opacity: float = 0.5, sh_degree: int = 0) -> "Gaussians":
        """Isotropic Gaussians at `points` [N, 3] with `colours` [N, 3] in [0, 1] (grey if None)."""
        points = torch.as_tensor(points, dtype=torch.float32)
        n = points.shape[0]
        colours = torch.full((n, 3), 0.5) if colours is None else torch.as_tensor(colours, dtype=torch.float32)
        sh = torch.zeros(n, num_sh_bases(sh_degree), 3, device=points.device)
        sh[:, 0] = rgb_to_sh_dc(colours.to(points.device))
        scale_t = torch.as_tensor(scale, dtype=torch.float32, device=points.device)
        scales = torch.log(scale_t.clamp_min(1e-12)).reshape(-1, 1).expand(n, 3).clone() if scale_t.numel() in (1, n) else None
        if scales is None:
            raise InvalidArgumentError(f"scale must be a number or [N] tensor, got shape {list(scale_t.shape)}")
        quats = torch.zeros(n, 4, device=points.device)
        quats[:, 0] = 1
        opac = torch.full((n,), float(torch.logit(torch.tensor(opacity))), device=points.device)
        return cls(means=points, scales=scales, quats=quats, opacities=opac, sh=sh)

    @classmethod
    def cat(cls, items: Sequence["Gaussians"]) -> "Gaussians":
        """Concatenate; SH are zero-padded to the highest degree among the inputs."""
        items = list(items)
        if not items:
            raise InvalidArgumentError("Gaussians.cat needs at least one Gaussians")
        k = max(g.sh.shape[1] for g in items)
        return cls(**{name: torch.cat([getattr(g.with_sh_degree(sh_degree_from_bases(k)), name) for g in items]) for name in FIELDS})

    # basic properties
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def num(self) -> int:
        return len(self)

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_bases(self.sh.shape[1])

    @property
    def device(self) -> torch.device:
        return self.means.device

    @property
    def colours(self) -> Tensor:
        """View-independent RGB [N, 3] from the DC term."""
        return sh_to_colour(self.sh)

    colors = renamed_attribute("Gaussians.colors", "colours")

    @property
    def alphas(self) -> Tensor:
        """Opacities in [0, 1] [N]."""
        return torch.sigmoid(self.opacities)

    def covariances(self) -> Tensor:
        """World-space covariance matrices [N, 3, 3]."""
        return covariance_from_scale_quat(self.scales, self.quats)

    def bounds(self) -> tuple[Tensor, Tensor]:
        """Axis-aligned box (min [3], max [3]) of the means; zeros when empty."""
        if len(self) == 0:
            z = self.means.new_zeros(3)
            return z, z.clone()
        return self.means.min(0).values, self.means.max(0).values

    # tensor-like operations
    def __getitem__(self, index) -> "Gaussians":
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Gaussians(**{name: getattr(self, name)[index] for name in FIELDS})

    def _map(self, fn) -> "Gaussians":
        return Gaussians(**{name: fn(getattr(self, name)) for name in FIELDS})

    def to(self, device=None, dtype=None) -> "Gaussians":
        return self._map(lambda t: t.to(device=device, dtype=dtype))

    def detach(self) -> "Gaussians":
        return self._map(Tensor.detach)

    def clone(self) -> "Gaussians":
        return self._map(Tensor.clone)

    def requires_grad_(self, flag: bool = True) -> "Gaussians":
        for name in FIELDS:
            getattr(self, name).requires_grad_(flag)
        return self

    def with_sh_degree(self, degree: int) -> "Gaussians":
        """Truncate or zero-pad SH to `degree`."""
        k = num_sh_bases(degree)
        sh = self.sh[:, :k]
        if sh.shape[1] < k:
            sh = torch.cat([sh, sh.new_zeros(len(self), k - sh.shape[1], 3)], dim=1)
        return Gaussians(self.means, self.scales, self.quats, self.opacities, sh)

    def transform(self, T: Tensor) -> "Gaussians":
        """Apply a rigid or similarity transform T [4, 4] (rotation, translation, uniform scale).

        Means, orientations and view-dependent colour (SH of degree >= 1) all rotate together.
        """
        T = torch.as_tensor(T, dtype=self.means.dtype, device=self.device)
        if T.shape != (4, 4):
            raise InvalidArgumentError(f"transform expects a [4, 4] matrix, got {list(T.shape)}")
        try:
            R, t, s = decompose_similarity(T)
        except ValueError as exc:
            raise InvalidArgumentError(f"transform: {exc}") from None
        q = rotmat_to_quat(R).to(self.quats.dtype)
        quats = quat_multiply(q.expand_as(self.quats), quat_normalize(self.quats))
        return Gaussians(
            means=self.means @ (R * s).T + t,
            scales=self.scales + torch.log(s),
            quats=quats,
            opacities=self.opacities,
            sh=rotate_sh(self.sh, R),
        )

    def finite_rows(self) -> Tensor:
        """[N] bool: rows whose every field is finite."""
        ok = torch.ones(len(self), dtype=torch.bool, device=self.device)
        for name in FIELDS:
            finite = torch.isfinite(getattr(self, name))
            ok &= finite.flatten(1).all(dim=1) if finite.dim() > 1 else finite
        return ok

    def finite_mask(self) -> Tensor:
        """[N] bool: rows whose every field is finite and whose quaternion is non-zero."""
        return self.finite_rows() & (self.quats.norm(dim=-1) > 0)

    def __repr__(self) -> str:
        return f"Gaussians(N={len(self)}, sh_degree={self.sh_degree}, device={self.device})"

    def allclose(self, other: "Gaussians", atol: float = 1e-6, rtol: float = 1e-5) -> bool:
        return len(self) == len(other) and all(
            getattr(self, f.name).shape == getattr(other, f.name).shape
            and torch.allclose(getattr(self, f.name), getattr(other, f.name), atol=atol, rtol=rtol)
            for f in fields(self)
        )

"""Pinhole cameras with optional OpenCV distortion, in OpenCV axes (x right, y down, z forward).

`Camera` is one camera with plain-number intrinsics; `Cameras` is a batch with the same fields
carrying a leading dimension [C]. `cameras[i]` is a Camera, `cameras[1:5]` a Cameras.
Poses are `c2w` (camera-to-world, [4, 4]); OpenGL-convention (NeRF, nerfstudio) and COLMAP
(world-to-camera quaternion + translation) poses are converted at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Sequence

import torch
from torch import Tensor

from .errors import InvalidArgumentError
from .geometry import invert_se3, make_transform, quat_slerp, quat_to_rotmat, rotmat_to_quat

DISTORTION_NAMES = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")


def flip_opengl_opencv(c2w: Tensor) -> Tensor:
    """Convert c2w between OpenGL (y up, z back) and OpenCV (y down, z forward) axes; its own inverse."""
    out = c2w.clone()
    out[..., :3, 1:3] *= -1
    return out


def _as_matrix(c2w, name: str = "c2w") -> Tensor:
    m = torch.as_tensor(c2w, dtype=torch.float32) if not torch.is_tensor(c2w) else c2w
    if not m.is_floating_point():
        m = m.float()
    if m.shape[-2:] == (3, 4):
        bottom = torch.zeros(*m.shape[:-2], 1, 4, dtype=m.dtype, device=m.device)
        bottom[..., 0, 3] = 1
        m = torch.cat([m, bottom], dim=-2)
    if m.shape[-2:] != (4, 4):
        raise InvalidArgumentError(f"{name} must have shape [..., 4, 4] or [..., 3, 4], got {list(m.shape)}")
    if not torch.isfinite(m).all():
        raise InvalidArgumentError(f"{name} contains NaN or infinite values")
    return m


def distort_normalized(xy: Tensor, dist: Tensor) -> Tensor:
    """Apply OpenCV distortion to normalised image coordinates. xy: [..., 2]; dist: [..., D] (D <= 8)."""
    d = torch.nn.functional.pad(dist, (0, 8 - dist.shape[-1]))
    k1, k2, p1, p2, k3, k4, k5, k6 = (d[..., i : i + 1] for i in range(8))
    x, y = xy[..., 0:1], xy[..., 1:2]
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.cat([xd, yd], dim=-1)


@dataclass
class Camera:
    """One pinhole camera. c2w: [4, 4] OpenCV axes; distortion: [D] OpenCV coefficients or None."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    c2w: Tensor
    distortion: Tensor | None = None

    def __post_init__(self):
        for name in ("fx", "fy", "cx", "cy"):
            value = float(getattr(self, name))
            if not torch.isfinite(torch.tensor(value)):
                raise InvalidArgumentError(f"Camera.{name} must be finite, got {value}")
            setattr(self, name, value)
        if self.fx <= 0 or self.fy <= 0:
            raise InvalidArgumentError(f"Camera focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        self.width, self.height = int(self.width), int(self.height)
        if self.width <= 0 or self.height <= 0:
            raise InvalidArgumentError(f"Camera size must be positive, got {self.width}x{self.height}")
        self.c2w = _as_matrix(self.c2w)
        if self.c2w.shape != (4, 4):
            raise InvalidArgumentError(f"Camera.c2w must be [4, 4], got {list(self.c2w.shape)}")
        if self.distortion is not None:
            self.distortion = torch.as_tensor(self.distortion, dtype=self.c2w.dtype, device=self.c2w.device).reshape(-1)
            if self.distortion.numel() > 8:
                raise InvalidArgumentError("Camera.distortion holds at most 8 OpenCV coefficients (k1 k2 p1 p2 k3 k4 k5 k6)")
            if not bool(self.distortion.any()):
                self.distortion = None

    # construction from other conventions
    @classmethod
    def from_opengl(cls, c2w_opengl, **intrinsics) -> "Camera":
        """Camera from a NeRF/nerfstudio camera-to-world matrix (OpenGL axes)."""
        return cls(c2w=flip_opengl_opencv(_as_matrix(c2w_opengl)), **intrinsics)

    @classmethod
    def from_colmap(cls, qvec, tvec, **intrinsics) -> "Camera":
        """Camera from COLMAP's world-to-camera quaternion (w, x, y, z) and translation."""
        q = torch.as_tensor(qvec, dtype=torch.float64)
        t = torch.as_tensor(tvec, dtype=torch.float64)
        w2c = make_transform(quat_to_rotmat(q), t)
        return cls(c2w=invert_se3(w2c).float(), **intrinsics)

    @classmethod
    def look_at(cls, eye, target, up=(0.0, 0.0, 1.0), *, fov_deg: float = 60.0, width: int = 640, height: int = 480) -> "Camera":
        """Camera at `eye` looking at `target`, with `up` pointing up in the image."""
        if not isinstance(fov_deg, (int, float)) or not 0.0 < float(fov_deg) < 180.0:
            raise InvalidArgumentError(f"look_at: the field of view must be between 0 and 180 degrees, got {fov_deg!r}")
        eye_t = torch.as_tensor(eye, dtype=torch.float32)
        forward = torch.as_tensor(target, dtype=torch.float32) - eye_t
        if forward.norm() < 1e-9:
            raise InvalidArgumentError("look_at: eye and target coincide")
        forward = forward / forward.norm()
        right = torch.linalg.cross(forward, torch.as_tensor(up, dtype=torch.float32))
        if right.norm() < 1e-6:
            raise InvalidArgumentError("look_at: `up` is parallel to the viewing direction; pick another up vector")
        right = right / right.norm()
        down = torch.linalg.cross(forward, right)
        R = torch.stack([right, down, forward], dim=1)
        focal = 0.5 * width / torch.tan(torch.deg2rad(torch.tensor(fov_deg / 2))).item()
        return cls(fx=focal, fy=focal, cx=width / 2, cy=height / 2, width=width, height=height, c2w=make_transform(R, eye_t))

    # derived quantities
    @property
    def w2c(self) -> Tensor:
        return invert_se3(self.c2w)

    @property
    def K(self) -> Tensor:
        return self.c2w.new_tensor([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]])

    @property
    def position(self) -> Tensor:
        return self.c2w[:3, 3]

    @property
    def c2w_opengl(self) -> Tensor:
        return flip_opengl_opencv(self.c2w)

    def to_colmap(self) -> tuple[Tensor, Tensor]:
        """COLMAP's (qvec (w, x, y, z), tvec) world-to-camera pose."""
        w2c = invert_se3(self.c2w.double())
        return rotmat_to_quat(w2c[:3, :3]), w2c[:3, 3]

    def rescale(self, factor: float) -> "Camera":
        """The same camera at `factor` times the resolution (0.5 halves width and height)."""
        return Cameras.stack([self]).rescale(factor)[0]

    def interpolate(self, other: "Camera", t: float) -> "Camera":
        """Camera a fraction `t` of the way to `other` (slerp rotation, lerp position and intrinsics)."""
        return Cameras.stack([self, other]).path_at(torch.tensor([t]))[0]

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Pixel coordinates [N, 2] (with distortion) and depth [N] of world points [N, 3]."""
        uv, depth = Cameras.stack([self]).project(points.unsqueeze(0))
        return uv[0], depth[0]

    def pixel_rays(self, u: Tensor, v: Tensor) -> Tensor:
        """World-space directions [..., 3] (float64, unit depth along the optical axis: a point at
        depth z is position + z * ray) through pixel coordinates u, v [...] (pixel centres at
        +0.5; distortion ignored)."""
        u, v = torch.as_tensor(u, dtype=torch.float64), torch.as_tensor(v, dtype=torch.float64)
        local = torch.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy, torch.ones_like(u)], -1)
        return local @ self.c2w[:3, :3].double().T

    def to(self, device) -> "Camera":
        return replace(self, c2w=self.c2w.to(device), distortion=None if self.distortion is None else self.distortion.to(device))


@dataclass
class Cameras:
    """A batch of C cameras. fx, fy, cx, cy: [C] float; width, height: [C] long; c2w: [C, 4, 4];
    distortion: [C, D] OpenCV coefficients or None."""

    fx: Tensor
    fy: Tensor
    cx: Tensor
    cy: Tensor
    width: Tensor
    height: Tensor
    c2w: Tensor
    distortion: Tensor | None = None

    def __post_init__(self):
        self.c2w = _as_matrix(self.c2w)
        if self.c2w.dim() != 3:
            raise InvalidArgumentError(f"Cameras.c2w must be [C, 4, 4], got {list(self.c2w.shape)}")
        count = self.c2w.shape[0]
        kw = dict(device=self.c2w.device)
        for name in ("fx", "fy", "cx", "cy"):
            value = torch.as_tensor(getattr(self, name), dtype=self.c2w.dtype, **kw).reshape(-1)
            if value.numel() == 1 and count != 1:
                value = value.expand(count).clone()
            if value.shape != (count,):
                raise InvalidArgumentError(f"Cameras.{name} must have shape [{count}], got {list(value.shape)}")
            if not torch.isfinite(value).all():
                raise InvalidArgumentError(f"Cameras.{name} contains NaN or infinite values")
            setattr(self, name, value)
        for name in ("width", "height"):
            value = torch.as_tensor(getattr(self, name), **kw).round().long().reshape(-1)
            if value.numel() == 1 and count != 1:
                value = value.expand(count).clone()
            if value.shape != (count,):
                raise InvalidArgumentError(f"Cameras.{name} must have shape [{count}], got {list(value.shape)}")
            setattr(self, name, value)
        if count and ((self.fx <= 0).any() or (self.fy <= 0).any()):
            raise InvalidArgumentError("Cameras focal lengths must be positive")
        if count and ((self.width <= 0).any() or (self.height <= 0).any()):
            raise InvalidArgumentError("Cameras sizes must be positive")
        if self.distortion is not None:
            d = torch.as_tensor(self.distortion, dtype=self.c2w.dtype, **kw)
            if d.dim() == 1:
                d = d.unsqueeze(0).expand(count, -1).clone()
            if d.dim() != 2 or d.shape[0] != count or d.shape[1] > 8:
                raise InvalidArgumentError(f"Cameras.distortion must be [{count}, D<=8], got {list(d.shape)}")
            self.distortion = d if bool(d.any()) else None

    @classmethod
    def stack(cls, cameras: Sequence[Camera]) -> "Cameras":
        """Batch single cameras (distortion padded with zeros to the longest)."""
        if len(cameras) == 0:
            raise InvalidArgumentError("Cameras.stack needs at least one camera")
        device = cameras[0].c2w.device
        dist = None
        if any(c.distortion is not None for c in cameras):
            dmax = max(c.distortion.numel() for c in cameras if c.distortion is not None)
            dist = torch.zeros(len(cameras), dmax, device=device)
            for i, c in enumerate(cameras):
                if c.distortion is not None:
                    dist[i, : c.distortion.numel()] = c.distortion.to(device)
        return cls(
            fx=[c.fx for c in cameras], fy=[c.fy for c in cameras], cx=[c.cx for c in cameras], cy=[c.cy for c in cameras],
            width=[c.width for c in cameras], height=[c.height for c in cameras],
            c2w=torch.stack([c.c2w.to(device) for c in cameras]), distortion=dist,
        )

    @classmethod
    def from_opengl(cls, c2w_opengl, **intrinsics) -> "Cameras":
        return cls(c2w=flip_opengl_opencv(_as_matrix(c2w_opengl)), **intrinsics)

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index) -> "Camera | Cameras":
        if isinstance(index, int) or (torch.is_tensor(index) and index.dim() == 0):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"camera index {i} out of range for {len(self)} cameras")
            return Camera(
                fx=self.fx[i].item(), fy=self.fy[i].item(), cx=self.cx[i].item(), cy=self.cy[i].item(),
                width=int(self.width[i]), height=int(self.height[i]), c2w=self.c2w[i],
                distortion=None if self.distortion is None else self.distortion[i],
            )
        if isinstance(index, (list, tuple)):
            index = torch.as_tensor(index, dtype=torch.long)
        return Cameras(
            **{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index]) for f in fields(self)}
        )

    @property
    def w2c(self) -> Tensor:
        return invert_se3(self.c2w)

    @property
    def K(self) -> Tensor:
        K = torch.zeros(len(self), 3, 3, dtype=self.c2w.dtype, device=self.c2w.device)
        K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = self.fx, self.fy, self.cx, self.cy, 1
        return K

    @property
    def positions(self) -> Tensor:
        return self.c2w[:, :3, 3]

    @property
    def c2w_opengl(self) -> Tensor:
        return flip_opengl_opencv(self.c2w)

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    def to(self, device) -> "Cameras":
        return Cameras(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name).to(device)) for f in fields(self)})

    def rescale(self, factor: float) -> "Cameras":
        """The same cameras at `factor` times the resolution; intrinsics scale with the image."""
        if not factor > 0:
            raise InvalidArgumentError(f"rescale factor must be positive, got {factor}")
        width = (self.width * factor).round().clamp_min(1).long()
        height = (self.height * factor).round().clamp_min(1).long()
        sx, sy = width / self.width, height / self.height
        return replace(self, fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy, width=width, height=height)

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Pixels [C, N, 2] and camera-space depth [C, N] of world points [N, 3] or [C, N, 3]."""
        pts = points.to(self.c2w.dtype)
        w2c = self.w2c
        if pts.dim() == 2:
            pts = pts.unsqueeze(0).expand(len(self), -1, -1)
        cam = pts @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]
        z = cam[..., 2]
        xy = cam[..., :2] / z.unsqueeze(-1).where(z.unsqueeze(-1).abs() > 1e-12, torch.full_like(z.unsqueeze(-1), 1e-12))
        if self.distortion is not None:
            xy = distort_normalized(xy, self.distortion[:, None, :])
        uv = torch.stack([xy[..., 0] * self.fx[:, None] + self.cx[:, None], xy[..., 1] * self.fy[:, None] + self.cy[:, None]], -1)
        return uv, z

    def path_at(self, s: Tensor) -> "Cameras":
        """Cameras along the piecewise path through this batch, at parameters s in [0, 1].

        Rotations are slerped and positions/intrinsics interpolated linearly between neighbours;
        the image size is that of the earlier camera of each segment.
        """
        s = torch.as_tensor(s, dtype=self.c2w.dtype, device=self.device).reshape(-1).clamp(0, 1)
        if len(self) == 1:
            return self[torch.zeros(len(s), dtype=torch.long)]
        seg = s * (len(self) - 1)
        i0 = seg.floor().long().clamp(max=len(self) - 2)
        a = seg - i0
        i1 = i0 + 1
        q = quat_slerp(rotmat_to_quat(self.c2w[i0, :3, :3]), rotmat_to_quat(self.c2w[i1, :3, :3]), a)
        pos = torch.lerp(self.c2w[i0, :3, 3], self.c2w[i1, :3, 3], a[:, None])
        lerp = lambda v: torch.lerp(v[i0], v[i1], a)  # noqa: E731
        dist = None if self.distortion is None else torch.lerp(self.distortion[i0], self.distortion[i1], a[:, None])
        return Cameras(
            fx=lerp(self.fx), fy=lerp(self.fy), cx=lerp(self.cx), cy=lerp(self.cy),
            width=self.width[i0], height=self.height[i0], c2w=make_transform(quat_to_rotmat(q), pos), distortion=dist,
        )

    def path(self, num_frames: int) -> "Cameras":
        """`num_frames` cameras evenly spaced along the path through this batch (for camera-path videos)."""
        if num_frames < 1:
            raise InvalidArgumentError(f"num_frames must be >= 1, got {num_frames}")
        return self.path_at(torch.linspace(0, 1, num_frames))

"""The viewer's camera: orbit, pan and zoom about a target, fly with WASD, snap to a capture camera."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from scenegen import Camera
from scenegen.render.views import up_basis


@dataclass
class OrbitCamera:
    """A camera looking at `target` from `distance`, at `yaw` around `up` and `pitch` above the
    horizon (degrees), with a horizontal field of view `fov` (degrees)."""

    target: torch.Tensor = field(default_factory=lambda: torch.zeros(3))
    distance: float = 3.0
    yaw: float = 0.0
    pitch: float = 25.0
    fov: float = 50.0
    up: torch.Tensor = field(default_factory=lambda: torch.tensor([0.0, 0.0, 1.0]))

    @classmethod
    def framing(cls, centre, radius: float, up, fov: float = 50.0) -> "OrbitCamera":
        """A view that sees a ball of `radius` about `centre` whole."""
        distance = radius / math.sin(math.radians(fov) / 2 * 0.75) * 1.05
        return cls(torch.as_tensor(centre, dtype=torch.float32).clone(), distance, 0.0, 25.0, fov,
                   torch.as_tensor(up, dtype=torch.float32).clone())

    def _direction(self) -> torch.Tensor:
        """Unit vector from the target to the eye."""
        up, e1, e2 = up_basis(self.up)
        yaw, pitch = math.radians(self.yaw), math.radians(self.pitch)
        return math.cos(pitch) * (math.cos(yaw) * e1 + math.sin(yaw) * e2) + math.sin(pitch) * up

    @property
    def eye(self) -> torch.Tensor:
        return self.target + self.distance * self._direction()

    def camera(self, width: int, height: int) -> Camera:
        up = self.up if abs(self.pitch) < 89.5 else up_basis(self.up)[1]
        return Camera.look_at(self.eye, self.target, up, fov_deg=self.fov, width=width, height=height)

    def orbit(self, d_yaw: float, d_pitch: float):
        self.yaw = (self.yaw + d_yaw) % 360.0
        self.pitch = max(-89.0, min(89.0, self.pitch + d_pitch))

    def pan(self, dx: float, dy: float):
        """Move the target sideways and up in the image by fractions of the view's width."""
        cam = self.camera(2, 2)
        span = 2 * self.distance * math.tan(math.radians(self.fov) / 2)
        right, down = cam.c2w[:3, 0], cam.c2w[:3, 1]
        self.target = self.target + span * (-dx * right + dy * down)

    def zoom(self, factor: float):
        self.distance = max(1e-4, self.distance * factor)

    def fly(self, forward: float, right: float, rise: float):
        """Move eye and target together, along the view, to the right and along up (scene units)."""
        cam = self.camera(2, 2)
        step = forward * cam.c2w[:3, 2] + right * cam.c2w[:3, 0] + rise * self.up / self.up.norm()
        self.target = self.target + step

    def look_from(self, camera: Camera):
        """Take the position and direction of `camera` (the target in front of it, at the same distance)."""
        eye = camera.position.float()
        forward = camera.c2w[:3, 2].float()
        self.target = eye + self.distance * forward
        up, e1, e2 = up_basis(self.up)
        back = -forward
        self.pitch = math.degrees(math.asin(max(-1.0, min(1.0, float(back @ up)))))
        self.yaw = math.degrees(math.atan2(float(back @ e2), float(back @ e1))) % 360.0
        self.fov = math.degrees(2 * math.atan(0.5 * float(camera.width) / float(camera.fx)))

"""The gizmo on the selected object: three arrows along the world axes (drag one to move the
object along it) and a ring about the scene's up axis (drag along it to turn the object about its
centre). A drag is one journaled edit: each step of the drag replaces the previous one."""

from __future__ import annotations

import math

import torch

from scenegen.render.views import up_basis

AXIS_COLOURS = ((230, 70, 60), (70, 200, 80), (70, 120, 240))
RING_COLOUR = (240, 200, 60)
LENGTH = 0.12  # arrow length, as a share of the camera's distance to its target
RING = 0.75  # ring radius, as a share of the arrow length
RING_POINTS = 48
HIT_PIXELS = 9.0
TURN = 3  # the handle index of the ring (0, 1, 2 are the arrows)


class Gizmo:
    def __init__(self):
        self.offset = None  # the current drag's total: a translation [3] or a turn in degrees
        self.turned = 0.0

    def _centre(self, session) -> torch.Tensor:
        return torch.tensor(session.position())

    def layout(self, session, width: int, height: int) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """Screen (start, end) of the arrows along x, y and z from the selected object's origin."""
        centre = self._centre(session)
        length = LENGTH * session.view.distance
        points = torch.stack([centre] + [centre + length * torch.eye(3)[i] for i in range(3)])
        uv, z = session.camera(width, height).project(points)
        if (z <= 0).any():
            return []
        start = tuple(uv[0].tolist())
        return [(start, tuple(uv[i + 1].tolist())) for i in range(3)]

    def ring(self, session, width: int, height: int) -> list[tuple[float, float]]:
        """Screen points of the turning ring (a closed polyline), empty when it is behind the camera."""
        up, e1, e2 = up_basis(session.view.up)
        radius = RING * LENGTH * session.view.distance
        angles = torch.linspace(0, 2 * math.pi, RING_POINTS + 1)
        points = self._centre(session) + radius * (torch.cos(angles)[:, None] * e1 + torch.sin(angles)[:, None] * e2)
        uv, z = session.camera(width, height).project(points)
        return [] if (z <= 0).any() else [tuple(p) for p in uv.tolist()]

    def hit(self, session, width: int, height: int, x: float, y: float) -> int | None:
        """The handle within a few pixels of (x, y): 0-2 an arrow, TURN the ring; else None."""
        best, best_d = None, HIT_PIXELS
        p = torch.tensor([x, y])
        segments = [(axis, a, b, 0.15) for axis, (a, b) in enumerate(self.layout(session, width, height))]
        ring = self.ring(session, width, height)
        segments += [(TURN, ring[i], ring[i + 1], 0.0) for i in range(len(ring) - 1)]
        for handle, start, end, skip in segments:
            a, b = torch.tensor(start), torch.tensor(end)
            seg = b - a
            s = float(((p - a) @ seg) / (seg @ seg).clamp_min(1e-9))
            s = min(max(s, skip), 1.0)  # arrows: not their shared origin
            d = float((a + s * seg - p).norm())
            if d < best_d:
                best, best_d = handle, d
        return best

    def drag(self, session, width: int, height: int, handle: int, dx: float, dy: float, x: float | None = None,
             y: float | None = None):
        """Move the selected object along an arrow by the mouse movement projected onto it, or turn
        it by the angle the mouse swept about its centre on screen (x, y: the mouse now)."""
        if handle == TURN:
            return self._turn(session, width, height, dx, dy, x, y)
        arrows = self.layout(session, width, height)
        if not arrows:
            return
        start, end = (torch.tensor(p) for p in arrows[handle])
        seg = end - start
        pixels = float(seg.norm())
        if pixels < 1e-3:
            return
        along = float(torch.tensor([dx, dy]) @ seg) / (pixels * pixels) * LENGTH * session.view.distance
        if self.offset is not None:
            session.undo()
        self.offset = self.offset if self.offset is not None else torch.zeros(3)
        self.offset[handle] += along
        session.edit("translate", object=session.selected, offset=self.offset.tolist())

    def _turn(self, session, width, height, dx, dy, x, y):
        arrows = self.layout(session, width, height)
        if not arrows or x is None:
            return
        cx, cy = arrows[0][0]
        before = math.atan2(y - dy - cy, x - dx - cx)
        after = math.atan2(y - cy, x - cx)
        swept = math.degrees(math.remainder(after - before, 2 * math.pi))
        # On screen, y points down: a turn that looks anticlockwise from above is a negative angle
        # here, and it is anticlockwise about up when the camera looks down at the ring.
        looking_down = float(session.camera(2, 2).c2w[:3, 2] @ session.view.up) < 0
        if self.offset is not None:
            session.undo()
        self.turned += -swept if looking_down else swept
        self.offset = self.turned
        session.edit("rotate", object=session.selected, axis=session.view.up.tolist(), degrees=self.turned, t=session.time)

    def finish(self, session):
        self.offset = None
        self.turned = 0.0

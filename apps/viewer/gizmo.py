"""The move gizmo: three arrows along the world axes at the selected object; dragging one moves the
object along that axis. A drag is one journaled translate (each step replaces the previous one)."""

from __future__ import annotations

import torch

AXIS_COLOURS = ((230, 70, 60), (70, 200, 80), (70, 120, 240))
LENGTH = 0.12  # arrow length, as a share of the camera's distance to its target
HIT_PIXELS = 9.0


class Gizmo:
    def __init__(self):
        self.offset = None  # the current drag's total offset (world units)

    def layout(self, session, width: int, height: int) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """Screen (start, end) of the arrows along x, y and z from the selected object's origin."""
        centre = torch.tensor(session.position())
        length = LENGTH * session.view.distance
        points = torch.stack([centre] + [centre + length * torch.eye(3)[i] for i in range(3)])
        uv, z = session.camera(width, height).project(points)
        if (z <= 0).any():
            return []
        start = tuple(uv[0].tolist())
        return [(start, tuple(uv[i + 1].tolist())) for i in range(3)]

    def hit(self, session, width: int, height: int, x: float, y: float) -> int | None:
        """The axis whose arrow passes within a few pixels of (x, y), else None."""
        best, best_d = None, HIT_PIXELS
        p = torch.tensor([x, y])
        for axis, (start, end) in enumerate(self.layout(session, width, height)):
            a, b = torch.tensor(start), torch.tensor(end)
            seg = b - a
            s = float(((p - a) @ seg) / (seg @ seg).clamp_min(1e-9))
            s = min(max(s, 0.15), 1.0)  # not the shared origin
            d = float((a + s * seg - p).norm())
            if d < best_d:
                best, best_d = axis, d
        return best

    def drag(self, session, width: int, height: int, axis: int, dx: float, dy: float):
        """Move the selected object along `axis` by the mouse movement projected onto the arrow."""
        arrows = self.layout(session, width, height)
        if not arrows:
            return
        start, end = (torch.tensor(p) for p in arrows[axis])
        seg = end - start
        pixels = float(seg.norm())
        if pixels < 1e-3:
            return
        along = float(torch.tensor([dx, dy]) @ seg) / (pixels * pixels) * LENGTH * session.view.distance
        if self.offset is not None:
            session.undo()
        self.offset = (self.offset if self.offset is not None else torch.zeros(3))
        self.offset[axis] += along
        session.edit("translate", object=session.selected, offset=self.offset.tolist())

    def finish(self, session):
        self.offset = None

"""Cameras for looking at a scene (framing, orbits, the scene's up): the shared helpers of
scenegen.common.views, offered here beside the renderer that uses them."""

from ..common.views import framing, orbit_cameras, scene_up, up_basis, up_from_cameras

__all__ = ["framing", "orbit_cameras", "scene_up", "up_basis", "up_from_cameras"]

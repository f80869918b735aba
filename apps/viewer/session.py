"""What the viewer holds and does, apart from its widgets: the scene, the time, the camera, the
selection, edits with undo, saving, screenshots and the fps benchmark. The window (window.py) is
a thin shell over this, and `scenegen view --screenshot/--benchmark` uses it with no window."""

from __future__ import annotations

import time as clock
from pathlib import Path

import numpy as np
import torch

import scenegen
from scenegen.edit import EditSession
from scenegen.errors import InvalidArgumentError
from scenegen.io import splat_format, splat_suffixes
from scenegen.render.views import framing, scene_up

from .orbit import OrbitCamera
from .renderers import make_renderer

BACKGROUND = (0.1, 0.1, 0.12)
SCENE_SUFFIXES = (".zip", *splat_suffixes())


class ViewerSession:
    """A scene being viewed and edited. Every edit goes through one scenegen.edit.EditSession,
    so edits are journaled in the scene (a save keeps the journal) and undo/redo are its."""

    def __init__(self, scene: scenegen.Scene, path: Path | None = None, renderer: str = "auto",
                 background=BACKGROUND):
        self.scene = scene
        self.editing = EditSession(scene)
        self.path = Path(path) if path is not None else None
        self.renderer = make_renderer(renderer)
        self.background = tuple(float(v) for v in background)
        self.time = scene.time_range[0]
        self.selected: str | None = None
        self.modified = False
        self._uploaded_time: float | None = None
        self._stale = True
        self.view = self.default_view()

    @classmethod
    def open(cls, path, renderer: str = "auto", **kwargs) -> "ViewerSession":
        """A session on the native scene or splat file (any of scenegen.io.splat_formats) at `path`."""
        return cls(scenegen.load(path), Path(path), renderer, **kwargs)

    # The camera
    def default_view(self) -> OrbitCamera:
        """From the first capture camera when the scene has them (what was filmed), else a view
        from above one side that frames the whole scene."""
        gaussians, _ = self.scene.gaussians_at(self.time)
        centre, radius = framing(gaussians)
        view = OrbitCamera.framing(centre, radius, scene_up(self.scene))
        cams = self.scene.cameras
        if cams is not None and len(cams):
            first = cams[0]
            view.distance = max(float((centre - first.position.float()) @ first.c2w[:3, 2].float()), 0.05 * radius)
            view.look_from(first)
        return view

    def reset_view(self):
        self.view = self.default_view()

    def snap_to_capture(self, index: int):
        """Look from the scene's capture camera `index` (and go to its time when it has one)."""
        cams = self.scene.cameras
        if cams is None or len(cams) == 0:
            raise InvalidArgumentError("this scene has no capture cameras to snap to")
        index = int(index) % len(cams)
        self.view.look_from(cams[index])
        if self.scene.camera_times is not None:
            self.set_time(float(self.scene.camera_times[index]))

    def camera(self, width: int, height: int):
        return self.view.camera(width, height)

    # Time
    def set_time(self, t: float):
        t0, t1 = self.scene.time_range
        self.time = min(max(float(t), t0), t1)

    def step(self, frames: int = 1, fps: float = 24.0):
        """Move the time by whole frames of `fps`, wrapping around the time range."""
        t0, t1 = self.scene.time_range
        if t1 <= t0:
            return
        span = t1 - t0
        self.time = t0 + ((self.time - t0 + frames / fps) % (span + 1e-9))

    # Drawing
    def changed(self):
        """The scene's Gaussians changed (an edit, undo, redo, load): upload them again."""
        self._stale = True
        self.modified = True

    def _upload(self):
        if self._stale or self._uploaded_time != self.time:
            gaussians, ids = self.scene.gaussians_at(self.time)
            self.renderer.set_gaussians(gaussians, ids)
            self._uploaded_time = self.time
            self._stale = False

    def selected_id(self) -> int | None:
        names = self.scene.object_names
        return names.index(self.selected) if self.selected in names else None

    def frame(self, width: int, height: int, scale: float = 1.0) -> np.ndarray:
        """The view as an RGB uint8 image [height, width, 3]. scale < 1 gives the viewer's quick
        frames, drawn while the camera moves: fewer pixels, enlarged, and only the Gaussians that
        cover the most (renderers.QUICK_BUDGET)."""
        self._upload()
        w, h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
        image = self.renderer.render(self.camera(w, h), self.background, self.selected_id(), quick=scale < 1.0)
        if image.dtype != np.uint8:
            image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        if (w, h) != (width, height):
            rows = np.minimum((np.arange(height) * h) // height, h - 1)
            cols = np.minimum((np.arange(width) * w) // width, w - 1)
            image = image[rows][:, cols]
        return np.ascontiguousarray(image)

    # Selection and edits
    def pick(self, u: float, v: float, width: int, height: int) -> str | None:
        """Select the object under pixel (u, v) of a width x height view (None: nothing or the background)."""
        name = self.editing.object_at(self.camera(width, height), u, v, self.time)
        self.selected = None if name in (None, self.scene.background.name) else name
        return self.selected

    def select(self, name: str | None):
        if name is not None and name not in self.scene.objects:
            raise InvalidArgumentError(f"no object named {name!r}")
        self.selected = name

    def edit(self, op: str, **args):
        """Run a journaled edit on the scene; the selection follows renames and deletions."""
        self.editing.apply(op, **args)
        if op in ("duplicate", "rename", "insert_mesh") and args.get("name") in self.scene.objects:
            self.selected = args["name"]  # the new object
        elif self.selected not in self.scene.objects:
            self.selected = None
        self.changed()

    def position(self, name: str | None = None) -> list[float]:
        """World position of an object's origin at the current time."""
        name = name or self.selected
        return self.scene.objects[name].pose_at(self.time)[:3, 3].tolist()

    def move_to(self, position, name: str | None = None):
        """Translate the whole motion of the object so that it is at `position` now."""
        name = name or self.selected
        offset = (torch.as_tensor(position, dtype=torch.float32) - torch.tensor(self.position(name))).tolist()
        self.edit("translate", object=name, offset=offset)

    def keyframe(self, name: str | None = None):
        """Pin the object's current pose as a keyframe at the current time."""
        name = name or self.selected
        self.edit("set_pose", object=name, t=self.time, matrix=self.scene.objects[name].pose_at(self.time).tolist())

    def undo(self) -> bool:
        """Undo the last edit; False when there is none."""
        return self._after(self.editing.undo())

    def redo(self) -> bool:
        return self._after(self.editing.redo())

    def _after(self, entry) -> bool:
        if entry is None:
            return False
        if self.selected not in self.scene.objects:
            self.selected = None
        self.changed()
        return True

    def save(self, path=None) -> Path:
        """Save the scene (with its journal of edits) as a native scene folder or .zip."""
        path = Path(path) if path is not None else self.path
        if path is None or splat_format(path) is not None:
            raise InvalidArgumentError("save as a native scene: a folder or a .zip (a splat file keeps no objects)")
        scenegen.save(self.scene, path)
        self.path = path
        self.modified = False
        return path

    def screenshot(self, path, width: int, height: int) -> Path:
        from scenegen.io import write_png

        write_png(path, torch.from_numpy(self.frame(width, height).astype(np.float32) / 255.0))
        return Path(path)

    def benchmark(self, seconds: float = 3.0, width: int = 960, height: int = 540, scale: float = 1.0) -> float:
        """Orbit the camera offscreen for about `seconds`, one degree a frame; frames per second."""
        self.frame(width, height, scale)  # first upload and any compilation, not timed
        frames, started = 0, clock.perf_counter()
        while frames < 3 or clock.perf_counter() - started < seconds:
            self.view.orbit(1.0, 0.0)
            self.frame(width, height, scale)
            frames += 1
        return frames / (clock.perf_counter() - started)

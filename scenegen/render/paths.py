"""Camera paths for videos: an orbit, the capture path, or keyframes from a JSON file.

Each path gives the cameras of every frame and, where the path says so, the scene time of every
frame. The keyframe file is either scenegen's own
`{"keyframes": [{"eye": [x, y, z], "target": [x, y, z], "up": [..], "fov": deg, "time": t}, ...]}`
(or `"c2w"`, a 4x4 OpenCV camera-to-world matrix, in place of eye/target), or a nerfstudio
`camera_path.json` (`"camera_path": [{"camera_to_world": [16 numbers, OpenGL], "fov": vertical deg}]`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ..camera import Camera, Cameras, flip_opengl_opencv
from ..errors import FormatError, InvalidArgumentError
from ..common.values import bounded_int, finite_number
from ..common.views import framing, orbit_cameras, scene_up

PATH_KINDS = ("orbit", "capture")
MAX_SIDE = 16384  # pixels a side of a rendered frame
MAX_FRAMES = 100_000


def path_times(scene, frames: int, start: float | None = None, end: float | None = None):
    """Scene times of `frames` evenly spaced frames from start to end (default: the scene's time range)."""
    t0 = scene.time_range[0] if start is None else float(start)
    t1 = scene.time_range[1] if end is None else float(end)
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise InvalidArgumentError(f"start and end must be finite times, got {t0} and {t1}")
    return torch.linspace(t0, t1, frames, dtype=torch.float64)


def orbit_path(scene, *, frames: int = 96, width: int = 640, height: int = 480, elevation: float = 25.0,
               fov: float = 45.0, t: float | None = None, turns: float = 1.0) -> Cameras:
    """A full circle (or `turns` of one) around the scene's Gaussians at time t."""
    if frames < 1:
        raise InvalidArgumentError(f"frames must be >= 1, got {frames}")
    centre, radius = framing(scene.gaussians_at(t)[0])
    if frames == 1:
        return orbit_cameras(centre, radius, num=1, elevation_deg=elevation, up=scene_up(scene), width=width, height=height, fov_deg=fov)
    ring = orbit_cameras(centre, radius, num=max(8, frames), elevation_deg=elevation, up=scene_up(scene),
                         width=width, height=height, fov_deg=fov)
    # Sample the closed ring at `turns` turns; the last camera of a full turn is the first again.
    step = len(ring) * turns / frames
    index = (torch.arange(frames, dtype=torch.float64) * step).round().long() % len(ring)
    return ring[index]


def capture_path(scene, frames: int | None = None, *, width: int | None = None, height: int | None = None):
    """The capture cameras (resampled smoothly to `frames`, default one per capture camera) and
    the capture's times along them (None when the scene has no camera times)."""
    cams = scene.cameras
    if cams is None or len(cams) == 0:
        raise InvalidArgumentError("this scene has no capture cameras; use the orbit path or a keyframe file")
    frames = len(cams) if frames is None else int(frames)
    if frames < 1:
        raise InvalidArgumentError(f"frames must be >= 1, got {frames}")
    order = torch.arange(len(cams))
    times = None
    if scene.camera_times is not None:
        order = torch.argsort(scene.camera_times, stable=True)
        times = scene.camera_times[order]
    cams = cams[order]
    s = torch.linspace(0, 1, frames, dtype=torch.float64)
    path = cams.path_at(s)
    if times is not None:
        times = _along(times, s)
    return _resized(path, width, height), times


def _along(values: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear values at parameters s in [0, 1] through `values` (evenly spaced)."""
    if len(values) == 1:
        return values.expand(len(s)).clone()
    seg = s * (len(values) - 1)
    i0 = seg.floor().long().clamp(max=len(values) - 2)
    return torch.lerp(values[i0], values[i0 + 1], (seg - i0).to(values.dtype))


def _resized(cams: Cameras, width: int | None, height: int | None) -> Cameras:
    """The cameras at a new image size, the field of view kept (the wider of the two scales wins)."""
    if width is None and height is None:
        return cams
    w0, h0 = float(cams.width[0]), float(cams.height[0])
    sx = (width or w0 * height / h0) / w0
    sy = (height or h0 * width / w0) / h0
    s = max(sx, sy)
    w, h = int(round(w0 * sx)), int(round(h0 * sy))
    return Cameras(fx=cams.fx * s, fy=cams.fy * s, cx=cams.cx * sx, cy=cams.cy * sy, width=w, height=h,
                   c2w=cams.c2w, distortion=cams.distortion)


def _number(entry: dict, key: str, where: str, default=None) -> float | None:
    value = entry.get(key)
    if value is None:
        return default
    return finite_number(value, f"{where}.{key}", error=FormatError)


def _matrix(value, where: str, shape) -> torch.Tensor:
    try:
        m = torch.as_tensor(value, dtype=torch.float32).reshape(shape)
    except (TypeError, ValueError, RuntimeError):
        raise FormatError(f"{where} must be {'x'.join(map(str, shape))} numbers") from None
    if not torch.isfinite(m).all():
        raise FormatError(f"{where} contains NaN or infinite values")
    return m


def _keyframe_camera(entry, where: str, width: int, height: int, fov_default: float, up) -> Camera:
    if not isinstance(entry, dict):
        raise FormatError(f"{where} must be an object with eye/target or c2w, got {type(entry).__name__}")
    fov = _number(entry, "fov", where, fov_default)
    if not 1.0 <= fov <= 179.0:
        raise FormatError(f"{where}.fov must be a field of view in degrees (1..179), got {fov}")
    if "camera_to_world" in entry:  # nerfstudio: OpenGL axes, vertical field of view
        c2w = flip_opengl_opencv(_matrix(entry["camera_to_world"], f"{where}.camera_to_world", (4, 4)))
        focal = 0.5 * height / math.tan(math.radians(fov) / 2)
    elif "c2w" in entry:
        c2w = _matrix(entry["c2w"], f"{where}.c2w", (4, 4))
        focal = 0.5 * width / math.tan(math.radians(fov) / 2)
    elif "eye" in entry and "target" in entry:
        eye = _matrix(entry["eye"], f"{where}.eye", (3,))
        target = _matrix(entry["target"], f"{where}.target", (3,))
        cam_up = _matrix(entry["up"], f"{where}.up", (3,)) if "up" in entry else up
        try:
            return Camera.look_at(eye, target, cam_up, fov_deg=fov, width=width, height=height)
        except InvalidArgumentError as exc:
            raise FormatError(f"{where}: {exc}") from None
    else:
        raise FormatError(f"{where} needs 'eye' and 'target', or 'c2w' (or nerfstudio's 'camera_to_world')")
    return Camera(fx=focal, fy=focal, cx=width / 2, cy=height / 2, width=width, height=height, c2w=c2w)


def keyframe_path(scene, path: str | os.PathLike, *, frames: int | None = None, width: int | None = None,
                  height: int | None = None, fov: float = 45.0):
    """Cameras through the keyframes in the JSON file at `path` (slerped rotations, linear positions)
    and their times when every keyframe has a "time". Returns (cameras, times or None)."""
    from ..common.json_file import read_json_file

    path = Path(path)
    data = read_json_file(path, "camera path")
    if not isinstance(data, dict):
        raise FormatError(f"{path}: a camera path file is a JSON object with 'keyframes' (or nerfstudio's 'camera_path')")
    key = "keyframes" if "keyframes" in data else "camera_path"
    entries = data.get(key)
    if not isinstance(entries, list) or not entries:
        raise FormatError(f"{path}: '{key}' must be a non-empty list of cameras")
    width = width or bounded_int(data.get("width", data.get("render_width", 640)), f"{path}: width", 1, MAX_SIDE, error=FormatError)
    height = height or bounded_int(data.get("height", data.get("render_height", 480)), f"{path}: height", 1, MAX_SIDE,
                                   error=FormatError)
    up = scene_up(scene)
    cams = Cameras.stack([_keyframe_camera(e, f"{path}: {key}[{i}]", width, height, fov, up) for i, e in enumerate(entries)])
    times = [_number(e, "time", f"{path}: {key}[{i}]") for i, e in enumerate(entries)]
    times = torch.tensor(times, dtype=torch.float64) if all(t is not None for t in times) else None
    if frames is None:
        frames = len(entries) if key == "camera_path" else bounded_int(data.get("frames", 96), f"{path}: frames", 1, MAX_FRAMES,
                                                                       error=FormatError)
    if frames < 1:
        raise InvalidArgumentError(f"frames must be >= 1, got {frames}")
    s = torch.linspace(0, 1, frames, dtype=torch.float64)
    return cams.path_at(s), (None if times is None else _along(times, s))


def camera_path(scene, path: str, *, frames: int | None = None, width: int | None = None, height: int | None = None,
                fov: float = 45.0, elevation: float = 25.0, t: float | None = None):
    """(cameras, times or None) for `path`: "orbit", "capture", or a keyframe JSON file."""
    if path == "orbit":
        return orbit_path(scene, frames=frames or 96, width=width or 640, height=height or 480,
                          elevation=elevation, fov=fov, t=t), None
    if path == "capture":
        return capture_path(scene, frames, width=width, height=height)
    if not Path(path).is_file():
        raise InvalidArgumentError(f"camera path {path!r}: not 'orbit', 'capture' or an existing keyframe JSON file")
    return keyframe_path(scene, path, frames=frames, width=width, height=height, fov=fov)

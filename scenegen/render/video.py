"""Camera paths rendered to video files."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..camera import Cameras
from ..errors import InvalidArgumentError


def render_video(scene, cameras: Cameras, path: str | os.PathLike, *, fps: float = 24.0, times=None,
                 background=(1.0, 1.0, 1.0), backend: str = "auto", progress: bool = True) -> Path:
    """Render `scene` from each camera of `cameras` (at `times`, one per camera, default the start
    of the scene) into an H.264 MP4 at `path`, written atomically. A list of scenes is rendered
    side by side (before | after)."""
    import imageio.v2 as imageio
    import numpy as np
    from ..common.progress import track

    from ..common.atomic import atomic_path

    if len(cameras) == 0:
        raise InvalidArgumentError("render_video: no cameras given")
    if times is not None and len(times) != len(cameras):
        raise InvalidArgumentError(f"render_video: {len(times)} times for {len(cameras)} cameras")
    scenes = list(scene) if isinstance(scene, (list, tuple)) else [scene]
    path = Path(path)
    with atomic_path(path) as tmp, torch.no_grad():
        # Frames stream into the encoder one at a time; odd sizes get a black edge (H.264 wants even).
        writer = imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", macro_block_size=1)
        try:
            for i in track(range(len(cameras)), description="rendering video", enabled=progress):
                t = None if times is None else float(times[i])
                rgb = torch.cat([s.render(cameras[i], t, background=background, backend=backend).rgb[0] for s in scenes], 1)
                frame = (rgb.clamp(0, 1) * 255).round().byte().numpy()
                h, w = frame.shape[:2]
                writer.append_data(np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0))))
        finally:
            writer.close()
    return path

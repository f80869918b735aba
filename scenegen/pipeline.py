"""From a video (or a folder of photos) to a trained, saved scene: keyframes, poses, training."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .errors import InvalidArgumentError


def reconstruct(path: str | os.PathLike, out: str | os.PathLike, *, max_frames: int = 120, max_size: int = 1600,
                config=None, progress: bool = True):
    """Reconstruct the static scene seen in a video file or an image folder into `out`.

    Writes out/frames (keyframes), out/sfm (pycolmap model, undistorted images), out/train
    (checkpoints, eval.json, renders), out/scene, out/point_cloud.ply, out/trajectory.mp4 (a
    render along the capture path) and out/report.json;
    returns the Scene (in the structure-from-motion frame)."""
    from .data.image_folder import load_image_folder
    from .data.poses import estimate_poses
    from .data.video import VIDEO_EXTENSIONS, extract_keyframes
    from .io import save, write_ply
    from .io.atomic import atomic_write_bytes
    from .recon import TrainConfig, train

    path, out = Path(path), Path(out)
    started = time.perf_counter()
    if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
        frames = extract_keyframes(path, out / "frames", max_frames=max_frames, max_size=max_size, progress=progress)
    elif path.is_dir():
        frames = load_image_folder(path)
    else:
        raise InvalidArgumentError(f"{path}: expected a video ({', '.join(sorted(VIDEO_EXTENSIONS))}) or a folder of images")
    posed, sfm = estimate_poses(frames, out / "sfm")
    sfm_done = time.perf_counter()
    scene = train(posed, config or TrainConfig(), out=out / "train", progress=progress)
    save(scene, out / "scene")
    write_ply(out / "point_cloud.ply", scene.background.gaussians)
    # A smooth fly-through along the capture path, at the training resolution.
    from .render.video import render_video

    path_cams = posed.cameras.path(min(120, 4 * len(posed)))
    scale = 1.0 / max(1.0, max(int(path_cams.width.max()), int(path_cams.height.max())) / 800)
    render_video(scene, path_cams.rescale(scale), out / "trajectory.mp4", fps=24, background=(0.0, 0.0, 0.0), progress=progress)
    report = {
        "source": str(path),
        "frames_read": frames.metadata.get("frames_read", len(frames)),
        "keyframes": len(frames),
        "registered": sfm.registered,
        "registration_rate": sfm.registration_rate,
        "points": sfm.points,
        "reprojection_error_px": sfm.mean_reprojection_error,
        "focal_px": sfm.focal_px,
        "sfm_seconds": sfm.seconds,
        "train_seconds": time.perf_counter() - sfm_done,
        "total_seconds": time.perf_counter() - started,
        "eval": scene.metadata.get("eval"),
    }
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=1).encode())
    scene.metadata["report"] = report
    return scene

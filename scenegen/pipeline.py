"""From a video (or a folder of photos) to a trained, saved scene, in four cached stages.

    frames  keyframes of the video (or the photos of the folder)     OUT/frames/frames.json
    poses   structure from motion (pycolmap), undistorted images     OUT/sfm/sfm_report.json
    train   Gaussians fitted in the normalised frame, evaluation     OUT/train/scene
    export  OUT/scene, OUT/point_cloud.ply (SfM frame), videos       OUT/report.json

`from_stage` re-runs from that stage on, reading the earlier stages' results from OUT. The
results of the run (report, scene, PLY, videos) are removed first, so a run that fails never
leaves an older result looking like its own.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from .common.atomic import output_folder
from .errors import DatasetError, InvalidArgumentError

STAGES = ("frames", "poses", "train", "export")
RESULTS = ("report.json", "scene", "point_cloud.ply", "trajectory.mp4", "turntable.mp4", "renders")
TIME_STILLS = 5  # renders/time_*.png of a dynamic scene, from the middle capture camera
VIDEO_MAX_SIDE = 800
# Training for a video capture: steps follow the capture, VIDEO_STEPS_PER_VIEW visits of each
# registered keyframe within VIDEO_STEPS_RANGE (a 50-frame clip gets 3000, which with the
# coarse-to-fine start keeps it near 10 minutes end to end on a 2-core CPU; TrainConfig's 10000
# suit a long `scenegen train`); densification ends earlier to match. VIDEO_TRAIN_STEPS is the
# count where the capture is not known yet.
VIDEO_TRAIN_STEPS = 6000
VIDEO_STEPS_PER_VIEW = 60
VIDEO_STEPS_RANGE = (2000, 6000)


def video_steps(views: int) -> int:
    """Training steps for a capture with `views` registered keyframes."""
    low, high = VIDEO_STEPS_RANGE
    return int(min(high, max(low, VIDEO_STEPS_PER_VIEW * views)))


def video_train_config(steps: int = VIDEO_TRAIN_STEPS, **overrides):
    """The TrainConfig `reconstruct` uses: densification stops at 5/7 of the steps, and the scene
    is static (keyframe times are kept, but motion is fitted only when asked: motion="dynamic")."""
    from .recon import TrainConfig

    return TrainConfig(**{"steps": steps, "densify_until": max(1, steps * 5 // 7), "motion": "static", **overrides})


def capture_train_config(config, views: int):
    """reconstruct's `config` made a TrainConfig: one is kept as it is; None or a dict of settings
    gives video_train_config with them, its steps (unless the dict names them) from the capture."""
    from .recon import TrainConfig

    if isinstance(config, TrainConfig):
        return config
    if config is not None and not isinstance(config, dict):
        raise InvalidArgumentError(f"config must be a TrainConfig or a dict of its settings, got {type(config).__name__}")
    settings = dict(config or {})
    steps = settings.pop("steps", None)
    return video_train_config(video_steps(views) if steps is None else steps, **settings)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _frames_stage(path: Path, out: Path, max_frames: int, max_size: int | None, progress: bool):
    from .data.image_folder import load_image_folder
    from .data.video import VIDEO_EXTENSIONS, extract_keyframes, write_image_manifest

    _remove(out)
    if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
        return extract_keyframes(path, out, max_frames=max_frames, max_size=max_size, progress=progress)
    return write_image_manifest(load_image_folder(path), out)


def _videos(scene, posed, out: Path, progress: bool) -> None:
    """trajectory.mp4 along the capture path and turntable.mp4 circling the subject."""
    import math

    import torch

    from .render.video import render_video
    from .common.views import orbit_cameras

    cams = posed.cameras
    scale = 1.0 / max(1.0, max(int(cams.width.max()), int(cams.height.max())) / VIDEO_MAX_SIDE)
    path_cams = cams.path(min(120, 4 * len(posed))).rescale(scale)
    t0, t1 = scene.time_range
    dynamic = t1 > t0

    def sweep(n):  # a dynamic scene plays its time range along a camera path; a still one has none
        return torch.linspace(t0, t1, n).tolist() if dynamic else None

    render_video(scene, path_cams, out / "trajectory.mp4", fps=24, times=sweep(len(path_cams)), background=(0.0, 0.0, 0.0),
                 progress=progress)
    # In the normalised frame the subject is at the origin, up is +z and cameras sit about 1 away:
    # circle at the cameras' median distance and elevation, with the capture's field of view.
    positions = cams.c2w[:, :3, 3].float()
    distance = float(positions.norm(dim=1).median())
    sin_elev = (positions[:, 2] / positions.norm(dim=1).clamp_min(1e-9)).clamp(-1, 1)
    elevation = min(80.0, max(-80.0, math.degrees(float(torch.asin(sin_elev).median()))))
    width, height = int(cams.width[0] * scale) // 2 * 2, int(cams.height[0] * scale) // 2 * 2
    fov_x = 2 * math.atan(0.5 * float(cams.width[0]) / float(cams.fx[0]))
    radius = distance * math.sin(fov_x / 2 * min(1.0, height / width)) / 1.05
    orbit = orbit_cameras(torch.zeros(3), radius, num=96, elevation_deg=elevation, width=width, height=height,
                          fov_deg=math.degrees(fov_x))
    render_video(scene, orbit, out / "turntable.mp4", fps=24, times=sweep(len(orbit)), background=(0.0, 0.0, 0.0),
                 progress=progress)
    if dynamic:
        _time_stills(scene, cams[len(cams) // 2].rescale(scale), out / "renders")


def _time_stills(scene, camera, folder: Path) -> list[Path]:
    """renders/time_<t>.png: the scene from one camera at evenly spaced times of its range."""
    from .common.atomic import atomic_write_png

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    t0, t1 = scene.time_range
    for k in range(TIME_STILLS):
        t = t0 + (t1 - t0) * k / (TIME_STILLS - 1)
        path = folder / f"time_{t:08.3f}.png"
        atomic_write_png(path, scene.render(camera, t, background=(0.0, 0.0, 0.0)).rgb[0])
        paths.append(path)
    return paths


def reconstruct(path: str | os.PathLike, out: str | os.PathLike, *, max_frames: int = 120, max_size: int = 1600,
                masks: str | os.PathLike | None = None, config=None, sfm=None, from_stage: str = "frames",
                progress: bool = True, objects: str = "auto", object_masks: str | os.PathLike | None = None):
    """Reconstruct the scene seen in a video file or an image folder into `out` (still unless
    config.motion asks for motion).

    masks: one image or a folder of them whose non-zero pixels mark what structure from motion
    should ignore (moving objects); config: a recon.TrainConfig, or a dict of settings that change
    video_train_config's (None: none), whose steps, unless given, follow the number of registered
    keyframes (video_steps); sfm: a data.poses.SfmOptions;
    from_stage: one of STAGES, re-using the earlier stages' results in `out`. objects and
    object_masks: how the trained scene is split into objects (recon.train's `objects`), and
    instance masks for it (one image: the first keyframe's; or a folder; without them the
    structure-from-motion masks, which mark the moving things, serve).
    Returns the Scene, in the normalised frame (subject at the origin, up +z); its
    metadata["sfm_from_scene"] is the 4x4 similarity back to the structure-from-motion frame.
    """
    from .data.masks import match_masks
    from .data.normalize import normalize_dataset
    from .data.poses import estimate_poses, load_poses
    from .data.video import VIDEO_EXTENSIONS, load_keyframes
    from .geometry import invert_similarity
    from .io import load, save, write_ply
    from .common.atomic import atomic_write_bytes
    from .recon import train

    path, out = Path(path), Path(out)
    if from_stage not in STAGES:
        raise InvalidArgumentError(f"from_stage must be one of {', '.join(STAGES)}; got {from_stage!r}")
    start = STAGES.index(from_stage)
    if start == 0 and not (path.is_dir() or (path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS)):
        raise InvalidArgumentError(f"{path}: expected a video ({', '.join(sorted(VIDEO_EXTENSIONS))}) or a folder of images")
    output_folder(out)
    for name in RESULTS:
        _remove(out / name)
    started = time.perf_counter()

    stage_seconds = {}
    frames = _frames_stage(path, out / "frames", max_frames, max_size, progress) if start <= 0 else load_keyframes(out / "frames")
    stage_seconds["frames"] = time.perf_counter() - started
    if masks is not None:
        frames = frames.with_masks(match_masks(frames.image_paths, masks, frame_indices=frames.metadata.get("frame_indices")))
    posed, sfm_report = estimate_poses(frames, out / "sfm", sfm, progress=progress) if start <= 1 else load_poses(out / "sfm", frames)
    posed, scene_from_sfm = normalize_dataset(posed)
    sfm_from_scene = invert_similarity(scene_from_sfm)

    if object_masks is not None:
        from .data.masks import object_mask_paths

        by_name = dict(zip((p.name for p in frames.image_paths), object_mask_paths(
            frames.image_paths, object_masks, frame_indices=frames.metadata.get("frame_indices"))))
        posed = posed.with_masks([by_name.get(p.name) for p in posed.image_paths])
        if all(m is None for m in posed.mask_paths):
            raise DatasetError(f"{object_masks}: the object masks belong to keyframes that structure from motion did not register")
    stage_seconds["poses"] = time.perf_counter() - started - sum(stage_seconds.values())
    if start <= 2:
        scene = train(posed, capture_train_config(config, len(posed)), out=out / "train", progress=progress, objects=objects)
    else:
        if not (out / "train" / "scene").exists():
            raise DatasetError(f"{out / 'train'}: no trained scene here; run the train stage first (--from-stage train)")
        scene = load(out / "train" / "scene")
    train_seconds = scene.metadata.get("train_seconds")
    if train_seconds is None and (out / "train" / "train_log.json").is_file():  # a scene saved before its metadata kept the time
        train_seconds = json.loads((out / "train" / "train_log.json").read_text()).get("train_seconds")

    stage_seconds["train"] = time.perf_counter() - started - sum(stage_seconds.values())
    scene.metadata.update(sfm_from_scene=sfm_from_scene.tolist(), up=[0.0, 0.0, 1.0])
    save(scene, out / "scene")
    write_ply(out / "point_cloud.ply", scene.background.gaussians.transform(sfm_from_scene.float()))
    _videos(scene, posed, out, progress)
    stage_seconds["export"] = time.perf_counter() - started - sum(stage_seconds.values())
    report = {
        "source": str(path),
        "frames_read": frames.metadata.get("frames_read") or len(frames),
        "keyframes": len(frames),
        "registered": sfm_report.registered,
        "registration_rate": sfm_report.registration_rate,
        "points": sfm_report.points,
        "reprojection_error_px": sfm_report.mean_reprojection_error,
        "focal_px": sfm_report.focal_px,
        "principal_point_refined": sfm_report.principal_point_refined,
        "camera_model": sfm_report.camera_model,
        "mapper": sfm_report.mapper,
        "mappers": sfm_report.mappers,
        "sfm_seconds": sfm_report.seconds,
        "train_steps": (scene.metadata.get("train") or {}).get("steps"),
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - started,
        "stage_seconds": stage_seconds,  # frames, poses, train, export (with normalising and the videos)
        "from_stage": from_stage,
        "gaussians": scene.num_gaussians,
        "eval": scene.metadata.get("eval"),
        "sfm_from_scene": sfm_from_scene.tolist(),
    }
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=1).encode())
    scene.metadata["report"] = report
    return scene

"""Videos: streaming decode with source timestamps, and keyframe selection.

The video is decoded twice, frame by frame (PyAV), and never held in memory: the first pass
scores every frame's sharpness on a small grey copy, the second writes the chosen keyframes.
Keyframes cover the video evenly: the timeline is cut into `max_frames` equal spans and each span
gives its sharpest frame, unless even that one is blurry next to its neighbours (motion blur),
in which case the span gives none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..common.atomic import check_output_folder, output_folder
from ..errors import DatasetError, InvalidArgumentError
from .dataset import Dataset

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm"}
SCORE_SIZE = 256  # sharpness is measured on frames scaled to about this many pixels wide


@dataclass
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    duration: float  # seconds
    frames: int  # as the container reports it (0 when unknown)
    focal_px: float | None = None  # from a 35 mm-equivalent focal length in the metadata, when the camera wrote one


FULL_FRAME_DIAGONAL_MM = 43.27


def focal_from_metadata(metadata: dict, width: int, height: int) -> float | None:
    """Focal length in pixels from a 35 mm-equivalent focal length tag (as phones write it,
    e.g. com.apple.quicktime.camera.focal_length.35mm_equivalent), or None."""
    for key, value in metadata.items():
        if "focal" in key.lower() and "35" in key:
            try:
                mm = float(str(value).strip().split()[0])
            except (ValueError, IndexError):
                continue
            if 8 <= mm <= 400:
                return mm / FULL_FRAME_DIAGONAL_MM * (width ** 2 + height ** 2) ** 0.5
    return None


def _open(path: Path):
    import av

    if not path.is_file():
        raise DatasetError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot open as a video ({exc}); convert it to H.264 MP4") from None
    if not container.streams.video:
        container.close()
        raise DatasetError(f"{path}: the file has no video stream")
    return container


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate, duration and frame count of a video, from its header."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        duration = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
        width, height = stream.codec_context.width, stream.codec_context.height
        focal = focal_from_metadata({**dict(container.metadata), **dict(stream.metadata)}, width, height)
        return VideoInfo(path, width, height, fps, duration, int(stream.frames or 0), focal)
    finally:
        container.close()


def iter_frames(path: str | os.PathLike, *, width: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (index, time in seconds, RGB uint8 [H, W, 3]) for every frame, decoded one at a time.
    width: scale frames to this width (keeping the aspect ratio) while decoding."""
    import av

    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or 0) or 30.0
        for index, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else index / fps
            if width is not None and frame.width != width:
                height = max(2, round(frame.height * width / frame.width / 2) * 2)
                frame = frame.reformat(width=width, height=height)
            yield index, t, frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise DatasetError(f"{path}: decoding failed ({exc}); the file may be truncated") from None
    finally:
        container.close()


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: high for sharp frames, low for blurred ones."""
    grey = rgb.astype(np.float32).mean(axis=2)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def choose_keyframes(scores: np.ndarray, max_frames: int, *, neighbourhood: int = 15, blur_ratio: float = 0.5) -> list[int]:
    """Indices of keyframes: the sharpest frame of each of `max_frames` equal spans of the video,
    skipping frames whose sharpness is below `blur_ratio` times the median of their neighbourhood."""
    n = len(scores)
    if n == 0:
        return []
    half = neighbourhood // 2
    local = np.array([np.median(scores[max(0, i - half): i + half + 1]) for i in range(n)])
    relative = scores / np.maximum(local, 1e-12)
    if n <= max_frames:
        return [i for i in range(n) if relative[i] >= blur_ratio]
    edges = np.linspace(0, n, max_frames + 1).round().astype(int)
    chosen = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        best = lo + int(np.argmax(scores[lo:hi]))
        if relative[best] >= blur_ratio:
            chosen.append(best)
    return chosen


def extract_keyframes(video: str | os.PathLike, out_dir: str | os.PathLike, *, max_frames: int = 120,
                      max_size: int | None = 1600, progress: bool = True) -> Dataset:
    """Pick sharp, evenly spread keyframes of `video`, write them to `out_dir/images` (PNG, longer
    side at most `max_size`) with `out_dir/frames.json` (source index and time of each), and return
    them as a Dataset with `.times` (seconds in the video) and no poses yet."""
    import json

    import imageio.v3 as iio
    from ..common.progress import track

    from ..common.atomic import atomic_path, atomic_write_bytes

    if max_frames < 1:
        raise InvalidArgumentError(f"max_frames must be >= 1, got {max_frames}")
    if max_size is not None and max_size < 16:
        raise InvalidArgumentError(f"max_size must be at least 16 pixels, got {max_size}")
    video, out_dir = Path(video), check_output_folder(out_dir)
    info = probe_video(video)
    scores, times = [], []
    score_width = min(SCORE_SIZE, info.width) if info.width else None
    total = info.frames or None
    for _, t, rgb in track(iter_frames(video, width=score_width), description="scoring frames", total=total,
                           enabled=progress):
        scores.append(sharpness(rgb))
        times.append(t)
    if not scores:
        raise DatasetError(f"{video}: the video has no decodable frames")
    if max(scores) < 1e-3:
        raise DatasetError(f"{video}: all {len(scores)} frames are blank (one flat colour, e.g. black); there is nothing "
                           "to reconstruct: check the lens and the exposure")
    chosen = choose_keyframes(np.asarray(scores), max_frames)
    if not chosen:
        raise DatasetError(f"{video}: every frame is blurred relative to its neighbours; record again with slower motion")
    wanted = set(chosen)
    longest = max(info.width, info.height)
    width = None
    if max_size is not None and longest > max_size:
        width = max(2, round(info.width * max_size / longest / 2) * 2)
    images = output_folder(out_dir) / "images"
    images.mkdir(exist_ok=True)
    paths, frame_times, records = [], [], []
    for index, t, rgb in track(iter_frames(video, width=width), description="writing keyframes", total=total,
                               enabled=progress):
        if index in wanted:
            path = images / f"frame_{index:06d}.png"
            with atomic_path(path) as tmp:
                iio.imwrite(tmp, rgb, extension=".png")
            paths.append(path)
            frame_times.append(t)
            records.append({"file": f"images/{path.name}", "index": index, "time": t, "sharpness": scores[index]})
    focal = None if info.focal_px is None else info.focal_px * (width / info.width if width else 1.0)
    manifest = {"video": str(video), "fps": info.fps, "frames_read": len(scores), "focal_px": focal, "keyframes": records}
    atomic_write_bytes(out_dir / "frames.json", json.dumps(manifest, indent=1).encode())
    return load_keyframes(out_dir)


def load_keyframes(out_dir: str | os.PathLike) -> Dataset:
    """The keyframes that `extract_keyframes` (or an image-folder run of `scenegen reconstruct`)
    recorded in out_dir/frames.json, as an unposed Dataset; `.metadata` keeps the manifest's
    video, fps, frames_read, focal_px and per-frame source indices."""

    import torch

    out_dir = Path(out_dir)
    manifest_path = out_dir / "frames.json"
    if not manifest_path.is_file():
        raise DatasetError(f"{out_dir}: no frames.json here; run the frames stage first (without --from-stage)")
    try:
        from ..common.json_file import read_json_file

        manifest = read_json_file(manifest_path, "keyframe manifest", error=DatasetError)
        records = manifest["keyframes"]
        paths = [out_dir / r["file"] for r in records]
        times = [float(r["time"]) for r in records] if all(r.get("time") is not None for r in records) else None
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{manifest_path}: not a keyframe manifest ({type(exc).__name__}: {exc}); run the frames stage again") from None
    from .dataset import check_files_exist

    check_files_exist(paths, "keyframes", manifest_path)
    meta = {k: manifest.get(k) for k in ("video", "fps", "frames_read", "focal_px")}
    meta["frame_indices"] = [r.get("index", i) for i, r in enumerate(records)]
    return Dataset(image_paths=paths, times=times, root=out_dir, format="video" if manifest.get("video") else "images",
                   background=torch.zeros(3), metadata=meta)


def write_image_manifest(frames: Dataset, out_dir: str | os.PathLike) -> Dataset:
    """Record an image folder's files in out_dir/frames.json (the frames stage of a photo run)
    and return them as load_keyframes would."""
    import json

    from ..common.atomic import atomic_write_bytes

    out_dir = output_folder(out_dir)
    records = [{"file": str(p.resolve()), "index": i, "time": None} for i, p in enumerate(frames.image_paths)]
    manifest = {"video": None, "images": str(frames.root), "frames_read": len(records), "focal_px": None, "keyframes": records}
    atomic_write_bytes(out_dir / "frames.json", json.dumps(manifest, indent=1).encode())
    return load_keyframes(out_dir)

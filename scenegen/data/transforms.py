"""NeRF-style `transforms*.json` datasets: NeRF-synthetic, D-NeRF, instant-ngp and nerfstudio.

Poses in these files are camera-to-world in OpenGL axes; they are converted to OpenCV axes here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from ..camera import Cameras, flip_opengl_opencv
from ..errors import DatasetError, FormatError, InvalidArgumentError
from ..common.values import FLOAT32_MAX, finite_number, shown
from .dataset import SPLITS, Dataset, check_files_exist, image_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".exr", ".webp")
MAX_JSON_BYTES = 256 << 20


def read_json(path: Path) -> dict:
    from ..common.json_file import read_json_file

    data = read_json_file(path, "transforms file", error=DatasetError, max_bytes=MAX_JSON_BYTES)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object at the top level")
    return data


def resolve_image(root: Path, file_path, where: str) -> Path:
    """The image a `file_path` entry names; NeRF-synthetic omits the extension."""
    if not isinstance(file_path, str) or not file_path:
        raise DatasetError(f"{where}: a frame has no 'file_path' string")
    p = root / file_path
    try:
        if p.suffix and p.is_file():
            return p
        for suffix in IMAGE_SUFFIXES:
            candidate = p.with_name(p.name + suffix)
            if candidate.is_file():
                return candidate
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte, ...
        raise DatasetError(f"{where}: 'file_path' {shown(file_path)} cannot name a file here ({getattr(exc, 'strerror', None) or exc})") from None
    return p


def _number(d: dict, key: str, where: str, default=None):
    value = d.get(key, default)
    if value is None:
        return None
    return finite_number(value, f"{where}: '{key}'", error=DatasetError)


def _matrix(frame: dict, where: str) -> np.ndarray:
    try:
        m = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except KeyError:
        raise DatasetError(f"{where}: a frame has no 'transform_matrix'") from None
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: a frame's 'transform_matrix' is not a numeric matrix") from None
    if m.shape == (3, 4):
        m = np.vstack([m, [0, 0, 0, 1]])
    if m.shape != (4, 4) or not np.isfinite(m).all() or np.abs(m).max() > FLOAT32_MAX:
        raise DatasetError(f"{where}: a frame's 'transform_matrix' must be a finite 4x4 (or 3x4) matrix, got shape {m.shape}")
    R = m[:3, :3]
    if np.abs(R.T @ R - np.eye(3)).max() > 1e-2 or np.linalg.det(R) <= 0:
        raise DatasetError(
            f"{where}: frame {frame.get('file_path')!r} has a 'transform_matrix' whose 3x3 part is not a rotation "
            "(scaled, sheared or mirrored); camera-to-world matrices must be rigid"
        )
    return m


def estimate_background(path: Path) -> torch.Tensor:
    """Background colour for an RGB image: its border colour when the border is uniform, else black."""
    from .dataset import read_image

    img = read_image(path)
    if img.shape[2] == 4:
        return torch.ones(3)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])[:, :3]
    if border.std(axis=0).max() < 0.03:
        return torch.from_numpy(border.mean(axis=0).round().astype(np.float32))
    return torch.zeros(3)


def _intrinsics(meta: dict, frame: dict, size: tuple[int, int] | None, where: str) -> dict:
    get = lambda key: _number(frame, key, where, _number(meta, key, where))  # noqa: E731
    w, h = get("w"), get("h")
    if w is None or h is None:
        if size is None:
            raise DatasetError(f"{where}: image size unknown")
        w, h = size
    fx, fy = get("fl_x"), get("fl_y")
    angle_x, angle_y = get("camera_angle_x"), get("camera_angle_y")
    for key, angle in (("camera_angle_x", angle_x), ("camera_angle_y", angle_y)):
        if angle is not None and not 0 < angle < math.pi:
            raise DatasetError(f"{where}: '{key}' must be a field of view in radians between 0 and pi, got {angle}")
    if fx is None and angle_x is not None:
        fx = 0.5 * w / math.tan(0.5 * angle_x)
    if fy is None and angle_y is not None:
        fy = 0.5 * h / math.tan(0.5 * angle_y)
    fx, fy = fx or fy, fy or fx
    if fx is None:
        raise DatasetError(f"{where}: no focal length: give 'fl_x' (pixels) or 'camera_angle_x' (radians)")
    if fx <= 0 or fy <= 0 or w <= 0 or h <= 0:
        raise DatasetError(f"{where}: focal lengths and image size must be positive, got fl_x={fx}, fl_y={fy}, w={w}, h={h}")
    cx, cy = get("cx"), get("cy")
    dist = [get(k) or 0.0 for k in ("k1", "k2", "p1", "p2", "k3", "k4")]
    return {"fx": fx, "fy": fy, "cx": w / 2 if cx is None else cx, "cy": h / 2 if cy is None else cy,
            "width": w, "height": h, "distortion": dist}


def _load_frames(root: Path, meta: dict, frames: list, where: str) -> dict:
    model = meta.get("camera_model", "OPENCV")
    if model not in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE"):
        raise DatasetError(f"{where}: camera_model {model!r} is not supported (use OPENCV or PINHOLE; undistort fisheye images first)")
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{where}: 'frames' is missing or empty")
    paths, c2ws, intr, times, masks = [], [], [], [], []
    for frame in frames:
        if not isinstance(frame, dict):
            raise DatasetError(f"{where}: each entry of 'frames' must be a JSON object")
        paths.append(resolve_image(root, frame.get("file_path"), where))
        c2ws.append(_matrix(frame, where))
        times.append(_number(frame, "time", where))
        masks.append(frame.get("mask_path"))
    check_files_exist(paths, "images", where)
    size = None
    if "w" not in meta or "h" not in meta:
        size = image_size(paths[0])
    for frame in frames:
        intr.append(_intrinsics(meta, frame, size, where))
    timed = [t is not None for t in times]
    if any(timed) and not all(timed):
        raise DatasetError(f"{where}: {sum(timed)} of {len(times)} frames have a 'time'; give every frame a time or none")
    mask_paths = None
    if any(m is not None for m in masks):
        if not all(isinstance(m, str) for m in masks):
            raise DatasetError(f"{where}: some frames have a 'mask_path' and some do not; give every frame a mask or none")
        mask_paths = [root / m for m in masks]
        check_files_exist(mask_paths, "masks", where)
    return {"paths": paths, "c2w": np.stack(c2ws), "intr": intr, "times": times if all(timed) else None, "masks": mask_paths}


def _build(parts: list[dict], splits: dict, root: Path, fmt: str, background, points=None) -> Dataset:
    paths = [p for part in parts for p in part["paths"]]
    intr = [i for part in parts for i in part["intr"]]
    c2w_gl = torch.from_numpy(np.concatenate([part["c2w"] for part in parts])).float()
    dist = torch.tensor([i["distortion"] for i in intr], dtype=torch.float32)
    try:
        cams = Cameras(
            fx=[i["fx"] for i in intr], fy=[i["fy"] for i in intr], cx=[i["cx"] for i in intr], cy=[i["cy"] for i in intr],
            width=[i["width"] for i in intr], height=[i["height"] for i in intr], c2w=flip_opengl_opencv(c2w_gl), distortion=dist,
        )
    except InvalidArgumentError as exc:
        raise DatasetError(f"{root}: the cameras in its transforms file are invalid: {exc}; fix fl_x/fl_y/w/h there") from None
    timed = [part["times"] is not None for part in parts]
    if any(timed) and not all(timed):
        raise DatasetError(f"{root}: some splits have frame times and some do not")
    times = torch.tensor([t for part in parts for t in part["times"]]) if all(timed) else None
    has_masks = [part["masks"] is not None for part in parts]
    masks = [m for part in parts for m in part["masks"]] if all(has_masks) else None
    bg = estimate_background(paths[0]) if background is None else background
    ds = Dataset(image_paths=paths, cameras=cams, times=times, mask_paths=masks, splits=splits, background=bg, root=root, format=fmt)
    if points is not None:
        ds.points, ds.point_colours = points
    return ds


def load_nerf_synthetic(root: Path, background=None) -> Dataset:
    """NeRF-synthetic / D-NeRF: transforms_{train,val,test}.json (D-NeRF adds per-frame 'time')."""
    parts, splits, start = [], {}, 0
    for name in SPLITS:
        path = root / f"transforms_{name}.json"
        if not path.is_file():
            continue
        meta = read_json(path)
        part = _load_frames(root, meta, meta.get("frames"), str(path))
        parts.append(part)
        splits[name] = torch.arange(start, start + len(part["paths"]))
        start += len(part["paths"])
    if not parts:
        raise DatasetError(f"{root}: no transforms_train/val/test.json found")
    fmt = "dnerf" if parts[0]["times"] is not None else "nerf-synthetic"
    return _build(parts, splits, root, fmt, background)


def _nerfstudio_points(root: Path, meta: dict, where: str):
    rel = meta.get("ply_file_path")
    if not rel:
        return None
    if not isinstance(rel, str):
        raise DatasetError(f"{where}: 'ply_file_path' must be a file name, got {shown(rel)}")
    from ..common.ply_table import vertex_table
    from ..common.source import read_source

    data, name = read_source(root / rel, what="point cloud PLY")
    try:
        table = vertex_table(data, name)
        xyz = np.stack([table[k] for k in ("x", "y", "z")], 1).astype(np.float32)
        rgb = np.stack([table[k] for k in ("red", "green", "blue")], 1).astype(np.float32) / 255.0 if "red" in table else np.full_like(xyz, 0.5)
    except (KeyError, FormatError) as exc:
        raise DatasetError(f"{where}: ply_file_path {rel!r} is not a point cloud with x y z: {exc}") from None
    # nerfstudio writes these points in its 'applied_transform' frame; the poses are in that frame too.
    return torch.from_numpy(xyz), torch.from_numpy(rgb)


def load_transforms(path: str | os.PathLike, background=None) -> Dataset:
    """instant-ngp / nerfstudio transforms.json (global or per-frame intrinsics, distortion, times, masks)."""
    path = Path(path)
    root = path.parent
    meta = read_json(path)
    part = _load_frames(root, meta, meta.get("frames"), str(path))
    splits = {}
    names = [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in part["paths"]]
    for split in SPLITS:
        listed = meta.get(f"{split}_filenames")
        if listed is not None and (not isinstance(listed, list) or not all(isinstance(f, str) for f in listed)):
            raise DatasetError(f"{path}: '{split}_filenames' must be a list of file names, got {shown(listed)}")
        if isinstance(listed, list):
            wanted = {str(Path(f)) for f in listed}
            splits[split] = torch.tensor([i for i, n in enumerate(names) if str(Path(n)) in wanted], dtype=torch.long)
    ds = _build([part], splits, root, "transforms", background, _nerfstudio_points(root, meta, str(path)))
    ds.metadata = {k: meta[k] for k in ("aabb_scale", "applied_transform", "scale", "offset") if k in meta}
    names = meta.get("mask_names")
    if names is not None:
        if not isinstance(names, dict) or not all(str(k).isdigit() and isinstance(v, str) for k, v in names.items()):
            raise DatasetError(f"{path}: mask_names must map mask values to object names, e.g. {{\"1\": \"cup\"}}")
        ds.metadata["mask_names"] = {str(k): v for k, v in names.items()}
    return ds

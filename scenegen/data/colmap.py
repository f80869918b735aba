"""COLMAP sparse models (binary or text) with the images folder beside them.

A small reader of our own rather than pycolmap: it checks every count against the bytes that
remain before allocating, so a corrupt model ends in a DatasetError naming the file, never in
an abort or a huge allocation, and it imports nothing heavy.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..camera import Camera, Cameras
from ..common.values import FLOAT32_MAX, shown
from ..errors import DatasetError
from .dataset import Dataset, check_files_exist

# model id -> (name, number of parameters)
CAMERA_MODELS = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5), 4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12), 11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
}
MODEL_IDS = {name: (i, n) for i, (name, n) in CAMERA_MODELS.items()}
log = logging.getLogger("scenegen.data")
MAX_SIDE = 1 << 16  # pixels a side of a camera's image
SUPPORTED = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV")


@dataclass
class ColmapCamera:
    model: str
    width: int
    height: int
    params: tuple[float, ...]

    def intrinsics(self, where: str) -> dict:
        p = self.params
        if self.model == "SIMPLE_PINHOLE":
            fx = fy = p[0]; cx, cy = p[1], p[2]; dist = []  # noqa: E702
        elif self.model == "PINHOLE":
            fx, fy, cx, cy = p[:4]; dist = []  # noqa: E702
        elif self.model == "SIMPLE_RADIAL":
            fx = fy = p[0]; cx, cy = p[1], p[2]; dist = [p[3]]  # noqa: E702
        elif self.model == "RADIAL":
            fx = fy = p[0]; cx, cy = p[1], p[2]; dist = [p[3], p[4]]  # noqa: E702
        elif self.model in ("OPENCV", "FULL_OPENCV"):
            fx, fy, cx, cy = p[:4]; dist = list(p[4:])  # noqa: E702
        else:
            raise DatasetError(f"{where}: camera model {self.model} is not supported ({', '.join(SUPPORTED)} are); undistort the images with COLMAP first")
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE):
            raise DatasetError(f"{where}: a {self.width}x{self.height} camera; image sides are 1 to {MAX_SIDE} pixels; "
                               "the model is corrupt")
        if not all(math.isfinite(v) and abs(v) <= FLOAT32_MAX for v in (fx, fy, cx, cy, *dist)) or fx <= 0 or fy <= 0:
            raise DatasetError(f"{where}: camera parameters {shown(self.params)} must be finite with positive focal lengths")
        return {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "width": self.width, "height": self.height, "distortion": dist or None}


@dataclass
class ColmapImage:
    qvec: tuple[float, float, float, float]
    tvec: tuple[float, float, float]
    camera_id: int
    name: str


class _Cursor:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.remaining() < size:
            raise DatasetError(f"{self.path}: truncated at byte {self.pos}; the model file is incomplete, re-export it from COLMAP")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def skip(self, size: int):
        if size < 0 or self.remaining() < size:
            raise DatasetError(f"{self.path}: truncated at byte {self.pos}; the model file is incomplete, re-export it from COLMAP")
        self.pos += size

    def count(self, min_record: int, what: str) -> int:
        (n,) = self.take("<Q")
        if n * min_record > self.remaining():
            raise DatasetError(f"{self.path}: says {n} {what} but only {self.remaining()} bytes follow; the file is corrupt or truncated")
        return n

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise DatasetError(f"{self.path}: an image name is not terminated; the file is truncated")
        raw = self.data[self.pos:end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DatasetError(f"{self.path}: an image name is not valid UTF-8") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None


def _camera_from_id(model_id: int, path: Path) -> tuple[str, int]:
    if model_id not in CAMERA_MODELS:
        raise DatasetError(f"{path}: unknown camera model id {model_id}; the file is corrupt or from an unknown COLMAP version")
    return CAMERA_MODELS[model_id]


def read_cameras_binary(path: Path) -> dict[int, ColmapCamera]:
    cur = _Cursor(_read(path), path)
    cams = {}
    for _ in range(cur.count(24, "cameras")):
        cam_id, model_id, width, height = cur.take("<iiQQ")
        name, n = _camera_from_id(model_id, path)
        cams[cam_id] = ColmapCamera(name, width, height, cur.take(f"<{n}d"))
    return cams


def read_images_binary(path: Path) -> dict[int, ColmapImage]:
    cur = _Cursor(_read(path), path)
    images = {}
    for _ in range(cur.count(73, "images")):  # 64 pose bytes + name terminator + point count
        image_id, qw, qx, qy, qz, tx, ty, tz, cam_id = cur.take("<i7di")
        name = cur.cstring()
        (npts,) = cur.take("<Q")
        cur.skip(npts * 24)
        images[image_id] = ColmapImage((qw, qx, qy, qz), (tx, ty, tz), cam_id, name)
    return images


def read_points_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    cur = _Cursor(_read(path), path)
    n = cur.count(51, "points")
    xyz, rgb = np.empty((n, 3)), np.empty((n, 3), dtype=np.uint8)
    for i in range(n):
        values = cur.take("<Q3d3BdQ")
        xyz[i], rgb[i] = values[1:4], values[4:7]
        cur.skip(values[8] * 8)
    return xyz, rgb


def _text_lines(path: Path):
    try:
        text = _read(path).decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield lineno, line


def _parse(path: Path, lineno: int, fn):
    try:
        return fn()
    except (ValueError, IndexError, KeyError):
        raise DatasetError(f"{path}: line {lineno} is malformed; the model file is corrupt") from None


def read_cameras_text(path: Path) -> dict[int, ColmapCamera]:
    cams = {}
    for lineno, line in _text_lines(path):
        p = line.split()

        def one():
            model = p[1]
            if model not in MODEL_IDS:
                raise KeyError(model)
            n = MODEL_IDS[model][1]
            if len(p) != 4 + n:
                raise ValueError("parameter count")
            return int(p[0]), ColmapCamera(model, int(p[2]), int(p[3]), tuple(float(v) for v in p[4:]))

        cam_id, cam = _parse(path, lineno, one)
        cams[cam_id] = cam
    return cams


def read_images_text(path: Path) -> dict[int, ColmapImage]:
    try:
        text = _read(path).decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if not line.lstrip().startswith("#")]
    images = {}
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        if not line.strip():
            i += 1
            continue
        p = line.split()
        if len(p) < 10:
            raise DatasetError(f"{path}: line {lineno} should be 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'")
        image_id, *nums = _parse(path, lineno, lambda: (int(p[0]), *map(float, p[1:8]), int(p[8])))
        images[image_id] = ColmapImage(tuple(nums[:4]), tuple(nums[4:7]), int(nums[7]), " ".join(p[9:]))
        i += 2  # the line after a pose lists its 2D points (possibly empty)
    return images


def read_points_text(path: Path) -> tuple[np.ndarray, np.ndarray]:
    xyz, rgb = [], []
    for lineno, line in _text_lines(path):
        p = line.split()
        x, c = _parse(path, lineno, lambda: ([float(v) for v in p[1:4]], [int(v) for v in p[4:7]]))
        if len(x) != 3 or len(c) != 3 or not all(0 <= v <= 255 for v in c):
            raise DatasetError(f"{path}: line {lineno} should be 'POINT3D_ID X Y Z R G B ERROR TRACK[]'")
        xyz.append(x); rgb.append(c)  # noqa: E702
    return np.asarray(xyz, dtype=np.float64).reshape(-1, 3), np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)


def find_model(path: Path) -> tuple[Path, str] | None:
    """(model folder, "bin" or "txt") for a project root, its sparse/ or sparse/0, or None."""
    for candidate in (path / "sparse" / "0", path / "sparse", path / "0", path):
        for ext in ("bin", "txt"):
            if all((candidate / f"{n}.{ext}").is_file() for n in ("cameras", "images")):
                return candidate, ext
    return None


def _find_images(root: Path, model: Path) -> Path:
    for candidate in (root / "images", model.parent.parent / "images", model.parent / "images", model / "images"):
        if candidate.is_dir():
            return candidate
    raise DatasetError(f"{model}: no 'images' folder found beside the COLMAP model; put the images in {root / 'images'}")


def load_colmap(path: str | os.PathLike, background=None) -> Dataset:
    path = Path(path)
    found = find_model(path)
    if found is None:
        raise DatasetError(f"{path}: no COLMAP model (cameras/images .bin or .txt) here or in sparse/ or sparse/0")
    model, ext = found
    if ext == "bin":
        cams, images = read_cameras_binary(model / "cameras.bin"), read_images_binary(model / "images.bin")
        points = read_points_binary(model / "points3D.bin") if (model / "points3D.bin").is_file() else None
    else:
        cams, images = read_cameras_text(model / "cameras.txt"), read_images_text(model / "images.txt")
        points = read_points_text(model / "points3D.txt") if (model / "points3D.txt").is_file() else None
    if not images:
        raise DatasetError(f"{model}: the model has no registered images")
    image_dir = _find_images(path, model)
    ordered = sorted(images.values(), key=lambda im: im.name)
    cameras = []
    for im in ordered:
        if not np.isfinite(im.qvec).all() or not np.isfinite(im.tvec).all() or np.linalg.norm(im.qvec) < 1e-8:
            raise DatasetError(f"{model}: image {im.name!r} has a zero or non-finite pose quaternion/translation; the model is corrupt")
        if im.camera_id not in cams:
            raise DatasetError(f"{model}: image {im.name!r} refers to camera {im.camera_id}, which the model does not define")
        where = f"{model}/cameras.{ext}"
        try:
            cameras.append(Camera.from_colmap(im.qvec, im.tvec, **cams[im.camera_id].intrinsics(where)))
        except ValueError as exc:
            raise DatasetError(f"{model}: image {im.name!r} has an invalid pose or camera: {exc}") from None
    paths = [image_dir / im.name for im in ordered]
    check_files_exist(paths, "images", model)
    ds = Dataset(image_paths=paths, cameras=Cameras.stack(cameras), background=torch.zeros(3) if background is None else background,
                 root=path, format="colmap")
    if points is not None:
        finite = np.isfinite(points[0]).all(1) & (np.abs(points[0]) <= FLOAT32_MAX).all(1)
        if not finite.all():
            log.warning("scenegen: %s: %d of its %d points are not finite numbers; leaving them out", model, int((~finite).sum()), len(finite))
        ds.points = torch.from_numpy(points[0][finite]).float()
        ds.point_colours = torch.from_numpy(points[1][finite]).float() / 255.0
    return ds

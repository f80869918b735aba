"""Datasets: images with cameras (and times, masks, SfM points), from any supported layout.

`load_dataset(path)` detects the format:
- NeRF-synthetic / D-NeRF: a folder with transforms_{train,val,test}.json;
- instant-ngp / nerfstudio: a transforms.json file, or a folder holding one;
- COLMAP: a folder with sparse/0 (or sparse/, or the model itself), binary or text, images/ beside;
- a plain folder of images (no poses).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import DatasetError, InvalidArgumentError
from .colmap import find_model, load_colmap
from .dataset import Dataset
from .image_folder import list_images, load_image_folder
from .transforms import load_nerf_synthetic, load_transforms

__all__ = ["Dataset", "load_dataset", "detect_format", "FORMATS"]

FORMATS = ("nerf-synthetic", "transforms", "colmap", "images")


def detect_format(path: str | os.PathLike) -> str:
    """The dataset format at `path` (one of FORMATS), or DatasetError saying what was looked for."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "transforms"
        raise DatasetError(f"{path}: a dataset is a folder or a transforms.json file; for videos use `scenegen reconstruct`")
    if (path / "transforms_train.json").is_file():
        return "nerf-synthetic"
    if (path / "transforms.json").is_file():
        return "transforms"
    if find_model(path) is not None:
        return "colmap"
    if list_images(path):
        return "images"
    raise DatasetError(
        f"{path}: not a dataset: found no transforms_train.json, transforms.json, COLMAP model (sparse/0) or images"
    )


def load_dataset(path: str | os.PathLike, *, downscale: float = 1.0, background=None, format: str | None = None) -> Dataset:
    """Load the dataset at `path`.

    downscale: load images at 1/downscale resolution (intrinsics follow). background: RGB in [0, 1]
    that RGBA images are composited on (default: white for RGBA NeRF-style data, the image border
    colour when it is uniform, else black). format: skip detection (one of FORMATS).
    """
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown dataset format {fmt!r}; choose one of {FORMATS}")
    bg = None
    if background is not None:
        bg = torch.as_tensor(background, dtype=torch.float32).reshape(-1)
        if bg.shape != (3,) or not ((bg >= 0) & (bg <= 1)).all():
            raise InvalidArgumentError(f"background must be 3 numbers in [0, 1], got {background!r}")
    if fmt == "nerf-synthetic":
        ds = load_nerf_synthetic(path, bg)
    elif fmt == "transforms":
        ds = load_transforms(path if path.is_file() else path / "transforms.json", bg)
    elif fmt == "colmap":
        ds = load_colmap(path, bg)
    else:
        ds = load_image_folder(path, bg)
    return ds.downscaled(downscale) if downscale != 1 else ds

"""A plain folder of images with no poses (poses come later from structure from motion)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import DatasetError
from .dataset import Dataset

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder of images")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def load_image_folder(folder: str | os.PathLike, background=None) -> Dataset:
    """The images of a folder (sorted by name), without poses."""
    folder = Path(folder)
    paths = list_images(folder)
    if not paths:
        raise DatasetError(f"{folder}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in this folder")
    return Dataset(image_paths=paths, cameras=None, background=torch.zeros(3) if background is None else background,
                   root=folder, format="images")

"""A plain folder of images with no poses (poses come later from structure from motion)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DatasetError
from .dataset import Dataset

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def load_image_folder(folder: Path, background=None) -> Dataset:
    paths = list_images(folder)
    if not paths:
        raise DatasetError(f"{folder}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in this folder")
    return Dataset(image_paths=paths, cameras=None, background=torch.zeros(3) if background is None else background,
                   root=folder, format="images")

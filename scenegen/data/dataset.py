"""Dataset: cameras, lazily loaded images, optional times, masks, splits and SfM points."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..camera import Cameras
from ..deprecated import renamed_attribute
from ..errors import DatasetError, InvalidArgumentError

SPLITS = ("train", "val", "test")
HOLDOUT_EVERY = 8


def read_image(path: Path) -> np.ndarray:
    """Image as float32 [H, W, C] in [0, 1] (C = 3 or 4), with an error naming the file."""
    import imageio.v3 as iio

    try:
        img = np.asarray(iio.imread(path))
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file is missing") from None
    except Exception as exc:  # imageio raises many types for undecodable files
        raise DatasetError(f"{path}: cannot decode image ({type(exc).__name__}: {exc}); re-export it as PNG or JPEG") from None
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise DatasetError(f"{path}: expected an RGB or RGBA image, got array shape {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    scale = 65535.0 if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else 1.0
    return img.astype(np.float32) / scale


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) read from the file header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file is missing") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read image header ({exc})") from None


def resize_image(img: Tensor, width: int, height: int) -> Tensor:
    """Area-averaged resize of [H, W, C]."""
    if img.shape[0] == height and img.shape[1] == width:
        return img
    x = img.permute(2, 0, 1)[None]
    x = torch.nn.functional.interpolate(x, size=(height, width), mode="area" if height < img.shape[0] else "bilinear",
                                        **({} if height < img.shape[0] else {"align_corners": False}))
    return x[0].permute(1, 2, 0)


@dataclass
class Dataset:
    """Images with their cameras. Everything indexable has one entry per image.

    cameras: Cameras [C] (None for an image folder that has no poses yet); image_paths: C files;
    times: [C] float or None; mask_paths: C files (None for an image without one) or None; splits: name -> image indices;
    points / point_colours: SfM points [P, 3] and colours [P, 3] in [0, 1] or None;
    background: RGB [3] that RGBA images are composited on (and that renders should use).
    """

    image_paths: list[Path]
    cameras: Cameras | None = None
    times: Tensor | None = None
    mask_paths: list[Path] | None = None
    splits: dict[str, Tensor] = field(default_factory=dict)
    points: Tensor | None = None
    point_colours: Tensor | None = None
    background: Tensor = field(default_factory=lambda: torch.ones(3))
    root: Path | None = None
    format: str = "unknown"
    scale: float = 1.0  # image scale relative to the files (0.5: loaded at half resolution)
    metadata: dict = field(default_factory=dict)  # format-specific extras (e.g. instant-ngp's aabb_scale)

    point_colors = renamed_attribute("Dataset.point_colors", "point_colours")

    def __post_init__(self):
        self.image_paths = [Path(p) for p in self.image_paths]
        n = len(self.image_paths)
        if self.cameras is not None and len(self.cameras) != n:
            raise InvalidArgumentError(f"Dataset: {len(self.cameras)} cameras for {n} images")
        if self.times is not None:
            self.times = torch.as_tensor(self.times, dtype=torch.float32).reshape(-1)
            if self.times.numel() != n:
                raise InvalidArgumentError(f"Dataset: {self.times.numel()} times for {n} images")
        if self.mask_paths is not None:
            self.mask_paths = [None if p is None else Path(p) for p in self.mask_paths]
            if len(self.mask_paths) != n:
                raise InvalidArgumentError(f"Dataset: {len(self.mask_paths)} masks for {n} images")
        self.background = torch.as_tensor(self.background, dtype=torch.float32).reshape(3)
        self.splits = {k: torch.as_tensor(v, dtype=torch.long).reshape(-1) for k, v in self.splits.items()}

    def __len__(self) -> int:
        return len(self.image_paths)

    def __repr__(self) -> str:
        poses = "posed" if self.cameras is not None else "no poses"
        timed = ", timed" if self.times is not None else ""
        splits = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"Dataset({self.format}, {len(self)} images, {poses}{timed}{', ' + splits if splits else ''})"

    @property
    def is_timed(self) -> bool:
        return self.times is not None

    @property
    def split_names(self) -> list[str]:
        return list(self.splits)

    def subset(self, indices) -> "Dataset":
        """The sub-Dataset of the given image indices (splits dropped)."""
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        if idx.numel() and (idx.min() < 0 or idx.max() >= len(self)):
            raise InvalidArgumentError(f"Dataset.subset: indices out of range for {len(self)} images")
        il = idx.tolist()
        return replace(
            self,
            image_paths=[self.image_paths[i] for i in il],
            cameras=None if self.cameras is None else self.cameras[idx],
            times=None if self.times is None else self.times[idx],
            mask_paths=None if self.mask_paths is None else [self.mask_paths[i] for i in il],
            splits={},
        )

    def split(self, name: str) -> "Dataset":
        """The images of split `name`. Without split information, "test" (and "val") holds every
        8th image and "train" the rest."""
        return self.subset(self.split_indices(name))

    def split_indices(self, name: str) -> Tensor:
        """[K] long: the indices of split `name`'s images (see `split`)."""
        if name not in SPLITS and name not in self.splits:
            raise InvalidArgumentError(f"Dataset.split: unknown split {name!r}; available: {sorted(set(SPLITS) | set(self.splits))}")
        if name in self.splits:
            return torch.as_tensor(self.splits[name], dtype=torch.long).reshape(-1)
        if self.splits:
            raise InvalidArgumentError(f"Dataset.split: this dataset has splits {self.split_names}, not {name!r}")
        every = torch.arange(len(self)) % HOLDOUT_EVERY == 0
        return every.nonzero().squeeze(1) if name != "train" else (~every).nonzero().squeeze(1)

    def image_size(self, i: int) -> tuple[int, int]:
        if self.cameras is not None:
            return int(self.cameras.width[i]), int(self.cameras.height[i])
        w, h = image_size(self.image_paths[i])
        return max(1, round(w * self.scale)), max(1, round(h * self.scale))

    def image(self, i: int) -> Tensor:
        """Image i as float [H, W, 3] in [0, 1], RGBA composited on `background`, at the dataset's scale."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"image index {i} out of range for {len(self)} images")
        rgba = torch.from_numpy(read_image(self.image_paths[i]))
        width, height = self.image_size(i)
        if self.cameras is not None and self.scale == 1.0 and (rgba.shape[1], rgba.shape[0]) != (width, height):
            raise DatasetError(
                f"{self.image_paths[i]}: image is {rgba.shape[1]}x{rgba.shape[0]} but its camera says {width}x{height}; "
                "fix the intrinsics or the image"
            )
        if rgba.shape[2] == 4:
            # Composite before resizing, so transparent pixels' hidden colours never leak into edges.
            a = rgba[..., 3:4]
            rgba = rgba[..., :3] * a + (1 - a) * self.background
        return resize_image(rgba, width, height)

    def alpha(self, i: int) -> Tensor | None:
        """Image i's alpha [H, W, 1] when the file has one, else None."""
        rgba = torch.from_numpy(read_image(self.image_paths[i]))
        if rgba.shape[2] != 4:
            return None
        width, height = self.image_size(i)
        return resize_image(rgba[..., 3:4], width, height)

    def mask(self, i: int) -> Tensor | None:
        """Mask i as an integer [H, W] tensor (object indices; 0 the background), or None (no
        masks, or none for this image)."""
        if self.mask_paths is None or self.mask_paths[i] is None:
            return None
        import imageio.v3 as iio

        path = self.mask_paths[i]
        try:
            m = np.asarray(iio.imread(path))
        except Exception as exc:
            raise DatasetError(f"{path}: cannot read mask ({type(exc).__name__}: {exc})") from None
        if m.ndim == 3:
            m = m[..., 0]
        width, height = self.image_size(i)
        t = torch.from_numpy(m.astype(np.int64))
        if (t.shape[1], t.shape[0]) != (width, height):
            t = torch.nn.functional.interpolate(t[None, None].float(), size=(height, width), mode="nearest")[0, 0].long()
        return t

    def with_masks(self, mask_paths) -> "Dataset":
        """This dataset with `mask_paths` (one file or None per image; None: no masks), checked
        as a new dataset would be."""
        return replace(self, mask_paths=None if mask_paths is None else list(mask_paths))

    def downscaled(self, factor: float) -> "Dataset":
        """The same dataset with images loaded at 1/factor resolution (factor >= 1)."""
        if not factor >= 1:
            raise InvalidArgumentError(f"downscale factor must be >= 1, got {factor}")
        return replace(self, cameras=None if self.cameras is None else self.cameras.rescale(1.0 / factor), scale=self.scale / factor)

    def with_background(self, background) -> "Dataset":
        return replace(self, background=torch.as_tensor(background, dtype=torch.float32))


def check_files_exist(paths: list[Path], what: str, source: os.PathLike | str) -> None:
    """Raise DatasetError listing the missing files, if any."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DatasetError(f"{source}: {len(missing)} of {len(paths)} {what} are missing: {shown}{more}; fix the paths or restore the files")

"""Matching user-supplied masks to images.

A mask is an image whose non-zero pixels mark what to leave out of structure from motion (moving
objects, people, the operator's shadow): zero is the static scene. `source` is either one image,
used for every frame (a watermark, a car bonnet), or a folder holding one mask per image, named
like the image (`IMG_0001.png` for `IMG_0001.jpg`, or `IMG_0001.jpg.png`) or, for keyframes of a
video, by the source frame number (`000123.png`, `frame_000123.png`, `123.png`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import DatasetError
from .image_folder import IMAGE_EXTENSIONS


def _mask_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def match_masks(image_paths: list[Path], source: str | os.PathLike, *, frame_indices: list[int] | None = None) -> list[Path]:
    """One mask path per image (see the module doc for the naming rules)."""
    source = Path(source)
    if source.is_file():
        if source.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DatasetError(f"{source}: a mask must be an image ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        return [source] * len(image_paths)
    if not source.is_dir():
        raise DatasetError(f"{source}: no such mask file or folder")
    files = _mask_files(source)
    by_name = {p.name: p for p in files}
    by_stem = {p.stem: p for p in files}
    by_number: dict[int, Path] = {}
    for p in files:
        m = re.fullmatch(r"(?:frame_?)?0*(\d+)", p.stem)
        if m:
            by_number[int(m.group(1))] = p
    masks, missing = [], []
    for i, image in enumerate(image_paths):
        found = by_name.get(image.name + ".png") or by_stem.get(image.stem)
        if found is None and frame_indices is not None:
            found = by_number.get(frame_indices[i])
        if found is None:
            missing.append(image.name)
        masks.append(found)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DatasetError(f"{source}: no mask for {len(missing)} of {len(image_paths)} images ({shown}); name each mask "
                           "like its image, or by its frame number for a video")
    return masks


def object_mask_paths(image_paths: list[Path], source: str | os.PathLike, *,
                      frame_indices: list[int] | None = None) -> list[Path | None]:
    """Instance masks naming objects (0 the background, 1, 2, ... one value per object): one
    image is the first image's mask (the others have none; the objects are found in that view and
    followed from there), a folder holds masks named as in `match_masks`, which may leave images
    without one as long as one image has one."""
    source = Path(source)
    if source.is_file():
        return [match_masks(image_paths[:1], source)[0]] + [None] * (len(image_paths) - 1)
    if not source.is_dir():
        raise DatasetError(f"{source}: no such mask file or folder")
    found = []
    for i, image in enumerate(image_paths):
        try:
            found.append(match_masks([image], source, frame_indices=None if frame_indices is None else [frame_indices[i]])[0])
        except DatasetError:
            found.append(None)
    if all(p is None for p in found):
        raise DatasetError(f"{source}: no mask is named like any of the {len(image_paths)} images (e.g. {image_paths[0].name})")
    return found

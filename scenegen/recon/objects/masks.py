"""ObjectMasks: which masks say where a dataset's objects are, where they came from, and what
comes with them; the one value that passes from object finding to the object trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ...data.dataset import Dataset
from ...errors import InvalidArgumentError

SOURCES = ("masks", "motion")


@dataclass(frozen=True)
class ObjectMasks:
    """Instance masks of a dataset's objects (0 background, 1, 2, ... objects), one entry per image.

    paths: one mask file per dataset image (None where an image has none); names: mask value ->
    object name; source: "masks" (given with the capture) or "motion" (what a still fit could not
    explain, recon/objects/from_still_fit.py); parts: per image, a mask of the objects' parts that
    stood out there without the whole (None: no parts); support_plane: (normal [3], offset) of
    the plane the objects stand on, when known.
    """

    paths: tuple[Path | None, ...]
    names: dict[int, str] = field(default_factory=dict)
    source: str = "masks"
    parts: tuple[Path | None, ...] | None = None
    support_plane: tuple[Tensor, float] | None = None

    def __post_init__(self):
        if self.source not in SOURCES:
            raise InvalidArgumentError(f"ObjectMasks: source must be one of {SOURCES}, got {self.source!r}")
        object.__setattr__(self, "paths", tuple(None if p is None else Path(p) for p in self.paths))
        if self.parts is not None:
            if len(self.parts) != len(self.paths):
                raise InvalidArgumentError(f"ObjectMasks: {len(self.parts)} part masks for {len(self.paths)} images")
            object.__setattr__(self, "parts", tuple(None if p is None else Path(p) for p in self.parts))
        if self.support_plane is not None:
            normal, offset = self.support_plane
            object.__setattr__(self, "support_plane", (torch.as_tensor(normal, dtype=torch.float64).reshape(3), float(offset)))

    @property
    def from_motion(self) -> bool:
        return self.source == "motion"

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> "ObjectMasks | None":
        """The masks a dataset was loaded with (None when it has none), named by its
        transforms.json `mask_names` when it has them."""
        if dataset.mask_paths is None:
            return None
        names = (dataset.metadata or {}).get("mask_names") or {}
        return cls(tuple(dataset.mask_paths), {int(k): str(v) for k, v in names.items() if str(k).isdigit() and int(k) > 0})

    def applied_to(self, dataset: Dataset) -> Dataset:
        """`dataset` reading these masks."""
        if len(self.paths) != len(dataset):
            raise InvalidArgumentError(f"ObjectMasks: {len(self.paths)} masks for a dataset of {len(dataset)} images")
        return dataset.with_masks(list(self.paths))


__all__ = ["ObjectMasks", "SOURCES"]

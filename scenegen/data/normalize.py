"""Normalising a structure-from-motion frame: centre the subject, scale to a unit camera
distance, turn the cameras' up to +z; the transform is kept so results can go back to the SfM frame.

The centre is the median of the sparse points that most cameras look towards (robust to stray
background points); the scale makes the median camera distance from it 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InvalidArgumentError
from ..geometry import make_transform, rotation_between
from .dataset import Dataset


def normalizing_transform(dataset: Dataset) -> Tensor:
    """The similarity T [4, 4] (float64) taking the dataset's frame to the normalised one."""
    if dataset.cameras is None or len(dataset) == 0:
        raise InvalidArgumentError("normalizing_transform needs a posed dataset")
    c2w = dataset.cameras.c2w.double()
    positions = c2w[:, :3, 3]
    if dataset.points is not None and len(dataset.points) >= 10:
        points = dataset.points.double()
        # Keep the points in front of most cameras: that is the subject, not the sky behind it.
        depth = torch.einsum("cd,cpd->cp", c2w[:, :3, 2], points[None] - positions[:, None])
        seen = (depth > 0).double().mean(0) >= 0.5
        centre = (points[seen] if seen.sum() >= 10 else points).median(0).values
    else:  # no points: the point nearest to every camera's optical axis
        d = c2w[:, :3, 2]
        A = torch.eye(3, dtype=torch.float64)[None] - d[:, :, None] * d[:, None, :]
        centre = torch.linalg.lstsq(A.sum(0), (A @ positions[:, :, None]).sum(0)).solution[:, 0]
    distance = (positions - centre).norm(dim=1).median()
    scale = 1.0 / float(distance) if float(distance) > 1e-9 else 1.0
    up = -c2w[:, :3, 1].mean(0)
    R = rotation_between(up, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)) if up.norm() > 1e-6 else torch.eye(3, dtype=torch.float64)
    return make_transform(scale * R, -scale * (R @ centre))


def transform_dataset(dataset: Dataset, T: Tensor) -> Dataset:
    """The dataset with its cameras and points moved by the similarity T [4, 4]."""
    from dataclasses import replace

    from ..geometry import decompose_similarity

    T = torch.as_tensor(T, dtype=torch.float64)
    R, t, s = decompose_similarity(T)
    cams = dataset.cameras
    c2w = cams.c2w.double().clone()
    c2w[:, :3, :3] = R @ c2w[:, :3, :3]
    c2w[:, :3, 3] = s * c2w[:, :3, 3] @ R.T + t
    points = None if dataset.points is None else (s * dataset.points.double() @ R.T + t).to(dataset.points.dtype)
    return replace(dataset, cameras=replace(cams, c2w=c2w.to(cams.c2w.dtype)), points=points)


def normalize_dataset(dataset: Dataset) -> tuple[Dataset, Tensor]:
    """(normalised dataset, T) where T [4, 4] takes the original frame to the normalised one."""
    T = normalizing_transform(dataset)
    return transform_dataset(dataset, T), T

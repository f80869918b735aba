"""Comparing recovered camera poses with reference ones, after a similarity alignment.

Structure from motion fixes poses only up to a similarity (position, rotation, scale of the
whole scene), so the estimated camera centres are first aligned to the reference ones by the
least-squares similarity; then each camera's rotation error (degrees) and centre error are
measured. Centre errors are also given relative to the reference capture's size (the median
distance of its cameras from their centroid), which makes them comparable across scenes.
"""

from __future__ import annotations

import math

import torch

from ..camera import Cameras
from ..errors import InvalidArgumentError
from ..geometry import decompose_similarity, fit_similarity


def compare_poses(estimated: Cameras, reference: Cameras) -> dict:
    """Errors of `estimated` against `reference` (the same cameras in the same order, at least 3)."""
    if len(estimated) != len(reference):
        raise InvalidArgumentError(f"compare_poses: {len(estimated)} estimated cameras for {len(reference)} reference cameras")
    if len(estimated) < 3:
        raise InvalidArgumentError("compare_poses needs at least 3 cameras")
    est = estimated.c2w.double()
    ref = reference.c2w.double()
    try:
        T = fit_similarity(est[:, :3, 3], ref[:, :3, 3])
        R, t, s = decompose_similarity(T)
    except ValueError as exc:
        raise InvalidArgumentError(f"compare_poses: cannot align the camera centres ({exc})") from None
    centres = s * est[:, :3, 3] @ R.T + t
    centre_err = (centres - ref[:, :3, 3]).norm(dim=1)
    rel = ref[:, :3, :3].transpose(1, 2) @ (R @ est[:, :3, :3])
    cos = (rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2
    sin = torch.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0], rel[:, 1, 0] - rel[:, 0, 1]], -1).norm(dim=-1) / 2
    rot_err = torch.rad2deg(torch.atan2(sin, cos))  # accurate for small angles, unlike acos
    extent = float((ref[:, :3, 3] - ref[:, :3, 3].mean(0)).norm(dim=1).median())
    return {
        "cameras": len(estimated),
        "rotation_error_deg_median": float(rot_err.median()),
        "rotation_error_deg_max": float(rot_err.max()),
        "centre_error_median": float(centre_err.median()),
        "centre_error_max": float(centre_err.max()),
        "centre_error_relative_median": float(centre_err.median()) / extent if extent > 0 else math.nan,
        "centre_error_relative_max": float(centre_err.max()) / extent if extent > 0 else math.nan,
        "alignment_scale": float(s),
    }

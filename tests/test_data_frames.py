"""Normalising an SfM frame, comparing poses after alignment, and matching masks to images."""

import math

import numpy as np
import pytest
import torch

from scenegen import Camera, Cameras
from scenegen.data.dataset import Dataset
from scenegen.data.masks import match_masks
from scenegen.data.normalize import normalize_dataset, transform_dataset
from scenegen.data.pose_compare import compare_poses
from scenegen.errors import DatasetError, InvalidArgumentError
from scenegen.geometry import (axis_angle_to_quat, fit_similarity, invert_similarity, make_transform, quat_to_rotmat,
                               rotation_between, transform_points)

from conftest import write_png


def similarity(axis=(1.0, 2.0, 3.0), angle=0.7, t=(0.5, -1.0, 2.0), s=2.5) -> torch.Tensor:
    axis = torch.nn.functional.normalize(torch.tensor(axis, dtype=torch.float64), dim=0)
    R = quat_to_rotmat(axis_angle_to_quat(axis, angle))
    return make_transform(s * R, torch.tensor(t, dtype=torch.float64))


def ring_cameras(n: int = 12) -> Cameras:
    """Cameras on a ring of radius 3 around (1, 0, 0), a little above it, with +y up."""
    cams = []
    for a in np.linspace(0, 2 * math.pi, n, endpoint=False):
        eye = torch.tensor([1 + 3 * math.cos(a), 0.8, 3 * math.sin(a)])
        cams.append(Camera.look_at(eye, [1.0, 0.0, 0.0], up=(0.0, 1.0, 0.0), width=64, height=48))
    return Cameras.stack(cams)


def test_fit_similarity_recovers_a_known_transform():
    T = similarity()
    src = torch.randn(20, 3, dtype=torch.float64)
    assert torch.allclose(fit_similarity(src, transform_points(T, src)), T, atol=1e-9)
    assert torch.allclose(invert_similarity(T) @ T, torch.eye(4, dtype=torch.float64), atol=1e-12)
    with pytest.raises(ValueError):
        fit_similarity(src[:2], src[:2])


def test_rotation_between_including_opposite_directions():
    for a, b in [((1.0, 0, 0), (0, 0, 1.0)), ((0, 0, 1.0), (0, 0, -1.0)), ((0.3, -0.2, 0.9), (0.3, -0.2, 0.9))]:
        a, b = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
        R = rotation_between(a, b)
        assert torch.allclose(R @ (a / a.norm()), b / b.norm(), atol=1e-12)
        assert torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-12) and torch.linalg.det(R) > 0


def test_normalised_frame_centres_scales_and_stands_up():
    cams = ring_cameras()
    points = torch.randn(500, 3) * 0.3 + torch.tensor([1.0, 0.0, 0.0])
    ds = Dataset(image_paths=[f"{i}.png" for i in range(len(cams))], cameras=cams, points=points)
    norm, T = normalize_dataset(ds)
    positions = norm.cameras.c2w[:, :3, 3]
    assert abs(float(positions.norm(dim=1).median()) - 1) < 1e-5
    assert norm.points.median(0).values.abs().max() < 0.02
    up = -norm.cameras.c2w[:, :3, 1].mean(0)
    assert float(up[2] / up.norm()) > 0.9999
    # Projections do not change, and the inverse goes back.
    uv0, _ = cams.project(points)
    uv1, _ = norm.cameras.project(norm.points)
    assert torch.allclose(uv0, uv1, atol=1e-3)
    back = transform_dataset(norm, invert_similarity(T))
    assert torch.allclose(back.cameras.c2w, cams.c2w, atol=1e-5) and torch.allclose(back.points, points, atol=1e-5)


def test_normalising_without_points_centres_on_where_the_cameras_look():
    cams = ring_cameras()
    ds = Dataset(image_paths=[f"{i}.png" for i in range(len(cams))], cameras=cams)
    norm, _ = normalize_dataset(ds)
    forward = norm.cameras.c2w[:, :3, 2]
    positions = norm.cameras.c2w[:, :3, 3]
    # Every camera looks at the origin.
    cos = (forward * -positions).sum(1) / positions.norm(dim=1)
    assert cos.min() > 0.9999
    with pytest.raises(InvalidArgumentError):
        normalize_dataset(Dataset(image_paths=["a.png"]))


def test_compare_poses_after_a_similarity():
    ref = ring_cameras()
    moved = transform_dataset(Dataset(image_paths=[f"{i}.png" for i in range(len(ref))], cameras=ref), similarity()).cameras
    exact = compare_poses(moved, ref)
    assert exact["rotation_error_deg_max"] < 1e-3 and exact["centre_error_max"] < 1e-5
    assert abs(exact["alignment_scale"] - 1 / 2.5) < 1e-6
    # Turn one camera by 2 degrees: its rotation error is 2 degrees, the median stays 0.
    c2w = moved.c2w.clone()
    c2w[3, :3, :3] = c2w[3, :3, :3] @ quat_to_rotmat(axis_angle_to_quat(torch.tensor([0.0, 1.0, 0.0]), math.radians(2)))
    turned = compare_poses(Cameras(moved.fx, moved.fy, moved.cx, moved.cy, moved.width, moved.height, c2w), ref)
    assert abs(turned["rotation_error_deg_max"] - 2) < 1e-3 and turned["rotation_error_deg_median"] < 1e-3
    with pytest.raises(InvalidArgumentError):
        compare_poses(moved[:2], ref[:2])


def test_match_masks_by_name_and_by_frame_number(tmp_path):
    images = [tmp_path / "frames" / f"frame_{i:06d}.png" for i in (3, 10, 42)]
    mask = np.zeros((4, 4), np.uint8)
    by_number = tmp_path / "numbers"
    for n in (3, 10, 42):
        write_png(by_number / f"{n:05d}.png", mask)
    assert [p.name for p in match_masks(images, by_number, frame_indices=[3, 10, 42])] == ["00003.png", "00010.png", "00042.png"]
    by_name = tmp_path / "names"
    for p in images:
        write_png(by_name / p.name, mask)
    assert match_masks(images, by_name) == [by_name / p.name for p in images]
    single = tmp_path / "one.png"
    write_png(single, mask)
    assert match_masks(images, single) == [single] * 3
    with pytest.raises(DatasetError, match="no mask for 1 of 3 images.*frame_000042"):
        match_masks(images, by_number, frame_indices=[3, 10, 41])
    with pytest.raises(DatasetError, match="no such mask"):
        match_masks(images, tmp_path / "absent")

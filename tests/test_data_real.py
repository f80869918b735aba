"""scenegen.data on the real captures in ../shared/data (read in place; skipped when absent)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from scenegen.data import detect_format, load_dataset
from scenegen.data.dataset import image_size
from scenegen.errors import DatasetError

pytestmark = pytest.mark.requires_shared_data


@pytest.fixture(scope="module")
def lego(shared_dataset):
    path = shared_dataset("nerf_synthetic_lego_400")
    return path, load_dataset(path)


@pytest.fixture(scope="module")
def dnerf(shared_dataset):
    path = shared_dataset("dnerf_lego_100")
    return path, load_dataset(path)


@pytest.fixture(scope="module")
def statue(shared_dataset):
    path = shared_dataset("colmap_statue")
    return path, load_dataset(path)


# NeRF-synthetic lego ---------------------------------------------------------------------------


def test_lego_layout_and_splits(lego):
    path, ds = lego
    assert detect_format(path) == "nerf-synthetic"
    assert ds.format == "nerf-synthetic"
    assert len(ds) == 400
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 100, "val": 100, "test": 200}
    assert len(ds.split("test")) == 200
    assert all(p.suffix == ".png" and p.is_file() for p in ds.image_paths)
    assert not any("depth" in p.name for p in ds.image_paths)  # r_N.png, not its r_N_depth_0001.png
    assert ds.cameras.width.unique().tolist() == [400]
    assert ds.cameras.height.unique().tolist() == [400]
    assert ds.times is None


def test_lego_focal_from_camera_angle_x(lego):
    path, ds = lego
    angle = json.loads((path / "transforms_train.json").read_text())["camera_angle_x"]
    fx = 0.5 * 400 / math.tan(0.5 * angle)
    torch.testing.assert_close(ds.cameras.fx, torch.full((400,), fx))
    torch.testing.assert_close(ds.cameras.cx, torch.full((400,), 200.0))


def test_lego_cameras_sit_on_a_sphere_and_look_at_the_origin(lego):
    _, ds = lego
    pos = ds.cameras.positions
    dist = pos.norm(dim=1)
    assert torch.allclose(dist, torch.full_like(dist, 4.031), atol=0.01), (dist.min(), dist.max())
    forward = ds.cameras.c2w[:, :3, 2]  # OpenCV +z, in world
    cos = (forward * -pos).sum(1) / (forward.norm(dim=1) * dist)
    angle = torch.rad2deg(torch.acos(cos.clamp(-1, 1)))
    assert angle.max() < 10, angle.max()
    # the rotations are proper (the OpenGL->OpenCV flip keeps det = +1)
    torch.testing.assert_close(torch.linalg.det(ds.cameras.c2w[:, :3, :3]), torch.ones(400), atol=1e-4, rtol=0)


def test_lego_images_on_white(lego):
    _, ds = lego
    torch.testing.assert_close(ds.background, torch.ones(3))
    img = ds.image(0)
    assert img.shape == (400, 400, 3)
    assert img.min() >= 0 and img.max() <= 1
    alpha = ds.alpha(0)
    assert alpha is not None and alpha.shape == (400, 400, 1)
    empty = alpha[..., 0] == 0
    assert empty.any() and (~empty).any()
    assert (img[empty] == 1).all()  # transparent pixels become the white background
    assert (img[~empty] < 1).any()  # the bulldozer is not white everywhere


# D-NeRF lego ------------------------------------------------------------------------------------


def test_dnerf_times_and_size(dnerf):
    path, ds = dnerf
    assert detect_format(path) == "nerf-synthetic"
    assert ds.format == "dnerf" and ds.is_timed
    assert ds.times.shape == (len(ds),)
    assert ds.times.min() == 0 and ds.times.max() == 1
    assert ((ds.times >= 0) & (ds.times <= 1)).all()
    assert ds.cameras.width.unique().tolist() == [100]
    assert ds.cameras.height.unique().tolist() == [100]
    assert set(ds.split_names) == {"train", "val", "test"}
    assert sum(len(v) for v in ds.splits.values()) == len(ds)
    img = ds.image(len(ds) - 1)
    assert img.shape == (100, 100, 3)
    assert img.min() >= 0 and img.max() <= 1


# COLMAP statue ----------------------------------------------------------------------------------


def test_statue_cameras_and_points(statue):
    path, ds = statue
    assert detect_format(path) == "colmap"
    assert ds.format == "colmap"
    assert len(ds) == 23
    assert ds.cameras.distortion is None  # PINHOLE: no distortion
    assert ds.cameras.width.unique().tolist() == [1000]
    assert ((ds.cameras.height >= 650) & (ds.cameras.height <= 665)).all()
    assert (ds.cameras.fx > 0).all() and (ds.cameras.fy > 0).all()
    # each camera's size agrees with its image file's header
    for i, p in enumerate(ds.image_paths):
        assert image_size(p) == ds.image_size(i), p
    assert ds.points.shape == (1443, 3)
    assert torch.isfinite(ds.points).all()
    assert ds.point_colours.shape == (1443, 3)
    assert ds.point_colours.min() >= 0 and ds.point_colours.max() <= 1
    torch.testing.assert_close(torch.linalg.det(ds.cameras.c2w[:, :3, :3]), torch.ones(23), atol=1e-4, rtol=0)


def test_statue_points_project_into_the_images(statue):
    _, ds = statue
    uv, depth = ds.cameras.project(ds.points)  # [23, 1443, 2], [23, 1443]
    assert uv.shape == (23, 1443, 2)
    # every camera sees the point cloud from the front: most points in front of each camera
    in_front = (depth > 0).float().mean(dim=1)
    assert (in_front > 0.5).all(), in_front
    w = ds.cameras.width[:, None].to(uv.dtype)
    h = ds.cameras.height[:, None].to(uv.dtype)
    inside = (depth > 0) & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
    assert inside.float().mean() > 0.9, inside.float().mean()


def test_statue_image_loads_at_camera_size(statue):
    _, ds = statue
    img = ds.image(0)
    assert img.shape == (int(ds.cameras.height[0]), 1000, 3)
    assert img.min() >= 0 and img.max() <= 1
    half = ds.downscaled(2)
    assert half.image(0).shape == (int(half.cameras.height[0]), 500, 3)


# splats are not datasets ------------------------------------------------------------------------


def test_splat_files_are_not_datasets(shared_dataset):
    splats = shared_dataset("splats")
    with pytest.raises(DatasetError, match="not a dataset"):
        detect_format(splats)
    with pytest.raises(DatasetError):
        load_dataset(splats / "winter_fountain.splat")

import math

import pytest
import torch

from scenegen import Camera, Cameras
from scenegen.camera import flip_opengl_opencv
from scenegen.errors import InvalidArgumentError
from scenegen.geometry import axis_angle_to_quat, make_transform, quat_to_rotmat


def make_camera(**overrides):
    kw = dict(fx=100.0, fy=110.0, cx=32.0, cy=24.0, width=64, height=48, c2w=torch.eye(4))
    kw.update(overrides)
    return Camera(**kw)


def test_project_centre_and_offset_points():
    cam = make_camera()
    uv, depth = cam.project(torch.tensor([[0.0, 0.0, 2.0], [0.2, -0.1, 2.0]]))
    assert torch.allclose(uv[0], torch.tensor([32.0, 24.0]))
    assert torch.allclose(uv[1], torch.tensor([32.0 + 100 * 0.1, 24.0 - 110 * 0.05]))
    assert torch.allclose(depth, torch.tensor([2.0, 2.0]))


def test_distortion_moves_off_centre_points_outward_for_positive_k1():
    plain = make_camera()
    distorted = make_camera(distortion=[0.2, 0.0, 0.0, 0.0])
    p = torch.tensor([[0.3, 0.2, 1.0]])
    r_plain = (plain.project(p)[0] - torch.tensor([32.0, 24.0])).norm()
    r_dist = (distorted.project(p)[0] - torch.tensor([32.0, 24.0])).norm()
    assert r_dist > r_plain * 1.02
    # all-zero distortion is no distortion
    assert make_camera(distortion=[0, 0, 0, 0]).distortion is None


def test_opengl_conversion_flips_y_and_z_and_is_its_own_inverse():
    gl = torch.eye(4)
    cam = Camera.from_opengl(gl, fx=50, fy=50, cx=16, cy=16, width=32, height=32)
    assert torch.equal(cam.c2w, torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0])))
    assert torch.equal(cam.c2w_opengl, gl)
    m = torch.randn(4, 4)
    assert torch.equal(flip_opengl_opencv(flip_opengl_opencv(m)), m)


def test_colmap_round_trip():
    q = axis_angle_to_quat(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), 0.7)
    t = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    cam = Camera.from_colmap(q, t, fx=10, fy=10, cx=5, cy=5, width=10, height=10)
    # COLMAP: x_cam = R x_world + t, so the camera centre is -R^T t.
    R = quat_to_rotmat(q)
    assert torch.allclose(cam.position.double(), -(R.T @ t), atol=1e-5)
    q2, t2 = cam.to_colmap()
    assert torch.allclose(q2 * torch.sign(q2[0] * q[0]), q, atol=1e-5) and torch.allclose(t2, t, atol=1e-5)


def test_look_at_points_the_camera_at_the_target():
    cam = Camera.look_at([3.0, 0.0, 1.0], [0.0, 0.0, 1.0], up=(0, 0, 1), width=40, height=30)
    uv, depth = cam.project(torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.5]]))
    assert torch.allclose(uv[0], torch.tensor([20.0, 15.0]), atol=1e-4)
    assert depth[0] == pytest.approx(3.0)
    assert uv[1, 1] < 15.0  # world up is image up (smaller v)


def test_rescale_scales_intrinsics_with_resolution():
    cam = make_camera().rescale(0.5)
    assert (cam.width, cam.height) == (32, 24)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (50.0, 55.0, 16.0, 12.0)
    with pytest.raises(InvalidArgumentError):
        make_camera().rescale(0)


def test_batch_indexing_stack_and_device_fields():
    cams = Cameras.stack([make_camera(), make_camera(fx=200.0, distortion=[0.1, 0.0, 0.0, 0.0, 0.01])])
    assert len(cams) == 2 and cams.fx.shape == (2,) and cams.distortion.shape == (2, 5)
    assert isinstance(cams[1], Camera) and cams[1].fx == 200.0
    assert cams[0].distortion is None or not cams[0].distortion.any()
    sub = cams[[1]]
    assert isinstance(sub, Cameras) and len(sub) == 1 and float(sub.fx[0]) == 200.0
    assert torch.allclose(cams.K[1], torch.tensor([[200.0, 0, 32], [0, 110, 24], [0, 0, 1]]))
    with pytest.raises(IndexError):
        cams[2]


def test_interpolate_and_path():
    a = make_camera()
    R = quat_to_rotmat(axis_angle_to_quat(torch.tensor([0.0, 1.0, 0.0]), math.pi / 2))
    b = make_camera(fx=200.0, c2w=make_transform(R, torch.tensor([2.0, 0.0, 0.0])))
    mid = a.interpolate(b, 0.5)
    assert mid.fx == pytest.approx(150.0)
    assert torch.allclose(mid.position, torch.tensor([1.0, 0.0, 0.0]))
    expected = quat_to_rotmat(axis_angle_to_quat(torch.tensor([0.0, 1.0, 0.0]), math.pi / 4))
    assert torch.allclose(mid.c2w[:3, :3], expected, atol=1e-6)
    path = Cameras.stack([a, b, a]).path(5)
    assert len(path) == 5
    assert torch.allclose(path.c2w[0], a.c2w, atol=1e-6) and torch.allclose(path.c2w[2], b.c2w, atol=1e-6)
    assert torch.allclose(path.c2w[4], a.c2w, atol=1e-6)


@pytest.mark.parametrize("bad", [dict(fx=-1.0), dict(width=0), dict(c2w=torch.eye(3)), dict(c2w=torch.full((4, 4), float("nan"))),
                                 dict(cx=float("inf")), dict(distortion=list(range(9)))])
def test_bad_cameras_raise_with_the_field_named(bad):
    with pytest.raises(InvalidArgumentError):
        make_camera(**bad)


def test_cameras_shape_mismatch_raises():
    with pytest.raises(InvalidArgumentError, match="fx"):
        Cameras(fx=[1.0, 2.0, 3.0], fy=1.0, cx=0, cy=0, width=4, height=4, c2w=torch.eye(4).expand(2, 4, 4))


def test_pixel_rays_lead_back_to_the_projected_points():
    cam = Camera.look_at([1.5, -2.0, 1.0], [0.0, 0.0, 0.2], width=120, height=90)
    points = torch.tensor([[0.0, 0.0, 0.2], [0.3, -0.1, 0.0], [-0.2, 0.4, 0.5]])
    uv, depth = cam.project(points)
    back = cam.position.double() + depth.double()[:, None] * cam.pixel_rays(uv[:, 0], uv[:, 1])
    assert torch.allclose(back, points.double(), atol=1e-4)

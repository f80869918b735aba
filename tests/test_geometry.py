import math

import pytest
import torch

from scenegen.geometry import (
    axis_angle_to_quat, covariance_from_scale_quat, decompose_similarity, invert_se3, make_transform,
    quat_conjugate, quat_multiply, quat_normalize, quat_slerp, quat_to_rotmat, rotmat_to_quat, transform_points,
)


def random_quats(n, seed=0, dtype=torch.float64):
    return quat_normalize(torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=dtype))


def test_rotmat_is_orthonormal_with_det_one():
    R = quat_to_rotmat(random_quats(100))
    eye = torch.eye(3, dtype=R.dtype).expand(100, 3, 3)
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(100, dtype=R.dtype), atol=1e-12)


def test_quat_rotmat_round_trip_up_to_sign():
    q = random_quats(200, seed=1)
    q2 = rotmat_to_quat(quat_to_rotmat(q))
    sign = torch.sign((q * q2).sum(-1, keepdim=True))
    assert torch.allclose(q, q2 * sign, atol=1e-10)
    assert (q2[:, 0] >= 0).all()


def test_rotmat_to_quat_near_180_degrees():
    q = axis_angle_to_quat(torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64), math.pi - 1e-9)
    R = quat_to_rotmat(q)
    assert torch.allclose(quat_to_rotmat(rotmat_to_quat(R)), R, atol=1e-8)


def test_quat_multiply_matches_matrix_product():
    a, b = random_quats(50, 2), random_quats(50, 3)
    assert torch.allclose(quat_to_rotmat(quat_multiply(a, b)), quat_to_rotmat(a) @ quat_to_rotmat(b), atol=1e-12)
    ident = quat_multiply(a, quat_conjugate(a))
    assert torch.allclose(ident, torch.tensor([1.0, 0, 0, 0], dtype=ident.dtype).expand_as(ident), atol=1e-12)


def test_axis_angle_rotates_x_to_y():
    q = axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), math.pi / 2)
    assert torch.allclose(quat_to_rotmat(q) @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), atol=1e-6)


def test_slerp_endpoints_midpoint_and_shorter_arc():
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    q0 = axis_angle_to_quat(z, 0.0)
    q1 = axis_angle_to_quat(z, 1.0)
    assert torch.allclose(quat_slerp(q0, q1, 0.0), q0)
    assert torch.allclose(quat_slerp(q0, q1, 1.0), q1)
    assert torch.allclose(quat_slerp(q0, q1, 0.5), axis_angle_to_quat(z, 0.5), atol=1e-12)
    # -q1 is the same rotation: slerp must still take the short way.
    mid = quat_slerp(q0, -q1, 0.5)
    assert torch.allclose(quat_to_rotmat(mid), quat_to_rotmat(axis_angle_to_quat(z, 0.5)), atol=1e-12)
    # identical inputs do not produce NaN
    assert torch.isfinite(quat_slerp(q0, q0, 0.3)).all()


def test_se3_inverse_and_transform_points():
    R = quat_to_rotmat(random_quats(4, 5))
    t = torch.randn(4, 3, dtype=torch.float64)
    T = make_transform(R, t)
    assert torch.allclose(T @ invert_se3(T), torch.eye(4, dtype=T.dtype).expand(4, 4, 4), atol=1e-12)
    p = torch.randn(7, 3, dtype=torch.float64)
    expected = (R[0] @ p.T).T + t[0]
    assert torch.allclose(transform_points(T[0], p), expected)
    batched = transform_points(T, p.expand(4, 7, 3))
    assert torch.allclose(batched[0], expected)


def test_covariance_is_symmetric_positive_with_right_eigenvalues():
    scales = torch.log(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64))
    cov = covariance_from_scale_quat(scales, random_quats(1, 7))
    assert torch.allclose(cov, cov.transpose(1, 2))
    assert torch.allclose(torch.linalg.eigvalsh(cov[0]), torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64), atol=1e-10)


def test_decompose_similarity_and_rejects_shear():
    R = quat_to_rotmat(random_quats(1, 9))[0]
    T = make_transform(2.5 * R, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    R2, t2, s = decompose_similarity(T)
    assert torch.allclose(R2, R) and torch.allclose(t2, T[:3, 3]) and abs(float(s) - 2.5) < 1e-12
    shear = torch.eye(4, dtype=torch.float64)
    shear[0, 1] = 0.5
    with pytest.raises(ValueError):
        decompose_similarity(shear)
    mirror = torch.diag(torch.tensor([-1.0, 1, 1, 1], dtype=torch.float64))
    with pytest.raises(ValueError):
        decompose_similarity(mirror)


def test_weighted_rigid_fit_ignores_zero_weight_outliers():
    from scenegen.geometry import fit_rigid_path, fit_similarity

    gen = torch.Generator().manual_seed(3)
    src = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    T = make_transform(quat_to_rotmat(random_quats(1, seed=4)[0]), torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64))
    dst = transform_points(T, src)
    dst[:5] += 10.0  # outliers, weighted out
    weights = torch.ones(40, dtype=torch.float64)
    weights[:5] = 0
    fitted = fit_similarity(src, dst, weights, scale=False)
    assert torch.allclose(fitted, T, atol=1e-9)
    assert abs(float(torch.linalg.det(fitted[:3, :3])) - 1) < 1e-9  # no scale
    path = fit_rigid_path(src[5:], torch.stack([src[5:], transform_points(T, src[5:])]))
    assert torch.allclose(path[0], torch.eye(4, dtype=torch.float64), atol=1e-9) and torch.allclose(path[1], T, atol=1e-9)


def test_quat_to_axis_angle_inverts_axis_angle_to_quat():
    from scenegen.geometry import quat_to_axis_angle

    axis = torch.nn.functional.normalize(torch.randn(50, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64), dim=1)
    angle = torch.linspace(0, math.pi * 0.99, 50, dtype=torch.float64)
    q = axis_angle_to_quat(axis, angle)
    assert torch.allclose(quat_to_axis_angle(q), axis * angle[:, None], atol=1e-9)
    assert torch.allclose(quat_to_axis_angle(-q), axis * angle[:, None], atol=1e-9)  # either sign of the quaternion
    assert torch.allclose(quat_to_axis_angle(torch.tensor([1.0, 0, 0, 0])), torch.zeros(3))

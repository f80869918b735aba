"""Pure tensor maths: quaternions (w, x, y, z), rotations, SE(3) transforms, covariances.

Every function works on batches (`...` leading dimensions) and is differentiable.
"""

from __future__ import annotations

import torch
from torch import Tensor


def quat_normalize(q: Tensor, eps: float = 1e-12) -> Tensor:
    """Unit quaternions. q: [..., 4] (w, x, y, z); scaled by its largest component first, so
    that components near float32's limit do not overflow the norm."""
    q = q / q.detach().abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
    return q / q.norm(dim=-1, keepdim=True).clamp_min(eps)


def quat_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product a * b (rotation b first, then a). a, b: [..., 4]."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def quat_conjugate(q: Tensor) -> Tensor:
    """Inverse rotation of a unit quaternion. q: [..., 4]."""
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def quat_to_rotmat(q: Tensor) -> Tensor:
    """Rotation matrices from quaternions (normalised first). q: [..., 4] -> [..., 3, 3]."""
    w, x, y, z = quat_normalize(q).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)


def rotmat_to_quat(R: Tensor) -> Tensor:
    """Quaternions (w >= 0) from rotation matrices. R: [..., 3, 3] -> [..., 4].

    Uses the numerically stable branch for each matrix (largest diagonal term).
    """
    m = R.reshape(-1, 3, 3)
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    trace = m00 + m11 + m22
    candidates = torch.stack(
        [
            torch.stack([1 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
            torch.stack([m[:, 2, 1] - m[:, 1, 2], 1 + m00 - m11 - m22, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
            torch.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m00 + m11 - m22, m[:, 1, 2] + m[:, 2, 1]], -1),
            torch.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m00 - m11 + m22], -1),
        ],
        dim=1,
    )
    choice = torch.stack([trace, m00, m11, m22], dim=-1).argmax(dim=-1)
    q = candidates[torch.arange(m.shape[0], device=R.device), choice]
    q = quat_normalize(q)
    q = torch.where(q[:, :1] < 0, -q, q)
    return q.reshape(*R.shape[:-2], 4)


def quat_slerp(q0: Tensor, q1: Tensor, t: Tensor | float) -> Tensor:
    """Spherical linear interpolation along the shorter arc. q0, q1: [..., 4]; t broadcastable to [...]."""
    q0 = quat_normalize(q0)
    q1 = quat_normalize(q1)
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    dot = (q0 * q1).sum(-1)
    q1 = torch.where(dot.unsqueeze(-1) < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-6
    safe_sin = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    w0 = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / safe_sin)
    w1 = torch.where(near, t, torch.sin(t * theta) / safe_sin)
    return quat_normalize(w0.unsqueeze(-1) * q0 + w1.unsqueeze(-1) * q1)


def axis_angle_to_quat(axis: Tensor, angle: Tensor | float) -> Tensor:
    """Quaternion rotating by `angle` radians about `axis`. axis: [..., 3]."""
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    half = torch.as_tensor(angle, dtype=axis.dtype, device=axis.device) / 2
    return torch.cat([torch.cos(half).unsqueeze(-1).expand(*axis.shape[:-1], 1), axis * torch.sin(half).unsqueeze(-1)], -1)


def rotation_vector_to_quat(v: Tensor) -> Tensor:
    """Quaternions [..., 4] of axis-angle vectors v [..., 3] (axis v/|v|, angle |v|), smooth at
    v = 0: (cos |v|/2, v sin(|v|/2) / |v|)."""
    angle = torch.sqrt((v ** 2).sum(-1, keepdim=True) + 1e-20)
    return torch.cat([torch.cos(angle / 2), v * 0.5 * torch.sinc(angle / (2 * torch.pi))], -1)


def quat_to_axis_angle(q: Tensor) -> Tensor:
    """Axis-angle vectors [..., 3] (direction = axis, length = angle in [0, pi]) of quaternions [..., 4]."""
    q = quat_normalize(q)
    q = torch.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    norm = v.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(norm, q[..., :1])
    return v * torch.where(norm > 1e-12, angle / norm.clamp_min(1e-12), torch.full_like(norm, 2.0))


def make_transform(R: Tensor, t: Tensor) -> Tensor:
    """4x4 homogeneous transforms from R [..., 3, 3] and t [..., 3]."""
    T = torch.zeros(*R.shape[:-2], 4, 4, dtype=R.dtype, device=R.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1
    return T


def invert_se3(T: Tensor) -> Tensor:
    """Inverse of rigid transforms. T: [..., 4, 4]."""
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    Rt = R.transpose(-1, -2)
    return make_transform(Rt, -(Rt @ t.unsqueeze(-1)).squeeze(-1))


def transform_points(T: Tensor, points: Tensor) -> Tensor:
    """Apply a 4x4 transform to points. T: [4, 4] or [..., 4, 4]; points: [..., 3]."""
    return points @ T[..., :3, :3].transpose(-1, -2) + T[..., :3, 3].unsqueeze(-2)


def covariance_from_scale_quat(log_scales: Tensor, quats: Tensor) -> Tensor:
    """3D covariances R S S^T R^T. log_scales: [N, 3], quats: [N, 4] -> [N, 3, 3]."""
    R = quat_to_rotmat(quats)
    M = R * torch.exp(log_scales).unsqueeze(-2)
    return M @ M.transpose(-1, -2)


def decompose_similarity(T: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split a 4x4 similarity transform into (R [3,3], t [3], uniform scale s).

    Raises ValueError when the linear part is not a rotation times a positive uniform scale.
    """
    A = T[:3, :3]
    s = torch.linalg.det(A).abs().pow(1.0 / 3.0)
    if not torch.isfinite(s) or s <= 0:
        raise ValueError("transform has a singular or non-finite 3x3 part")
    R = A / s
    tol = 1e-3 if R.dtype != torch.float64 else 1e-8
    if (R @ R.T - torch.eye(3, dtype=R.dtype, device=R.device)).abs().max() > tol or torch.linalg.det(R) < 0:
        raise ValueError("transform is not a rotation with a uniform positive scale (shear, reflection or non-uniform scale)")
    return R, T[:3, 3], s


def invert_similarity(T: Tensor) -> Tensor:
    """Inverse of a 4x4 similarity transform (rotation, translation, uniform scale)."""
    R, t, s = decompose_similarity(T)
    Ri = R.T / s
    return make_transform(Ri, -(Ri @ t))


def rotation_between(a: Tensor, b: Tensor) -> Tensor:
    """The smallest rotation [3, 3] taking direction a [3] onto direction b [3]."""
    a = a / a.norm()
    b = b / b.norm()
    v = torch.linalg.cross(a, b)
    c = float(a @ b)
    if c < -1 + 1e-8:  # opposite: half a turn about any axis perpendicular to a
        axis = torch.linalg.cross(a, torch.eye(3, dtype=a.dtype)[int(torch.argmin(a.abs()))])
        axis = axis / axis.norm()
        return 2 * torch.outer(axis, axis) - torch.eye(3, dtype=a.dtype)
    vx = torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]], dtype=a.dtype)
    return torch.eye(3, dtype=a.dtype) + vx + vx @ vx / (1 + c)


def fit_similarity(src: Tensor, dst: Tensor, weights: Tensor | None = None, *, scale: bool = True) -> Tensor:
    """The similarity T [4, 4] minimising sum w |dst - T(src)|^2 over point pairs src, dst [N, 3]
    (Umeyama's closed form; N >= 3 points not all on a line). With scale=False, the rigid motion
    (weighted Kabsch). weights: [N] >= 0, default all 1."""
    src, dst = src.double(), dst.double()
    if src.shape != dst.shape or src.dim() != 2 or src.shape[1] != 3 or src.shape[0] < 3:
        raise ValueError(f"fit_similarity needs two [N>=3, 3] point sets of the same shape, got {list(src.shape)} and {list(dst.shape)}")
    w = torch.ones(len(src), dtype=torch.float64) if weights is None else weights.double().reshape(-1).clamp_min(0)
    w = w / w.sum().clamp_min(1e-300)
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    var_s = (w * (xs ** 2).sum(1)).sum()
    U, S, Vh = torch.linalg.svd((xd * w[:, None]).T @ xs)
    D = torch.eye(3, dtype=torch.float64)
    if torch.linalg.det(U) * torch.linalg.det(Vh) < 0:
        D[2, 2] = -1
    R = U @ D @ Vh
    s = (S * D.diagonal()).sum() / var_s if scale else torch.ones((), dtype=torch.float64)
    return make_transform(s * R, mu_d - s * R @ mu_s)


def fit_rigid_path(rest: Tensor, positions: Tensor, weights: Tensor | None = None) -> Tensor:
    """[T, 4, 4] rigid motions carrying points `rest` [N, 3] best onto `positions` [T, N, 3] at
    each of T instants (weighted Kabsch, see fit_similarity)."""
    return torch.stack([fit_similarity(rest, p, weights, scale=False) for p in positions])

import math

import pytest
import torch

from scenegen import Gaussians
from scenegen.errors import InvalidArgumentError
from scenegen.geometry import axis_angle_to_quat, make_transform, quat_to_rotmat
from scenegen.sh import sh_to_colour


def random_gaussians(n=20, degree=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=g, dtype=dtype),
        scales=torch.randn(n, 3, generator=g, dtype=dtype) * 0.3 - 2,
        quats=torch.randn(n, 4, generator=g, dtype=dtype),
        opacities=torch.randn(n, generator=g, dtype=dtype),
        sh=torch.randn(n, (degree + 1) ** 2, 3, generator=g, dtype=dtype) * 0.3,
    )


def test_fields_shapes_and_properties():
    g = random_gaussians(7, degree=3)
    assert len(g) == 7 and g.sh_degree == 3 and g.colours.shape == (7, 3)
    assert ((g.alphas > 0) & (g.alphas < 1)).all()
    assert g.covariances().shape == (7, 3, 3)


@pytest.mark.parametrize("field,value", [
    ("means", torch.zeros(5, 2)), ("scales", torch.zeros(4, 3)), ("quats", torch.zeros(5, 3)),
    ("opacities", torch.zeros(5, 1)), ("sh", torch.zeros(5, 5, 3)), ("sh", torch.zeros(5, 4, 4)), ("means", [[0.0, 0, 0]] * 5),
])
def test_bad_shapes_name_the_field(field, value):
    kw = dict(means=torch.zeros(5, 3), scales=torch.zeros(5, 3), quats=torch.zeros(5, 4), opacities=torch.zeros(5), sh=torch.zeros(5, 1, 3))
    kw[field] = value
    with pytest.raises(InvalidArgumentError, match=field):
        Gaussians(**kw)


def test_indexing_masks_and_cat_pads_sh():
    a, b = random_gaussians(5, degree=0), random_gaussians(3, degree=2, seed=1)
    assert len(a[1:3]) == 2 and len(a[torch.tensor([True, False, True, False, True])]) == 3 and len(a[0]) == 1
    c = Gaussians.cat([a, b])
    assert len(c) == 8 and c.sh_degree == 2
    assert torch.equal(c.sh[:5, 1:], torch.zeros(5, 8, 3, dtype=c.sh.dtype))
    assert torch.equal(c.means[5:], b.means)
    with pytest.raises(InvalidArgumentError):
        Gaussians.cat([])


def test_from_points_and_empty():
    pts = torch.rand(4, 3)
    g = Gaussians.from_points(pts, torch.tensor([[1.0, 0.0, 0.0]] * 4), scale=0.1, opacity=0.8)
    assert torch.allclose(g.colours, torch.tensor([[1.0, 0.0, 0.0]] * 4), atol=1e-6)
    assert torch.allclose(g.alphas, torch.full((4,), 0.8))
    assert torch.allclose(torch.exp(g.scales), torch.full((4, 3), 0.1))
    assert len(Gaussians.empty(sh_degree=1)) == 0 and Gaussians.empty(sh_degree=1).sh_degree == 1


def test_rigid_transform_moves_means_orientation_and_view_dependent_colour():
    g = random_gaussians(10, degree=3)
    R = quat_to_rotmat(axis_angle_to_quat(torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64), 0.9))
    t = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64)
    T = make_transform(R, t)
    h = g.transform(T)
    assert torch.allclose(h.means, g.means @ R.T + t)
    assert torch.allclose(h.covariances(), R @ g.covariances() @ R.T, atol=1e-10)
    assert torch.equal(h.opacities, g.opacities) and torch.allclose(h.scales, g.scales)
    # A viewer that moved with the object sees the same colours.
    d = torch.nn.functional.normalize(torch.randn(10, 3, dtype=torch.float64), dim=1)
    assert torch.allclose(sh_to_colour(g.sh, d), sh_to_colour(h.sh, d @ R.T), atol=1e-9)
    # Inverse transform returns to the start.
    back = h.transform(torch.linalg.inv(T))
    assert torch.allclose(back.means, g.means, atol=1e-10) and torch.allclose(back.sh, g.sh, atol=1e-9)


def test_uniform_scale_transform_and_rejected_non_rigid():
    g = random_gaussians(4, degree=0)
    T = torch.eye(4, dtype=torch.float64) * 2
    T[3, 3] = 1
    h = g.transform(T)
    assert torch.allclose(h.means, 2 * g.means) and torch.allclose(h.scales, g.scales + math.log(2))
    bad = torch.eye(4, dtype=torch.float64)
    bad[0, 0] = 3
    with pytest.raises(InvalidArgumentError, match="uniform"):
        g.transform(bad)


def test_device_and_dtype_moves_and_grad():
    g = random_gaussians(3, dtype=torch.float32)
    assert g.to(dtype=torch.float64).means.dtype == torch.float64
    assert g.to("cpu").device.type == "cpu"
    g.requires_grad_()
    assert g.means.requires_grad and not g.detach().means.requires_grad
    with_degree = g.detach().with_sh_degree(0)
    assert with_degree.sh.shape == (3, 1, 3)


def test_finite_mask():
    g = random_gaussians(4, dtype=torch.float32)
    g.means[1, 0] = float("nan")
    g.quats[2] = 0
    assert g.finite_mask().tolist() == [True, False, False, True]

import math

import pytest
import torch

from scenegen.geometry import axis_angle_to_quat, quat_to_rotmat
from scenegen.sh import SH_C0, eval_sh_basis, num_sh_bases, rgb_to_sh_dc, rotate_sh, sh_degree_from_bases, sh_to_colour


def unit_dirs(n, seed=0):
    d = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return d / d.norm(dim=1, keepdim=True)


def test_basis_sizes_and_degree_lookup():
    for degree in range(4):
        assert eval_sh_basis(degree, unit_dirs(5)).shape == (5, num_sh_bases(degree))
        assert sh_degree_from_bases(num_sh_bases(degree)) == degree
    for bad in (0, 2, 5, 25):
        with pytest.raises(ValueError):
            sh_degree_from_bases(bad)


def test_basis_is_orthonormal_over_the_sphere():
    # Monte-Carlo estimate of the Gram matrix: the real SH basis is orthonormal.
    d = unit_dirs(400_000, seed=1)
    Y = eval_sh_basis(3, d)
    gram = (Y.T @ Y) * (4 * math.pi / len(d))
    assert torch.allclose(gram, torch.eye(16, dtype=gram.dtype), atol=0.02)


def test_dc_round_trip_and_constant():
    rgb = torch.rand(10, 3)
    sh = rgb_to_sh_dc(rgb).unsqueeze(1)
    assert torch.allclose(sh_to_colour(sh), rgb, atol=1e-6)
    assert abs(SH_C0 - 0.5 / math.sqrt(math.pi)) < 1e-12


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_rotated_sh_gives_the_same_colour_from_the_rotated_direction(degree):
    gen = torch.Generator().manual_seed(degree)
    sh = torch.randn(6, num_sh_bases(degree), 3, generator=gen, dtype=torch.float64) * 0.3
    R = quat_to_rotmat(axis_angle_to_quat(torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64), 1.234))
    sh_rot = rotate_sh(sh, R)
    d = unit_dirs(50, seed=10 + degree)
    for i in range(6):
        before = sh_to_colour(sh[i].expand(50, -1, -1), d)
        after = sh_to_colour(sh_rot[i].expand(50, -1, -1), d @ R.T)
        assert torch.allclose(before, after, atol=1e-9)
    assert torch.equal(sh_rot[:, 0], sh[:, 0])


def test_rotate_sh_degree_zero_is_identity():
    sh = torch.randn(3, 1, 3)
    assert torch.equal(rotate_sh(sh, torch.eye(3)), sh)

"""Per-Gaussian motion: the temporal basis, applying it, and storing it in scenes."""

import json

import pytest
import torch

from scenegen import Gaussians, Scene, SceneObject
from scenegen.errors import FormatError, InvalidArgumentError
from scenegen.gaussian_motion import GaussianMotion, MotionBasis
from scenegen.io import load, save


def cloud(n: int = 50, seed: int = 0) -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    return Gaussians(torch.randn(n, 3, generator=g), torch.randn(n, 3, generator=g) * 0.1 - 3, torch.randn(n, 4, generator=g),
                     torch.randn(n, generator=g), torch.randn(n, 4, 3, generator=g) * 0.3)


def test_basis_is_zero_mid_range_and_clamped():
    basis = MotionBasis(2.0, 6.0, degree=2, fourier=1)
    assert basis.size == 4
    assert torch.allclose(basis(4.0), torch.zeros(4))
    assert torch.allclose(basis(6.0), torch.tensor([1.0, 1.0, 0.0, 2.0]), atol=1e-6)
    assert torch.equal(basis(99.0), basis(6.0)) and torch.equal(basis(-5.0), basis(2.0))
    assert MotionBasis.from_dict(basis.to_dict()) == basis
    with pytest.raises(InvalidArgumentError):
        MotionBasis(1.0, 0.0)
    with pytest.raises(InvalidArgumentError):
        MotionBasis(0.0, 1.0, degree=0, fourier=0)
    with pytest.raises(InvalidArgumentError, match="poly-fourier"):
        MotionBasis.from_dict({"type": "spline"})


def test_still_motion_changes_nothing():
    g = cloud()
    motion = GaussianMotion.still(len(g), MotionBasis(0.0, 1.0))
    for t in (0.0, 0.3, 1.0):
        h = motion.apply(g, t)
        assert torch.allclose(h.means, g.means) and torch.allclose(h.quats, torch.nn.functional.normalize(g.quats, dim=1))
        assert torch.allclose(h.opacities, g.opacities, atol=1e-4) and torch.equal(h.sh, g.sh)


def test_linear_motion_and_temporal_opacity():
    g = cloud(4)
    basis = MotionBasis(0.0, 2.0, degree=1, fourier=0)
    motion = GaussianMotion.still(4, basis)
    motion.offsets[:, 0] = torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(motion.apply(g, 2.0).means - g.means, torch.tensor([1.0, 0, 0]).expand(4, 3))
    assert torch.allclose(motion.apply(g, 0.0).means - g.means, torch.tensor([-1.0, 0, 0]).expand(4, 3))
    mid = motion.apply(g, 1.5).means
    assert torch.allclose(mid, 0.5 * (motion.apply(g, 1.0).means + motion.apply(g, 2.0).means))  # interpolates between times
    motion.time_sharpness[:] = 20.0  # visible only near the middle of the range
    assert torch.allclose(motion.apply(g, 1.0).opacities, g.opacities, atol=1e-4)
    assert (torch.sigmoid(motion.apply(g, 2.0).opacities) < 1e-3).all()
    # A turn about z by b(t) * angle.
    motion.rotations[:, 0] = torch.tensor([0.0, 0.0, 0.5])
    from scenegen.geometry import quat_to_rotmat

    R = quat_to_rotmat(motion.apply(g, 2.0).quats) @ quat_to_rotmat(torch.nn.functional.normalize(g.quats, dim=1)).transpose(1, 2)
    assert torch.allclose(R[:, 0, 1], torch.full((4,), -torch.sin(torch.tensor(0.5)).item()), atol=1e-5)


def test_gradients_reach_the_coefficients():
    g = cloud(8)
    motion = GaussianMotion.still(8, MotionBasis(0.0, 1.0, degree=2, fourier=1))
    for name in ("offsets", "rotations", "time_centres", "time_sharpness"):
        getattr(motion, name).requires_grad_(True)
    motion.time_sharpness.data[:] = 1.0  # the gradient in the centre vanishes only at w = 0
    out = motion.apply(g, 0.9)
    (out.means.sum() + out.quats[:, 1:].sum() + out.opacities.sum()).backward()
    for name in ("offsets", "rotations", "time_sharpness", "time_centres"):
        assert getattr(motion, name).grad is not None and getattr(motion, name).grad.abs().sum() > 0, name


def test_objects_with_motion_save_and_load(tmp_path):
    g = cloud(30)
    basis = MotionBasis(0.0, 3.0, degree=2, fourier=2)
    gen = torch.Generator().manual_seed(1)
    motion = GaussianMotion(basis, torch.randn(30, 6, 3, generator=gen) * 0.1, torch.randn(30, 6, 3, generator=gen) * 0.1,
                            torch.randn(30, generator=gen) * 0.2, torch.full((30,), 2.0))
    scene = Scene(cloud(20, seed=2), [SceneObject("flag", g, motion=motion)], time_range=(0.0, 3.0))
    for name in ("s", "s.zip"):
        save(scene, tmp_path / name)
        back = load(tmp_path / name)
        m = back.objects["flag"].motion
        assert m is not None and m.basis == basis and torch.equal(m.offsets, motion.offsets)
        for t in (0.0, 1.1, 3.0):
            a, _ = scene.gaussians_at(t)
            b, _ = back.gaussians_at(t)
            assert a.allclose(b, atol=1e-6)
        assert back.background.motion is None
    assert json.loads((tmp_path / "s" / "scene.json").read_text())["format_version"] == 2
    # The object's PLY still opens as a plain 3DGS PLY.
    from scenegen.io import read_ply

    assert len(read_ply(tmp_path / "s" / "objects" / "001_flag.ply")) == 30
    with pytest.raises(InvalidArgumentError, match="motion for 5 Gaussians"):
        SceneObject("bad", g, motion=motion[:5])


def test_motion_entry_without_columns_is_refused(tmp_path):
    scene = Scene(cloud(5), time_range=(0.0, 1.0))
    save(scene, tmp_path / "s")
    manifest = json.loads((tmp_path / "s" / "scene.json").read_text())
    manifest["background"]["motion"] = MotionBasis(0.0, 1.0).to_dict()
    (tmp_path / "s" / "scene.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="lacks the properties"):
        load(tmp_path / "s")


def test_motion_fits_sampled_paths_on_its_basis():
    basis = MotionBasis(0.0, 4.0, degree=2, fourier=2)
    gen = torch.Generator().manual_seed(1)
    truth = GaussianMotion(basis, torch.randn(6, basis.size, 3, generator=gen), 0.1 * torch.randn(6, basis.size, 3, generator=gen),
                           torch.zeros(6), torch.zeros(6))
    times = torch.linspace(0.0, 4.0, 17)
    displacements = torch.stack([truth.displacement(float(t)) for t in times])
    turns = torch.stack([truth.rotation_vector(float(t)) for t in times])
    fitted = GaussianMotion.fit(basis, times, displacements, turns, truth.time_centres, truth.time_sharpness)
    assert torch.allclose(fitted.offsets, truth.offsets, atol=1e-4) and torch.allclose(fitted.rotations, truth.rotations, atol=1e-4)
    for t in (0.3, 2.0, 3.9):  # between the samples too
        assert torch.allclose(fitted.displacement(t), truth.displacement(t), atol=1e-4)

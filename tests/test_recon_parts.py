import math

import pytest
import torch

from scenegen.recon.config import TrainConfig
from scenegen.recon.densify import DensityControl, ParamSet
from scenegen.recon.init import initial_gaussians, knn_scales, look_at_point, scene_extent, view_volume
from scenegen.recon.losses import photometric_loss
from scenegen.render.views import orbit_cameras
from scenegen.errors import InvalidArgumentError


def test_view_volume_of_an_orbit_is_centred_on_its_target():
    cams = orbit_cameras(torch.tensor([1.0, 2.0, 3.0]), 1.0, num=8, width=64, height=64, fov_deg=40)
    assert torch.allclose(look_at_point(cams), torch.tensor([1.0, 2.0, 3.0]), atol=1e-4)
    centre, half = view_volume(cams)
    assert 0.9 < half < 1.2  # the orbit frames a sphere of radius 1
    assert scene_extent(cams) > 1.0


def test_initial_gaussians_random_and_from_points():
    cams = orbit_cameras(torch.zeros(3), 1.0, num=6, width=32, height=32)
    g = initial_gaussians(None, None, cams, num_random=500, opacity=0.1, sh_degree=2, generator=torch.Generator().manual_seed(0))
    assert len(g) == 500 and g.sh_degree == 2 and torch.allclose(g.alphas, torch.full((500,), 0.1))
    assert g.means.abs().max() < 1.3
    pts = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0.0, 2, 0], [0.0, 0, 3]])
    cols = torch.tensor([[1.0, 0, 0]] * 4)
    h = initial_gaussians(pts, cols, cams, num_random=0, opacity=0.5, sh_degree=0, generator=torch.Generator())
    assert torch.equal(h.means, pts) and torch.allclose(h.colours, cols, atol=1e-6)


def test_knn_scales():
    pts = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]])
    s = knn_scales(pts, k=1)
    assert torch.allclose(torch.exp(s), torch.ones(4, 3))


def make_params(n=10):
    g = torch.Generator().manual_seed(0)
    t = {"means": torch.randn(n, 3, generator=g), "scales": torch.full((n, 3), -6.0), "quats": torch.randn(n, 4, generator=g),
         "opacities": torch.zeros(n), "sh0": torch.zeros(n, 1, 3), "shN": torch.zeros(n, 3, 3)}
    return ParamSet(t, {k: 0.01 for k in ParamSet.NAMES})


def test_paramset_keep_and_append_carry_adam_moments():
    p = make_params()
    loss = sum(v.sum() for v in p.params.values())
    loss.backward()
    p.optimizer.step()
    moments = p.optimizer.state[p.params["means"]]["exp_avg"].clone()
    mask = torch.tensor([True, False] * 5)
    p.keep(mask)
    assert len(p) == 5 and torch.equal(p.optimizer.state[p.params["means"]]["exp_avg"], moments[mask])
    p.append({k: v.detach()[:2] for k, v in p.params.items()})
    assert len(p) == 7 and p.optimizer.state[p.params["means"]]["exp_avg"][5:].abs().sum() == 0
    # the optimizer still steps the new tensors
    sum(v.sum() for v in p.params.values()).backward()
    before = p.params["means"].detach().clone()
    p.optimizer.step()
    assert not torch.equal(before, p.params["means"].detach())


def test_fused_adam_steps_as_the_reference_adam(monkeypatch):
    from scenegen.recon import densify

    fast = make_params()
    assert fast.optimizer.defaults["fused"]
    monkeypatch.setattr(densify, "FUSED_ADAM", False)
    ref = make_params()
    assert not ref.optimizer.defaults["fused"] and ref.optimizer.defaults["foreach"]
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = {k: torch.randn(v.shape, generator=g) for k, v in fast.params.items()}
        for p in (fast, ref):
            for k, v in p.params.items():
                v.grad = grads[k].clone()
            p.optimizer.step()
    for k in fast.params:
        assert torch.allclose(fast.params[k], ref.params[k], atol=1e-6), k


def test_density_control_clones_splits_prunes_and_resets():
    cfg = TrainConfig(densify_from=1, densify_every=1, densify_until=10, opacity_reset_every=2, densify_grad_threshold=1e-3,
                      percent_dense=0.01, max_gaussians=100)
    p = make_params(10)
    with torch.no_grad():
        p.params["scales"][5:] = 0.0  # large: these split
        p.params["opacities"][9] = -10.0  # transparent: pruned
    dc = DensityControl(cfg, extent=1.0, generator=torch.Generator().manual_seed(0))
    grads = torch.zeros(1, 10, 2)
    grads[0, :, 0] = 1.0  # every Gaussian above the threshold
    dc.accumulate(grads, torch.ones(1, 10, dtype=torch.long), 64, 64)
    note = dc.step(1, p)
    # 5 small ones clone (+5); 5 large ones split into 2 each (+5 net); the transparent one's 2 halves are pruned.
    assert "+5 cloned" in note and "+5 split" in note
    assert len(p) == 10 + 5 + 5 - 2
    assert torch.sigmoid(p.params["opacities"]).min() >= cfg.prune_opacity
    dc.step(2, p)
    assert torch.sigmoid(p.params["opacities"]).max() <= 0.0100001


def test_density_cap():
    cfg = TrainConfig(densify_from=1, densify_every=1, densify_until=10, densify_grad_threshold=1e-3, max_gaussians=12)
    p = make_params(10)
    dc = DensityControl(cfg, extent=1.0, generator=torch.Generator())
    dc.accumulate(torch.ones(1, 10, 2), torch.ones(1, 10, dtype=torch.long), 64, 64)
    dc.step(1, p)
    assert len(p) == 12


def test_photometric_loss_and_config_validation():
    a = torch.rand(16, 16, 3)
    assert photometric_loss(a, a, 0.2).item() == pytest.approx(0.0, abs=1e-6)
    assert photometric_loss(a, 1 - a, 0.0).item() == pytest.approx((a - (1 - a)).abs().mean().item(), rel=1e-6)
    with pytest.raises(InvalidArgumentError):
        TrainConfig(steps=0)
    with pytest.raises(InvalidArgumentError, match="unknown"):
        TrainConfig.from_dict({"stepz": 3})
    assert TrainConfig.from_dict(TrainConfig(steps=5).to_dict()).steps == 5
    assert math.isfinite(TrainConfig().lr_means)


@pytest.mark.parametrize("bad", [dict(sh_degree_interval=0), dict(densify_every=0), dict(init_opacity=1.0),
                                 dict(lr_means=0.0), dict(checkpoint_every=-1), dict(backend="vulkan"), dict(device="gpu")])
def test_bad_settings_raise_with_the_name(bad):
    with pytest.raises(InvalidArgumentError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_no_density_changes_while_training_settles():
    cfg = TrainConfig(steps=3000, densify_from=1, densify_every=100, densify_until=3000, opacity_reset_every=3000)
    p = make_params(10)
    dc = DensityControl(cfg, extent=1.0, generator=torch.Generator())
    before = p.params["opacities"].detach().clone()
    assert dc.step(3000, p) is None  # the last tenth of training: no reset, no densification
    assert torch.equal(p.params["opacities"].detach(), before)
    assert dc.step(2600, p) is not None


def test_no_opacity_reset_where_densification_ends():
    cfg = TrainConfig(steps=10_000, densify_from=500, densify_every=100, densify_until=6000, opacity_reset_every=3000)
    p = make_params(10)
    dc = DensityControl(cfg, extent=1.0, generator=torch.Generator())
    dc.step(6000, p)  # densifies and prunes, but leaves the opacities as they are
    assert float(p.params["opacities"].detach().min()) > math.log(0.01 / 0.99) + 1e-3
    assert "opacity reset" in dc.step(3000, p)


def test_initial_set_respects_the_cap():
    cams = orbit_cameras(torch.zeros(3), 1.0, num=6, width=32, height=32)
    pts = torch.rand(50, 3)
    g = initial_gaussians(pts, None, cams, num_random=0, opacity=0.1, sh_degree=0, generator=torch.Generator(), max_count=20)
    assert len(g) == 20
    r = initial_gaussians(None, None, cams, num_random=500, opacity=0.1, sh_degree=0, generator=torch.Generator(), max_count=30)
    assert len(r) == 30


def test_single_camera_still_has_a_scene_extent():
    cams = orbit_cameras(torch.zeros(3), 1.0, num=1, width=32, height=32)
    assert scene_extent(cams) > 0.1  # the view volume a unit ahead of the camera, not ~0

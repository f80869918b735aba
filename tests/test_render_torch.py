import math

import pytest
import torch

from scenegen import Camera, Cameras, Gaussians, Scene, SceneObject, Track
from scenegen.errors import BackendUnavailableError, InvalidArgumentError
from scenegen.render import RenderConfig, available_backends
from scenegen.render import render as render_any


def render(*args, **kwargs):
    """These tests are about the reference backend."""
    kwargs.setdefault("backend", "torch")
    return render_any(*args, **kwargs)
from scenegen.sh import rgb_to_sh_dc


def camera(size=16, dtype=torch.float32):
    return Camera(fx=20.0, fy=20.0, cx=size / 2, cy=size / 2, width=size, height=size, c2w=torch.eye(4, dtype=dtype))


def single(mean=(0.0, 0.0, 2.0), scale=0.05, opacity=0.9, rgb=(1.0, 0.0, 0.0), dtype=torch.float32):
    return Gaussians(
        means=torch.tensor([mean], dtype=dtype), scales=torch.full((1, 3), math.log(scale), dtype=dtype),
        quats=torch.tensor([[1.0, 0, 0, 0]], dtype=dtype), opacities=torch.logit(torch.tensor([opacity], dtype=dtype)),
        sh=rgb_to_sh_dc(torch.tensor([rgb], dtype=dtype)).unsqueeze(1),
    )


def test_empty_scene_is_background():
    out = render(Gaussians.empty(), camera(), background=(0.2, 0.4, 0.6))
    assert out.rgb.shape == (1, 16, 16, 3)
    assert torch.allclose(out.rgb, torch.tensor([0.2, 0.4, 0.6]).expand(1, 16, 16, 3))
    assert out.alpha.abs().max() == 0


def test_one_gaussian_centre_pixel_matches_closed_form():
    # Centre at pixel centre (8.5, 8.5): shift the mean so it projects there.
    g = single(mean=(0.5 / 20 * 2, 0.5 / 20 * 2, 2.0))
    out = render(g, camera())
    # At its centre G = 1, so alpha = opacity; colour is red blended over black.
    assert out.alpha[0, 8, 8, 0].item() == pytest.approx(0.9, abs=1e-5)
    assert torch.allclose(out.rgb[0, 8, 8], torch.tensor([0.9, 0.0, 0.0]), atol=1e-5)
    assert out.depth[0, 8, 8, 0].item() == pytest.approx(2.0, abs=1e-5)
    # Falls off away from the centre, symmetric.
    assert out.alpha[0, 8, 10, 0] < out.alpha[0, 8, 9, 0] < out.alpha[0, 8, 8, 0]
    assert out.alpha[0, 8, 9, 0].item() == pytest.approx(out.alpha[0, 9, 8, 0].item(), abs=1e-6)
    assert out.radii[0, 0] > 0 and torch.allclose(out.means2d[0, 0], torch.tensor([8.5, 8.5]))


def test_zero_opacity_and_behind_camera_render_nothing():
    assert render(single(opacity=1e-6), camera()).alpha.max() < 1e-5
    out = render(single(mean=(0.0, 0.0, -2.0)), camera())
    assert out.alpha.max() == 0 and out.radii[0, 0] == 0


def test_occlusion_order_front_wins():
    front = single(mean=(0.0, 0.0, 2.0), scale=0.3, opacity=0.99, rgb=(1.0, 0.0, 0.0))
    back = single(mean=(0.0, 0.0, 4.0), scale=0.6, opacity=0.99, rgb=(0.0, 0.0, 1.0))
    for g in (Gaussians.cat([front, back]), Gaussians.cat([back, front])):
        pix = render(g, camera()).rgb[0, 8, 8]
        assert pix[0] > 0.95 and pix[2] < 0.05


def test_object_ids_pick_the_dominant_gaussian():
    a = single(mean=(-0.5, 0.0, 2.0), scale=0.1)
    b = single(mean=(0.5, 0.0, 2.0), scale=0.1)
    scene = Scene(SceneObject("background", a), [SceneObject("b", b)])
    out = scene.render(camera(32), backend="torch")
    assert out.object_id.shape == (1, 32, 32)
    assert out.object_id[0, 16, 16 - 8] == 0 and out.object_id[0, 16, 16 + 8] == 1 and out.object_id[0, 0, 0] == -1


def test_scene_render_follows_tracks_in_time():
    obj = SceneObject("dot", single(mean=(0.0, 0.0, 0.0)), Track([0.0, 1.0], [[1.0, 0, 0, 0]] * 2, [[0.0, 0, 2.0], [0.4, 0, 2.0]]))
    scene = Scene(None, [obj], time_range=(0.0, 1.0))
    a0 = scene.render(camera(32), 0.0, backend="torch").alpha[0, ..., 0]
    a1 = scene.render(camera(32), 1.0, backend="torch").alpha[0, ..., 0]
    centres = torch.arange(32) + 0.5

    def column(a):
        return float((a.sum(0) * centres).sum() / a.sum())

    assert column(a0) == pytest.approx(16.0, abs=0.05)
    assert column(a1) == pytest.approx(20.0, abs=0.05)  # 0.4 / 2.0 * fx(20) = 4 pixels right


def test_batched_cameras_match_single_renders():
    g = Gaussians.cat([single(mean=(0.1 * i, -0.05 * i, 2.0 + 0.2 * i), scale=0.1) for i in range(5)])
    c1 = camera()
    c2 = Camera(fx=20.0, fy=20.0, cx=8, cy=8, width=16, height=16, c2w=torch.tensor([[1.0, 0, 0, 0.2], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    batch = render(g, Cameras.stack([c1, c2]))
    assert torch.allclose(batch.rgb[1], render(g, c2).rgb[0], atol=1e-6)
    assert not torch.allclose(batch.rgb[0], batch.rgb[1])


def test_gradients_flow_to_every_parameter_and_pass_gradcheck():
    g = Gaussians.cat([single(mean=(0.05, -0.03, 2.0), scale=0.15, dtype=torch.float64),
                       single(mean=(-0.1, 0.05, 2.5), scale=0.2, rgb=(0.0, 1.0, 0.5), dtype=torch.float64)])
    g = g.with_sh_degree(1)
    g.sh[:, 1:] = 0.1
    g.scales[:, 0] += 0.4  # anisotropic, so the rotation matters
    g.quats[:] = torch.tensor([0.9, 0.1, 0.2, 0.3], dtype=torch.float64)
    cam = Camera(fx=12.0, fy=12.0, cx=4.0, cy=4.0, width=8, height=8, c2w=torch.eye(4, dtype=torch.float64))
    cfg = RenderConfig(tile_size=4)

    def fn(means, scales, quats, opacities, sh):
        out = render(Gaussians(means, scales, quats, opacities, sh), cam, config=cfg)
        return out.rgb, out.alpha

    inputs = tuple(t.clone().requires_grad_() for t in (g.means, g.scales, g.quats, g.opacities, g.sh))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)
    rgb, _ = fn(*inputs)
    rgb.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in inputs)


def test_front_door_validation_and_backends():
    g = single()
    with pytest.raises(InvalidArgumentError):
        render(g, camera(), sh_degree=2)
    with pytest.raises(InvalidArgumentError):
        render(g, camera(), background=(1.0, 0.0))
    with pytest.raises(InvalidArgumentError):
        render(g, camera(), object_ids=torch.zeros(3))
    with pytest.raises(InvalidArgumentError):
        render("not gaussians", camera())
    with pytest.raises(InvalidArgumentError, match="unknown"):
        render(g, camera(), backend="vulkan")
    with pytest.raises(BackendUnavailableError, match="gsplat"):
        render(g, camera(), backend="gsplat")
    mixed = Cameras.stack([camera(16), camera(8)])
    with pytest.raises(InvalidArgumentError, match="image size"):
        render(g, mixed)
    assert available_backends()[-1] == "torch"
    assert render(g, camera(), backend="auto").backend == available_backends()[0]


def test_negative_object_ids_are_refused():
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        render(single(), camera(), object_ids=torch.tensor([-1]))

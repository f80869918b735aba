"""The compiled CPU backend against the PyTorch reference: forward images and every gradient."""

import math

import numpy

import pytest
import torch

from scenegen import Camera, Cameras, Gaussians
from scenegen.errors import InvalidArgumentError
from scenegen.render import RenderConfig, available_backends, render, render_image
from scenegen.render.backends.cpu_kernels import argsort_positive, fast_exp

pytestmark = pytest.mark.skipif("cpu" not in available_backends(), reason="the cpu backend needs numba")


def random_scene(n, seed, degree=1, spread=0.6):
    g = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=g) * spread + torch.tensor([0.0, 0.0, 3.0]),
        scales=torch.randn(n, 3, generator=g) * 0.4 - 2.6,
        quats=torch.randn(n, 4, generator=g),
        opacities=torch.randn(n, generator=g) * 1.5,
        sh=torch.randn(n, (degree + 1) ** 2, 3, generator=g) * 0.4,
    )


def cameras(width=37, height=29, count=2):
    cams = []
    for i in range(count):
        angle = 0.15 * i
        c2w = torch.eye(4)
        c2w[:3, :3] = torch.tensor([[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]])
        c2w[0, 3] = -3 * math.sin(angle) * 0.3
        cams.append(Camera(fx=40.0, fy=42.0, cx=width / 2 + 0.3, cy=height / 2 - 0.2, width=width, height=height, c2w=c2w))
    return Cameras.stack(cams)


def render_both(g, cams, **kwargs):
    return render(g, cams, backend="cpu", **kwargs), render(g, cams, backend="torch", **kwargs)


@pytest.mark.parametrize("seed,degree", [(0, 0), (1, 1), (2, 2), (3, 3)])
def test_forward_matches_reference(seed, degree):
    g = random_scene(250, seed, degree)
    ids = torch.randint(0, 4, (250,), generator=torch.Generator().manual_seed(seed))
    fast, ref = render_both(g, cameras(), background=(0.1, 0.5, 0.9), object_ids=ids)
    assert fast.backend == "cpu" and ref.backend == "torch"
    assert (fast.rgb - ref.rgb).abs().max() < 1e-4
    assert (fast.alpha - ref.alpha).abs().max() < 1e-4
    covered = ref.alpha[..., 0] > 0.05
    assert (fast.depth - ref.depth).abs()[..., 0][covered].max() < 1e-3
    assert (fast.object_id == ref.object_id).float().mean() > 0.99
    assert torch.equal(fast.radii, ref.radii)
    assert ref.alpha.mean() > 0.2  # the scene covers the image: the test compares something


def test_forward_antialiased_and_odd_sizes():
    g = random_scene(120, 7, 0)
    for size in [(8, 8), (17, 5), (1, 1)]:
        fast, ref = render_both(g, cameras(*size, count=1), config=RenderConfig(antialiased=True))
        assert (fast.rgb - ref.rgb).abs().max() < 1e-4


def test_empty_and_culled_scenes_give_the_background():
    out = render(Gaussians.empty(), cameras(), backend="cpu", background=(0.3, 0.2, 0.1))
    assert torch.allclose(out.rgb, torch.tensor([0.3, 0.2, 0.1]).expand_as(out.rgb))
    behind = random_scene(20, 1).transform(torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0])))
    assert render(behind, cameras(), backend="cpu").alpha.max() == 0


@pytest.mark.parametrize("seed,degree,antialiased", [(0, 2, False), (1, 3, False), (2, 0, True), (3, 1, True)])
def test_every_gradient_matches_reference(seed, degree, antialiased):
    base = random_scene(150, 10 + seed, degree=degree)
    cams = cameras(count=2)
    gen = torch.Generator().manual_seed(seed)
    weights = [torch.randn(2, 29, 37, c, generator=gen) for c in (3, 1, 1)]
    cfg = RenderConfig(antialiased=antialiased)
    grads = {}
    for backend in ("cpu", "torch"):
        g = base.clone().requires_grad_()
        out = render(g, cams, backend=backend, background=(0.2, 0.4, 0.6), config=cfg)
        loss = (out.rgb * weights[0]).sum() + (out.alpha * weights[1]).sum() + 0.1 * (out.depth * weights[2]).sum()
        loss.backward()
        grads[backend] = {name: getattr(g, name).grad for name in ("means", "scales", "quats", "opacities", "sh")}
    for name, ref in grads["torch"].items():
        fast = grads["cpu"][name]
        assert ref.abs().sum() > 0, name
        rel = (fast - ref).norm() / ref.norm()
        assert rel < 1e-3, f"{name}: relative error {rel:.2e}"


def test_screen_space_gradients_are_available_for_densification():
    g = random_scene(60, 4).requires_grad_()
    out = render(g, cameras(count=1), backend="cpu")
    out.means2d.retain_grad()
    out.rgb.sum().backward()
    assert out.means2d.grad.shape == (1, 60, 2)
    assert (out.means2d.grad[0][out.visible[0]].abs().sum(1) > 0).any()


def test_fast_exp_and_radix_argsort():
    x = torch.linspace(-6, 0, 1001)
    approx = torch.tensor([fast_exp(float(v)) for v in x.numpy().astype("float32")])
    assert ((approx - torch.exp(x)).abs() / torch.exp(x)).max() < 1e-5
    keys = torch.rand(5000).numpy().astype("float32")
    keys[:100] = keys[100:200]  # ties keep their order (stable)
    order = argsort_positive(keys)
    assert (keys[order][1:] >= keys[order][:-1]).all()
    assert torch.equal(torch.from_numpy(order).long(), torch.from_numpy(keys).argsort(stable=True))
    # Depths in a narrow range share their high bits (a pass is skipped); zeros, equal keys, large keys.
    for keys in (1.0 + torch.rand(3000) * 1e-3, torch.zeros(50), torch.full((7,), 3.5), torch.rand(2000) * 1e6,
                 torch.tensor([2.0, 0.0, 1e-30, 1.0])):
        keys = keys.numpy().astype("float32")
        assert torch.equal(torch.from_numpy(argsort_positive(keys)).long(), torch.from_numpy(keys).argsort(stable=True))


def test_display_projection_skips_the_colour_of_culled_gaussians():
    """For display, Gaussians outside the view get colour 0 (nothing reads it); everything else is
    what the training projection gives."""
    from scenegen.render.backends.cpu import _project

    g = random_scene(300, 5, degree=3, spread=3.0)
    cam = cameras(count=1)[0]
    full, _ = _project(g.means, g.scales, g.quats, g.opacities, g.sh, cam, 3, RenderConfig())
    display, _ = _project(g.means, g.scales, g.quats, g.opacities, g.sh, cam, 3, RenderConfig(), colour_culled=False)
    seen = full[3] > 0
    assert 0 < seen.sum() < len(seen)
    for a, b in zip(full, display):
        assert numpy.array_equal(a[seen], b[seen])
    assert (display[5][~seen] == 0).all() and (full[5][~seen] > 0).any()


def test_auto_picks_cpu_on_cpu_tensors():
    out = render(random_scene(5, 0), cameras(count=1))
    assert out.backend == "cpu"


def to_uint8(rgb):
    return (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


@pytest.mark.parametrize("seed,degree,size", [(0, 0, (37, 29)), (1, 3, (17, 5)), (2, 1, (64, 48)), (3, 2, (1, 1))])
def test_display_image_matches_the_render(seed, degree, size):
    """render_image's display kernel gives render().rgb rounded to 8 bits: the same as the cpu
    backend's image, and within one level of the reference's."""
    g = random_scene(400, seed, degree)
    cam = cameras(*size, count=1)[0]
    image = render_image(g, cam, background=(0.1, 0.5, 0.9))
    assert image.dtype == numpy.uint8 and image.shape == (size[1], size[0], 3)
    fast = to_uint8(render(g, cam, backend="cpu", background=(0.1, 0.5, 0.9)).rgb[0])
    ref = render(g, cam, backend="torch", background=(0.1, 0.5, 0.9))
    assert (image == fast).all()
    assert numpy.abs(image.astype(int) - to_uint8(ref.rgb[0])).max() <= 1
    if size[0] > 8:
        assert ref.alpha.mean() > 0.2  # the scene covers the image


def test_display_image_stops_opaque_pixels_like_the_render():
    """Many opaque layers: pixels stop blending at the transmittance threshold, as in render()."""
    g = random_scene(600, 5, 0, spread=0.15)
    g = Gaussians(g.means, g.scales + 1.0, g.quats, torch.full((600,), 4.0), g.sh)
    cam = cameras(40, 30, count=1)[0]
    ref = render(g, cam, backend="cpu")
    assert ref.alpha.amax() > 0.999
    assert (render_image(g, cam) == to_uint8(ref.rgb[0])).all()
    torch_image = render_image(g, cam, backend="torch")
    assert numpy.abs(torch_image.astype(int) - to_uint8(render(g, cam, backend="torch").rgb[0])).max() == 0


def test_display_image_checks_its_arguments():
    g = random_scene(5, 0)
    with pytest.raises(InvalidArgumentError, match="one Camera"):
        render_image(g, cameras(count=2))
    with pytest.raises(InvalidArgumentError, match="background"):
        render_image(g, cameras(count=1)[0], background=(1.0, 0.0))
    empty = render_image(Gaussians.empty(), cameras(9, 7, count=1)[0], background=(1.0, 0.0, 0.0))
    assert (empty == numpy.array([255, 0, 0], numpy.uint8)).all()


def test_threads_take_rows_of_tiles_spread_over_the_image():
    """The tiles are dealt to the threads row by row modulo their count: every tile once, and the
    image (and the gradients) do not depend on how many threads there are."""
    import numba

    from scenegen.render.backends.cpu_kernels import striped_tile

    @numba.njit
    def order(tiles_x, tiles_y, stripes):
        return numpy.array([striped_tile(u, tiles_x, tiles_y, stripes) for u in range(tiles_x * tiles_y)])

    for tiles_x, tiles_y, stripes in ((3, 7, 2), (5, 90, 2), (4, 13, 4), (2, 3, 3), (1, 1, 1), (6, 5, 5), (2, 9, 7)):
        seen = order(tiles_x, tiles_y, stripes)
        assert sorted(seen.tolist()) == list(range(tiles_x * tiles_y))
    rows = order(1, 10, 2)
    assert rows[:5].tolist() == [0, 2, 4, 6, 8] and rows[5:].tolist() == [1, 3, 5, 7, 9]  # each half spans the image

    g = random_scene(300, 7, degree=1)
    cam = cameras(45, 37, count=1)
    results = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            params = [t.clone().requires_grad_(True) for t in (g.means, g.scales, g.quats, g.opacities, g.sh)]
            out = render(Gaussians(*params), cam, backend="cpu")
            (out.rgb.square().sum() + out.depth.sum()).backward()
            results.append((out.rgb.detach(), [p.grad for p in params], render_image(g, cam[0])))
    finally:
        numba.set_num_threads(before)
    first = results[0]
    for other in results[1:]:
        assert torch.equal(first[0], other[0]) and numpy.array_equal(first[2], other[2])
        for a, b in zip(first[1], other[1]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

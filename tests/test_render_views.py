import torch

from scenegen import Gaussians, Scene
from scenegen.render.views import framing, orbit_cameras, scene_up, up_from_cameras


def test_orbit_cameras_all_see_the_centre_and_keep_up_up():
    centre = torch.tensor([1.0, 2.0, 0.5])
    cams = orbit_cameras(centre, 0.5, num=6, elevation_deg=30, width=64, height=48)
    assert len(cams) == 6
    uv, depth = cams.project(centre[None])
    assert torch.allclose(uv[:, 0], torch.tensor([32.0, 24.0]).expand(6, 2), atol=1e-3)
    assert (depth > 0).all()
    # A point above the centre appears above it in every image (smaller v).
    uv_up, _ = cams.project((centre + torch.tensor([0.0, 0.0, 0.2]))[None])
    assert (uv_up[:, 0, 1] < 24.0).all()
    # The whole sphere of radius 0.5 fits in the frame.
    edge, _ = cams.project((centre + torch.tensor([0.5, 0.0, 0.0]))[None])
    assert ((edge[:, 0, 0] >= 0) & (edge[:, 0, 0] < 64) & (edge[:, 0, 1] >= 0) & (edge[:, 0, 1] < 48)).all()


def test_framing_ignores_stray_gaussians():
    pts = torch.rand(1000, 3)
    pts[0] = 1000.0
    centre, radius = framing(Gaussians.from_points(pts))
    assert (centre - 0.5).abs().max() < 0.05 and radius < 1.5


def test_scene_up_prefers_metadata_then_cameras():
    g = Gaussians.from_points(torch.rand(5, 3))
    assert torch.allclose(scene_up(Scene.from_gaussians(g, metadata={"up": [0, 2, 0]})), torch.tensor([0.0, 1.0, 0.0]))
    cams = orbit_cameras(torch.zeros(3), 1.0, num=4, up=(0.0, -1.0, 0.0))
    assert torch.allclose(up_from_cameras(cams), torch.tensor([0.0, -1.0, 0.0]), atol=0.2)
    assert torch.allclose(scene_up(Scene.from_gaussians(g)), torch.tensor([0.0, 0.0, 1.0]))

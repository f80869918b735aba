"""The old American spellings still work for one release, warning once (scenegen/deprecated.py)."""

import importlib

import pytest
import torch

import scenegen.deprecated as deprecated
from scenegen.data import Dataset
from scenegen.gaussian_motion import GaussianMotion, MotionBasis
from scenegen.gaussians import Gaussians
from scenegen.synth.paths import camera_path
from scenegen.synth.spec import Surface


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(deprecated, "_warned", set())


def test_gaussians_colors_and_the_colors_keyword():
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 1.0]])
    with pytest.warns(FutureWarning, match=r"from_points\(colors=\).*colours="):
        g = Gaussians.from_points(torch.zeros(2, 3), colors=rgb)
    with pytest.warns(FutureWarning, match="Gaussians.colors is deprecated.*Gaussians.colours"):
        assert torch.allclose(g.colors, g.colours) and torch.allclose(g.colours, rgb, atol=1e-6)
    with pytest.raises(TypeError, match="colours= only"):
        Gaussians.from_points(torch.zeros(2, 3), colours=rgb, colors=rgb)


def test_dataset_point_colors_and_motion_time_centers_read_and_write_the_new_fields():
    ds = Dataset([])
    with pytest.warns(FutureWarning, match="point_colours"):
        ds.point_colors = torch.ones(4, 3)
    assert ds.point_colours.shape == (4, 3)
    motion = GaussianMotion.still(3, MotionBasis(0.0, 1.0))
    with pytest.warns(FutureWarning, match="time_centres"):
        assert motion.time_centers is motion.time_centres


def test_sh_to_color_and_the_synth_motion_module():
    sh = importlib.import_module("scenegen.sh")
    with pytest.warns(FutureWarning, match="scenegen.sh.sh_to_colour"):
        assert sh.sh_to_color is sh.sh_to_colour
    with pytest.raises(AttributeError):
        sh.no_such_name
    import sys

    sys.modules.pop("scenegen.synth.motion", None)
    with pytest.warns(FutureWarning, match="scenegen.synth.object_motion"):
        old = importlib.import_module("scenegen.synth.motion")
    assert old.Motion is importlib.import_module("scenegen.synth.object_motion").Motion


def test_old_scene_spec_keys_are_read_under_their_new_names():
    with pytest.warns(FutureWarning, match="'color'.*floor"):
        surface = Surface.from_dict({"color": [0.1, 0.2, 0.3], "color2": [0.3, 0.2, 0.1]}, "floor")
    assert surface.colour == (0.1, 0.2, 0.3) and surface.colour2 == (0.3, 0.2, 0.1)
    spec = {"path": "orbit", "radius": 1.0, "eye_height": 0.5, "frames": 4, "width": 32, "height": 24}
    with pytest.warns(FutureWarning, match="'center'"):
        old = camera_path({**spec, "center": [0.0, 0.0, 0.3]})
    new = camera_path({**spec, "centre": [0.0, 0.0, 0.3]})
    torch.testing.assert_close(old.c2w, new.c2w)

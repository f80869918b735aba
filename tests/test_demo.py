"""The main job (`scenegen demo`)."""

import json

import torch
import trimesh

from scenegen.cli import main
from scenegen.demo import demo_edits
from scenegen.edit import replay, session_of
from scenegen.io import load
from scenegen.scene import Scene


def test_the_demo_edits_move_copy_drop_and_delete(tmp_path):
    mesh = trimesh.creation.box(extents=[0.22, 0.22, 0.22])
    mesh.export(tmp_path / "box.glb")
    ball = trimesh.creation.icosphere(radius=0.1)
    ball.export(tmp_path / "ball.glb")
    scene = Scene(time_range=(0.0, 2.0), metadata={"support_plane": [0.0, 0.0, 1.0, 0.0]})
    session_of(scene).insert_mesh(tmp_path / "box.glb", "sliding_box", position=[-0.4, -0.1, 0.0], count=2000)
    session_of(scene).insert_mesh(tmp_path / "box.glb", "turning_block", position=[0.2, 0.3, 0.0], count=2000)
    session_of(scene).insert_mesh(tmp_path / "ball.glb", "still_ball", position=[-0.25, 0.35, 0.0], count=2000)
    scene.history.clear()
    replay(scene, demo_edits(scene))
    assert sorted(scene.objects) == ["dropped_box", "sliding_box", "still_ball"]
    dropped = scene.objects["dropped_box"]
    assert float(dropped.gaussians_at(0.0).means[:, 2].min()) > 0.3  # it starts in the air
    assert abs(float(dropped.gaussians_at(2.0).means[:, 2].min())) < 0.01  # and ends on the table
    assert torch.allclose(scene.objects["still_ball"].pose_at(0.0)[:3, 3].float(), torch.tensor([-0.4, 0.45, 0.0]), atol=1e-6)


def test_the_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--frames", "8", "--size", "64x48", "--steps", "60"]) == 0
    printed = capsys.readouterr().out
    assert "before_after.mp4" in printed and "took" in printed
    summary = json.loads((out / "demo.json").read_text())
    assert summary["objects"] == ["sliding_box", "still_ball", "turning_block"]
    assert [e["op"] for e in summary["edits"]] == ["delete", "translate", "duplicate", "simulate"]
    edited = load(out / "edited")
    assert edited.history == summary["edits"]
    for name in ("before_after.mp4", "before_after.png", "reconstruction/scene", "capture/video.mp4"):
        assert (out / name).exists(), name

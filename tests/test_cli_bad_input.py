"""Every subcommand given bad arguments: a one-line message on stderr (click's usage lines before
it for usage errors), a non-zero exit, never a Python traceback, and no file it did not write is
touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scenegen.cli import main

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo_scene.zip"


@pytest.fixture()
def place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(DEMO, "scene.zip")
    Path("folder").mkdir()
    Path("keep.txt").write_text("keep")
    Path("deep.json").write_text("[" * 5000 + "]" * 5000)
    Path("huge.json").write_text(json.dumps({"keyframes": [{"eye": [10 ** 400, 0, 0], "target": [0, 0, 0]}]}))
    Path("frames.json").write_text(json.dumps({"frames": "abc", "keyframes": [{"eye": [1, 1, 1], "target": [0, 0, 0]}]}))
    Path("fov.json").write_text(json.dumps({"keyframes": [{"eye": [1, 1, 1], "target": [0, 0, 0], "fov": None},
                                                          {"eye": [1, 2, 1], "target": [0, 0, 0], "fov": "wide"}]}))
    import torch

    from scenegen.gaussians import Gaussians
    from scenegen.io import save
    from scenegen.scene import Scene

    save(Scene(Gaussians.from_points(torch.randn(3, 3) * 1e-3)), "speck.zip")
    Path("wide.json").write_text(json.dumps({"width": 2 ** 63, "keyframes": [{"eye": [1, 1, 1], "target": [0, 0, 0]}]}))
    return tmp_path


BAD = {
    "render into a folder": ["render", "scene.zip", "-o", "folder"],
    "render fov 0": ["render", "scene.zip", "-o", "a.png", "--fov", "0"],
    "render time nan": ["render", "scene.zip", "-o", "a.png", "--time", "nan"],
    "render background out of range": ["render", "scene.zip", "-o", "a.png", "--background", "5,-1,nan"],
    "render fps inf": ["render", "scene.zip", "-o", "a.mp4", "--fps", "inf"],
    "render size": ["render", "scene.zip", "-o", "a.png", "--size", "0x0"],
    "render unknown option": ["render", "scene.zip", "-o", "a.png", "--shiny"],
    "render nested camera path": ["render", "scene.zip", "-o", "a.mp4", "--path", "deep.json"],
    "render camera path overflow": ["render", "scene.zip", "-o", "a.mp4", "--path", "huge.json"],
    "render camera path frames": ["render", "scene.zip", "-o", "a.mp4", "--path", "frames.json"],
    "render camera path fov": ["render", "scene.zip", "-o", "a.mp4", "--path", "fov.json"],
    "convert time nan": ["convert", "scene.zip", "out.ply", "--time", "nan"],
    "convert from nothing": ["convert", "missing.zip", "out.ply"],
    "export time inf": ["export", "scene.zip", "out.spz", "--time", "inf"],
    "export unknown kind": ["export", "scene.zip", "out.spz", "--kind", "hologram"],
    "export a speck as a mesh": ["export", "speck.zip", "speck.glb"],
    "export no such object": ["export", "scene.zip", "out.spz", "--object", "nobody"],
    "dataset of a file": ["dataset", "keep.txt"],
    "frames of a scene": ["frames", "scene.zip", "-o", "out"],
    "frames into a file": ["frames", "scene.zip", "-o", "keep.txt"],
    "reconstruct into a file": ["reconstruct", "folder", "-o", "keep.txt"],
    "synth of a folder": ["synth", "folder", "-o", "out"],
    "synth over a file": ["synth", "tabletop-static", "-o", "keep.txt"],
    "synth unknown": ["synth", "no-such-scene", "-o", "out"],
    "train into a file": ["train", "folder", "-o", "keep.txt"],
    "train downscale nan": ["train", "folder", "-o", "out", "--downscale", "nan"],
    "train background": ["train", "folder", "-o", "out", "--background", "red"],
    "edit edits folder": ["edit", "scene.zip", "--edits", "folder", "-o", "b.zip"],
    "edit nested edits": ["edit", "scene.zip", "--edits", "deep.json", "-o", "b.zip"],
    "edit translate past float32": ["edit", "scene.zip", "--do", "translate cube offset=1e39,0,0", "-o", "b.zip"],
    "edit nested value": ["edit", "scene.zip", "--do", "translate cube offset=" + "[" * 3000, "-o", "b.zip"],
    "edit unknown op": ["edit", "scene.zip", "--do", "explode cube", "-o", "b.zip"],
    "batch of nothing": ["batch", "-o", "out"],
    "view time nan": ["view", "scene.zip", "--time", "nan", "--screenshot", "a.png"],
    "unknown command": ["hologram"],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_get_one_line_and_a_non_zero_exit(case, place, capsys):
    code = main(BAD[case])  # a Python exception escaping here fails the test
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code != 0, case
    assert err and err[-1].lower().startswith("error"), err
    assert "Traceback" not in "\n".join(err)
    assert Path("keep.txt").read_text() == "keep" and Path("scene.zip").read_bytes() == DEMO.read_bytes()
    assert not Path("b.zip").exists()


def test_the_console_script_prints_no_traceback(place):
    out = subprocess.run([sys.executable, "-m", "scenegen.cli", "render", "scene.zip", "-o", "folder", "--time", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == "error: -o folder: is a folder; give a .png or video file name"


def test_documents_from_outside_are_checked_field_by_field(place):
    from scenegen.data import load_dataset
    from scenegen.errors import ScenegenError
    from scenegen.io import load
    from scenegen.render.paths import keyframe_path

    scene = load("scene.zip")
    with pytest.raises(ScenegenError, match="width must be an integer"):
        keyframe_path(scene, "wide.json")
    with pytest.raises(ScenegenError, match="RecursionError"):
        keyframe_path(scene, "deep.json")
    Path("deep.json").write_text("[" * 100 + "]" * 100)  # deep, but not past Python's parser
    with pytest.raises(ScenegenError, match="nest deeper than 64"):
        keyframe_path(scene, "deep.json")
    frame = {"file_path": "a.png", "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}
    from PIL import Image

    Image.new("RGB", (8, 8)).save("a.png")
    cases = {"'fl_x' must be a finite number": {"fl_x": 10 ** 400, "w": 8, "h": 8, "frames": [frame]},
             "transform_matrix": {"fl_x": 8, "w": 8, "h": 8, "frames": [{**frame, "transform_matrix": [[1e39] * 4] * 4}]},
             "'train_filenames' must be a list of file names": {"fl_x": 8, "w": 8, "h": 8, "frames": [frame],
                                                                 "train_filenames": [[1]]},
             "'ply_file_path' must be a file name": {"fl_x": 8, "w": 8, "h": 8, "frames": [frame], "ply_file_path": 5},
             "not valid JSON": None}
    for message, doc in cases.items():
        Path("transforms.json").write_text("[" * 5000 if doc is None else json.dumps(doc))
        with pytest.raises(ScenegenError, match=message):
            load_dataset("transforms.json")


def test_one_number_cannot_ask_for_unbounded_work(place):
    from scenegen.edit import replay
    from scenegen.errors import ScenegenError
    from scenegen.gaussian_motion import MotionBasis
    from scenegen.io import load

    scene = load("scene.zip")
    journals = {
        "count must be an integer from 1": {"op": "insert_mesh", "args": {"path": "keep.txt", "name": "m", "count": 1e9}},
        "path must name a mesh": {"op": "insert_mesh", "args": {"path": 5, "name": "m"}},
        "at most 600 s": {"op": "simulate", "args": {"duration": 1e6}},
        "20000 poses in all": {"op": "simulate", "args": {"duration": 500, "fps": 60}},
        "240 poses a second": {"op": "simulate", "args": {"duration": 1, "fps": 1000}},
        "float32": {"op": "translate", "args": {"object": "cube", "offset": [1e39, 0, 0]}},
    }
    for message, entry in journals.items():
        with pytest.raises(ScenegenError, match=message):
            replay(scene, [entry])
    with pytest.raises(ScenegenError, match="from 0 to 16"):
        MotionBasis.from_dict({"type": "poly-fourier", "t0": 0, "t1": 1, "degree": 100000000, "fourier": 2})
    assert not scene.history  # nothing half-applied


def test_saved_scenes_with_garbage_in_them_are_refused_on_load(place):
    import torch

    from scenegen.errors import ScenegenError
    from scenegen.gaussian_motion import GaussianMotion, MotionBasis
    from scenegen.geometry import quat_normalize
    from scenegen.io import load, save
    from scenegen.scene import Scene, SceneObject, Track

    scene = load("scene.zip")
    save(scene, "plain")
    manifest = json.loads(Path("plain/scene.json").read_text())
    manifest["cameras"] = {"fx": [50.0], "fy": [50.0], "cx": [32.0], "cy": [24.0], "width": [64], "height": [48],
                           "c2w": [[[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]]}
    Path("plain/scene.json").write_text(json.dumps(manifest))
    with pytest.raises(ScenegenError, match="rigid"):
        load("plain")
    manifest["cameras"]["c2w"] = [[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]]
    manifest["cameras"]["times"] = ["soon"]
    Path("plain/scene.json").write_text(json.dumps(manifest))
    with pytest.raises(ScenegenError, match=r"cameras.times\[0\]"):
        load("plain")
    g = scene.background.gaussians
    motion = GaussianMotion.still(len(g), MotionBasis(0.0, 1.0))
    motion.offsets[0, 0, 0] = float("nan")
    save(Scene(g, [SceneObject("moving", g, motion=motion)], time_range=(0.0, 1.0)), "moving")
    with pytest.raises(ScenegenError, match="NaN"):
        load("moving")
    with pytest.raises(ScenegenError, match="float32"):
        Track([0.0], [[1.0, 0, 0, 0]], [[1e39, 0, 0]])
    assert torch.allclose(quat_normalize(torch.tensor([3e38, 3e38, 0.0, 0.0])), torch.tensor([0.5 ** 0.5, 0.5 ** 0.5, 0, 0]))


def test_a_file_path_too_long_for_the_file_system_is_named(place):
    from scenegen.data import load_dataset
    from scenegen.errors import DatasetError

    frame = {"file_path": "x" * 300, "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}
    Path("transforms.json").write_text(json.dumps({"fl_x": 8, "w": 8, "h": 8, "frames": [frame]}))
    with pytest.raises(DatasetError, match="cannot name a file"):
        load_dataset("transforms.json")


def test_colmap_models_with_impossible_numbers(make_colmap, caplog):
    import logging

    from scenegen.data import load_dataset
    from scenegen.errors import DatasetError

    model = make_colmap("txt")
    points = model.model / "points3D.txt"
    lines = points.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    fields = lines[first].split()
    lines[first] = " ".join([fields[0], "nan", *fields[2:]])
    points.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="scenegen.data"):
        ds = load_dataset(model.path)
    assert len(ds.points) == len(model.points) - 1 and "not finite" in caplog.text
    cameras = model.model / "cameras.txt"
    text = cameras.read_text().splitlines()
    row = next(i for i, line in enumerate(text) if line and not line.startswith("#"))
    parts = text[row].split()
    text[row] = " ".join(parts[:2] + [str(2 ** 63), parts[3]] + parts[4:])
    cameras.write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetError, match="image sides"):
        load_dataset(model.path)


def test_frames_of_a_real_video_into_a_file_is_refused_before_decoding(place, capsys, monkeypatch):
    import imageio.v3 as iio
    import numpy as np

    import scenegen.data.video as video

    iio.imwrite("clip.mp4", np.zeros((4, 32, 32, 3), np.uint8), fps=4, codec="libx264")
    monkeypatch.setattr(video, "probe_video", lambda path: pytest.fail("the video was opened before the output was checked"))
    assert main(["frames", "clip.mp4", "-o", "keep.txt"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: keep.txt: is a file; the output is a folder: give a folder's name"
    assert Path("keep.txt").read_text() == "keep"

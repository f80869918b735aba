"""Property-based fuzzing of the JSON documents scenegen reads from outside: edit journals (each
operation's arguments replaced by random JSON), camera-path files and transforms.json fields.
Only project errors or clean results are allowed, and what comes out is finite."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scenegen.data import load_dataset
from scenegen.edit import replay
from scenegen.io import load
from scenegen.render.paths import keyframe_path
from test_io_fuzz import FUZZ, survive

pytestmark = pytest.mark.bounded_memory  # every reader here runs under a memory limit

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo_scene.zip"
SCENE = load(DEMO)
OPS = ["delete", "duplicate", "hide", "insert_mesh", "merge", "recolour", "rename", "retime", "rotate", "scale", "set_pose",
       "show", "simulate", "split", "tint", "transform", "translate"]
NUMBERS = st.one_of(st.integers(-10, 10), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([10 ** 400, 1e39, -1e39, 2 ** 63, 0, 1e-300]))
NAMES = st.sampled_from(["cube", "sphere", "ring", "background", "", "nobody"])
LEAVES = st.one_of(NUMBERS, NAMES, st.booleans(), st.none(), st.text(max_size=8))
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                      max_leaves=20)
ARG_NAMES = st.sampled_from(["object", "offset", "axis", "angle", "pivot", "factor", "matrix", "rgb", "name", "new_name",
                             "time", "position", "times", "shift", "objects", "into", "strength", "duration", "fps",
                             "gravity", "impulses", "plane", "density", "path", "count"])


@settings(FUZZ, deadline=10000)  # a simulate runs the physics engine: up to its 20000 poses
@given(st.sampled_from(OPS), st.dictionaries(ARG_NAMES, VALUES, max_size=4), st.booleans())
def test_journal_entries_give_project_errors_or_finite_scenes(op, args, named):
    if named:
        args = {"object": "cube", **args}
    scene = load(DEMO)
    done = survive(replay, scene, [{"op": op, "args": args}])
    if done is not None:
        g, _ = done.gaussians_at(None)
        assert bool(torch.isfinite(g.means).all()) and bool(torch.isfinite(g.sh).all())
        json.dumps(done.history, allow_nan=False)  # the journal stays plain JSON


KEYFRAME_FIELDS = st.sampled_from(["eye", "target", "up", "fov", "time", "c2w", "camera_to_world"])
TOP_FIELDS = st.sampled_from(["width", "height", "frames", "render_width", "render_height"])


@FUZZ
@given(st.dictionaries(KEYFRAME_FIELDS, VALUES, max_size=3), st.dictionaries(TOP_FIELDS, VALUES, max_size=2))
def test_camera_paths_give_project_errors_or_finite_cameras(keyframe, top):
    entries = [{"eye": [1.0, 1.0, 1.0], "target": [0.0, 0.0, 0.0], **keyframe}, {"eye": [1.0, -1.0, 1.0], "target": [0, 0, 0]}]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "path.json"
        path.write_text(json.dumps({"keyframes": entries, **top}, allow_nan=True))
        result = survive(keyframe_path, SCENE, path, frames=4)
    if result is not None:
        cams, times = result
        assert bool(torch.isfinite(cams.c2w).all()) and len(cams) == 4
        assert times is None or bool(torch.isfinite(times).all())


FRAME_FIELDS = st.sampled_from(["file_path", "transform_matrix", "fl_x", "fl_y", "cx", "cy", "w", "h", "time", "mask_path"])
META_FIELDS = st.sampled_from(["fl_x", "w", "h", "camera_angle_x", "k1", "train_filenames", "ply_file_path", "mask_names",
                               "frames", "aabb_scale"])


@FUZZ
@given(st.dictionaries(FRAME_FIELDS, VALUES, max_size=2), st.dictionaries(META_FIELDS, VALUES, max_size=2))
def test_transforms_files_give_project_errors_or_finite_datasets(frame_changes, meta_changes):
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        Image.new("RGB", (8, 6)).save(root / "a.png")
        frame = {"file_path": "a.png", "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 2], [0, 0, 0, 1]], **frame_changes}
        meta = {"fl_x": 8, "w": 8, "h": 6, "frames": [frame, {**frame, "file_path": "a.png"}], **meta_changes}
        (root / "transforms.json").write_text(json.dumps(meta, allow_nan=True))
        ds = survive(load_dataset, root / "transforms.json")
        if ds is not None and ds.cameras is not None:
            c = ds.cameras
            assert all(bool(torch.isfinite(v).all()) for v in (c.c2w, c.fx, c.fy, c.cx, c.cy))
            assert all(math.isfinite(float(v)) for v in c.width)

"""The main job, on the built-in scene: `scenegen demo`.

From the synthetic `tabletop-dynamic` capture (a box slides across a table, a block turns, a ball
stands still, filmed along a hand-held arc): generate the video and its ground truth, reconstruct
the moving scene with its objects (from the capture's instance masks), edit it (move the ball,
duplicate the box and drop the copy onto the table under gravity, delete the block), and write
everything:

    OUT/capture/          the generated capture (video.mp4, frames, poses, masks, depth)
    OUT/reconstruction/   the trained scene, its PLY, training log and held-out renders
    OUT/edited/           the edited scene (its journal of edits inside)
    OUT/before_after.mp4  the reconstruction | the edited scene, along the capture path in time
    OUT/before_after.png  the same at the middle of the capture
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

log = logging.getLogger("scenegen.demo")
SCENE = "tabletop-dynamic"
DROP_HEIGHT = 0.35  # the copy of the box starts this far above the table


def demo_edits(scene) -> list[dict]:
    """The edits the demo makes, as journal entries (plain JSON), for the scene's objects."""
    names = set(scene.objects)
    t0, t1 = scene.time_range
    edits = []
    if "turning_block" in names:
        edits.append({"op": "delete", "args": {"object": "turning_block"}})
    if "still_ball" in names:
        edits.append({"op": "translate", "args": {"object": "still_ball", "offset": [-0.15, 0.1, 0.0]}})
    if "sliding_box" in names:
        # The copy starts above the empty part of the table (where the block was) and falls.
        edits += [{"op": "duplicate", "args": {"object": "sliding_box", "name": "dropped_box", "offset": [0.5, 0.4, DROP_HEIGHT]}},
                  {"op": "simulate", "args": {"duration": round(t1 - t0, 6), "fps": 24, "start": t0, "objects": ["dropped_box"]}}]
    return edits


def run_demo(out: str | Path = "out/demo", *, frames: int = 36, size: tuple[int, int] = (320, 240), steps: int = 1000,
             progress: bool = True) -> dict:
    """Run the main job into `out`; returns a summary (paths, timings, objects, held-out PSNR)."""
    from .data import load_dataset
    from .edit import replay
    from .io import load, save
    from .recon import TrainConfig, train
    from .render.video import render_video
    from .synth import generate, load_spec

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    started = time.perf_counter()
    capture = generate(load_spec(SCENE), out / "capture", frames=frames, size=size, progress=progress)
    timings["generate"] = time.perf_counter() - started

    started = time.perf_counter()
    dataset = load_dataset(capture)
    scene = train(dataset, TrainConfig(steps=steps, checkpoint_every=0), out=out / "reconstruction", progress=progress,
                  objects="masks")
    timings["reconstruct"] = time.perf_counter() - started

    started = time.perf_counter()
    edited = load(out / "reconstruction" / "scene")
    _ground(edited, capture)
    replay(edited, demo_edits(edited))
    save(edited, out / "edited")
    timings["edit"] = time.perf_counter() - started

    started = time.perf_counter()
    before = load(out / "reconstruction" / "scene")
    cameras = dataset.cameras
    t0, t1 = edited.time_range
    path_cameras = cameras.path(max(2 * len(cameras), 48))
    times = torch.linspace(t0, t1, len(path_cameras)).tolist()
    render_video([before, edited], path_cameras, out / "before_after.mp4", fps=24, times=times, background=(0.0, 0.0, 0.0),
                 progress=progress)
    _picture(before, edited, cameras[len(cameras) // 2], 0.5 * (t0 + t1), out / "before_after.png")
    timings["render"] = time.perf_counter() - started

    summary = {"out": str(out), "scene": SCENE, "frames": frames, "size": list(size), "steps": steps,
               "objects": sorted(scene.objects), "edited_objects": sorted(edited.objects), "edits": edited.history,
               "test_psnr": (scene.metadata.get("eval") or {}).get("psnr"), "seconds": timings,
               "files": {name: str(out / name) for name in ("capture", "reconstruction", "edited", "before_after.mp4", "before_after.png")}}
    (out / "demo.json").write_text(json.dumps(summary, indent=1))
    return summary


def _ground(edited, capture: Path):
    """Record the supporting plane the copy falls onto in the edited scene's metadata: the one the
    reconstruction recorded, else the one found in its background's Gaussians, else (a very short
    reconstruction) the capture's true floor."""
    if "support_plane" in edited.metadata:
        return
    from .edit import ground_plane
    from .errors import InvalidArgumentError

    try:
        normal, d = ground_plane(edited)
        edited.metadata["support_plane"] = [*normal.tolist(), d]
    except InvalidArgumentError:
        truth = json.loads((capture / "ground_truth.json").read_text())
        log.info("scenegen demo: no table found in the reconstruction; using the capture's floor")
        edited.metadata["support_plane"] = [*truth["up"], -float(truth["floor_z"])]


def _picture(before, after, camera, t, path: Path):
    from .common.atomic import atomic_write_png

    with torch.no_grad():
        images = [s.render(camera, t, background=(0.0, 0.0, 0.0)).rgb[0] for s in (before, after)]
    atomic_write_png(path, torch.cat(images, 1))


__all__ = ["run_demo", "demo_edits"]

"""Viewer frame rate benchmark (offscreen), `scenegen view --benchmark` in one run per renderer.

    python benchmarks/viewer_fps.py
    python benchmarks/viewer_fps.py --seconds 5

The scene: the built-in `tabletop-static` room and objects, their true meshes covered with N
surface splats of SH degree 3 (100k and 300k), a stand-in for a reconstruction of that size that
needs no training. The camera orbits the scene from the viewer's default view, one degree a
frame, as `scenegen view --benchmark` does. Rows:

- the viewer's renderers: scenegen's CPU rasterizer (what `auto` picks with no GPU) and OpenGL
  (moderngl on Mesa's llvmpipe here), each at full resolution and as the quick frames drawn while
  the camera moves (half the width and height, enlarged);
- the reference: `scenegen.render` with the pure-PyTorch backend, a couple of frames.

Each fps is the median of five runs (their range beside it); the ratio is to the reference. The image of each renderer is
compared with the reference renderer's at the same camera (PSNR). Writes
benchmarks/results/viewer_fps.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CASES = ((100_000, 960, 540), (300_000, 1280, 720))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_scene(count: int, work: Path):
    """`count` splats of SH degree 3 on the surfaces of the tabletop-static scene."""
    import trimesh

    from scenegen import Scene
    from scenegen.edit.insert import mesh_gaussians
    from scenegen.gaussians import Gaussians
    from scenegen.geometry import make_transform, quat_to_rotmat
    from scenegen.synth import generate, load_spec

    capture = work / "capture"
    if not capture.is_dir():
        generate(load_spec("tabletop-static"), capture, frames=2, size=(64, 48), progress=False)
    truth = json.loads((capture / "ground_truth.json").read_text())
    meshes = [trimesh.load(capture / truth["room_mesh"], force="mesh")]
    for obj in truth["objects"]:
        mesh = trimesh.load(capture / obj["mesh"], force="mesh")
        track = obj["track"]
        pose = make_transform(quat_to_rotmat(torch.tensor(track["rotations"][0], dtype=torch.float64)),
                              torch.tensor(track["translations"][0], dtype=torch.float64))
        mesh.apply_transform(pose.numpy())
        meshes.append(mesh)
    joined = trimesh.util.concatenate(meshes)
    path = work / "surfaces.ply"
    joined.export(path)
    g = mesh_gaussians(path, count=count, seed=0)
    lo, hi = joined.bounds
    shift = torch.tensor([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]], dtype=torch.float32)
    rng = torch.Generator().manual_seed(1)
    sh = torch.zeros(count, 16, 3)
    colours = torch.rand(count, 3, generator=rng) * 0.6 + 0.2
    sh[:, 0] = (colours - 0.5) / 0.28209479177387814
    sh[:, 1:] = 0.05 * torch.randn(count, 15, 3, generator=rng)
    g = Gaussians(g.means + shift, g.scales, g.quats, torch.full((count,), 2.0), sh)
    scene = Scene.from_gaussians(g, metadata={"up": [0.0, 0.0, 1.0]})
    return scene


RUNS = 5


def fps_of(session, seconds: float, width: int, height: int, scale: float) -> tuple[float, float, float]:
    """(median, slowest, fastest) fps of RUNS orbits from the default view: this machine's speed
    drifts by tens of percent within minutes, so the spread is reported beside the median. An
    untimed orbit first: a process's first seconds of frames run slower than its steady state."""
    session.benchmark(seconds / 2, width, height, scale)
    runs = []
    for _ in range(RUNS):
        session.reset_view()
        runs.append(session.benchmark(seconds, width, height, scale))
    return statistics.median(runs), min(runs), max(runs)


def reference_fps(scene, session, width: int, height: int, frames: int = 2) -> float:
    from scenegen import render

    gaussians, _ = scene.gaussians_at(None)
    times = []
    with torch.no_grad():
        for i in range(frames):
            session.view.orbit(1.0, 0.0)
            cam = session.camera(width, height)
            started = time.perf_counter()
            render(gaussians, cam, background=session.background, backend="torch")
            times.append(time.perf_counter() - started)
    return 1.0 / statistics.median(times)


def fidelity(scene, session, width: int, height: int) -> float:
    from scenegen import render
    from scenegen.metrics import psnr

    session.reset_view()
    gaussians, _ = scene.gaussians_at(None)
    with torch.no_grad():
        reference = render(gaussians, session.camera(width, height), background=session.background, backend="torch").rgb[0]
    image = torch.from_numpy(session.frame(width, height).astype(np.float32) / 255)
    return float(psnr(image, reference.clamp(0, 1)))


def run(seconds: float) -> dict:
    from apps.viewer.session import ViewerSession

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count, width, height in CASES:
            scene = make_scene(count, Path(tmp))
            log(f"{count} Gaussians at {width}x{height}")
            probe = ViewerSession(scene, renderer="cpu")
            ref = reference_fps(scene, probe, width, height)
            rows.append({"gaussians": count, "size": f"{width}x{height}", "renderer": "scenegen.render torch (reference)",
                         "frames": "full", "fps": ref, "ratio": 1.0, "psnr": math.inf})
            for kind in ("cpu", "opengl"):
                try:
                    session = ViewerSession(scene, renderer=kind)
                except Exception as exc:  # no OpenGL context on this machine
                    log(f"{kind}: not available ({exc})")
                    continue
                quality = fidelity(scene, session, width, height)
                for label, scale in (("full", 1.0), ("quick (half size)", 0.5)):
                    fps, slowest, fastest = fps_of(session, seconds, width, height, scale)
                    rows.append({"gaussians": count, "size": f"{width}x{height}", "renderer": session.renderer.name,
                                 "frames": label, "fps": fps, "fps_range": [slowest, fastest], "ratio": fps / ref,
                                 "psnr": quality})
                    log(f"  {session.renderer.name} {label}: {fps:.1f} fps ({fps / ref:.0f}x the reference), PSNR {quality:.1f}")
    return {"seconds": seconds, "threads": torch.get_num_threads(), "cpu": cpu_name(), "rows": rows}


def cpu_name() -> str:
    """The CPU as LLVM names it for numba's code (e.g. znver5 with 512-bit vectors, znver3 or
    haswell with 256-bit ones): the frame rate of the CPU renderer depends on it."""
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_name()


def spread(row: dict) -> str:
    if "fps_range" not in row:
        return "-"
    return f"{row['fps_range'][0]:.1f}-{row['fps_range'][1]:.1f}"


def table(results: dict) -> str:
    lines = [f"# Viewer frame rate (offscreen, orbiting; median of {RUNS} runs, slowest-fastest beside it)", "",
             f"{results['threads']} CPU threads ({results.get('cpu', 'unknown')}), no GPU. Scene: splats (SH degree 3) on the surfaces of `tabletop-static`. "
             "PSNR: the renderer's full-size image against the reference renderer's at the same camera.", "",
             "| Gaussians | size | renderer | frames | fps | runs | vs reference | PSNR vs reference |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        psnr = "-" if math.isinf(r["psnr"]) else f"{r['psnr']:.1f} dB"
        lines.append(f"| {r['gaussians']:,} | {r['size']} | {r['renderer']} | {r['frames']} | {r['fps']:.2f} | {spread(r)} | "
                     f"{r['ratio']:.0f}x | {psnr} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="Length of each timed orbit.")
    args = parser.parse_args()
    results = run(args.seconds)
    text = table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "viewer_fps.json").write_text(json.dumps(results, indent=1, default=str))
    (RESULTS / "viewer_fps.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

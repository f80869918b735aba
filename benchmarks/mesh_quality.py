"""Mesh export benchmark: TSDF meshes of reconstructed objects against their true meshes.

    python benchmarks/mesh_quality.py                     # generate, reconstruct, mesh
    python benchmarks/mesh_quality.py --scene out/demo/reconstruction/scene --capture out/demo/capture

The built-in synthetic `tabletop-dynamic` capture (generated here, with its true meshes and
motion) is reconstructed with its objects from masks, as `scenegen demo` does. Each object is then
meshed alone (`scenegen.io.extract_mesh`, the defaults of `scenegen export`) at three capture times,
and compared with the true mesh posed at that time:

- accuracy: mean distance from the exported surface to the true one;
- completeness: mean distance from the true surface to the exported one;
- Chamfer: their mean, also as a share of the object's size (the diagonal of its true box).

The reference, in the same run, is the plain point export (`--kind points`, the centres of the
object's opaque splats), which is what a splat tool without meshing hands over.

Writes benchmarks/results/mesh_quality.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SAMPLES = 30_000


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def _distances(points: np.ndarray, truth_points: np.ndarray) -> tuple[float, float]:
    from scipy.spatial import cKDTree

    accuracy = float(cKDTree(truth_points).query(points)[0].mean())
    completeness = float(cKDTree(points).query(truth_points)[0].mean())
    return accuracy, completeness


def _true_mesh(capture: Path, entry: dict, t: float):
    import trimesh

    from scenegen.geometry import make_transform, quat_to_rotmat
    import torch

    times = np.asarray(entry["track"]["times"])
    k = int(np.argmin(np.abs(times - t)))
    pose = make_transform(quat_to_rotmat(torch.tensor(entry["track"]["rotations"][k], dtype=torch.float64)),
                          torch.tensor(entry["track"]["translations"][k], dtype=torch.float64))
    mesh = trimesh.load(capture / entry["mesh"], force="mesh")
    mesh.apply_transform(pose.numpy())
    return mesh, float(times[k])


def reconstruct(work: Path, frames: int, size: tuple[int, int], steps: int) -> tuple[Path, Path, float]:
    from scenegen.data import load_dataset
    from scenegen.recon import TrainConfig, train
    from scenegen.synth import generate, load_spec

    capture = generate(load_spec("tabletop-dynamic"), work / "capture", frames=frames, size=size, progress=False)
    started = time.perf_counter()
    train(load_dataset(capture), TrainConfig(steps=steps, checkpoint_every=0), out=work / "reconstruction",
          progress=False, objects="masks")
    return work / "reconstruction" / "scene", capture, time.perf_counter() - started


def measure(scene_path: Path, capture: Path) -> dict:
    from scenegen.export import extract_mesh
    from scenegen.io import load, point_cloud

    truth = json.loads((capture / "ground_truth.json").read_text())
    scene = load(scene_path)
    times = truth["times"]
    picks = [times[len(times) // 6], times[len(times) // 2], times[5 * len(times) // 6]]
    rows = {}
    for entry in truth["objects"]:
        name = entry["name"]
        if name not in scene.objects:
            log(f"{name}: not among the reconstructed objects {list(scene.objects)}; skipped")
            continue
        lo, hi = np.asarray(entry["bounds_local"])
        size = float(np.linalg.norm(hi - lo))
        per_time = []
        for t in picks:
            true_mesh, t = _true_mesh(capture, entry, t)
            truth_points = true_mesh.sample(SAMPLES, seed=0)
            started = time.perf_counter()
            mesh = extract_mesh(scene, name, t)
            seconds = time.perf_counter() - started
            mesh_acc, mesh_comp = _distances(mesh.sample(SAMPLES, seed=1), truth_points)
            cloud = point_cloud(scene, name, t)
            pts_acc, pts_comp = _distances(np.asarray(cloud.vertices), truth_points)
            per_time.append({"t": t, "mesh_accuracy": mesh_acc, "mesh_completeness": mesh_comp, "points_accuracy": pts_acc,
                             "points_completeness": pts_comp, "seconds": seconds, "faces": len(mesh.faces),
                             "points": len(cloud.vertices)})
            log(f"{name} t={t:.2f}: mesh {100 * (mesh_acc + mesh_comp) / 2:.2f} cm, "
                f"points {100 * (pts_acc + pts_comp) / 2:.2f} cm, {seconds:.1f} s")
        med = {k: statistics.median(r[k] for r in per_time) for k in per_time[0] if k != "t"}
        med["mesh_chamfer"] = (med["mesh_accuracy"] + med["mesh_completeness"]) / 2
        med["points_chamfer"] = (med["points_accuracy"] + med["points_completeness"]) / 2
        rows[name] = {"size": size, "times": [r["t"] for r in per_time], **med}
    return rows


def table(results: dict) -> str:
    lines = [f"# Mesh export: TSDF meshes of reconstructed objects against their true meshes",
             "",
             f"`tabletop-dynamic`, {results['frames']} frames at {results['size']}, {results['steps']} steps with masks "
             f"(reconstruction {results['reconstruct_seconds']:.0f} s); each object meshed alone at "
             f"{len(next(iter(results['objects'].values()))['times'])} capture times, medians. "
             "Distances in cm; Chamfer also as % of the object's size (its true diagonal). "
             "Reference: the object's opaque splat centres (`--kind points`).",
             "",
             "| object | size | mesh accuracy | mesh completeness | mesh Chamfer | points Chamfer (reference) | mesh / points | faces | mesh time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["objects"].items():
        lines.append(f"| {name} | {100 * r['size']:.1f} | {100 * r['mesh_accuracy']:.2f} | {100 * r['mesh_completeness']:.2f} | "
                     f"{100 * r['mesh_chamfer']:.2f} ({100 * r['mesh_chamfer'] / r['size']:.1f}%) | "
                     f"{100 * r['points_chamfer']:.2f} ({100 * r['points_chamfer'] / r['size']:.1f}%) | "
                     f"{r['mesh_chamfer'] / r['points_chamfer']:.2f} | {int(r['faces'])} | {r['seconds']:.1f} s |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", type=Path, help="A reconstruction of tabletop-dynamic to measure (with --capture).")
    parser.add_argument("--capture", type=Path, help="The capture it was reconstructed from (ground_truth.json).")
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--size", default="160x120")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    if (args.scene is None) != (args.capture is None):
        parser.error("give both --scene and --capture, or neither")
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.scene is None:
            scene_path, capture, seconds = reconstruct(Path(tmp), args.frames, (w, h), args.steps)
        else:
            scene_path, capture, seconds = args.scene, args.capture, float("nan")
        results = {"frames": args.frames, "size": args.size, "steps": args.steps, "reconstruct_seconds": seconds,
                   "objects": measure(scene_path, capture)}
    text = table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mesh_quality.json").write_text(json.dumps(results, indent=1))
    (RESULTS / "mesh_quality.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Video reconstruction benchmark: `scenegen reconstruct` on the real captures in ../shared/data.

    python benchmarks/video_reconstruct.py                      # everything, at the defaults
    python benchmarks/video_reconstruct.py --only apple --steps 3000

- apple.mp4 (camera moving around a static apple) and backpack.mp4 (camera moving, a person
  swinging a backpack): the whole pipeline at its defaults: keyframes, registration, SfM points,
  reprojection error, SfM / training / total time, held-out PSNR, peak memory.
- bear.mp4 (a pan): must end with a clear message, which is recorded.
- synth1080p: a 70-frame 1920x1080 video rendered by `scenegen synth` (tabletop-static), for the
  time of a 1080p phone-length clip end to end (its rendering is not counted).
- colmap_statue/images (photos only): poses recovered without the given model, then compared
  with its poses after a similarity alignment (rotation and camera-centre errors).
- Reference: pycolmap's plain pipeline (SIFT, sequential or exhaustive matching, incremental
  mapping, all defaults) on the same keyframes in the same run, for registration and SfM time.

Writes benchmarks/results/video_reconstruct.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from _reference import pycolmap_defaults
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
VIDEOS = {"apple": DATA / "videos" / "apple.mp4", "backpack": DATA / "videos" / "backpack.mp4",
          "bear": DATA / "videos" / "bear.mp4"}
STATUE = DATA / "colmap_statue"
# A 1080p clip of phone length, rendered here: `scenegen synth tabletop-static --size 1920x1080
# --frames 70` (the shared phone clips are 720p and smaller); the time is measured from its video.
SYNTH_1080P = {"spec": "tabletop-static", "size": (1920, 1080), "frames": 70}
CAPTURES = (*VIDEOS, "synth1080p", "statue")


def synth_1080p(tmp: Path) -> Path:
    from scenegen.synth import generate, load_spec

    out = tmp / "synth1080p_capture"
    generate(load_spec(SYNTH_1080P["spec"]), out, frames=SYNTH_1080P["frames"], size=SYNTH_1080P["size"], progress=False)
    return out / "video.mp4"


def reference_sfm(images: Path, names: list[str], work: Path) -> dict:
    """pycolmap with its defaults: what a user would run by hand."""
    model, seconds = pycolmap_defaults(images, names, work)
    return {"registered": 0 if model is None else model.num_reg_images(), "seconds": seconds}


def run_video(name: str, steps: int | None, tmp: Path) -> dict:
    from scenegen import reconstruct
    from scenegen.errors import ScenegenError

    out = tmp / name
    video = synth_1080p(tmp) if name == "synth1080p" else VIDEOS[name]
    started = time.perf_counter()
    try:
        scene = reconstruct(video, out, config=None if steps is None else {"steps": steps},
                            progress=False)
    except ScenegenError as exc:
        frames = json.loads((out / "frames" / "frames.json").read_text()) if (out / "frames" / "frames.json").is_file() else {}
        return {"clip": name, "failed": True, "message": str(exc), "seconds": time.perf_counter() - started,
                "keyframes": len(frames.get("keyframes", []))}
    r = dict(scene.metadata["report"])
    r.update(clip=name, failed=False, steps=scene.metadata["train"]["steps"])
    names = [p.name for p in sorted((out / "frames" / "images").iterdir())]
    r["reference"] = reference_sfm(out / "frames" / "images", names, tmp / f"{name}_reference")
    shutil.rmtree(out / "train", ignore_errors=True)
    return r


def run_statue(tmp: Path) -> dict:
    from scenegen.data.colmap import load_colmap
    from scenegen.data.image_folder import load_image_folder
    from scenegen.data.pose_compare import compare_poses
    from scenegen.data.poses import estimate_poses

    reference = load_colmap(STATUE)
    posed, report = estimate_poses(load_image_folder(STATUE / "images"), tmp / "statue", progress=False)
    index = {p.name: i for i, p in enumerate(reference.image_paths)}
    errors = compare_poses(posed.cameras, reference.cameras[[index[p.name] for p in posed.image_paths]])
    names = sorted(p.name for p in (STATUE / "images").iterdir())
    return {"clip": "statue", **report.to_dict(), "pose_errors": errors,
            "reference": reference_sfm(STATUE / "images", names, tmp / "statue_reference")}


def table(results: list[dict]) -> str:
    lines = ["# Video reconstruction (`scenegen reconstruct`, defaults, 2-core CPU, no GPU)", "",
             "| capture | keyframes | registered | SfM points | reproj. px | SfM s | pycolmap defaults: registered, s (ratio) "
             "| steps | train s | total s | held-out PSNR dB | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in results:
        if r["clip"] == "statue":
            continue
        if r.get("failed"):
            lines.append(f"| {r['clip']}.mp4 | {r['keyframes']} | refused | | | | | | | {r['seconds']:.0f} | | |")
            notes.append(f"- {r['clip']}.mp4 ends with: \"{r['message']}\"")
            continue
        ref = r["reference"]
        ev = r.get("eval") or {}
        lines.append(
            f"| {r['clip']}{'' if r['clip'].startswith('synth') else '.mp4'} | {r['keyframes']} | {r['registered']} ({100 * r['registration_rate']:.0f}%) | {r['points']} | "
            f"{r['reprojection_error_px']:.2f} | {r['sfm_seconds']:.0f} | {ref['registered']}, {ref['seconds']:.0f} "
            f"({r['sfm_seconds'] / ref['seconds']:.2f}x) | {r['steps']} | {r['train_seconds']:.0f} | {r['total_seconds']:.0f} | "
            f"{ev.get('psnr', float('nan')):.2f} ({ev.get('num_images', 0)} views) | {r['peak_rss_mib']:.0f} |")
    for r in results:
        if r["clip"] != "statue":
            continue
        e, ref = r["pose_errors"], r["reference"]
        lines += ["", "## Poses of the statue photos against their COLMAP model (similarity-aligned)", "",
                  "| photos | registered | SfM s | pycolmap defaults: registered, s (ratio) | rotation error median / max deg "
                  "| centre error median / max (relative to capture size) |", "|---|---|---|---|---|---|",
                  f"| {r['images']} | {r['registered']} | {r['seconds']:.0f} | {ref['registered']}, {ref['seconds']:.0f} "
                  f"({r['seconds'] / ref['seconds']:.2f}x) | {e['rotation_error_deg_median']:.2f} / {e['rotation_error_deg_max']:.2f} | "
                  f"{100 * e['centre_error_relative_median']:.2f}% / "
                  f"{100 * e['centre_error_relative_max']:.2f}% |"]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: reconstruct's default)")
    parser.add_argument("--only", default=",".join(CAPTURES), help="comma-separated captures to run")
    args = parser.parse_args()
    torch.set_num_threads(2)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    missing = [c for c in chosen if c not in CAPTURES]
    if missing:
        sys.exit(f"unknown capture(s) {missing}; choose from {', '.join(CAPTURES)}")
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark runs on the shared real data")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            r = run_statue(Path(tmp)) if name == "statue" else run_video(name, args.steps, Path(tmp))
            r["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({k: v for k, v in r.items() if k != "sfm_from_scene"}, indent=1), flush=True)
            results.append(r)
    # Rows of captures not run this time are kept from the last results file.
    previous = json.loads((RESULTS / "video_reconstruct.json").read_text()) if (RESULTS / "video_reconstruct.json").is_file() else []
    if isinstance(previous, list):
        order = list(CAPTURES)
        merged = {r["clip"]: r for r in previous if isinstance(r, dict) and r.get("clip") in order}
        merged.update({r["clip"]: r for r in results})
        results = [merged[c] for c in order if c in merged]
    text = table(results)
    write_results("video_reconstruct", text, results)


if __name__ == "__main__":
    main()

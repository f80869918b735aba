"""Pose accuracy benchmark: scenegen's structure from motion against known cameras.

    python benchmarks/poses.py                         # the statue photos and the lens video
    python benchmarks/poses.py --only lens --capture out/lens   # reuse a generated capture

- statue: the 23 photos of ../shared/data/colmap_statue/images, compared with the poses of its
  COLMAP model.
- lens: `scenegen synth tabletop-static` rendered at 960x720 through a lens with OpenCV
  distortion (-0.12, 0.03, 0.001, -0.001) and the principal point at (0.56, 0.46) of the frame;
  its video.mp4 goes through keyframe extraction (H.264 at about 1.4 Mbit/s, like the shared
  phone clips' 2 Mbit/s) and is compared with the renderer's cameras.
- lens-frames: the same capture's lossless PNG frames, without the video's compression.

Each is run with the incremental mapper alone, the global (GLOMAP) mapper alone and both (the
better kept; the default, auto, is incremental alone where it registers every image), beside pycolmap's plain pipeline (SIMPLE_RADIAL, incremental mapping, all
defaults) in the same run: registered images, camera model, principal point refined, reprojection
error, rotation and centre errors after a similarity alignment (centres relative to the capture's
size), time and its ratio to the reference. Writes benchmarks/results/poses.md and .json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from _reference import pycolmap_defaults
from _results import RESULTS, write_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
STATUE = DATA / "colmap_statue"
LENS = {"distortion": [-0.12, 0.03, 0.001, -0.001], "principal_point": [0.56, 0.46], "size": (960, 720)}
RUNS = ("incremental", "global", "both")
CAPTURES = ("statue", "lens", "lens-frames")


def cameras_from(model, reference: dict):
    """(estimated, reference) Cameras of the images a pycolmap model registered, by image name."""
    import numpy as np

    from scenegen.camera import Camera, Cameras

    est, ref = [], []
    for image in model.images.values():
        if image.has_pose and image.name in reference:
            m = np.eye(4)
            m[:3] = image.cam_from_world().matrix()
            est.append(torch.tensor(np.linalg.inv(m), dtype=torch.float32))
            ref.append(reference[image.name])

    def stack(c2ws):
        return Cameras.stack([Camera(fx=1, fy=1, cx=0, cy=0, width=1, height=1, c2w=c) for c in c2ws])

    return stack(est), stack(ref)


def reference_sfm(images: Path, names: list[str], work: Path, truth: dict) -> dict:
    """pycolmap with its defaults, as a user would run it by hand, and its pose errors."""
    from scenegen.data.pose_compare import compare_poses

    model, seconds = pycolmap_defaults(images, names, work)
    errors = compare_poses(*cameras_from(model, truth))
    return {"run": "pycolmap defaults", "registered": model.num_reg_images(), "camera_model": "SIMPLE_RADIAL",
            "principal_point_refined": False, "reprojection_error_px": float(model.compute_mean_reprojection_error()),
            "seconds": seconds, **errors}


def run_scenegen(dataset, truth: dict, mapper: str, work: Path) -> dict:
    from scenegen.data.pose_compare import compare_poses
    from scenegen.data.poses import SfmOptions, estimate_poses

    started = time.perf_counter()
    posed, report = estimate_poses(dataset, work, SfmOptions(mapper=mapper), progress=False)
    seconds = time.perf_counter() - started
    est = posed.cameras
    ref = torch.stack([truth[p.name] for p in posed.image_paths])
    from scenegen.camera import Cameras

    errors = compare_poses(est, Cameras(fx=est.fx, fy=est.fy, cx=est.cx, cy=est.cy, width=est.width, height=est.height, c2w=ref))
    return {"run": f"scenegen, {mapper}", "registered": report.registered, "camera_model": report.camera_model,
            "principal_point_refined": report.principal_point_refined, "mapper_kept": report.mapper,
            "reprojection_error_px": report.mean_reprojection_error, "seconds": seconds, "mappers": report.mappers, **errors}


def statue(tmp: Path) -> dict:
    from scenegen.data.colmap import load_colmap
    from scenegen.data.image_folder import load_image_folder

    reference = load_colmap(STATUE)
    truth = {p.name: reference.cameras.c2w[i] for i, p in enumerate(reference.image_paths)}
    images = load_image_folder(STATUE / "images")
    rows = [run_scenegen(images, truth, mapper, tmp / f"statue_{mapper}") for mapper in RUNS]
    names = sorted(p.name for p in (STATUE / "images").iterdir())
    rows.append(reference_sfm(STATUE / "images", names, tmp / "statue_reference", truth))
    return {"name": "statue", "capture": "statue photos (23, ~1000x660)", "images": len(names), "rows": rows}


def lens(tmp: Path, capture: Path | None, lossless: bool = False) -> dict:
    from scenegen.data.video import extract_keyframes
    from scenegen.synth import generate, load_spec

    started = time.perf_counter()
    if capture is None or not (capture / "ground_truth.json").is_file():
        capture = capture or tmp / "lens"
        generate(load_spec("tabletop-static"), capture, size=LENS["size"], principal_point=LENS["principal_point"],
                 distortion=LENS["distortion"], progress=False)
    generated = time.perf_counter() - started
    if lossless:
        from scenegen.data.image_folder import load_image_folder

        frames = load_image_folder(capture / "images")
    else:
        frames = extract_keyframes(capture / "video.mp4", tmp / "lens_frames", progress=False)
    cams = json.loads((capture / "ground_truth.json").read_text())["cameras_c2w_opencv"]
    truth = {p.name: torch.tensor(cams[int(p.stem.split("_")[1])], dtype=torch.float32) for p in frames.image_paths}
    rows = [run_scenegen(frames, truth, mapper, tmp / f"lens_{mapper}") for mapper in RUNS]
    rows.append(reference_sfm(frames.image_paths[0].parent, [p.name for p in frames.image_paths], tmp / "lens_reference", truth))
    what = "its PNG frames" if lossless else "keyframes"
    return {"name": "lens-frames" if lossless else "lens",
            "capture": f"synthetic video through a lens ({len(frames)} {what}, {LENS['size'][0]}x{LENS['size'][1]})",
            "images": len(frames), "lens": LENS, "generate_seconds": generated, "rows": rows}


def table(results: list[dict]) -> str:
    lines = ["# Poses against known cameras (similarity-aligned; 2-core CPU, no GPU)", "",
             "Targets: median rotation error <= 0.25 degrees, median centre error <= 0.1% of the capture's size.", "",
             "| capture | run | registered | camera model | principal point | reproj. px | rotation median / max deg "
             "| centre median / max | s | time / reference |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ref = r["rows"][-1]["seconds"]
        for row in r["rows"]:
            kept = f" (kept {row['mapper_kept']})" if row.get("mapper_kept") and row["run"].endswith("both") else ""
            lines.append(
                f"| {r['capture']} | {row['run']}{kept} | {row['registered']}/{r['images']} | {row['camera_model']} | "
                f"{'refined' if row['principal_point_refined'] else 'centre'} | {row['reprojection_error_px']:.3f} | "
                f"{row['rotation_error_deg_median']:.3f} / {row['rotation_error_deg_max']:.3f} | "
                f"{100 * row['centre_error_relative_median']:.3f}% / {100 * row['centre_error_relative_max']:.3f}% | "
                f"{row['seconds']:.0f} | {row['seconds'] / ref:.2f}x |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CAPTURES), help=f"comma-separated: {', '.join(CAPTURES)}")
    parser.add_argument("--capture", type=Path, default=None, help="the lens capture's folder (generated when missing)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    if set(chosen) - set(CAPTURES):
        sys.exit(f"unknown capture(s) {sorted(set(chosen) - set(CAPTURES))}; choose from {', '.join(CAPTURES)}")
    if "statue" in chosen and not STATUE.is_dir():
        sys.exit(f"{STATUE} is absent: the statue rows run on the shared real data")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            results.append(statue(Path(tmp)) if name == "statue" else lens(Path(tmp), args.capture, name == "lens-frames"))
            print(json.dumps(results[-1], indent=1, default=str), flush=True)
            shutil.rmtree(Path(tmp), ignore_errors=True)
            Path(tmp).mkdir(exist_ok=True)
    # rows of captures not run this time are kept from the last results file
    saved = RESULTS / "poses.json"
    merged = {r.get("name"): r for r in (json.loads(saved.read_text()) if saved.is_file() else [])}
    merged.update({r["name"]: r for r in results})
    results = [merged[c] for c in CAPTURES if c in merged]
    write_results("poses", table(results), results)


if __name__ == "__main__":
    main()

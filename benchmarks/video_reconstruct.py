"""Video reconstruction benchmark: `scenegen reconstruct` on the real phone video apple.mp4.

    python benchmarks/video_reconstruct.py [--steps N] [--max-frames N] [--max-size PX]

Reports frames read, keyframes, registration rate, SfM points and reprojection error, SfM and
training time, and held-out PSNR; writes benchmarks/results/video_reconstruct.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "data" / "videos" / "apple.mp4"
RESULTS = ROOT / "benchmarks" / "results"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: scenegen's default)")
    parser.add_argument("--max-frames", type=int, default=120)
    parser.add_argument("--max-size", type=int, default=1600)
    args = parser.parse_args()
    torch.set_num_threads(2)
    from scenegen import reconstruct
    from scenegen.recon import TrainConfig

    cfg = TrainConfig() if args.steps is None else TrainConfig(steps=args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        scene = reconstruct(VIDEO, Path(tmp) / "apple", max_frames=args.max_frames, max_size=args.max_size, config=cfg,
                            progress=False)
    r = scene.metadata["report"]
    r["steps"] = cfg.steps
    r["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ev = r.get("eval") or {}
    lines = ["# Video reconstruction (`scenegen reconstruct`, 2-core CPU, no GPU)", "",
             "| video | frames read | keyframes | registered | SfM points | reproj. error px | SfM s | steps | train s | total s | held-out PSNR dB | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|",
             f"| apple.mp4 | {r['frames_read']} | {r['keyframes']} | {r['registered']} ({100 * r['registration_rate']:.0f}%) | "
             f"{r['points']} | {r['reprojection_error_px']:.2f} | {r['sfm_seconds']:.0f} | {r['steps']} | {r['train_seconds']:.0f} | "
             f"{r['total_seconds']:.0f} | {ev.get('psnr', float('nan')):.2f} ({ev.get('num_images', 0)} views) | {r['peak_rss_mib']:.0f} |"]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "video_reconstruct.md").write_text(text)
    (RESULTS / "video_reconstruct.json").write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()

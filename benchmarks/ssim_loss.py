"""SSIM loss benchmark: the fused CPU SSIM of the training loss against the reference
(metrics.ssim_map: conv2d windows and autograd), side by side in one run.

    python benchmarks/ssim_loss.py            # loss table, and training steps on lego if present
    python benchmarks/ssim_loss.py --no-train

Part 1 times photometric_loss (0.8 L1 + 0.2 (1 - SSIM), as training uses it) forward and
backward at image sizes training sees, the fused path against the reference forced on. Part 2
trains lego (../shared/data) from the same start with each path and gives the median step time.
Medians of several runs after a warm-up; 2 threads. Writes benchmarks/results/ssim_loss.md/.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEGO = ROOT.parent / "shared" / "data" / "nerf_synthetic_lego_400"
SIZES = [(400, 400), (800, 450), (800, 800), (1600, 900)]


@contextmanager
def reference_path():
    """photometric_loss with the fused SSIM turned off: every image takes metrics.ssim_map."""
    from scenegen.recon import losses

    fusable = losses.fusable
    losses.fusable = lambda *args: False
    try:
        yield
    finally:
        losses.fusable = fusable


def loss_ms(width: int, height: int, runs: int) -> float:
    from scenegen.recon.losses import photometric_loss

    gen = torch.Generator().manual_seed(width * height)
    target = torch.rand(height, width, 3, generator=gen)
    rendered = (target + 0.1 * torch.randn(height, width, 3, generator=gen)).clamp(0, 1).requires_grad_()
    times = []
    for k in range(runs + 2):
        start = time.perf_counter()
        photometric_loss(rendered, target, 0.2).backward()
        if k >= 2:
            times.append((time.perf_counter() - start) * 1000)
        rendered.grad = None
    return statistics.median(times)


def train_step_ms(steps: int) -> dict:
    from scenegen.data import load_dataset
    from scenegen.recon import TrainConfig, Trainer

    ds = load_dataset(LEGO)
    torch.manual_seed(0)
    trainer = Trainer(ds, TrainConfig(steps=steps, densify_until=0))
    stamps = []
    trainer.run(progress=False, callback=lambda tr, record: stamps.append(time.perf_counter()))
    gaps = [(b - a) * 1000 for a, b in zip(stamps[steps // 4:], stamps[steps // 4 + 1:])]
    return {"ms": statistics.median(gaps), "size": f"{int(trainer.cameras.width[0])}x{int(trainer.cameras.height[0])}",
            "gaussians": len(trainer.params)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per loss case (the median is reported)")
    parser.add_argument("--steps", type=int, default=120, help="training steps per path on lego")
    parser.add_argument("--no-train", action="store_true", help="only the loss table")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows, data = [], {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads", "loss": [], "train": None}
    for width, height in SIZES:
        fused = loss_ms(width, height, args.runs)
        with reference_path():
            ref = loss_ms(width, height, args.runs)
        data["loss"].append({"size": f"{width}x{height}", "fused_ms": fused, "reference_ms": ref})
        rows.append(f"| {width}x{height} | {fused:.1f} | {ref:.1f} | {ref / fused:.2f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    lines = ["# SSIM loss: fused CPU kernel against the reference", "",
             f"{data['machine']}. photometric_loss (0.8 L1 + 0.2 (1 - SSIM)) forward and backward, median of {args.runs} runs.", "",
             "| image | fused ms | reference ms | x faster than reference |", "|---|---|---|---|", *rows]
    if not args.no_train and LEGO.exists():
        fused = train_step_ms(args.steps)
        with reference_path():
            ref = train_step_ms(args.steps)
        data["train"] = {"fused": fused, "reference": ref, "steps": args.steps}
        lines += ["", f"Training lego ({fused['size']}, {fused['gaussians']} Gaussians, densification off, {args.steps} steps "
                  "from the same start), median time a step after the first quarter:", "",
                  "| loss | ms a step | x faster than reference |", "|---|---|---|",
                  f"| fused | {fused['ms']:.1f} | {ref['ms'] / fused['ms']:.2f} |", f"| reference | {ref['ms']:.1f} | 1.00 |"]
    elif not args.no_train:
        lines += ["", f"Training part skipped: {LEGO} is absent."]
    write_results("ssim_loss", "\n".join(lines) + "\n", data)


if __name__ == "__main__":
    main()

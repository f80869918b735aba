"""Training step benchmark: the fused CPU SSIM loss and torch's fused Adam against the references
they replaced (metrics.ssim_map's conv2d windows with autograd; Adam with `foreach`), side by
side in one run.

    python benchmarks/train_step.py            # loss and Adam tables, and training steps on lego if present
    python benchmarks/train_step.py --no-train

1. photometric_loss (0.8 L1 + 0.2 (1 - SSIM), as training uses it) forward and backward at image
   sizes training sees.
2. One Adam step over a Gaussian parameter set (59 numbers a Gaussian, as at SH degree 3).
3. lego (../shared/data) trained from the same start with both fast paths and with both
   references: the median time a step.
Medians of several runs after a warm-up; 2 threads. Writes benchmarks/results/train_step.md/.json.
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
GAUSSIANS = [50_000, 111_000, 300_000]
COLUMNS = {"means": 3, "scales": 3, "quats": 4, "opacities": 1, "sh0": 3, "shN": 45}


@contextmanager
def references():
    """Training with the reference paths: every SSIM through metrics.ssim_map, Adam with foreach."""
    from scenegen.recon import densify, losses

    fusable, fused_adam = losses.fusable, densify.FUSED_ADAM
    losses.fusable, densify.FUSED_ADAM = (lambda *args: False), False
    try:
        yield
    finally:
        losses.fusable, densify.FUSED_ADAM = fusable, fused_adam


def median_ms(fn, runs: int, warmup: int = 2) -> float:
    times = []
    for k in range(runs + warmup):
        start = time.perf_counter()
        fn()
        if k >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def loss_ms(width: int, height: int, runs: int) -> float:
    from scenegen.recon.losses import photometric_loss

    gen = torch.Generator().manual_seed(width * height)
    target = torch.rand(height, width, 3, generator=gen)
    rendered = (target + 0.1 * torch.randn(height, width, 3, generator=gen)).clamp(0, 1).requires_grad_()

    def once():
        photometric_loss(rendered, target, 0.2).backward()
        rendered.grad = None
    return median_ms(once, runs)


def adam_ms(n: int, runs: int) -> float:
    from scenegen.recon.densify import ParamSet

    gen = torch.Generator().manual_seed(n)
    params = ParamSet({k: torch.randn(n, c, generator=gen) for k, c in COLUMNS.items()}, {k: 1e-3 for k in COLUMNS})
    for p in params.params.values():
        p.grad = torch.randn(p.shape, generator=gen)
    return median_ms(params.optimizer.step, runs, warmup=3)


def train_step_ms(steps: int) -> dict:
    from scenegen.data import load_dataset
    from scenegen.recon import TrainConfig, Trainer

    torch.manual_seed(0)
    trainer = Trainer(load_dataset(LEGO), TrainConfig(steps=steps, densify_until=0, coarse_levels=0))
    stamps = []
    trainer.run(progress=False, callback=lambda tr, record: stamps.append(time.perf_counter()))
    gaps = [(b - a) * 1000 for a, b in zip(stamps[steps // 4:], stamps[steps // 4 + 1:])]
    return {"ms": statistics.median(gaps), "size": f"{int(trainer.cameras.width[0])}x{int(trainer.cameras.height[0])}",
            "gaussians": len(trainer.params)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case (the median is reported)")
    parser.add_argument("--steps", type=int, default=120, help="training steps per path on lego")
    parser.add_argument("--no-train", action="store_true", help="only the loss and Adam tables")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads", "loss": [], "adam": [], "train": None}
    lines = ["# Training step: fused SSIM loss and fused Adam against their references", "",
             f"{data['machine']}; medians of {args.runs} runs after a warm-up.", "",
             "photometric_loss (0.8 L1 + 0.2 (1 - SSIM)), forward and backward:", "",
             "| image | fused ms | reference ms (metrics.ssim_map) | x faster than reference |", "|---|---|---|---|"]
    for width, height in SIZES:
        fast = loss_ms(width, height, args.runs)
        with references():
            ref = loss_ms(width, height, args.runs)
        data["loss"].append({"size": f"{width}x{height}", "fused_ms": fast, "reference_ms": ref})
        lines.append(f"| {width}x{height} | {fast:.1f} | {ref:.1f} | {ref / fast:.2f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    lines += ["", f"One Adam step over {sum(COLUMNS.values())} parameters a Gaussian:", "",
              "| Gaussians | fused ms | reference ms (foreach) | x faster than reference |", "|---|---|---|---|"]
    for n in GAUSSIANS:
        fast = adam_ms(n, args.runs)
        with references():
            ref = adam_ms(n, args.runs)
        data["adam"].append({"gaussians": n, "fused_ms": fast, "reference_ms": ref})
        lines.append(f"| {n} | {fast:.1f} | {ref:.1f} | {ref / fast:.2f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    if not args.no_train and LEGO.exists():
        fast = train_step_ms(args.steps)
        with references():
            ref = train_step_ms(args.steps)
        data["train"] = {"fused": fast, "reference": ref, "steps": args.steps}
        lines += ["", f"Training lego ({fast['size']}, {fast['gaussians']} Gaussians from the same start, full resolution, "
                  f"densification off, {args.steps} steps), median time a step after the first quarter:", "",
                  "| paths | ms a step | x faster than reference |", "|---|---|---|",
                  f"| fused SSIM, fused Adam | {fast['ms']:.1f} | {ref['ms'] / fast['ms']:.2f} |",
                  f"| references | {ref['ms']:.1f} | 1.00 |"]
    elif not args.no_train:
        lines += ["", f"Training part skipped: {LEGO} is absent."]
    write_results("train_step", "\n".join(lines) + "\n", data)


if __name__ == "__main__":
    main()

"""Training quality benchmark: held-out PSNR/SSIM of `scenegen train`'s defaults against wall time.

    python benchmarks/train_quality.py                 # lego (20 min budget) and the COLMAP statue
    python benchmarks/train_quality.py --only lego --minutes 5

For each dataset it trains with the default TrainConfig, evaluates the whole test split at 5, 10
and 20 minutes of training time (evaluation time is not counted) and at the end, and records peak
memory. Every minute it also probes every 8th test view, and reports the training time at which
that probe first reached 31, 33 and 35 dB. Writes benchmarks/results/train_quality.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
DATASETS = {"lego": DATA / "nerf_synthetic_lego_400", "statue": DATA / "colmap_statue"}
MARKS_MIN = (5, 10, 20)
PROBE_EVERY_MIN = 1.0
PROBE_THRESHOLDS_DB = (31, 33, 35)


def run(name: str, path: Path, minutes: float) -> dict:
    from scenegen.data import load_dataset
    from scenegen.recon import TrainConfig, Trainer, evaluate

    ds = load_dataset(path)
    cfg = TrainConfig()
    trainer = Trainer(ds, cfg)
    test = ds.split("test")
    if trainer.scale_factor != 1:
        test = test.downscaled(trainer.scale_factor)
    marks = [m for m in MARKS_MIN if m <= minutes]
    probe_views = test.subset(list(range(0, len(test), 8)))
    points, probes, clock = [], [], {"train": 0.0, "last": time.perf_counter(), "probe": PROBE_EVERY_MIN}

    def measure(label: str):
        result = evaluate(trainer.gaussians, test, sh_degree=trainer.sh_degree_at(max(trainer.step, 1)))
        points.append({"at": label, "minutes": clock["train"] / 60, "step": trainer.step, "gaussians": len(trainer.params),
                       "psnr": result["psnr"], "ssim": result["ssim"]})
        print(f"{name}: {label}: step {trainer.step}, {clock['train'] / 60:.1f} min, N={len(trainer.params)}, "
              f"PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}", file=sys.stderr, flush=True)

    class Budget(Exception):
        pass

    def callback(tr, record):
        now = time.perf_counter()
        clock["train"] += now - clock["last"]
        while marks and clock["train"] >= marks[0] * 60:
            measure(f"{marks.pop(0)} min")
        if clock["train"] >= clock["probe"] * 60:
            clock["probe"] += PROBE_EVERY_MIN
            probe = evaluate(trainer.gaussians, probe_views, sh_degree=trainer.sh_degree_at(max(trainer.step, 1)))
            probes.append({"minutes": clock["train"] / 60, "step": trainer.step, "psnr": probe["psnr"]})
        if clock["train"] >= minutes * 60:
            raise Budget
        clock["last"] = time.perf_counter()

    try:
        trainer.run(progress=False, callback=callback)
        finished = True
    except Budget:
        finished = False
    measure("end" if finished else f"budget ({minutes:g} min)")
    return {"dataset": name, "test_views": len(test), "train_views": len(trainer.images),
            "image_size": [int(trainer.cameras.width[0]), int(trainer.cameras.height[0])], "steps_planned": cfg.steps,
            "finished": finished, "points": points, "probes": probes, "probe_views": len(probe_views),
            "minutes_to_db": {str(db): next((p["minutes"] for p in probes if p["psnr"] >= db), None) for db in PROBE_THRESHOLDS_DB}, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(DATASETS), help="one dataset")
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget for lego")
    parser.add_argument("--statue-minutes", type=float, default=10.0, help="training time budget for the statue")
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = []
    for name, path in DATASETS.items():
        if args.only and name != args.only:
            continue
        if not path.exists():
            print(f"skipping {name}: {path} is absent", file=sys.stderr)
            continue
        results.append(run(name, path, args.minutes if name == "lego" else args.statue_minutes))
    lines = ["# Training quality (`scenegen train` defaults, 2-core CPU, no GPU)", "",
             "Held-out views: the dataset's test split (lego: 200 views) or every 8th image (statue). "
             "Time is training time; evaluation pauses the clock.", "",
             "| dataset | image size | train/test views | at | minutes | step | Gaussians | PSNR dB | SSIM | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for p in r["points"]:
            lines.append(f"| {r['dataset']} | {r['image_size'][0]}x{r['image_size'][1]} | {r['train_views']}/{r['test_views']} | "
                         f"{p['at']} | {p['minutes']:.1f} | {p['step']} | {p['gaussians']} | {p['psnr']:.2f} | {p['ssim']:.4f} | "
                         f"{r['peak_rss_mib']:.0f} |")
    lines += ["", f"Training minutes until the probe (every 8th test view, evaluated every {PROBE_EVERY_MIN:g} min) first reached:", "",
              "| dataset | " + " | ".join(f"{db} dB" for db in PROBE_THRESHOLDS_DB) + " |",
              "|---|" + "---|" * len(PROBE_THRESHOLDS_DB)]
    for r in results:
        cells = [f"{m:.0f} min" if m is not None else "not reached" for m in r["minutes_to_db"].values()]
        lines.append(f"| {r['dataset']} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = f"_{args.only}" if args.only else ""
    (RESULTS / f"train_quality{suffix}.md").write_text(text)
    (RESULTS / f"train_quality{suffix}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

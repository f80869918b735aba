"""Training on a CUDA GPU: lego-400, scenegen's defaults (`--device cuda`) beside gsplat's own
examples/simple_trainer.py (its default strategy) on the same images and steps, in one run.

    python benchmarks/gpu_train.py --reference /path/to/gsplat/examples/simple_trainer.py
    python benchmarks/gpu_train.py --steps 3000 --no-reference      # ours only

Both see the same 100 training views at 400x400 composited on white and are scored on the same
first 100 test views. The reference reads COLMAP folders, so the views are written as one
(PINHOLE cameras, random initial points in the scene's box, as 3DGS does for Blender scenes),
named so that its `--test_every 2` holds out exactly the test views; its own evaluation gives its
PSNR, and its checkpoint statistics its training time. Ours is evaluated every `--every` steps
with the training clock paused. Reported: time to 31 and 33 dB, PSNR at the last step, Gaussians,
and the ratio of each time to the reference's. Writes benchmarks/results/gpu_train.md and .json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nerf_synthetic_lego_400"
RESULTS = ROOT / "benchmarks" / "results"
MARKS_DB = (31.0, 33.0)
TEST_VIEWS = 100


def ours(steps: int, every: int) -> dict:
    from scenegen.data import load_dataset
    from scenegen.recon import TrainConfig, Trainer, evaluate

    ds = load_dataset(DATA)
    trainer = Trainer(ds, TrainConfig(steps=steps, device="cuda", checkpoint_every=0))
    test = ds.split("test")
    test = test.subset(torch.arange(min(TEST_VIEWS, len(test))))
    points, clock = [], {"train": 0.0, "last": time.perf_counter()}

    def callback(tr, record):
        torch.cuda.synchronize()
        clock["train"] += time.perf_counter() - clock["last"]
        if tr.step % every == 0 or tr.step == steps:
            result = evaluate(tr.gaussians, test, sh_degree=tr.sh_degree_at(tr.step), device=tr.device)
            points.append({"step": tr.step, "seconds": clock["train"], "psnr": result["psnr"], "gaussians": len(tr.params)})
            print(f"scenegen: step {tr.step}, {clock['train']:.0f} s, PSNR {result['psnr']:.2f} dB, N={len(tr.params)}",
                  file=sys.stderr, flush=True)
        clock["last"] = time.perf_counter()

    trainer.run(progress=False, callback=callback)
    return {"method": f"scenegen --device cuda ({torch.cuda.get_device_name()})", "points": points,
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}


def write_colmap(folder: Path) -> None:
    """lego's train views and first test views as one COLMAP text model, interleaved so that
    every second image (0, 2, 4, ...) is a test view."""
    from scenegen.common.atomic import atomic_write_png
    from scenegen.data import load_dataset

    ds = load_dataset(DATA)
    train, test = ds.split("train"), ds.split("test")
    n = min(len(train), TEST_VIEWS, len(test))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "sparse" / "0").mkdir(parents=True, exist_ok=True)
    cams, images = [], []
    for k in range(n):
        for offset, split in ((0, test), (1, train)):
            index = 2 * k + offset
            name = f"{index:04d}.png"
            atomic_write_png(folder / "images" / name, split.image(k))
            cam = split.cameras[k]
            w2c = cam.w2c.double().numpy()
            R, t = w2c[:3, :3], w2c[:3, 3]
            q = _rotmat_to_quat(R)
            cams.append(f"{index + 1} PINHOLE {int(cam.width)} {int(cam.height)} {float(cam.fx)} {float(cam.fy)} "
                        f"{float(cam.cx)} {float(cam.cy)}")
            images.append(f"{index + 1} {q[0]} {q[1]} {q[2]} {q[3]} {t[0]} {t[1]} {t[2]} {index + 1} {name}\n\n")  # no 2D points
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1.3, 1.3, size=(100_000, 3))
    rgb = rng.integers(0, 256, size=(100_000, 3))
    (folder / "sparse" / "0" / "cameras.txt").write_text("\n".join(cams) + "\n")
    (folder / "sparse" / "0" / "images.txt").write_text("".join(images))
    (folder / "sparse" / "0" / "points3D.txt").write_text(
        "".join(f"{i + 1} {p[0]} {p[1]} {p[2]} {c[0]} {c[1]} {c[2]} 0\n" for i, (p, c) in enumerate(zip(pts, rgb))))


def _rotmat_to_quat(R: np.ndarray) -> np.ndarray:
    from scenegen.geometry import rotmat_to_quat

    return rotmat_to_quat(torch.from_numpy(R)).numpy()


def reference(script: Path, steps: int, every: int, work: Path, extra: list[str]) -> dict:
    data = work / "lego_colmap"
    if not data.exists():
        write_colmap(data)
    result_dir = work / "gsplat_result"
    shutil.rmtree(result_dir, ignore_errors=True)
    marks = [str(s) for s in range(every, steps + 1, every)]
    command = [sys.executable, str(script), "default", "--data_dir", str(data), "--data_factor", "1", "--result_dir",
               str(result_dir), "--test_every", "2", "--max_steps", str(steps), "--eval_steps", *marks,
               "--save_steps", *marks, "--disable_viewer", "--disable_video", *extra]
    print("reference:", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, cwd=script.parent)
    points = []
    for step in range(every, steps + 1, every):
        val = result_dir / "stats" / f"val_step{step - 1:04d}.json"
        trained = result_dir / "stats" / f"train_step{step - 1:04d}_rank0.json"
        if val.is_file() and trained.is_file():
            v, t = json.loads(val.read_text()), json.loads(trained.read_text())
            points.append({"step": step, "seconds": t["ellipse_time"], "psnr": v["psnr"], "gaussians": v.get("num_GS", t.get("num_GS"))})
    if not points:
        raise SystemExit(f"the reference wrote no statistics under {result_dir / 'stats'}")
    return {"method": "gsplat simple_trainer.py default", "points": points}


def first_reaching(points: list[dict], db: float) -> float | None:
    return next((p["seconds"] for p in points if p["psnr"] >= db), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=500, help="steps between evaluations")
    parser.add_argument("--reference", type=Path, help="gsplat's examples/simple_trainer.py")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--reference-args", default="", help="more arguments for simple_trainer.py (one string)")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "gpu_train")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu_train.py needs a CUDA GPU (and gsplat): torch sees none here")
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent")
    runs = []
    if not args.no_reference:
        if args.reference is None or not args.reference.is_file():
            raise SystemExit("--reference must name gsplat's examples/simple_trainer.py (or pass --no-reference)")
        runs.append(reference(args.reference, args.steps, args.every, args.work, args.reference_args.split()))
    runs.insert(0, ours(args.steps, args.every))
    base = runs[-1]
    lines = [f"# Training on a CUDA GPU ({torch.cuda.get_device_name()}), lego 400x400, {args.steps} steps", "",
             f"PSNR on the first {TEST_VIEWS} test views, white background; times are training time.", "",
             "| method | time to 31 dB (s) | ratio | time to 33 dB (s) | ratio | PSNR at end | Gaussians |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        cells = []
        for db in MARKS_DB:
            t, ref = first_reaching(r["points"], db), first_reaching(base["points"], db)
            cells += ["-" if t is None else f"{t:.0f}", "-" if t is None or ref is None else f"{t / ref:.2f}"]
        last = r["points"][-1]
        lines.append(f"| {r['method']} | {' | '.join(cells)} | {last['psnr']:.2f} | {last['gaussians']} |")
    text = "\n".join(lines) + "\n"
    write_results("gpu_train", text, runs)


if __name__ == "__main__":
    main()

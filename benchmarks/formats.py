"""Splat formats on real scenes: file size, write and read time (medians of several runs), the
largest error of each attribute after a round trip, and the PSNR of the re-read splats' render
against the original's, each beside 3DGS PLY.

    python benchmarks/formats.py                      # the fountain, and lego trained for 3000 steps
    python benchmarks/formats.py --trained OUT/scene  # a scene you trained instead of lego

Scenes: ../shared/data/splats/winter_fountain.splat (93,713 splats, SH degree 0, as a capture
app wrote it) and a scene `scenegen train` made (SH degree 3: the bands the fountain lacks);
without --trained, lego (../shared/data/nerf_synthetic_lego_400) is trained at half size for 3000
steps first (about 5 minutes on 2 cores). Writes benchmarks/results/formats.md and .json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
FOUNTAIN = DATA / "splats" / "winter_fountain.splat"
LEGO = DATA / "nerf_synthetic_lego_400"
RUNS = 5
REORDERED = ("compressed-ply", "sog")  # written in Morton order: compared against the reordered original


def trained_scene(path: str | None, label: str | None):
    from scenegen.io import load

    if path is not None:
        return load(path), label or Path(path).name
    from scenegen.data import load_dataset
    from scenegen.recon import TrainConfig, train

    out = Path(tempfile.mkdtemp(prefix="scenegen-formats-"))
    scene = train(load_dataset(LEGO), TrainConfig(steps=3000, downscale=2.0), out=out, evaluate_split=False)
    return scene, "lego trained 3000 steps at 400 px"


def errors(a, b) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from splat_format_checks import unit_quats_alike

    out = {"means": float((a.means - b.means).abs().max()), "log_scales": float((a.scales - b.scales).abs().max()),
           "rotations": float(unit_quats_alike(a.quats, b.quats).max()),
           "alpha": float((torch.sigmoid(a.opacities) - torch.sigmoid(b.opacities)).abs().max()),
           "dc": float((a.sh[:, 0] - b.sh[:, 0]).abs().max())}
    if b.sh_degree == a.sh_degree and a.sh_degree > 0:
        out["sh_rest"] = float((a.sh[:, 1:] - b.sh[:, 1:]).abs().max())
    return out


def measure(g, label: str) -> list[dict]:
    sys.path.insert(0, str(ROOT / "tests"))
    from splat_format_checks import render_psnr

    from scenegen.io import splat_formats
    from scenegen.io.splat_packing import morton_order

    rows = []
    for fmt in splat_formats():
        writes, reads = [], []
        for _ in range(RUNS):
            t = time.perf_counter()
            data = fmt.encode(g)
            writes.append(time.perf_counter() - t)
            t = time.perf_counter()
            back = fmt.read(data)
            reads.append(time.perf_counter() - t)
        original = g[morton_order(g.means)] if fmt.name in REORDERED else g
        rows.append({"scene": label, "splats": len(g), "sh_degree": g.sh_degree, "format": fmt.name, "bytes": len(data),
                     "write_s": statistics.median(writes), "read_s": statistics.median(reads),
                     "psnr": render_psnr(original, back), "errors": errors(original, back), "lost": fmt.lost})
    return rows


def table(rows: list[dict]) -> list[str]:
    ply = next(r for r in rows if r["format"] == "ply")
    first = rows[0]
    lines = [f"### {first['scene']} ({first['splats']} splats, SH degree {first['sh_degree']})", "",
             "| format | size MB | x PLY | write s | x PLY | read s | x PLY | render PSNR dB | largest error: position, log-scale, "
             "rotation, alpha, DC, SH rest |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        quality = "exact" if r["psnr"] == float("inf") else f"{r['psnr']:.1f}"
        e = r["errors"]
        error = ", ".join(f"{e[k]:.2g}" for k in ("means", "log_scales", "rotations", "alpha", "dc")) + (
            f", {e['sh_rest']:.2g}" if "sh_rest" in e else (", dropped" if r["sh_degree"] else ""))
        lines.append(f"| {r['format']} | {r['bytes'] / 1e6:.2f} | {r['bytes'] / ply['bytes']:.2f} | {r['write_s']:.3f} | "
                     f"{r['write_s'] / ply['write_s']:.2f} | {r['read_s']:.3f} | {r['read_s'] / ply['read_s']:.2f} | "
                     f"{quality} | {error} |")
    return lines + [""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", help="a trained scene (folder or .zip) to measure beside the fountain")
    parser.add_argument("--label", help="what to call the trained scene in the table")
    args = parser.parse_args()
    from scenegen.io import read_splat, splat_formats

    torch.set_num_threads(2)
    fountain = read_splat(FOUNTAIN)
    scene, label = trained_scene(args.trained, args.label)
    rows = measure(fountain, FOUNTAIN.name) + measure(scene.gaussians_at(None)[0], label)
    lines = [f"# Splat formats, 2-core CPU, medians of {RUNS} writes and reads", "",
             "Render PSNR: the lowest of 3 views at 160x120 of the re-read splats against the original's. "
             "Errors: the largest absolute difference of each attribute (rotation: of a unit-quaternion component; "
             "alpha: of sigmoid(opacity)).", ""]
    for label in dict.fromkeys(r["scene"] for r in rows):
        lines += table([r for r in rows if r["scene"] == label])
    lines += ["| format | what is lost |", "|---|---|"] + [f"| {f.name} | {f.lost} |" for f in splat_formats()]
    write_results("formats", "\n".join(lines) + "\n", rows)


if __name__ == "__main__":
    main()

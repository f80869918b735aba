"""Splat formats on a real scene: file size, write and read time (medians of several runs) and
the PSNR of the re-read splats' render against the original's, each beside 3DGS PLY.

    python benchmarks/formats.py            # ../shared/data/splats/winter_fountain.splat (93,713 splats)

Writes benchmarks/results/formats.md and .json.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT.parent / "shared" / "data" / "splats" / "winter_fountain.splat"
RUNS = 5


def main():
    sys.path.insert(0, str(ROOT / "tests"))
    from splat_format_checks import render_psnr

    from scenegen.io import read_splat, splat_formats

    torch.set_num_threads(2)
    g = read_splat(SCENE)
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
        order = None
        if fmt.name == "compressed-ply":
            from scenegen.io.compressed_ply import morton_order

            order = morton_order(g.means)
        rows.append({"format": fmt.name, "bytes": len(data), "write_s": statistics.median(writes), "read_s": statistics.median(reads),
                     "psnr": render_psnr(g if order is None else g[order], back), "lost": fmt.lost})
    ply = next(r for r in rows if r["format"] == "ply")
    lines = [f"# Splat formats on {SCENE.name} ({len(g)} splats, SH degree {g.sh_degree}), 2-core CPU, medians of {RUNS}", "",
             "| format | size MB | x PLY | write s | x PLY | read s | x PLY | render PSNR dB | what is lost |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        quality = "exact" if r["psnr"] == float("inf") else f"{r['psnr']:.1f}"
        lines.append(f"| {r['format']} | {r['bytes'] / 1e6:.2f} | {r['bytes'] / ply['bytes']:.2f} | {r['write_s']:.3f} | "
                     f"{r['write_s'] / ply['write_s']:.2f} | {r['read_s']:.3f} | {r['read_s'] / ply['read_s']:.2f} | "
                     f"{quality} | {r['lost']} |")
    write_results("formats", "\n".join(lines) + "\n", rows)


if __name__ == "__main__":
    main()

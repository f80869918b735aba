"""Rasterizer benchmark: forward and forward+backward time and peak memory per backend.

Every measurement runs in a fresh subprocess (so peak RSS belongs to it alone), with 2 threads,
and reports the median of several runs after a warm-up. Backends are compared on the same
Gaussians and camera in one run; the ratio to the torch reference stands beside every time.

    python benchmarks/rasterizer.py            # full table (the torch reference is slow: ~10 min)
    python benchmarks/rasterizer.py --quick    # small cases only
Writes benchmarks/results/rasterizer.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FOUNTAIN = ROOT.parent / "shared" / "data" / "splats" / "winter_fountain.splat"
CASES = [(256, 256, 20_000), (512, 512, 100_000), (800, 800, 200_000)]


def make_scene(n: int, size: int):
    """A procedural scene shaped like a trained one: splats on the surface of a few blobs, with
    log-normal sizes of a few pixels and mixed opacities, seen whole by one camera."""
    import torch

    from scenegen import Camera, Gaussians

    g = torch.Generator().manual_seed(n)
    centres = torch.randn(12, 3, generator=g) * 0.5
    which = torch.randint(0, 12, (n,), generator=g)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    means = centres[which] + dirs * (0.15 + 0.25 * torch.rand(12, generator=g))[which, None]
    scales = torch.randn(n, 3, generator=g) * 0.5 + math.log(0.6 / math.sqrt(n))
    gaussians = Gaussians(means=means, scales=scales, quats=torch.randn(n, 4, generator=g),
                          opacities=torch.randn(n, generator=g) * 2, sh=torch.randn(n, 16, 3, generator=g) * 0.3)
    camera = Camera.look_at([0.0, -3.2, 0.8], [0.0, 0.0, 0.0], fov_deg=50, width=size, height=size)
    return gaussians, camera


def fountain_scene(size: int):
    from scenegen.io import read_splat
    from scenegen.render.views import framing, orbit_cameras

    g = read_splat(FOUNTAIN)
    centre, radius = framing(g)
    return g, orbit_cameras(centre, radius * 0.8, num=1, width=size, height=size)[0]


def open3d_forward_ms(g, cam, reps: int) -> float:
    """Median frame time of Open3D 0.20's own Gaussian splat renderer (Filament; on this machine
    its Vulkan backend runs on Mesa's llvmpipe CPU driver) for the same Gaussians and camera."""
    import tempfile

    import open3d as o3d
    import open3d.visualization.rendering as rendering

    from scenegen.io import write_ply

    with tempfile.TemporaryDirectory() as tmp:
        write_ply(Path(tmp) / "g.ply", g)
        pcd = o3d.t.io.read_point_cloud(str(Path(tmp) / "g.ply"))
    renderer = rendering.OffscreenRenderer(cam.width, cam.height)
    material = rendering.MaterialRecord()
    material.shader = "gaussianSplat"
    renderer.scene.add_geometry("splats", pcd, material)
    eye = cam.position.tolist()
    target = (cam.position + cam.c2w[:3, 2]).tolist()
    up = (-cam.c2w[:3, 1]).tolist()
    fov_y = math.degrees(2 * math.atan(0.5 * cam.height / cam.fy))
    renderer.setup_camera(fov_y, target, eye, up)
    renderer.render_to_image()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        renderer.render_to_image()
        times.append(time.perf_counter() - t)
    times.sort()
    return 1000 * times[len(times) // 2]


def worker(args) -> dict:
    """Runs in the subprocess: time one backend on one case."""
    import resource

    import torch

    torch.set_num_threads(args.threads)
    from scenegen.render import render

    g, cam = fountain_scene(args.size) if args.scene == "fountain" else make_scene(args.n, args.size)
    g = g.with_sh_degree(3) if args.scene != "fountain" else g
    if args.backend == "open3d":
        return {"forward_ms": open3d_forward_ms(g, cam, args.reps)}

    def forward():
        with torch.no_grad():
            return render(g, cam, backend=args.backend)

    params = g.clone().requires_grad_()

    def forward_backward():
        out = render(params, cam, backend=args.backend)
        (out.rgb.sum() + out.depth.mean()).backward()
        for name in ("means", "scales", "quats", "opacities", "sh"):
            getattr(params, name).grad = None

    def median_ms(fn, reps):
        fn()  # warm-up (and compile)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        times.sort()
        return 1000 * times[len(times) // 2]

    result = {}
    if args.mode == "forward":
        result["forward_ms"] = median_ms(forward, args.reps)
        out = forward()
        result["alpha_mean"] = float(out.alpha.mean())
        visible = out.radii[0] > 0
        result["visible"] = int(visible.sum())
        result["mean_radius_px"] = float(out.radii[0][visible].float().mean()) if visible.any() else 0.0
    else:
        result["forward_backward_ms"] = median_ms(forward_backward, args.reps)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def matmul_gflops(threads: int) -> float:
    """The CPU's float32 matmul throughput (GFLOP/s), the yardstick for the kernels."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def pixel_evaluations(scene: str, n: int, size: int) -> int:
    """(Gaussian, pixel) pairs the cpu forward kernel evaluates (tile pairs x 64 pixels)."""
    import torch

    from scenegen import Cameras
    from scenegen.render import RenderConfig
    from scenegen.render.backends.cpu import tile_ranges
    from scenegen.render.projection import project_gaussians

    g, cam = fountain_scene(size) if scene == "fountain" else make_scene(n, size)
    with torch.no_grad():
        m2, con, _, radii, op = project_gaussians(g, Cameras.stack([cam]), RenderConfig())
        r = tile_ranges(m2[0], radii[0], con[0], op[0], size, size, 1 / 255, 8)
    vis = radii[0] > 0
    pairs = ((r[:, 1] - r[:, 0] + 1) * (r[:, 3] - r[:, 2] + 1))[vis].sum()
    return int(pairs) * 64


def run_worker(backend, mode, scene, n, size, reps, threads, timeout):
    cmd = [sys.executable, __file__, "--worker", "--backend", backend, "--mode", mode, "--scene", scene,
           "--n", str(n), "--size", str(size), "--reps", str(reps), "--threads", str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout}s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the 256x256 case and the fountain")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument("--torch-reps", type=int, default=3, help="timed runs for the slow torch reference")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="forward", help=argparse.SUPPRESS)
    parser.add_argument("--scene", default="procedural", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=20_000, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=256, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    cases = [("procedural", w, n) for (w, _, n) in CASES[: 1 if args.quick else None]]
    if FOUNTAIN.exists():
        cases.append(("fountain", 512, 93_713))
    peak = matmul_gflops(args.threads)
    rows = []
    for scene, size, n in cases:
        row = {"scene": scene, "size": size, "n": n}
        for backend in ("cpu", "torch"):
            reps = args.reps if backend == "cpu" else args.torch_reps
            for mode in ("forward", "forward_backward"):
                print(f"{scene} {size}x{size} N={n}: {backend} {mode} ...", file=sys.stderr, flush=True)
                row[(backend, mode)] = run_worker(backend, mode, scene, n, size, reps, args.threads, timeout=900)
        print(f"{scene} {size}x{size} N={n}: open3d forward ...", file=sys.stderr, flush=True)
        row["open3d"] = run_worker("open3d", "forward", scene, n, size, args.reps, args.threads, timeout=900)
        row["evals"] = pixel_evaluations(scene, n, size)
        rows.append(row)

    lines = [
        "# Rasterizer benchmark",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} threads; "
        f"float32 matmul peak measured in the same run: {peak:.0f} GFLOP/s. Median of {args.reps} runs "
        f"({args.torch_reps} for the torch reference) after a warm-up; peak RSS of the measuring process.",
        "",
        "| scene | HxW | N | backend | forward ms | x faster than torch | x faster than Open3D | fwd+bwd ms | x faster than torch | peak MiB fwd+bwd | kernel GFLOP/s (% of matmul peak) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(res, key):
        return f"{res[key]:.1f}" if key in res else res.get("error", "-")

    for row in rows:
        ref_f, ref_fb = row[("torch", "forward")], row[("torch", "forward_backward")]
        for backend in ("cpu", "torch"):
            f, fb = row[(backend, "forward")], row[(backend, "forward_backward")]
            speed_f = f"{ref_f['forward_ms'] / f['forward_ms']:.1f}" if "forward_ms" in f and "forward_ms" in ref_f else "-"
            speed_fb = (f"{ref_fb['forward_backward_ms'] / fb['forward_backward_ms']:.1f}"
                        if "forward_backward_ms" in fb and "forward_backward_ms" in ref_fb else "-")
            # ~30 float operations per (Gaussian, pixel) evaluation in the forward kernel.
            gflops = row["evals"] * 30 / (f["forward_ms"] / 1000) / 1e9 if "forward_ms" in f else None
            eff = f"{gflops:.1f} ({100 * gflops / peak:.0f}%)" if gflops and backend == "cpu" else "-"
            o3d_ms = row["open3d"].get("forward_ms")
            vs_o3d = f"{o3d_ms / f['forward_ms']:.1f}" if o3d_ms and "forward_ms" in f else "-"
            lines.append(f"| {row['scene']} | {row['size']}x{row['size']} | {row['n']} | {backend} | {cell(f, 'forward_ms')} | "
                         f"{speed_f} | {vs_o3d} | {cell(fb, 'forward_backward_ms')} | {speed_fb} | {cell(fb, 'peak_rss_mib')} | {eff} |")
        lines.append(f"| {row['scene']} | {row['size']}x{row['size']} | {row['n']} | open3d (peer) | {cell(row['open3d'], 'forward_ms')} | "
                     "- | 1.0 | - | - | - | - |")
    lines += ["", "Mean screen radius (px) and visible Gaussians per case: " + "; ".join(
        f"{r['scene']} {r['size']}: {r[('cpu', 'forward')].get('mean_radius_px', 0):.1f} px, "
        f"{r[('cpu', 'forward')].get('visible', 0)} visible, alpha {r[('cpu', 'forward')].get('alpha_mean', 0):.2f}" for r in rows)]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("rasterizer_quick.md" if args.quick else "rasterizer.md")).write_text(text)


if __name__ == "__main__":
    main()

"""The `scenegen` command line."""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

import typer

from .errors import ScenegenError
from .recon.config import TrainConfig

TRAIN_DEFAULTS = TrainConfig()

app = typer.Typer(
    name="scenegen",
    help="From a captured video to an editable, time-varying 3D scene of Gaussian splats, on any CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

OPTIONAL = ["torch", "numpy", "open3d-cpu", "open3d", "pycolmap", "trimesh", "imageio", "av", "typer", "rich",
            "PySide6-Essentials", "moderngl", "gsplat"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment_report() -> dict:
    """Versions, render backends and accelerators, as `scenegen info` prints them."""
    import torch

    from .version import __version__
    from .render import available_backends

    gpu = torch.cuda.is_available()
    return {
        "scenegen": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if gpu else None,
        "render_backends": available_backends(),
        "packages": {name: _version(name) for name in OPTIONAL},
    }


@app.command()
def info(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")):
    """Versions, available render backends, and whether a GPU is present."""
    report = environment_report()
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"scenegen {report['scenegen']}", show_header=False)
    table.add_row("python", report["python"])
    table.add_row("platform", report["platform"])
    table.add_row("cpu threads", str(report["cpu_threads"]))
    table.add_row("gpu", report["gpu"] or "none (CPU only)")
    table.add_row("render backends", ", ".join(report["render_backends"]))
    for name, version in report["packages"].items():
        if version is not None or name not in ("open3d", "open3d-cpu"):
            table.add_row(name, version or "[dim]not installed[/dim]")
    Console().print(table)


def finite(value: float | None) -> float | None:
    """Option callback: nan and inf are refused (the float type and its min/max take them)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def parse_colour(text: str, option: str = "--background") -> list[float]:
    """Three numbers r,g,b in [0, 1] from "r,g,b"."""
    from .errors import InvalidArgumentError

    try:
        rgb = [float(v) for v in text.split(",")]
    except ValueError:
        rgb = []
    if len(rgb) != 3 or not all(0.0 <= v <= 1.0 for v in rgb):  # nan fails the comparison too
        raise InvalidArgumentError(f"{option} must be three numbers r,g,b from 0 to 1, like 1,1,1; got {text!r}")
    return rgb


def parse_numbers(text: str, count: int, option: str) -> list[float]:
    """`count` finite numbers from "a,b,...", or an InvalidArgumentError naming the option."""
    import math

    from .errors import InvalidArgumentError

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise InvalidArgumentError(f"{option} must be {count} numbers separated by commas; got {text!r}")
    return values


def parse_size(size: str, option: str = "--size") -> tuple[int, int]:
    """(width, height) from "WxH", or an InvalidArgumentError naming the option."""
    from .errors import InvalidArgumentError

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise InvalidArgumentError(f"{option} must look like 640x480; got {size!r}") from None
    if width <= 0 or height <= 0 or width * height > 64_000_000:
        raise InvalidArgumentError(f"{option} {size}: width and height must be positive and at most 64 megapixels in all")
    return width, height


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")


@app.command("render")
def render_cmd(
    scene: Path = typer.Argument(..., help="A native scene (folder or .zip), a 3DGS .ply or a .splat."),
    output: Path = typer.Option(..., "-o", "--output", help="A PNG (several views laid side by side), or an .mp4/.mov/.mkv "
                                "video along --path."),
    views: int = typer.Option(1, min=1, max=64, help="PNG: number of views on an orbit around the scene."),
    size: str = typer.Option("512x512", help="Image size WxH of each view or video frame."),
    time: Optional[float] = typer.Option(None, "--time", "-t", callback=finite, help="Scene time to render (PNG default: start; "
                                         "a video with --time stays at that time)."),
    path: str = typer.Option("orbit", help="Video: the camera path, 'orbit', 'capture' (the capture cameras) or a "
                             "keyframe JSON file (scenegen keyframes or a nerfstudio camera_path.json)."),
    frames: Optional[int] = typer.Option(None, min=1, help="Video: number of frames (default: 96 for an orbit, one per "
                                         "capture camera or camera_path entry)."),
    fps: float = typer.Option(24.0, callback=finite, min=1.0, help="Video: frames per second."),
    start: Optional[float] = typer.Option(None, callback=finite, help="Video: scene time of the first frame (default: the path's times, "
                                          "else the start of the scene)."),
    end: Optional[float] = typer.Option(None, callback=finite, help="Video: scene time of the last frame (default: the end of the scene)."),
    elevation: float = typer.Option(25.0, callback=finite, help="Orbit elevation in degrees."),
    fov: float = typer.Option(45.0, callback=finite, min=1.0, max=179.0,
                              help="Horizontal field of view in degrees (orbits and keyframes without one)."),
    background: str = typer.Option("1,1,1", help="Background colour r,g,b in [0, 1]."),
    backend: str = typer.Option("auto", help="Render backend: auto, cpu, torch, gsplat."),
):
    """Render a scene to a PNG from an orbit of cameras, or to a video along a camera path over a
    time range."""
    from .errors import InvalidArgumentError
    from .io import load

    width, height = parse_size(size)
    bg = parse_colour(background)
    if output.is_dir():
        raise InvalidArgumentError(f"-o {output}: is a folder; give a .png or video file name")
    if output.suffix.lower() in VIDEO_SUFFIXES:
        from .render.paths import camera_path, path_times
        from .render.video import render_video

        sc = load(scene)
        cams, times = camera_path(sc, path, frames=frames, width=width, height=height, fov=fov, elevation=elevation, t=time)
        if time is not None:
            times = [time] * len(cams)
        elif times is None or start is not None or end is not None:
            times = path_times(sc, len(cams), start, end)
        render_video(sc, cams, output, fps=fps, times=times, background=bg, backend=backend)
        typer.echo(f"{scene}: wrote {output} ({len(cams)} frames of {int(cams.width[0])}x{int(cams.height[0])} along "
                   f"{path}, times {float(times[0]):g}..{float(times[-1]):g})")
        return
    if output.suffix.lower() not in (".png", ""):
        raise InvalidArgumentError(f"-o {output}: write a .png image or a video ({', '.join(VIDEO_SUFFIXES)})")
    sc = load(scene)
    _render_png(sc, output, views, width, height, time, elevation, fov, bg, backend)
    typer.echo(f"{scene}: {sc.num_gaussians} Gaussians, {len(sc.objects)} objects; wrote {output} ({views} view(s) of {width}x{height})")


def _render_png(sc, output: Path, views: int, width: int, height: int, time, elevation, fov, bg, backend):
    import torch
    from .common.progress import track

    from .common.atomic import atomic_write_png
    from .common.views import framing, orbit_cameras, scene_up

    gaussians, _ = sc.gaussians_at(time)
    centre, radius = framing(gaussians)
    cams = orbit_cameras(centre, radius, num=views, elevation_deg=elevation, up=scene_up(sc),
                         width=width, height=height, fov_deg=fov)
    images = []
    with torch.no_grad():
        for i in track(range(views), description="rendering", enabled=views > 1):
            out = sc.render(cams[i], time, background=bg, backend=backend)
            images.append(out.rgb[0])
    atomic_write_png(output, torch.cat(images, dim=1))


@app.command()
def convert(
    source: Path = typer.Argument(..., help="Input: a native scene or splats (3DGS .ply, compressed .ply, .splat, .spz, .sog or meta.json, "
                                  "KHR_gaussian_splatting .glb/.gltf)."),
    output: Path = typer.Argument(..., help="Output: splats (.ply, .compressed.ply, .splat, .spz, .sog, meta.json with "
                                  "its images beside it, .glb, .gltf), or .zip or a folder (native scene)."),
    time: Optional[float] = typer.Option(None, "--time", "-t", callback=finite, help="Scene time for single-file outputs."),
    repair: bool = typer.Option(False, help="Repair invalid rotations and drop non-finite splats when reading."),
):
    """Convert between the native scene format and the splat formats (each side by its extension)."""
    from .io import load, save
    from .io.splat_formats import read_splats, splat_format
    from .scene import Scene

    if repair and splat_format(source) is not None:
        sc = Scene.from_gaussians(read_splats(source, on_invalid="repair"))
    else:
        sc = load(source)
    fmt = splat_format(output)
    if fmt is not None:
        fmt.write(output, sc.gaussians_at(time)[0])
    else:
        save(sc, output)
    typer.echo(f"wrote {output} ({sc.num_gaussians} Gaussians)")


@app.command("export")
def export_cmd(
    scene: Path = typer.Argument(..., help="A native scene (folder or .zip), or splats (3DGS .ply, compressed .ply, .splat, "
                               ".spz, .sog, meta.json, .glb/.gltf)."),
    output: Path = typer.Argument(..., help="Where to write: .ply/.compressed.ply/.splat/.spz/.sog/meta.json (splats), .glb/.gltf/"
                                  ".obj/.ply/.stl (mesh; --kind mesh for .ply, --kind splats for KHR_gaussian_splatting "
                                  ".glb/.gltf), a .ply point cloud (--kind points), or a folder (a sequence of splat "
                                  "files, --format)."),
    kind: str = typer.Option("auto", help="auto (from the extension), splats, mesh, points, sequence."),
    objects: list[str] = typer.Option([], "--object", help="Export only this object (repeatable; 'background' is one)."),
    time: Optional[float] = typer.Option(None, "--time", "-t", callback=finite, help="Scene time (default: start)."),
    start: Optional[float] = typer.Option(None, callback=finite, help="Sequence: time of the first frame (default: start of the scene)."),
    end: Optional[float] = typer.Option(None, callback=finite, help="Sequence: time of the last frame (default: end of the scene)."),
    frames: Optional[int] = typer.Option(None, min=1, help="Sequence: number of frames (default: one per capture time)."),
    sequence_format: str = typer.Option("ply", "--format", help="Sequence: the splat format of each frame: ply, "
                                        "compressed-ply, splat, spz, sog or gltf."),
    separate: bool = typer.Option(False, help="Mesh: one file per object, in OUTPUT as a folder."),
    views: str = typer.Option("auto", help="Mesh: cameras to fuse from, auto, sphere or capture."),
    num_views: int = typer.Option(64, min=1, help="Mesh: number of views on the sphere."),
    voxel: Optional[float] = typer.Option(None, callback=finite, min=1e-6,
                                          help="Mesh: TSDF voxel size in scene units (default: 1/128 of each object's size)."),
    backend: str = typer.Option("auto", help="Render backend for meshing: auto, cpu, torch, gsplat."),
):
    """Export a scene or some of its objects: splats, TSDF meshes (GLB/OBJ/PLY), point clouds or a
    PLY sequence over time."""
    from .io import load
    from .export import export

    sc = load(scene)
    mesh_options = dict(views=views, num_views=num_views, voxel=voxel, backend=backend)
    summary = export(sc, output, kind=kind, objects=objects or None, t=time, start=start, end=end, frames=frames,
                     separate=separate, progress=True, sequence_format=sequence_format, **mesh_options)
    if summary["kind"] == "mesh":
        for name, counts in summary["objects"].items():
            typer.echo(f"  {name}: {counts['vertices']} vertices, {counts['faces']} faces")
        typer.echo(f"wrote {', '.join(summary['files'])}")
    else:
        detail = {k: v for k, v in summary.items() if k not in ("kind", "path")}
        typer.echo(f"wrote {summary['kind']} to {output} ({', '.join(f'{k} {v}' for k, v in detail.items())})")


@app.command()
def dataset(path: Path = typer.Argument(..., help="A dataset folder or transforms.json.")):
    """Detect a dataset's format and summarise it (images, cameras, splits, times, points)."""
    from .data import load_dataset

    ds = load_dataset(path)
    typer.echo(repr(ds))
    if ds.cameras is not None:
        c = ds.cameras
        typer.echo(f"image size {int(c.width[0])}x{int(c.height[0])}, fx {float(c.fx[0]):.1f}, "
                   f"camera distance from origin {float(c.positions.norm(dim=1).median()):.3f} (median)")
    if ds.times is not None:
        typer.echo(f"times {float(ds.times.min()):g} .. {float(ds.times.max()):g}")
    if ds.points is not None:
        typer.echo(f"{len(ds.points)} SfM points")
    typer.echo(f"background {ds.background.tolist()}")


@app.command()
def frames(
    video: Path = typer.Argument(..., help="A video file (MP4, MOV, MKV, ...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for images/ and frames.json."),
    max_frames: int = typer.Option(120, help="At most this many keyframes, spread evenly over the video."),
    max_size: int = typer.Option(1600, help="Longer side of the written keyframes, in pixels."),
):
    """Pick sharp, evenly spread keyframes from a video (blurred frames are skipped)."""
    from .data.video import extract_keyframes

    ds = extract_keyframes(video, output, max_frames=max_frames, max_size=max_size)
    typer.echo(f"{video}: {ds.metadata['frames_read']} frames read, {len(ds)} keyframes written to {output / 'images'} "
               f"(times {float(ds.times.min()):.2f}..{float(ds.times.max()):.2f} s)")


@app.command("reconstruct")
def reconstruct_cmd(
    source: Path = typer.Argument(..., help="A video file, or a folder of photos (--motion dynamic: of a scene that moves)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (frames, sfm, train, scene, report.json)."),
    max_frames: int = typer.Option(120, help="At most this many keyframes from a video."),
    max_size: int = typer.Option(1600, help="Longer side of the keyframes, in pixels."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default: from the capture, 60 per registered "
                                        "keyframe, 2000 to 6000)."),
    masks: Optional[Path] = typer.Option(None, help="A mask image, or a folder of them (named like the images, or by "
                                         "video frame number); non-zero pixels are left out of structure from motion."),
    from_stage: str = typer.Option("frames", help="Re-run from this stage (frames, poses, train, export), reusing "
                                   "the earlier stages' results in OUTPUT."),
    motion: str = typer.Option("static", help="static (a still scene), dynamic (things in the video move: fit "
                               "per-Gaussian motion over the keyframes' times, and write renders at several times) or auto."),
    dynamic: bool = typer.Option(False, "--dynamic", hidden=True, help="Deprecated: --motion dynamic."),
    objects: str = typer.Option("auto", help="Split into objects from: auto, masks, motion, geometry, none."),
    device: str = typer.Option(TRAIN_DEFAULTS.device, help="Train on: auto (a CUDA GPU when torch sees one and gsplat "
                               "imports, else the CPU), cpu, cuda or cuda:N."),
    object_masks: Optional[Path] = typer.Option(None, help="Instance masks (0 background, 1, 2, ... objects): one image "
                                                "for the first keyframe, or a folder named by frame number."),
    camera_model: str = typer.Option("auto", help="SfM camera model: auto (SIMPLE_RADIAL, then OPENCV and the principal "
                                     "point where the frames pin them down) or a COLMAP model (SIMPLE_RADIAL, OPENCV, ...)."),
    mapper: str = typer.Option("auto", help="SfM mapper: incremental, global, both (the model with more images "
                               "registered and then the lower reprojection error kept) or auto (incremental; both when "
                               "it leaves images unregistered)."),
):
    """Video or photos -> keyframes -> poses (pycolmap) -> trained Gaussians, with a report.

    Writes OUTPUT/scene, OUTPUT/point_cloud.ply (in the structure-from-motion frame),
    OUTPUT/trajectory.mp4, OUTPUT/turntable.mp4 and OUTPUT/report.json."""
    from .data.poses import SfmOptions
    from .pipeline import reconstruct

    if dynamic:
        from .deprecated import warn_once

        warn_once("scenegen reconstruct --dynamic", "--motion dynamic")
        motion = "dynamic"
    config = {"motion": motion, "device": device, **({} if steps is None else {"steps": steps})}
    scene = reconstruct(source, output, max_frames=max_frames, max_size=max_size, masks=masks, config=config,
                        from_stage=from_stage, objects=objects, object_masks=object_masks,
                        sfm=SfmOptions(camera_model=camera_model, mapper=mapper))
    r = scene.metadata["report"]
    ev = r.get("eval") or {}
    typer.echo(f"{source}: {r['registered']}/{r['keyframes']} keyframes registered, {r['points']} SfM points, "
               f"reprojection error {r['reprojection_error_px']:.2f} px; {scene.num_gaussians} Gaussians"
               + (f", held-out PSNR {ev['psnr']:.2f} dB" if ev else "") + f"; wrote {output / 'scene'}")
    if scene.objects:
        from .recon.objects import describe_objects

        typer.echo(describe_objects(scene))


@app.command("synth")
def synth_cmd(
    spec: Optional[str] = typer.Argument(None, help="A scene spec (.json) or the name of a built-in scene."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output folder (transforms.json, video.mp4, "
                                          "images/, masks/, depth/, ground_truth.json)."),
    frames: Optional[int] = typer.Option(None, help="Number of frames (default: the spec's)."),
    size: Optional[str] = typer.Option(None, help="Image size WxH (default: the spec's)."),
    supersample: int = typer.Option(2, min=1, max=4, help="Rays per pixel along each axis, for anti-aliased RGB."),
    video: bool = typer.Option(True, "--video/--no-video", help="Also write video.mp4."),
    principal_point: Optional[str] = typer.Option(None, help="The lens's principal point X,Y as fractions of the frame "
                                                  "(default the centre, 0.5,0.5)."),
    distortion: Optional[str] = typer.Option(None, help="The lens's OpenCV distortion K1,K2,P1,P2 (default none), "
                                             "e.g. -0.12,0.03,0.001,-0.002 for a phone-like barrel."),
    list_builtins: bool = typer.Option(False, "--list", help="List the built-in scenes and exit."),
):
    """Render a synthetic scene with ground truth (poses, depth, object masks, tracks) to a dataset and a video."""
    from .errors import InvalidArgumentError
    from .synth import builtin_names, generate, load_spec

    if list_builtins:
        for name in builtin_names():
            typer.echo(f"{name}: {load_spec(name).raw.get('description', '')}")
        return
    if spec is None or output is None:
        raise InvalidArgumentError("give a SPEC (a .json file or one of: " + ", ".join(builtin_names()) + ") and -o OUTPUT")
    scene_spec = load_spec(spec)
    out = generate(scene_spec, output, frames=frames, size=None if size is None else parse_size(size), supersample=supersample,
                   video=video, principal_point=None if principal_point is None else parse_numbers(principal_point, 2, "--principal-point"),
                   distortion=None if distortion is None else parse_numbers(distortion, 4, "--distortion"))
    typer.echo(f"{scene_spec.name}: {scene_spec.frames} frames of {len(scene_spec.objects)} objects written to {out} "
               f"(transforms.json, {'video.mp4, ' if video else ''}ground_truth.json)")


def _given_on_command_line(ctx: typer.Context, option: str) -> bool:
    # by name: typer may carry its own copy of click, whose ParameterSource is another enum
    return getattr(ctx.get_parameter_source(option), "name", None) == "COMMANDLINE"


def _train_in_processes(nproc: int) -> None:
    """Run this `scenegen train` command again under torchrun in `nproc` processes."""
    import subprocess

    from .errors import TrainingError

    args, skip = [], False
    for arg in _argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "scenegen.cli", *args]
    typer.echo(f"training in {nproc} processes: {' '.join(command[2:])}")
    code = subprocess.call(command)
    if code != 0:
        raise TrainingError(f"training in {nproc} processes failed (exit status {code}; see the messages above); "
                            "--resume continues from the last checkpoint")


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    dataset: Path = typer.Argument(..., help="A posed dataset: NeRF-synthetic/D-NeRF folder, transforms.json, or COLMAP."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder: scene/, point_cloud.ply, eval.json, renders."),
    steps: int = typer.Option(TRAIN_DEFAULTS.steps, help="Optimisation steps."),
    downscale: float = typer.Option(TRAIN_DEFAULTS.downscale, callback=finite,
                                    help="Train on images at 1/DOWNSCALE resolution."),
    sh_degree: int = typer.Option(TRAIN_DEFAULTS.sh_degree, min=0, max=3, help="Final spherical-harmonics degree."),
    max_gaussians: int = typer.Option(TRAIN_DEFAULTS.max_gaussians, help="Cap on the number of Gaussians."),
    exposure: bool = typer.Option(False, "--exposure", help="Learn a per-image exposure (gain and offset)."),
    background: Optional[str] = typer.Option(None, help="Background r,g,b in [0, 1] for RGBA images (default: white)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT/checkpoint.pt."),
    evaluate_split: bool = typer.Option(True, "--eval/--no-eval", help="Evaluate on the held-out views."),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Train data-parallel in this many processes on this machine "
                              "(torchrun; each renders its share of the views; for several machines run torchrun yourself)."),
    checkpoint_every: int = typer.Option(TRAIN_DEFAULTS.checkpoint_every, help="Steps between checkpoints (0: none)."),
    seed: int = typer.Option(0, help="Random seed."),
    backend: str = typer.Option("auto", help="Render backend for training: auto (cpu on the CPU, gsplat on CUDA), cpu, torch, gsplat."),
    device: str = typer.Option(TRAIN_DEFAULTS.device, help="Train on: auto (a CUDA GPU when torch sees one and gsplat "
                               "imports, else the CPU), cpu, cuda or cuda:N."),
    motion: str = typer.Option(TRAIN_DEFAULTS.motion, help="auto (per-Gaussian motion when the images carry several "
                               "times), static (a still scene even then) or dynamic (motion, or an error without times)."),
    static: bool = typer.Option(False, "--static", hidden=True, help="Deprecated: --motion static."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Training settings from a JSON or YAML file (a mapping "
                                               "of TrainConfig fields, or a saved scene's scene.json); options given here "
                                               "override it."),
    objects: str = typer.Option("auto", help="Split into objects from: auto (masks if the dataset has them, else motion, "
                                "else clusters on the supporting plane), masks, motion (what a still fit cannot explain, "
                                "trained as rigid bodies; masks in OUTPUT/motion_masks), geometry, none."),
    object_masks: Optional[Path] = typer.Option(None, help="Instance masks (0 background, 1, 2, ... objects): one image "
                                                "for the first view, or a folder named like the images."),
    shadows: bool = typer.Option(TRAIN_DEFAULTS.motion_mask_shadows, "--leave-out-shadows/--keep-shadows",
                                 help="Objects from motion: leave out what is the still fit darkened (an object's shadow, "
                                 "which joined to it pulls its mask onto the floor). Kept by default: a dull object over a "
                                 "surface of its own hue (grey over grey) reads as shadow whole."),
):
    """Fit 3D Gaussians to a posed dataset and evaluate on its held-out views. Datasets whose
    images carry several times (D-NeRF, scenegen synth, videos) get per-Gaussian motion."""
    from .data import load_dataset
    from .recon import TrainConfig, train
    from .recon.distributed import finish, world

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _train_in_processes(nproc)
    bg = None if background is None else parse_colour(background)
    ds = load_dataset(dataset, background=bg)
    if object_masks is not None:
        from .data.masks import object_mask_paths

        ds = ds.with_masks(object_mask_paths(ds.image_paths, object_masks))
    if static:
        from .deprecated import warn_once

        warn_once("scenegen train --static", "--motion static")
        motion = "static"
    # option -> TrainConfig field
    given = {"steps": steps, "downscale": downscale, "sh_degree": sh_degree, "max_gaussians": max_gaussians,
             "exposure": ("exposure_compensation", exposure), "checkpoint_every": checkpoint_every, "seed": seed,
             "backend": backend, "device": device, "motion": motion, "shadows": ("motion_mask_shadows", shadows), "objects": objects}
    settings = {}
    for option, value in given.items():
        field, value = value if isinstance(value, tuple) else (option, value)
        if config_file is None or _given_on_command_line(ctx, option) or (option == "motion" and static):
            settings[field] = value
    cfg = TrainConfig.from_file(config_file, **settings) if config_file is not None else TrainConfig(**settings)
    typer.echo(f"{ds!r}; training {cfg.steps} steps into {output}")
    scene = train(ds, cfg, out=output, resume=resume, evaluate_split=evaluate_split)
    finish()
    if world()[0] != 0:
        return
    ev = scene.metadata.get("eval")
    summary = f"; test PSNR {ev['psnr']:.2f} dB, SSIM {ev['ssim']:.4f} ({ev['num_images']} views)" if ev else ""
    typer.echo(f"wrote {output / 'scene'} and {output / 'point_cloud.ply'}: {scene.num_gaussians} Gaussians{summary}")
    if scene.objects:
        from .recon.objects import describe_objects

        typer.echo(describe_objects(scene))


@app.command("batch")
def batch_cmd(
    inputs: list[Path] = typer.Argument(..., help="Videos, photo folders or posed datasets, or .txt files listing them (one per line)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder: one folder per capture, and batch.json."),
    ray_address: Optional[str] = typer.Option(None, "--ray", help="A Ray cluster to run on (auto, ray://HOST:10001); "
                                              "default: start a local Ray on this machine."),
    cpus: float = typer.Option(2.0, callback=finite, help="CPUs each capture reserves (and torch threads it uses)."),
    gpus: float = typer.Option(0.0, callback=finite, help="GPUs each capture reserves."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default: reconstruct's for videos and photos, train's for datasets)."),
    motion: str = typer.Option("auto", help="auto, static or dynamic, for every capture."),
    objects: str = typer.Option("auto", help="Split into objects from: auto, masks, motion, geometry, none."),
    max_frames: int = typer.Option(120, help="At most this many keyframes from a video."),
    max_size: int = typer.Option(1600, help="Longer side of the keyframes, in pixels."),
    rerun: bool = typer.Option(False, help="Run again the captures that finished in an earlier batch into OUTPUT."),
):
    """Many captures at once on Ray: each one a task running `reconstruct` (videos, photos) or
    `train` (datasets) into OUTPUT/NAME. A failing capture is reported and the others go on; a
    rerun skips the finished ones. Exits 1 when any capture failed; OUTPUT/batch.json has them all."""
    from rich.console import Console

    from .batch import BatchSettings, run_batch, summary_table

    def report(entry: dict, done: int, total: int) -> None:
        what = {"done": f"done in {entry.get('seconds', 0):.1f} s", "skipped": "finished before, skipped",
                "failed": f"FAILED: {entry.get('error', '')}"}[entry["status"]]
        psnr = f", PSNR {entry['psnr']:.2f} dB" if entry.get("psnr") is not None and entry["status"] == "done" else ""
        typer.echo(f"[{done}/{total}] {entry['name']} ({entry['kind']}): {what}{psnr}")

    settings = BatchSettings(steps=steps, motion=motion, objects=objects, max_frames=max_frames, max_size=max_size)
    entries = run_batch([str(p) for p in inputs], output, address=ray_address, cpus=cpus, gpus=gpus, settings=settings,
                        rerun=rerun, on_result=report)
    Console().print(summary_table(entries))
    typer.echo(f"wrote {output / 'batch.json'}")
    if any(e["status"] == "failed" for e in entries):
        raise typer.Exit(1)


@app.command("edit")
def edit_cmd(
    scene: Path = typer.Argument(..., help="A native scene (folder or .zip)."),
    do: list[str] = typer.Option([], "--do", help="An edit as text, e.g. \"translate box offset=0.1,0,0\" (repeatable; "
                                 "see scenegen.edit.command)."),
    edits: Optional[Path] = typer.Option(None, "--edits", help="A JSON list of edits [{\"op\": ..., \"args\": {...}}], "
                                         "or a scene.json whose history to replay."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Where to save the edited scene (folder or .zip)."),
    preview: Optional[Path] = typer.Option(None, help="PNG: the scene before | after, from its first capture camera."),
    time: Optional[float] = typer.Option(None, "--time", "-t", callback=finite, help="Scene time of the preview (default: start)."),
    backend: str = typer.Option("auto", help="Render backend of the preview: auto, cpu, torch, gsplat."),
):
    """Edit a scene's objects (move, turn, scale, duplicate, delete, insert a mesh, ...), or list
    them when no edit is given. Every edit is journaled in the saved scene."""
    from .edit import OPERATIONS, replay
    from .edit.command import parse_edit, read_edits
    from .errors import InvalidArgumentError
    from .io import load, save

    sc = load(scene)
    before = load(scene) if preview is not None else None
    todo = (read_edits(edits) if edits is not None else []) + [parse_edit(text) for text in do]
    if not todo:
        typer.echo(f"{scene}: time {sc.time_range[0]:g}..{sc.time_range[1]:g}, {len(sc.history)} journaled edit(s)")
        for oid, obj in enumerate(sc.all_objects()):
            state = "" if obj.visible else " (hidden)"
            typer.echo(f"  {oid:3d} {obj.name}: {len(obj.gaussians)} Gaussians, {len(obj.track)} keyframes{state}")
        typer.echo(f"edits: {', '.join(sorted(OPERATIONS))}")
        return
    if output is None:
        raise InvalidArgumentError("give -o/--output: where to save the edited scene")
    replay(sc, todo)
    save(sc, output)
    typer.echo(f"applied {len(todo)} edit(s); wrote {output}: {len(sc.objects)} objects ({', '.join(sc.objects) or 'none'})")
    if preview is not None:
        _before_after(before, sc, preview, time, backend)
        typer.echo(f"wrote {preview}")


def _before_after(before, after, path: Path, time: Optional[float], backend: str):
    """A PNG of `before` | `after` from the first capture camera (or a view framing the scene)."""
    import imageio.v3 as iio
    import torch

    from .common.atomic import atomic_path
    from .common.views import framing, orbit_cameras, scene_up

    if after.cameras is not None and len(after.cameras):
        camera = after.cameras[0]
    else:
        centre, radius = framing(after.gaussians_at(time)[0])
        camera = orbit_cameras(centre, radius, num=1, up=scene_up(after), width=480, height=360)[0]
    with torch.no_grad():
        images = [s.render(camera, time, backend=backend).rgb[0].clamp(0, 1) for s in (before, after)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, (torch.cat(images, 1) * 255).round().byte().numpy(), extension=".png")


@app.command("demo")
def demo_cmd(
    output: Path = typer.Option(Path("out/demo"), "-o", "--output", help="Folder to write everything into."),
    frames: int = typer.Option(36, min=8, help="Frames of the generated capture."),
    size: str = typer.Option("320x240", help="Size WxH of the generated capture."),
    steps: int = typer.Option(1000, min=1, help="Training steps."),
):
    """The main job on the built-in scene: generate a capture of a table where a box slides and a
    block turns, reconstruct it with its objects, edit it (move, duplicate, drop under gravity,
    delete), render a before | after video and save everything."""
    from .demo import run_demo

    width, height = parse_size(size)
    summary = run_demo(output, frames=frames, size=(width, height), steps=steps)
    psnr = summary["test_psnr"]
    typer.echo(f"reconstructed {len(summary['objects'])} objects ({', '.join(summary['objects'])})"
               + (f", held-out PSNR {psnr:.2f} dB" if psnr is not None else ""))
    typer.echo(f"edits: {', '.join(e['op'] for e in summary['edits'])} -> objects {', '.join(summary['edited_objects'])}")
    for name, path in summary["files"].items():
        typer.echo(f"  {name:18s} {path}")
    typer.echo(f"took {sum(summary['seconds'].values()):.0f} s ("
               + ", ".join(f"{k} {v:.0f} s" for k, v in summary["seconds"].items()) + ")")


COMMANDS_GROUP = "scenegen.commands"


def add_plugin_commands(target: typer.Typer) -> None:
    """Commands that other packages register (the viewer's `view`): each entry point of the
    "scenegen.commands" group names a function that adds its commands to the app."""
    for point in metadata.entry_points(group=COMMANDS_GROUP):
        try:
            register = point.load()
        except ImportError as exc:  # a plugin whose own dependencies are missing
            logging.getLogger("scenegen").debug("scenegen: command %s not loaded: %s", point.name, exc)
            continue
        register(target)


def run_app(target: typer.Typer, argv: list[str] | None = None) -> int:
    """Run a typer app: errors scenegen raises on purpose print as one line, not a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        code = target(args=argv, standalone_mode=False)  # without standalone mode, click returns typer.Exit's code
    except ScenegenError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.secho("aborted", err=True)
        return 130
    except Exception as exc:  # usage errors; by class name, as typer may carry its own copy of click
        if any(cls.__name__ == "ClickException" for cls in type(exc).__mro__):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) else 0


_plugins_added = False
_argv: list[str] = []  # the arguments main() was given (to run `train --nproc N` again under torchrun)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `scenegen`."""
    global _plugins_added, _argv
    _argv = list(sys.argv[1:] if argv is None else argv)
    if not _plugins_added:
        add_plugin_commands(app)
        _plugins_added = True
    return run_app(app, argv)


if __name__ == "__main__":
    sys.exit(main())

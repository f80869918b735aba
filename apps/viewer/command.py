"""`scenegen view`, registered by the viewer itself: scenegen's command line finds `register`
through the "scenegen.commands" entry-point group (pyproject.toml) and never imports the app.
`scenegen-view` is the same command as a program of its own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from scenegen.cli import finite


def view(
    scene: Optional[Path] = typer.Argument(None, help="A native scene (folder or .zip) or a splat file (.ply, .splat, .spz, "
                                           ".sog, meta.json, .glb/.gltf, .compressed.ply)."),
    screenshot: Optional[Path] = typer.Option(None, help="Render one frame offscreen from the default view to this PNG and exit."),
    time: Optional[float] = typer.Option(None, "--time", "-t", callback=finite, help="Scene time to show (default: start)."),
    size: str = typer.Option("960x540", help="View size WxH."),
    benchmark: bool = typer.Option(False, help="Orbit the camera offscreen for a few seconds and print 'fps: X'."),
    seconds: float = typer.Option(3.0, callback=finite, min=0.1, help="Length of --benchmark in seconds."),
    renderer: str = typer.Option("auto", help="auto (OpenGL on a GPU, else scenegen's CPU rasterizer), opengl, cpu."),
):
    """The desktop viewer and editor: look at, play, edit and simulate a scene."""
    from scenegen.cli import parse_size
    from scenegen.errors import BackendUnavailableError, InvalidArgumentError

    width, height = parse_size(size)
    if renderer not in ("auto", "opengl", "cpu"):
        raise InvalidArgumentError(f"--renderer must be auto, opengl or cpu, got {renderer!r}")
    try:
        from .main import run
    except ImportError as exc:
        raise BackendUnavailableError(f"the viewer needs PySide6 and moderngl ({exc}): pip install 'scenegen[viewer]'") from None
    code = run(scene, screenshot=screenshot, time=time, size=(width, height), benchmark=benchmark, seconds=seconds,
               renderer=renderer, echo=typer.echo)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `view` to scenegen's command line."""
    app.command("view")(view)


def main(argv: list[str] | None = None) -> int:
    """`scenegen-view`: the viewer on its own, with scenegen's one-line errors."""
    from scenegen.cli import run_app

    solo = typer.Typer(name="scenegen-view", add_completion=False, pretty_exceptions_enable=False)
    solo.command()(view)
    return run_app(solo, argv)


if __name__ == "__main__":
    sys.exit(main())

"""`scenegen view`: open the window, or render a screenshot / measure fps offscreen and exit."""

from __future__ import annotations

import os
from pathlib import Path


def run(scene: Path | None, *, screenshot: Path | None = None, time: float | None = None, size=(960, 540),
        benchmark: bool = False, seconds: float = 3.0, renderer: str = "auto", echo=print) -> int:
    from .session import ViewerSession

    width, height = size
    if screenshot is not None or benchmark:
        if scene is None:
            raise ValueError("--screenshot and --benchmark need a SCENE")
        session = ViewerSession.open(scene, renderer)
        if time is not None:
            session.set_time(time)
        if screenshot is not None:
            session.screenshot(screenshot, width, height)
            echo(f"wrote {screenshot} ({width}x{height}, time {session.time:g}, {session.renderer.name})")
        if benchmark:
            n = session.scene.num_gaussians
            fps = session.benchmark(seconds, width, height)
            echo(f"{n} Gaussians at {width}x{height} with {session.renderer.name}")
            echo(f"fps: {fps:.1f}")
        return 0
    from .window import launch

    return launch(scene, renderer=renderer, time=time, size=size)


def qt_platform_hint() -> str | None:
    """Why a window cannot open here, or None."""
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display: set DISPLAY (or run under xvfb-run), or QT_QPA_PLATFORM=offscreen"

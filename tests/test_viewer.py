"""The desktop viewer (apps/viewer): its renderers against scenegen.render, the session, the window
on Qt's offscreen platform, `scenegen view`, and one real window under Xvfb."""

import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6", reason="the viewer needs PySide6: pip install 'scenegen[viewer]'")
pytest.importorskip("moderngl", reason="the viewer needs moderngl: pip install 'scenegen[viewer]'")

from scenegen import load, render, save  # noqa: E402
from scenegen.cli import main  # noqa: E402
from scenegen.gaussians import Gaussians  # noqa: E402
from scenegen.metrics import psnr  # noqa: E402
from scenegen.scene import Scene, SceneObject, Track  # noqa: E402

from apps.viewer.session import ViewerSession  # noqa: E402

SIZE = (160, 120)


def _blob(n, colour, seed, spread=0.06, sh_degree=1):
    g = torch.Generator().manual_seed(seed)
    sh = torch.zeros(n, (sh_degree + 1) ** 2, 3)
    sh[:, 0] = (torch.tensor(colour) - 0.5) / 0.28209479177387814
    sh[:, 1:] = 0.2 * torch.randn(n, sh.shape[1] - 1, 3, generator=g)
    return Gaussians(spread * torch.randn(n, 3, generator=g), torch.log(torch.full((n, 3), 0.025)),
                     torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=1), torch.full((n,), 3.0), sh)


@pytest.fixture()
def scene():
    """A floor, a red box sliding along x over 2 s, and a still blue ball."""
    g = torch.Generator().manual_seed(0)
    floor = _blob(2500, [0.6, 0.55, 0.45], 1)
    xy = torch.rand(2500, 2, generator=g) * 2 - 1
    floor = Gaussians(torch.cat([xy, torch.zeros(2500, 1)], 1), floor.scales + 0.5, floor.quats, floor.opacities, floor.sh)
    box = Track([0.0, 2.0], torch.tensor([[1.0, 0, 0, 0]] * 2), torch.tensor([[-0.4, 0, 0.12], [0.4, 0, 0.12]]))
    ball = Track([0.0], torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([[0.0, 0.45, 0.12]]))
    return Scene(floor, [SceneObject("box", _blob(500, [0.9, 0.15, 0.1], 2), box),
                         SceneObject("ball", _blob(400, [0.1, 0.2, 0.9], 3), ball)], time_range=(0.0, 2.0))


def _project(session, point, width, height):
    uv, _ = session.camera(width, height).project(torch.tensor([point], dtype=torch.float32))
    return [float(v) for v in uv[0]]


def test_cpu_view_is_scenegens_render(scene):
    session = ViewerSession(scene, renderer="cpu")
    session.set_time(0.5)
    image = torch.from_numpy(session.frame(*SIZE).astype(np.float32) / 255)
    gaussians, _ = scene.gaussians_at(0.5)
    reference = render(gaussians, session.camera(*SIZE), background=session.background).rgb[0].clamp(0, 1)
    assert float(psnr(image, reference)) > 45  # only the 8-bit rounding differs


def test_opengl_splats_match_the_reference_renderer(scene):
    from apps.viewer.splat_gl import GLSplatRenderer

    try:
        gl = GLSplatRenderer()
    except RuntimeError as exc:
        pytest.skip(f"no OpenGL context here: {exc}")
    session = ViewerSession(scene, renderer="cpu")
    gaussians, ids = scene.gaussians_at(1.0)
    gl.set_gaussians(gaussians, ids)
    for yaw in (0.0, 120.0, 240.0):
        session.view.yaw = yaw
        cam = session.camera(*SIZE)
        reference = render(gaussians, cam, background=(1.0, 1.0, 1.0)).rgb[0].clamp(0, 1)
        image = torch.from_numpy(gl.render(cam, (1.0, 1.0, 1.0)).copy())
        assert float(psnr(image, reference)) >= 30  # depth sorting and quads stay honest to the reference
    lit = torch.from_numpy(gl.render(cam, (1.0, 1.0, 1.0), highlight=1).copy())
    assert float((lit - image).abs().max()) > 0.2  # the highlighted box is drawn differently
    gl.release()


def test_session_edits_undo_save_and_time(scene, tmp_path):
    session = ViewerSession(scene, renderer="cpu")
    u, v = _project(session, [-0.4, 0.0, 0.12], *SIZE)
    assert session.pick(u, v, *SIZE) == "box"
    before = session.frame(*SIZE)
    session.move_to([-0.4, 0.3, 0.12])
    assert np.allclose(session.position(), [-0.4, 0.3, 0.12], atol=1e-5)
    assert np.abs(session.frame(*SIZE).astype(int) - before).max() > 50
    assert session.undo() and np.allclose(session.position(), [-0.4, 0.0, 0.12], atol=1e-5)
    assert np.array_equal(session.frame(*SIZE), before)
    assert session.redo()
    session.save(tmp_path / "edited.zip")
    assert np.allclose(load(tmp_path / "edited.zip").objects["box"].pose_at(0.0)[:3, 3], [-0.4, 0.3, 0.12], atol=1e-5)
    session.set_time(2.0)
    assert np.abs(session.frame(*SIZE).astype(int) - before).max() > 50  # the box slid
    session.step(-1)
    assert session.time < 2.0


def test_window_click_fields_undo_slider_and_gizmo(scene, tmp_path):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from apps.viewer.window import ViewerWindow

    app = QApplication.instance() or QApplication([])
    save(scene, tmp_path / "scene.zip")
    window = ViewerWindow(ViewerSession.open(tmp_path / "scene.zip", renderer="cpu"))
    window.resize(700, 420)
    window.show()
    app.processEvents()
    view, session = window.view, window.session
    w, h = view.width(), view.height()
    u, v = _project(session, [-0.4, 0.0, 0.12], w, h)
    QTest.mouseClick(view, Qt.LeftButton, Qt.NoModifier, QPoint(round(u), round(v)))
    assert session.selected == "box" and window.object_list.currentItem().text() == "box"
    first = view.image.copy()
    window.position_fields[1].setValue(0.3)  # numeric field: y
    assert np.allclose(session.position(), [-0.4, 0.3, 0.12], atol=1e-3)
    assert view.image != first
    window.undo()
    assert np.allclose(session.position(), [-0.4, 0.0, 0.12], atol=1e-5)
    assert abs(window.position_fields[1].value()) < 1e-6
    # The gizmo: drag the x arrow to the right; one translate is journaled for the whole drag.
    journal = len(session.scene.history)
    (sx, sy), (ex, ey) = view.gizmo.layout(session, w, h)[0]
    grab = QPoint(round(sx + 0.7 * (ex - sx)), round(sy + 0.7 * (ey - sy)))
    QTest.mousePress(view, Qt.LeftButton, Qt.NoModifier, grab)
    for step in range(1, 4):
        QTest.mouseMove(view, grab + QPoint(round(step * (ex - sx) / 3), round(step * (ey - sy) / 3)))
    QTest.mouseRelease(view, Qt.LeftButton, Qt.NoModifier, grab + QPoint(round(ex - sx), round(ey - sy)))
    moved = np.array(session.position()) - [-0.4, 0.0, 0.12]
    assert moved[0] > 0.02 and abs(moved[1]) < 1e-6 and abs(moved[2]) < 1e-6
    assert len(session.scene.history) == journal + 1
    # Time: the slider moves the box.
    still = view.image.copy()
    window.slider.setValue(1000)
    assert session.time == 2.0 and view.image != still
    # Hide with the list's check box; duplicate; delete; save.
    window.object_list.item(2).setCheckState(Qt.Unchecked)
    assert not session.scene.objects["ball"].visible
    window.duplicate()
    assert "box_2" in session.scene.objects and session.selected == "box_2"
    window.delete()
    assert "box_2" not in session.scene.objects and session.selected is None
    session.save()
    assert [e["op"] for e in load(tmp_path / "scene.zip").history][-3:] == ["hide", "duplicate", "delete"]
    window.session.modified = False
    window.close()


def test_view_command_screenshot_and_benchmark(scene, tmp_path, capsys):
    import imageio.v3 as iio

    save(scene, tmp_path / "scene.zip")
    assert main(["view", str(tmp_path / "scene.zip"), "--screenshot", str(tmp_path / "shot.png"), "--size", "200x100",
                 "--time", "1", "--renderer", "cpu"]) == 0
    shot = iio.imread(tmp_path / "shot.png")
    assert shot.shape == (100, 200, 3) and shot.std() > 10
    assert main(["view", str(tmp_path / "scene.zip"), "--benchmark", "--seconds", "0.3", "--size", "96x64"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("fps: ") and float(last.split()[1]) > 0
    assert main(["view", str(tmp_path / "missing.zip"), "--screenshot", str(tmp_path / "x.png")]) == 2


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (Debian package xvfb)")
def test_real_window_under_xvfb(scene, tmp_path):
    save(scene, tmp_path / "scene.zip")
    script = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from apps.viewer.session import ViewerSession\n"
        "from apps.viewer.window import ViewerWindow\n"
        "app = QApplication([])\n"
        f"w = ViewerWindow(ViewerSession.open(r'{tmp_path / 'scene.zip'}'))\n"
        "w.resize(800, 480); w.show()\n"
        "for _ in range(20): app.processEvents()\n"
        "w.view.redraw(); app.processEvents()\n"
        "print(app.platformName())\n"
        f"w.grab().save(r'{tmp_path / 'window.png'}')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    out = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("xcb")
    import imageio.v3 as iio

    image = iio.imread(tmp_path / "window.png")
    assert image.shape[0] >= 400 and image[..., :3].std() > 10


def test_window_plays_keyframes_simulates_inserts_and_opens_dropped_files(scene, tmp_path):
    import time

    import trimesh
    from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication

    from apps.viewer.window import ViewerWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(tmp_path / "viewer.ini"), QSettings.IniFormat)
    window = ViewerWindow(ViewerSession(scene, renderer="cpu"), settings=settings)
    window.resize(480, 320)
    window.show()
    app.processEvents()
    session = window.session
    window.toggle_play()
    time.sleep(0.05)
    window.advance()
    assert session.time > 0.0 and window.slider.value() > 0
    window.toggle_play()
    assert not window.play_timer.isActive()
    session.select("box")
    window.keyframe()
    assert session.scene.history[-1]["op"] == "set_pose"
    keys = len(session.scene.objects["box"].track)
    window.simulate()
    assert session.scene.history[-1]["op"] == "simulate" and len(session.scene.objects["box"].track) > keys
    mesh = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    mesh.export(tmp_path / "crate.ply")
    window.insert_mesh(tmp_path / "crate.ply")
    assert session.selected == "crate" and session.scene.history[-1]["op"] == "insert_mesh"
    # A scene file dropped on the window opens, and joins the recent files.
    save(scene, tmp_path / "other.zip")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(tmp_path / "other.zip"))])
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier))
    assert window.session is not session and window.session.path == tmp_path / "other.zip"
    assert settings.value("recent")[0] == str(tmp_path / "other.zip")
    assert [a.text() for a in window.recent_menu.actions()] == [str(tmp_path / "other.zip")]
    window.close()


def test_gizmo_ring_turns_the_object_about_up(scene):
    from apps.viewer.gizmo import TURN, Gizmo

    session = ViewerSession(scene, renderer="cpu")
    session.view.pitch = 60.0  # looking down at the ring
    session.select("box")
    w, h = 320, 240
    gizmo = Gizmo()
    ring = gizmo.ring(session, w, h)
    assert len(ring) > 10 and gizmo.hit(session, w, h, *ring[5]) == TURN
    (cx, cy), _ = gizmo.layout(session, w, h)[0]
    # Sweep a quarter turn that looks anticlockwise on screen (y points down), in small steps.
    r = 40.0
    points = [(cx + r * math.cos(-a), cy + r * math.sin(-a)) for a in np.linspace(0, math.pi / 2, 10)]
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        gizmo.drag(session, w, h, TURN, x1 - x0, y1 - y0, x1, y1)
    gizmo.finish(session)
    pose = session.scene.objects["box"].pose_at(session.time)
    angle = math.degrees(math.atan2(float(pose[1, 0]), float(pose[0, 0])))
    assert abs(angle - 90.0) < 1.0  # anticlockwise seen from above: +90 degrees about +z
    assert [e["op"] for e in session.scene.history] == ["rotate"]


def test_empty_window_ignores_controls_until_a_scene_opens(scene, tmp_path):
    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from apps.viewer.window import ViewerWindow

    app = QApplication.instance() or QApplication([])
    window = ViewerWindow(settings=QSettings(str(tmp_path / "viewer.ini"), QSettings.IniFormat))
    window.show()
    app.processEvents()
    window.slider.setValue(500)
    for control in (window.toggle_play, window.undo, window.duplicate, window.delete, window.reset_view, window.save):
        control()
    QTest.mouseClick(window.view, Qt.LeftButton, Qt.NoModifier, QPoint(20, 20))
    save(scene, tmp_path / "scene.zip")
    window.open_path(tmp_path / "scene.zip")
    assert window.session is not None and window.view.image is not None
    window.close()


def test_window_opens_every_splat_format_from_the_dialog_and_by_drop(scene, tmp_path, monkeypatch):
    from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

    from apps.viewer.window import ViewerWindow
    from scenegen.io import splat_formats, write_splats

    app = QApplication.instance() or QApplication([])
    window = ViewerWindow(settings=QSettings(str(tmp_path / "viewer.ini"), QSettings.IniFormat))
    window.show()
    app.processEvents()
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[-1]))
    gaussians, _ = scene.gaussians_at(0.0)
    offered = []
    for fmt in splat_formats():
        for suffix in fmt.suffixes:
            path = write_splats(tmp_path / fmt.name / ("meta.json" if suffix == "meta.json" else f"splats{suffix}"), gaussians)
            chosen = path if suffix.startswith(".compressed") or suffix in (".glb", "meta.json") else None
            if chosen is not None:  # File > Open, with the file the dialog offers by its filter
                monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (offered.append(args[3]) or str(chosen), ""))
                window.open_dialog()
            else:
                data = QMimeData()
                data.setUrls([QUrl.fromLocalFile(str(path))])
                window.dropEvent(QDropEvent(QPointF(10, 10), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier))
            assert warnings == [], (path, warnings)
            assert window.session.path == path and window.session.scene.num_gaussians == len(gaussians)
            assert window.view.image is not None
    assert all(f"*{s}" in offered[0] for f in splat_formats() for s in f.suffixes)
    # a mesh GLB is not splats: the window says so and keeps what it shows
    import trimesh

    trimesh.creation.box().export(tmp_path / "mesh.glb")
    shown = window.session
    window.open_path(tmp_path / "mesh.glb")
    assert window.session is shown and "KHR_gaussian_splatting" in warnings[-1]
    window.close()

"""The viewer's window (PySide6): the view, the objects panel, the time bar, menus and status."""

from __future__ import annotations

import math
import time as clock
from pathlib import Path

from PySide6.QtCore import QPointF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import (QApplication, QCheckBox, QDockWidget, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QPushButton, QSlider,
                               QToolBar, QVBoxLayout, QWidget)

from scenegen.errors import ScenegenError
from scenegen.io import splat_format, splat_suffixes

from .gizmo import AXIS_COLOURS, RING_COLOUR, Gizmo
from .session import ViewerSession

def needs_scene(method):
    """A handler that does nothing until a scene is open (the window can start empty)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        window = getattr(self, "window_", self)
        if window.session is None:
            return None
        return method(self, *args, **kwargs)

    return wrapper


QUICK_SCALE = 0.5  # frames drawn while the camera moves have half the width and height
SETTLE_MS = 180  # full resolution again this long after the last movement
RECENT = 8
SLIDER_STEPS = 1000


class ViewWidget(QWidget):
    """Draws the session's frames; the mouse orbits (left), pans (right or middle), zooms (wheel)
    and picks (a click); WASD/QE fly; the gizmo's arrows move the selected object and its ring
    turns it."""

    picked = Signal(object)
    edited = Signal()

    def __init__(self, window: "ViewerWindow"):
        super().__init__()
        self.window_ = window
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumSize(320, 200)
        self.image: QImage | None = None
        self.quick = False
        self.last_frame_seconds = 0.0
        self._press = None
        self._last = None
        self._drag_axis: int | None = None
        self.settle = QTimer(self, singleShot=True, interval=SETTLE_MS, timeout=self.full_quality)
        self.gizmo = Gizmo()

    @property
    def session(self) -> ViewerSession:
        return self.window_.session

    def redraw(self, quick: bool = False):
        if self.session is None:
            return
        self.quick = quick
        started = clock.perf_counter()
        frame = self.session.frame(self.width(), self.height(), QUICK_SCALE if quick else 1.0)
        self.last_frame_seconds = clock.perf_counter() - started
        h, w, _ = frame.shape
        self.image = QImage(frame.data, w, h, 3 * w, QImage.Format_RGB888).copy()
        self.update()
        self.window_.frame_drawn(self.last_frame_seconds)
        if quick:
            self.settle.start()

    def full_quality(self):
        self.redraw(quick=False)

    def paintEvent(self, _event):
        painter = QPainter(self)
        if self.image is not None:
            painter.drawImage(0, 0, self.image)
        if self.session is not None and self.session.selected is not None:
            ring = self.gizmo.ring(self.session, self.width(), self.height())
            painter.setPen(QPen(QColor(*RING_COLOUR), 2))
            for a, b in zip(ring[:-1], ring[1:]):
                painter.drawLine(QPointF(*a), QPointF(*b))
            handles = self.gizmo.layout(self.session, self.width(), self.height())
            for axis, (start, end) in enumerate(handles):
                painter.setPen(QPen(QColor(*AXIS_COLOURS[axis]), 3))
                painter.drawLine(QPointF(*start), QPointF(*end))
                painter.drawEllipse(QPointF(*end), 5, 5)
        painter.end()

    def resizeEvent(self, _event):
        self.redraw(quick=True)

    @needs_scene
    def mousePressEvent(self, event):
        self.setFocus()
        self._press = self._last = event.position()
        self._drag_axis = None
        if event.button() == Qt.LeftButton and self.session.selected is not None:
            self._drag_axis = self.gizmo.hit(self.session, self.width(), self.height(), event.position().x(), event.position().y())

    @needs_scene
    def mouseMoveEvent(self, event):
        if self._last is None:
            return
        pos = event.position()
        dx, dy = pos.x() - self._last.x(), pos.y() - self._last.y()
        self._last = pos
        if self._drag_axis is not None:
            self.gizmo.drag(self.session, self.width(), self.height(), self._drag_axis, dx, dy, pos.x(), pos.y())
            self.redraw(quick=True)
            return
        if event.buttons() & Qt.LeftButton:
            self.session.view.orbit(-0.4 * dx, 0.4 * dy)
        elif event.buttons() & (Qt.RightButton | Qt.MiddleButton):
            self.session.view.pan(dx / max(1, self.width()), dy / max(1, self.width()))
        self.redraw(quick=True)

    @needs_scene
    def mouseReleaseEvent(self, event):
        if self._press is None:
            return
        moved = (event.position() - self._press).manhattanLength()
        if self._drag_axis is not None:
            self.gizmo.finish(self.session)
            self.edited.emit()
        elif event.button() == Qt.LeftButton and moved < 3:
            self.picked.emit(self.session.pick(event.position().x(), event.position().y(), self.width(), self.height()))
        self._press = self._last = None
        self._drag_axis = None

    @needs_scene
    def wheelEvent(self, event):
        self.session.view.zoom(0.9 ** (event.angleDelta().y() / 120))
        self.redraw(quick=True)

    @needs_scene
    def keyPressEvent(self, event):
        step = 0.05 * self.session.view.distance
        moves = {Qt.Key_W: (step, 0, 0), Qt.Key_S: (-step, 0, 0), Qt.Key_D: (0, step, 0), Qt.Key_A: (0, -step, 0),
                 Qt.Key_E: (0, 0, step), Qt.Key_Q: (0, 0, -step)}
        if event.key() in moves:
            self.session.view.fly(*moves[event.key()])
            self.redraw(quick=True)
        else:
            super().keyPressEvent(event)


class ViewerWindow(QMainWindow):
    def __init__(self, session: ViewerSession | None = None, settings: QSettings | None = None):
        super().__init__()
        self.session = session
        self.settings = settings if settings is not None else QSettings("scenegen", "viewer")
        self.setAcceptDrops(True)
        self.resize(1280, 760)
        self.view = ViewWidget(self)
        self.view.picked.connect(self.on_picked)
        self.view.edited.connect(self.after_edit)
        self.setCentralWidget(self.view)
        self.playing = False
        self.play_timer = QTimer(self, interval=40, timeout=self.advance)
        self._last_tick = clock.perf_counter()
        self._build_objects_panel()
        self._build_time_bar()
        self._build_menus()
        self.fps_label = QLabel()
        self.statusBar().addPermanentWidget(self.fps_label)
        if session is not None:
            self.set_session(session)

    # Building the window
    def _build_menus(self):
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open…", self.open_dialog, QKeySequence.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._action(file_menu, "&Save", self.save, QKeySequence.Save)
        self._action(file_menu, "Save &As…", self.save_as, QKeySequence.SaveAs)
        file_menu.addSeparator()
        self._action(file_menu, "Screens&hot…", self.screenshot_dialog, "Ctrl+P")
        self._action(file_menu, "Render &Video…", self.video_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.Quit)
        edit_menu = self.menuBar().addMenu("&Edit")
        self._action(edit_menu, "&Undo", self.undo, QKeySequence.Undo)
        self._action(edit_menu, "&Redo", self.redo, QKeySequence.Redo)
        edit_menu.addSeparator()
        self._action(edit_menu, "&Duplicate", self.duplicate, "Ctrl+D")
        self._action(edit_menu, "De&lete", self.delete, QKeySequence.Delete)
        self._action(edit_menu, "&Insert Mesh…", self.insert_mesh_dialog)
        self._action(edit_menu, "&Keyframe", self.keyframe, "K")
        self._action(edit_menu, "&Simulate (drop)", self.simulate)
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "&Reset View", self.reset_view, "R")
        self._action(view_menu, "&Next Capture Camera", lambda: self.snap(+1), "]")
        self._action(view_menu, "&Previous Capture Camera", lambda: self.snap(-1), "[")
        self._capture_index = -1
        self._refresh_recent()

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        menu.addAction(action)
        return action

    def _build_objects_panel(self):
        panel = QWidget()
        layout = QVBoxLayout(panel)
        self.object_list = QListWidget()
        self.object_list.itemChanged.connect(self.on_visibility)
        self.object_list.currentItemChanged.connect(self.on_list_selection)
        layout.addWidget(self.object_list)
        form = QFormLayout()
        self.position_fields = []
        row = QHBoxLayout()
        for axis in "xyz":
            field = QDoubleSpinBox(decimals=3, minimum=-1e4, maximum=1e4, singleStep=0.01, keyboardTracking=False)
            field.setObjectName(f"position_{axis}")
            field.valueChanged.connect(self.on_position)
            self.position_fields.append(field)
            row.addWidget(field)
        form.addRow("position", row)
        self.turn_field = QDoubleSpinBox(decimals=1, minimum=-360, maximum=360, singleStep=5, suffix="°")
        turn = QPushButton("Turn", clicked=lambda: self.apply("rotate", axis=self.session.view.up.tolist(),
                                                              degrees=self.turn_field.value(), t=self.session.time))
        form.addRow(self._pair(self.turn_field, turn))
        self.scale_field = QDoubleSpinBox(decimals=3, minimum=0.01, maximum=100, singleStep=0.1, value=1.0)
        form.addRow(self._pair(self.scale_field, QPushButton("Scale", clicked=lambda: self.apply("scale", factor=self.scale_field.value()))))
        self.fov_field = QDoubleSpinBox(decimals=0, minimum=10, maximum=120, value=50, suffix="° fov")
        self.fov_field.valueChanged.connect(self.on_fov)
        form.addRow("view", self.fov_field)
        layout.addLayout(form)
        for text, slot in (("Duplicate", self.duplicate), ("Delete", self.delete), ("Keyframe", self.keyframe),
                           ("Simulate (drop)", self.simulate), ("Insert mesh…", self.insert_mesh_dialog)):
            layout.addWidget(QPushButton(text, clicked=slot))
        dock = QDockWidget("Objects", self)
        dock.setWidget(panel)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)

    @staticmethod
    def _pair(a, b) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(a)
        row.addWidget(b)
        return box

    def _build_time_bar(self):
        bar = QToolBar("Time")
        self.play_button = QPushButton("Play", clicked=self.toggle_play)
        bar.addWidget(self.play_button)
        bar.addWidget(QPushButton("◀", clicked=lambda: self.step(-1)))
        bar.addWidget(QPushButton("▶", clicked=lambda: self.step(+1)))
        self.slider = QSlider(Qt.Horizontal, minimum=0, maximum=SLIDER_STEPS)
        self.slider.valueChanged.connect(self.on_slider)
        bar.addWidget(self.slider)
        self.time_label = QLabel()
        bar.addWidget(self.time_label)
        self.speed_field = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=8.0, value=1.0, singleStep=0.25, suffix="x")
        bar.addWidget(self.speed_field)
        self.loop_box = QCheckBox("loop", checked=True)
        bar.addWidget(self.loop_box)
        self.addToolBar(Qt.BottomToolBarArea, bar)

    # Scene state to widgets
    def set_session(self, session: ViewerSession):
        self.session = session
        self.setWindowTitle(f"scenegen — {session.path or 'untitled'}")
        if session.path is not None:
            self._remember(session.path)
        self.fov_field.setValue(session.view.fov)
        self.refresh_objects()
        self.sync_time()
        self.view.redraw()

    def refresh_objects(self):
        self.object_list.blockSignals(True)
        self.object_list.clear()
        for obj in self.session.scene.all_objects():
            item = QListWidgetItem(obj.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if obj.visible else Qt.Unchecked)
            self.object_list.addItem(item)
            if obj.name == self.session.selected:
                self.object_list.setCurrentItem(item)
        self.object_list.blockSignals(False)
        self.sync_fields()

    @needs_scene
    def sync_fields(self):
        name = self.session.selected
        for axis, field in enumerate(self.position_fields):
            field.blockSignals(True)
            field.setEnabled(name is not None)
            field.setValue(self.session.position()[axis] if name is not None else 0.0)
            field.blockSignals(False)

    @needs_scene
    def sync_time(self):
        t0, t1 = self.session.scene.time_range
        self.slider.blockSignals(True)
        self.slider.setValue(0 if t1 <= t0 else round(SLIDER_STEPS * (self.session.time - t0) / (t1 - t0)))
        self.slider.setEnabled(t1 > t0)
        self.slider.blockSignals(False)
        self.time_label.setText(f"t = {self.session.time:.2f} s")

    @needs_scene
    def frame_drawn(self, seconds: float):
        s = self.session
        quality = "quick" if self.view.quick else "full"
        self.fps_label.setText(f"{1 / max(seconds, 1e-6):.1f} fps ({quality}) · {s.scene.num_gaussians} Gaussians · "
                               f"{s.renderer.name}" + (" · modified" if s.modified else ""))

    # Reactions
    def guarded(self, fn, *args, **kwargs):
        """Run an edit; a scenegen error is shown in the status bar and changes nothing."""
        try:
            return fn(*args, **kwargs)
        except ScenegenError as exc:
            self.statusBar().showMessage(f"error: {exc}", 8000)
            return None

    def after_edit(self):
        self.refresh_objects()
        self.view.redraw()

    @needs_scene
    def apply(self, op: str, **args):
        if self.session.selected is None:
            self.statusBar().showMessage("select an object first (click it or pick it in the list)", 4000)
            return
        self.guarded(self.session.edit, op, object=self.session.selected, **args)
        self.after_edit()

    @needs_scene
    def on_picked(self, name):
        self.statusBar().showMessage(f"selected {name}" if name else "nothing selected", 3000)
        self.refresh_objects()
        self.view.redraw()

    @needs_scene
    def on_list_selection(self, item, _previous=None):
        if item is None:
            return
        name = item.text()
        self.session.select(None if name == self.session.scene.background.name else name)
        self.sync_fields()
        self.view.redraw()

    @needs_scene
    def on_visibility(self, item):
        obj = item.text()
        visible = item.checkState() == Qt.Checked
        if obj in self.session.scene.objects and self.session.scene.objects[obj].visible != visible:
            self.guarded(self.session.edit, "show" if visible else "hide", object=obj)
            self.view.redraw()

    @needs_scene
    def on_position(self, _value=None):
        if self.session.selected is None:
            return
        self.guarded(self.session.move_to, [f.value() for f in self.position_fields])
        self.view.redraw()

    def on_fov(self, value):
        if self.session is not None:
            self.session.view.fov = float(value)
            self.view.redraw()

    @needs_scene
    def on_slider(self, value):
        t0, t1 = self.session.scene.time_range
        self.session.set_time(t0 + (t1 - t0) * value / SLIDER_STEPS)
        self.time_label.setText(f"t = {self.session.time:.2f} s")
        self.sync_fields()
        self.view.redraw(quick=self.playing)

    @needs_scene
    def toggle_play(self):
        self.playing = not self.playing
        self.play_button.setText("Pause" if self.playing else "Play")
        self._last_tick = clock.perf_counter()
        self.play_timer.start() if self.playing else self.play_timer.stop()

    @needs_scene
    def advance(self):
        now = clock.perf_counter()
        dt = (now - self._last_tick) * self.speed_field.value()
        self._last_tick = now
        t0, t1 = self.session.scene.time_range
        t = self.session.time + dt
        if t > t1:
            if not self.loop_box.isChecked():
                self.toggle_play()
                t = t1
            else:
                t = t0 + (t - t0) % max(t1 - t0, 1e-9)
        self.session.set_time(t)
        self.sync_time()
        self.sync_fields()
        self.view.redraw(quick=True)

    @needs_scene
    def step(self, frames: int):
        self.session.step(frames)
        self.sync_time()
        self.sync_fields()
        self.view.redraw()

    @needs_scene
    def reset_view(self):
        self.session.reset_view()
        self.view.redraw()

    @needs_scene
    def snap(self, direction: int):
        self._capture_index += direction
        self.guarded(self.session.snap_to_capture, self._capture_index)
        self.sync_time()
        self.view.redraw()

    @needs_scene
    def duplicate(self):
        if self.session.selected is None:
            return self.apply("duplicate")
        name = self.session.selected
        new = next(f"{name}_{i}" for i in range(2, 10_000) if f"{name}_{i}" not in self.session.scene.objects)
        radius = 0.25 * self.session.view.distance * math.tan(math.radians(self.session.view.fov) / 2)
        self.apply("duplicate", name=new, offset=[radius, 0.0, 0.0])

    @needs_scene
    def delete(self):
        self.apply("delete")

    @needs_scene
    def keyframe(self):
        if self.session.selected is not None:
            self.guarded(self.session.keyframe)
            self.after_edit()

    @needs_scene
    def simulate(self):
        """Drop the selected object under gravity from now to the end of the time range (2 s at least)."""
        if self.session.selected is None:
            return self.apply("simulate")
        duration = max(2.0, self.session.scene.time_range[1] - self.session.time)
        self.guarded(self.session.edit, "simulate", duration=duration, fps=24, objects=[self.session.selected],
                     start=self.session.time)
        self.after_edit()

    @needs_scene
    def undo(self):
        if self.session.undo():
            self.after_edit()

    @needs_scene
    def redo(self):
        if self.session.redo():
            self.after_edit()

    # Files
    def open_path(self, path):
        try:
            session = ViewerSession.open(path, getattr(self, "renderer_kind", "auto"))
        except ScenegenError as exc:
            QMessageBox.warning(self, "scenegen", f"cannot open {path}:\n{exc}")
            return
        self.set_session(session)

    def open_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open scene", "", "Scenes (*.zip " + " ".join("*" + s for s in splat_suffixes()) + " scene.json)")
        if path:
            self.open_path(Path(path).parent if Path(path).name == "scene.json" else path)

    @needs_scene
    def save(self):
        if self.session.path is None or splat_format(self.session.path) is not None:
            return self.save_as()
        self.guarded(self.session.save)
        self.statusBar().showMessage(f"saved {self.session.path}", 4000)

    @needs_scene
    def save_as(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save scene as", "", "Scene archive (*.zip)")
        if path:
            self.guarded(self.session.save, path)
            self._remember(self.session.path)

    @needs_scene
    def screenshot_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self, "Screenshot", "screenshot.png", "PNG (*.png)")
        if path:
            self.session.screenshot(path, self.view.width(), self.view.height())

    @needs_scene
    def video_dialog(self):
        """One orbit around the current target over the scene's time range, as an mp4."""
        path, _ = QFileDialog.getSaveFileName(self, "Render video", "orbit.mp4", "Video (*.mp4)")
        if path:
            self.render_orbit_video(path)

    @needs_scene
    def render_orbit_video(self, path, frames: int = 96):
        from scenegen.camera import Cameras
        from scenegen.render.paths import path_times
        from scenegen.render.video import render_video

        view = self.session.view
        start = view.yaw
        cams = []
        for i in range(frames):
            view.yaw = start + 360.0 * i / frames
            cams.append(view.camera(self.view.width() // 2 * 2, self.view.height() // 2 * 2))
        view.yaw = start
        render_video(self.session.scene, Cameras.stack(cams), path, times=path_times(self.session.scene, frames),
                     background=self.session.background, progress=False)
        self.statusBar().showMessage(f"wrote {path}", 6000)

    def _remember(self, path):
        recent = [str(path)] + [p for p in (self.settings.value("recent") or []) if p != str(path)]
        self.settings.setValue("recent", recent[:RECENT])
        self._refresh_recent()

    def _refresh_recent(self):
        self.recent_menu.clear()
        for path in self.settings.value("recent") or []:
            self.recent_menu.addAction(path, lambda p=path: self.open_path(p))

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        urls = event.mimeData().urls()
        if urls:
            path = Path(urls[0].toLocalFile())
            self.open_path(path.parent if path.name == "scene.json" else path)

    @needs_scene
    def insert_mesh_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Insert mesh", "", "Meshes (*.glb *.gltf *.obj *.ply *.stl *.off)")
        if path:
            self.insert_mesh(path)

    @needs_scene
    def insert_mesh(self, path):
        name = Path(path).stem
        while name in self.session.scene.objects:
            name += "_"
        target = self.session.view.target.tolist()
        self.guarded(self.session.edit, "insert_mesh", path=str(path), name=name, position=target,
                     size=0.3 * self.session.view.distance)
        if name in self.session.scene.objects:
            self.session.select(name)
        self.after_edit()

    def closeEvent(self, event):
        if self.session is not None and self.session.modified:
            answer = QMessageBox.question(self, "scenegen", "Save the changes to the scene?",
                                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel)
            if answer == QMessageBox.Cancel:
                return event.ignore()
            if answer == QMessageBox.Save:
                self.save()
        event.accept()


def launch(scene=None, *, renderer: str = "auto", time=None, size=(960, 540)) -> int:
    """Open the window (on a scene, if given) and run until it closes."""
    from .main import qt_platform_hint

    hint = qt_platform_hint()
    if hint is not None:
        raise ScenegenError(f"cannot open a window: {hint}")
    app = QApplication.instance() or QApplication([])
    window = ViewerWindow()
    window.renderer_kind = renderer
    if scene is not None:
        window.open_path(scene)
        if time is not None and window.session is not None:
            window.session.set_time(time)
            window.sync_time()
    window.resize(size[0] + 300, size[1] + 120)
    window.show()
    return app.exec()


__all__ = ["ViewerWindow", "ViewWidget", "launch"]

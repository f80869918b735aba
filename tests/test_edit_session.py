"""EditSession (scenegen.edit.session) and the deprecated names that lead to it (scenegen.deprecated)."""

import inspect
import warnings

import pytest
import torch

import scenegen.deprecated as deprecated
from scenegen.edit import OPERATIONS, EditSession, replay, session_of
from scenegen.errors import InvalidArgumentError
from scenegen.render.picking import object_at, object_ids
from test_edit import _camera, _same, _scene


def test_every_operation_is_a_session_method_with_its_signature():
    for name, fn in OPERATIONS.items():
        method = getattr(EditSession, name)
        expected = list(inspect.signature(fn).parameters)[1:]  # less the scene
        assert list(inspect.signature(method).parameters)[1:] == expected, name
        assert method.__doc__ == fn.__doc__


def test_session_edits_undo_and_redo():
    scene = _scene()
    original = _scene()
    session = EditSession(scene)
    assert session.translate("box", [0.1, 0.0, 0.0]).duplicate("ball", "ball_2", offset=[0.0, 0.3, 0.0]) is session
    assert [e["op"] for e in scene.history] == ["translate", "duplicate"] and "ball_2" in scene.objects
    assert session.undo()["op"] == "duplicate" and "ball_2" not in scene.objects and session.can_redo
    assert session.undo()["op"] == "translate" and _same(scene, original) and not session.can_undo
    assert session.undo() is None
    assert session.redo()["op"] == "translate" and session.redo()["op"] == "duplicate" and "ball_2" in scene.objects
    assert session.redo() is None
    session.undo()
    session.hide("ball")  # a new edit clears what was undone
    assert not session.can_redo
    assert _same(replay(_scene(), scene.history), scene)


def test_session_arguments_are_checked_by_name():
    session = EditSession(_scene())
    with pytest.raises(InvalidArgumentError, match="translate"):
        session.translate("box")  # no offset
    with pytest.raises(InvalidArgumentError, match="translate"):
        session.translate("box", [0, 0, 0], colour=1)
    with pytest.raises(InvalidArgumentError, match="Scene"):
        EditSession("scene.zip")
    with pytest.raises(AttributeError, match="the edits are"):
        session.teleport


def test_picking_lives_in_render():
    scene = _scene()
    cam = _camera()
    ids = object_ids(scene, cam, 0.0, backend="torch")
    v, u = (ids == 2).nonzero()[0].tolist()
    assert object_at(scene, cam, u, v, 0.0, backend="torch") == "ball" == EditSession(scene).object_at(cam, u, v, 0.0, backend="torch")
    with pytest.raises(InvalidArgumentError, match="outside"):
        object_at(scene, cam, 10_000, 0)


def test_deprecated_scene_methods_warn_once_and_share_the_scene_session(monkeypatch):
    monkeypatch.setattr(deprecated, "_warned", set())
    scene = _scene()
    with pytest.warns(FutureWarning, match="Scene.translate is deprecated.*EditSession"):
        scene.translate("box", [0.1, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene.translate("box", [0.1, 0.0, 0.0])  # once is enough
    with pytest.warns(FutureWarning, match="Scene.undo"):
        assert scene.undo()["op"] == "translate"
    assert len(scene.history) == 1 and session_of(scene).can_redo
    with pytest.warns(FutureWarning, match="Scene.duplicate"):
        scene.duplicate("ball", new_name="ball_2")  # the old keyword names still work
    assert "ball_2" in scene.objects
    with pytest.warns(FutureWarning, match="recolour"):
        scene.recolor("ball", [1.0, 1.0, 0.0])
    assert scene.history[-1]["op"] == "recolour"
    with pytest.raises(AttributeError):
        scene.teleport


def test_a_journal_with_an_old_operation_name_replays():
    scene = _scene()
    replay(scene, [{"op": "recolor", "args": {"object": "ball", "rgb": [1.0, 0.0, 0.0]}}])
    assert scene.history == [{"op": "recolour", "args": {"object": "ball", "rgb": [1.0, 0.0, 0.0]}}]
    assert torch.allclose(scene.objects["ball"].gaussians.colours[:, 0], torch.ones(len(scene.objects["ball"].gaussians)), atol=1e-5)


def test_deprecated_io_names_lead_to_export(monkeypatch):
    monkeypatch.setattr(deprecated, "_warned", set())
    import scenegen.export
    import scenegen.io

    with pytest.warns(FutureWarning, match="scenegen.io.extract_mesh.*scenegen.export"):
        from scenegen.io import extract_mesh
    assert extract_mesh is scenegen.export.extract_mesh
    with pytest.raises(AttributeError, match="no attribute"):
        scenegen.io.no_such_name

"""kill -9 in the middle of a save: the old or the new file loads, and nothing the dead writer
left beside it survives the next load or save; and a zip that would inflate past reason is not read."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from scenegen.common.atomic import atomic_write_bytes, recover
from scenegen.io import load, save

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "demo_scene.zip"

# Runs in a child process: save the demo scene, edited, to TARGET, killing itself with SIGKILL
# at the CUT-th call of the function the case names.
CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})
import scenegen.common.atomic as atomic
import zipfile
from scenegen.io import load, save
from scenegen.edit import EditSession

calls = [0]
def cut(fn):
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == {cut}:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return wrapped

if {what!r} == "rename":
    atomic.os.replace = cut(os.replace)
elif {what!r} == "zip member":
    zipfile.ZipFile.writestr = cut(zipfile.ZipFile.writestr)
elif {what!r} == "checkpoint":
    import torch
    torch.save = cut(torch.save)
scene = load({demo!r})
if {what!r} == "checkpoint":
    with atomic.atomic_path({target!r}) as tmp:
        torch.save({{"step": 2}}, tmp)
else:
    EditSession(scene).translate("cube", offset=(0.5, 0.0, 0.0))
    save(scene, {target!r})
"""


def run_child(what: str, target: Path, cut: int) -> int:
    code = textwrap.dedent(CHILD.format(root=str(ROOT), cut=cut, what=what, demo=str(DEMO), target=str(target)))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).returncode


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith("." + target.name))


def cube_x(path: Path) -> float:
    return float(load(path).objects["cube"].pose_at(0.0)[0, 3])


@pytest.mark.parametrize("cut", [1, 2])
def test_a_folder_save_killed_between_its_renames_loses_nothing(tmp_path, cut):
    target = tmp_path / "scene"
    save(load(DEMO), target)
    before = cube_x(target)
    assert run_child("rename", target, cut) == -9
    # cut 1: killed before the old folder moved aside; cut 2: after, with the new one not yet in place
    assert leftovers(target) and (target.exists() == (cut == 1))
    assert cube_x(target) == pytest.approx(before)  # load puts the old scene back
    assert leftovers(target) == []


def test_a_zip_save_killed_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "scene.zip"
    shutil.copy(DEMO, target)
    assert run_child("zip member", target, 2) == -9
    assert leftovers(target) and target.read_bytes() == DEMO.read_bytes()
    assert load(target).num_gaussians == load(DEMO).num_gaussians
    assert leftovers(target) == []
    save(load(DEMO), target)  # and a save after it works as usual
    assert leftovers(target) == []


def test_a_checkpoint_killed_mid_write_leaves_the_previous_one(tmp_path):
    target = tmp_path / "checkpoint.pt"
    torch.save({"step": 1}, target)
    assert run_child("checkpoint", target, 1) == -9
    assert leftovers(target) and torch.load(target, weights_only=True)["step"] == 1
    atomic_write_bytes(target, b"next")  # the next write tidies the dead writer's file
    assert leftovers(target) == [] and target.read_bytes() == b"next"


def test_a_live_writers_files_are_left_alone(tmp_path):
    target = tmp_path / "a.bin"
    mine = tmp_path / f".a.bin.{__import__('os').getpid()}-x.tmp.bin"
    mine.write_bytes(b"in progress")
    assert recover(target) is False and mine.exists()


def test_a_zip_member_that_would_inflate_a_thousand_times_is_refused_unread(tmp_path):
    import resource
    import zipfile

    from scenegen.errors import FormatError

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("scene.json", b'{"format_version": 1, "background": {"name": "background", "ply": "b.ply"}}')
        with zf.open("b.ply", "w") as member:  # 256 MiB of zeros, deflated to about 250 kB
            block = bytes(1 << 20)
            for _ in range(256):
                member.write(block)
    assert bomb.stat().st_size < 2 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FormatError, match="inflate"):
        load(bomb)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 << 10  # kB: nothing near 256 MiB was read

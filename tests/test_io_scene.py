"""scenegen.io.scene_file and scenegen.io.sequence: the native scene format (folder or .zip)
and per-time PLY sequences."""

from __future__ import annotations

import json
import lzma
import math
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import scenegen.io.scene_file as scene_file
from scenegen.camera import Cameras
from scenegen.errors import FormatError, InvalidArgumentError, ScenegenError, UnsafePathError, UnsupportedVersionError
from scenegen.gaussians import Gaussians
from scenegen.io import FORMAT_VERSION, export_ply_sequence, load, read_ply, save, write_ply, write_splat
from scenegen.scene import Scene, SceneObject, Track

FIELDS = ("means", "scales", "quats", "opacities", "sh")
TIMES = [-0.5, 0.0, 0.3, 0.5, 1.0, 1.7, 2.0, 3.0]  # inside, on and outside the keyed ranges
KINDS = ["folder", "zip"]


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def random_gaussians(n: int, degree: int, seed: int) -> Gaussians:
    gen = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=gen), scales=torch.randn(n, 3, generator=gen) * 0.3 - 3,
        quats=torch.randn(n, 4, generator=gen), opacities=torch.randn(n, generator=gen),
        sh=torch.randn(n, (degree + 1) ** 2, 3, generator=gen) * 0.5,
    )


def z_rotation(angle: float) -> list[float]:
    return [math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)]


def make_scene() -> Scene:
    car = SceneObject(
        "car", random_gaussians(7, 3, seed=1),
        Track([0.0, 2.0], [z_rotation(0), z_rotation(math.pi / 2)], [[0, 0, 0], [4, 1, 0]], "linear"),
        metadata={"class": "vehicle", "score": 0.93},
    )
    ball = SceneObject(
        "red ball/1", random_gaussians(5, 1, seed=2),  # a name that is not a valid file name
        Track([0.0, 0.5, 1.5, 2.0], [z_rotation(a) for a in (0, 0.3, 0.9, 1.2)],
              [[0, 0, 1], [1, 0, 2], [2, 1, 1.5], [3, 3, 0]], "cubic"),
    )
    c2w = torch.eye(4).repeat(3, 1, 1)
    c2w[:, 0, 3] = torch.tensor([0.0, 1.5, -2.25])
    cameras = Cameras(fx=[100.0, 110.0, 120.0], fy=[101.0, 111.0, 121.0], cx=[32.0, 33.0, 34.5], cy=[24.0, 24.5, 25.0],
                      width=[64, 64, 80], height=[48, 48, 60], c2w=c2w,
                      distortion=[[0.01, -0.002, 0.0, 0.001]] * 3)
    return Scene(random_gaussians(9, 3, seed=0), [car, ball], time_range=(0.0, 2.0), cameras=cameras,
                 camera_times=[0.0, 1.0, 2.0], metadata={"source": "unit test", "fps": 30, "tags": ["a", "b"]})


def scene_path(tmp_path: Path, kind: str, name: str = "scene") -> Path:
    return tmp_path / (name + (".zip" if kind == "zip" else ""))


def assert_same_gaussians(a: Gaussians, b: Gaussians) -> None:
    assert len(a) == len(b)
    for f in FIELDS:
        assert torch.equal(getattr(a, f), getattr(b, f)), f


def assert_same_scene(a: Scene, b: Scene) -> None:
    assert a.object_names == b.object_names
    assert a.time_range == b.time_range
    assert a.metadata == b.metadata
    for x, y in zip(a.all_objects(), b.all_objects()):
        assert_same_gaussians(x.gaussians, y.gaussians)
        assert x.track == y.track and x.track.interpolation == y.track.interpolation
        assert (x.visible, x.metadata) == (y.visible, y.metadata)
    assert (a.cameras is None) == (b.cameras is None)
    if a.cameras is not None:
        for f in ("fx", "fy", "cx", "cy", "width", "height", "c2w", "distortion"):
            assert torch.equal(getattr(a.cameras, f), getattr(b.cameras, f)), f
    assert (a.camera_times is None) == (b.camera_times is None)
    if a.camera_times is not None:
        assert torch.equal(torch.as_tensor(a.camera_times), torch.as_tensor(b.camera_times))
    for t in TIMES:
        (ga, ia), (gb, ib) = a.gaussians_at(t), b.gaussians_at(t)
        assert_same_gaussians(ga, gb)
        assert torch.equal(ia, ib)


def write_container(path: Path, files: dict[str, bytes]) -> Path:
    """Write `files` (relative path -> bytes) as a folder, or a zip when path ends with .zip."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as zf:
            for rel, data in files.items():
                zf.writestr(rel, data)
    else:
        for rel, data in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_bytes(data)
    return path


def small_files() -> dict[str, bytes]:
    scene = Scene(random_gaussians(3, 0, seed=5), [SceneObject("obj", random_gaussians(2, 0, seed=6))])
    return scene_file.scene_to_files(scene)


def with_manifest(files: dict[str, bytes], edit) -> dict[str, bytes]:
    """A copy of `files` whose scene.json is edit(manifest dict), or the raw bytes `edit` returns."""
    manifest = json.loads(files["scene.json"])
    result = edit(manifest)
    raw = result if isinstance(result, bytes) else json.dumps(manifest).encode()
    return {**files, "scene.json": raw}


def others_in(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ------------------------------------------------------------------------------------------
# round trip
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(tmp_path, kind):
    scene = make_scene()
    path = scene_path(tmp_path, kind)
    assert save(scene, path) == path
    assert path.is_dir() == (kind == "folder")
    loaded = load(path)
    assert_same_scene(scene, loaded)
    assert loaded.objects["car"].track.interpolation == "linear"
    assert loaded.objects["red ball/1"].track.interpolation == "cubic"
    # the moving objects really move, so the comparison above means something
    assert not torch.equal(loaded.gaussians_at(0.0)[0].means, loaded.gaussians_at(1.0)[0].means)
    assert others_in(tmp_path, path.name) == []


def test_every_member_is_a_standard_ply_in_the_object_frame(tmp_path):
    scene = make_scene()
    save(scene, tmp_path / "s")
    manifest = json.loads((tmp_path / "s" / "scene.json").read_text())
    assert manifest["format_version"] == 1  # a scene without per-Gaussian motion stays readable by version-1 readers
    entries = [manifest["background"]] + manifest["objects"]
    assert [e["name"] for e in entries] == scene.object_names
    for entry, obj in zip(entries, scene.all_objects()):
        assert_same_gaussians(read_ply(tmp_path / "s" / entry["ply"]), obj.gaussians)
    assert sorted(str(p.relative_to(tmp_path / "s")) for p in (tmp_path / "s").rglob("*.ply")) == sorted(e["ply"] for e in entries)


def test_zip_and_folder_hold_the_same_files(tmp_path):
    scene = make_scene()
    save(scene, tmp_path / "s")
    save(scene, tmp_path / "s.zip")
    with zipfile.ZipFile(tmp_path / "s.zip") as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
    on_disk = {str(p.relative_to(tmp_path / "s")): p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    assert members == on_disk


def test_zip_output_is_byte_identical(tmp_path):
    save(make_scene(), tmp_path / "a.zip")
    save(make_scene(), tmp_path / "b.zip")
    save(load(tmp_path / "a.zip"), tmp_path / "c.zip")  # also after a load
    a = (tmp_path / "a.zip").read_bytes()
    assert a == (tmp_path / "b.zip").read_bytes() == (tmp_path / "c.zip").read_bytes()


def test_hidden_object_and_static_scene_round_trip(tmp_path):
    hidden = SceneObject("ghost", random_gaussians(4, 2, seed=3), visible=False, metadata={"k": [1, {"x": None}]})
    scene = Scene(random_gaussians(3, 2, seed=4), [hidden])
    save(scene, tmp_path / "s")
    loaded = load(tmp_path / "s")
    assert_same_scene(scene, loaded)
    assert loaded.objects["ghost"].visible is False
    assert len(loaded.gaussians_at(0.0)[0]) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_saving_twice_replaces_the_scene(tmp_path, kind):
    path = scene_path(tmp_path, kind)
    save(make_scene(), path)
    second = Scene(random_gaussians(4, 0, seed=9), metadata={"version": 2})
    save(second, path)
    loaded = load(path)
    assert_same_scene(second, loaded)
    assert loaded.object_names == ["background"]
    if kind == "folder":
        assert not (path / "objects").exists()  # nothing of the first scene is left
    assert others_in(tmp_path, path.name) == []


@pytest.mark.parametrize("suffix", [".ply", ".splat"])
def test_load_single_file_gives_a_static_scene(tmp_path, suffix):
    g = Gaussians.from_points(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), scale=0.05, opacity=0.7)
    path = tmp_path / f"g{suffix.upper()}"  # the suffix is case-insensitive
    (write_ply if suffix == ".ply" else write_splat)(path, g)
    scene = load(path)
    assert scene.object_names == ["background"] and scene.objects == {}
    assert scene.background.track.is_identity and scene.metadata == {"source": str(path)}
    loaded = scene.background.gaussians
    if suffix == ".ply":
        assert_same_gaussians(loaded, g)
    else:
        assert len(loaded) == 6
        assert sorted(loaded.means.tolist()) == sorted(g.means.tolist())
    assert_same_gaussians(scene.gaussians_at(0.0)[0], scene.gaussians_at(5.0)[0])


# ------------------------------------------------------------------------------------------
# what save refuses, and failed saves
# ------------------------------------------------------------------------------------------

def test_save_refuses_a_non_empty_folder_that_is_not_a_scene(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(InvalidArgumentError, match="non-empty folder that is not a scene"):
        save(make_scene(), tmp_path / "photos")
    assert others_in(tmp_path / "photos") == ["holiday.jpg"]
    assert (tmp_path / "photos" / "holiday.jpg").read_bytes() == b"jpeg"


def test_save_into_an_empty_existing_folder(tmp_path):
    (tmp_path / "s").mkdir()
    save(make_scene(), tmp_path / "s")
    assert_same_scene(make_scene(), load(tmp_path / "s"))


@pytest.mark.parametrize("target, match", [("s.ply", "write_splats"), ("s.SPLAT", "write_splats"), ("s.spz", "write_splats"),
                                           ("file", "not a folder")])
def test_save_refuses_single_file_targets(tmp_path, target, match):
    (tmp_path / "file").write_bytes(b"keep me")
    with pytest.raises(InvalidArgumentError, match=match):
        save(make_scene(), tmp_path / target)
    assert others_in(tmp_path) == ["file"] and (tmp_path / "file").read_bytes() == b"keep me"


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": object()}, {"x": {1, 2}}])
def test_save_refuses_metadata_that_is_not_json(tmp_path, bad):
    scene = make_scene()
    scene.metadata = bad
    with pytest.raises(InvalidArgumentError, match="plain JSON"):
        save(scene, tmp_path / "s")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_what_is_not_a_scene(tmp_path):
    with pytest.raises(InvalidArgumentError, match="expects a Scene"):
        save(random_gaussians(2, 0, seed=0), tmp_path / "s")


def _fail_on_call(monkeypatch, owner, name: str, call: int):
    """Make owner.name raise OSError on its `call`-th call (1-based)."""
    real, calls = getattr(owner, name), []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


@pytest.mark.parametrize("kind", KINDS)
def test_failed_save_keeps_the_previous_scene(tmp_path, monkeypatch, kind):
    path = scene_path(tmp_path, kind)
    old = make_scene()
    save(old, path)
    if kind == "folder":
        calls = _fail_on_call(monkeypatch, Path, "write_bytes", 2)
    else:
        calls = _fail_on_call(monkeypatch, zipfile.ZipFile, "writestr", 2)
    with pytest.raises(OSError, match="No space"):
        save(Scene(random_gaussians(5, 0, seed=7)), path)
    monkeypatch.undo()
    assert len(calls) == 2  # it did fail half-way, after writing one member
    assert_same_scene(old, load(path))
    assert others_in(tmp_path, path.name) == []


def test_failed_final_rename_keeps_the_previous_scene(tmp_path, monkeypatch):
    old = make_scene()
    save(old, tmp_path / "s")
    _fail_on_call(monkeypatch, os, "replace", 2)
    with pytest.raises(OSError):
        save(Scene(random_gaussians(5, 0, seed=7)), tmp_path / "s")
    monkeypatch.undo()
    assert others_in(tmp_path, "s") == []
    assert_same_scene(old, load(tmp_path / "s"))


# ------------------------------------------------------------------------------------------
# what load refuses
# ------------------------------------------------------------------------------------------

def _set(key, value):
    def edit(m):
        m[key] = value
    return edit


def _set_ply(where: str, rel: str):
    def edit(m):
        (m["background"] if where == "background" else m["objects"][0])["ply"] = rel
    return edit


@pytest.mark.parametrize("kind", KINDS)
def test_newer_format_version_asks_for_an_upgrade(tmp_path, kind):
    path = write_container(scene_path(tmp_path, kind), with_manifest(small_files(), _set("format_version", FORMAT_VERSION + 1)))
    with pytest.raises(UnsupportedVersionError, match=r"(?i)upgrade"):
        load(path)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["background", "object"])
@pytest.mark.parametrize("rel", ["../x.ply", "/etc/passwd", "a/../../b.ply", "objects/../../b.ply", "~/x.ply",
                                 "C:/x.ply", "..\\x.ply"])
def test_manifest_paths_outside_the_scene_are_refused(tmp_path, kind, where, rel):
    (tmp_path / "x.ply").write_bytes(scene_file.ply_bytes(random_gaussians(1, 0, seed=0)))  # a tempting target
    path = write_container(scene_path(tmp_path, kind), with_manifest(small_files(), _set_ply(where, rel)))
    with pytest.raises(UnsafePathError, match="outside the scene"):
        load(path)


def test_symlink_out_of_the_scene_folder_is_refused(tmp_path):
    outside = tmp_path / "outside.ply"
    write_ply(outside, random_gaussians(2, 0, seed=0))
    path = write_container(tmp_path / "s", with_manifest(small_files(), _set_ply("background", "link.ply")))
    (path / "link.ply").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="resolves outside"):
        load(path)


BAD_MANIFESTS = {
    "missing member": (_set_ply("object", "objects/nope.ply"), "nope.ply"),
    "not JSON": (lambda m: b"{not json", "not valid JSON"),
    "not UTF-8": (lambda m: b'{"format_version": 1, "x": "\xff"}', "not valid JSON"),
    "a list": (lambda m: b"[1, 2, 3]", "must be a JSON object"),
    "no version": (lambda m: m.pop("format_version"), "format_version"),
    "version string": (_set("format_version", "1"), "format_version"),
    "version bool": (_set("format_version", True), "format_version"),
    "version 0": (_set("format_version", 0), "format_version 0"),
    "time_range one item": (_set("time_range", [0.0]), "time_range"),
    "time_range string": (_set("time_range", "0..1"), "time_range"),
    "time_range text item": (_set("time_range", [0, "1"]), "time_range"),
    "time_range bool": (_set("time_range", [False, 1]), "time_range"),
    "time_range NaN": (_set("time_range", [0, float("nan")]), "time_range"),
    "time_range inf": (_set("time_range", [0, float("inf")]), "time_range"),
    "time_range reversed": (_set("time_range", [2, 1]), "time_range"),
    "objects not a list": (_set("objects", {"a": 1}), "'objects' must be a list"),
    "object not a dict": (_set("objects", [3]), "JSON object"),
    "no background": (lambda m: m.pop("background"), "JSON object"),
    "background renamed": (lambda m: m["background"].update(name="sky"), "named 'background'"),
    "duplicate names": (lambda m: m["objects"].append(dict(m["objects"][0])), "already exists"),
    "ply not a string": (_set_ply("object", 7), "not a string"),
    "bad track": (lambda m: m["objects"][0].update(track={"times": [0, 1], "rotations": [[1, 0, 0, 0]]}), "malformed"),
    "bad interpolation": (lambda m: m["objects"][0].update(track={"interpolation": "spline"}), "malformed"),
    "bad cameras": (_set("cameras", {"fx": [1.0]}), "cameras"),
    "metadata a list": (_set("metadata", [1]), "'metadata' must be a JSON object"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_malformed_scenes_raise_format_error(tmp_path, kind, case):
    edit, message = BAD_MANIFESTS[case]
    path = write_container(scene_path(tmp_path, kind), with_manifest(small_files(), edit))
    with pytest.raises(FormatError, match=message):
        load(path)


def test_untouched_small_files_do_load(tmp_path):
    """The baseline the malformed cases above edit is itself valid."""
    for kind in KINDS:
        scene = load(write_container(scene_path(tmp_path, kind), small_files()))
        assert scene.object_names == ["background", "obj"]


@pytest.mark.parametrize("kind", KINDS)
def test_oversized_member_is_refused(tmp_path, monkeypatch, kind):
    path = write_container(scene_path(tmp_path, kind), small_files())
    monkeypatch.setattr(scene_file, "MAX_MEMBER_BYTES", 200)  # the PLYs are larger than this
    with pytest.raises(FormatError, match="200-byte limit"):
        load(path)
    monkeypatch.setattr(scene_file, "MAX_MANIFEST_BYTES", 10)
    with pytest.raises(FormatError, match="10-byte limit"):
        load(path)


def test_zip_member_size_is_checked_before_reading(tmp_path, monkeypatch):
    """A member whose central-directory entry claims a huge size is refused from that entry alone."""
    path = write_container(tmp_path / "s.zip", small_files())
    monkeypatch.setattr(scene_file, "MAX_MEMBER_BYTES", 1 << 20)
    patch_zip_member(path, "background.ply", central={24: ("<I", 0xFFFFFFF0)})  # uncompressed size
    with pytest.raises(FormatError, match=r"claims 4294967280 bytes, over the 1048576-byte limit"):
        load(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "without scene.json"),
    (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "not a readable zip"),
    (lambda p: p.write_bytes(b""), "not a readable zip"),
])
def test_load_refuses_paths_that_are_not_scenes(tmp_path, make, message):
    make(tmp_path / "thing")
    with pytest.raises(FormatError, match=message):
        load(tmp_path / "thing")


# ------------------------------------------------------------------------------------------
# library bugs: malformed input that escapes as something other than a ScenegenError
# ------------------------------------------------------------------------------------------

def _camera_dict(times):
    return {"fx": [1.0], "fy": [1.0], "cx": [1.0], "cy": [1.0], "width": [2], "height": [2],
            "c2w": np.eye(4)[None].tolist(), "times": times}


def patch_zip_member(path: Path, member: str, *, local=None, central=None) -> Path:
    """Overwrite header fields of `member` in a zip: local/central map a field offset (from the
    header signature) to (struct format, value)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, name_at, fields in ((b"PK\x03\x04", 30, local), (b"PK\x01\x02", 46, central)):
        pos = data.find(signature)
        while pos >= 0:
            if fields and data[pos + name_at: pos + name_at + len(name)] == name:
                for offset, (fmt, value) in fields.items():
                    struct.pack_into(fmt, data, pos + offset, value)
            pos = data.find(signature, pos + 1)
    path.write_bytes(bytes(data))
    return path


def _zip_claiming_method(member: str, method: int, data: bytes | None = None):
    """Builds a zip whose headers claim compression `method` for `member`, which is stored as is."""
    def build(path: Path) -> Path:
        files = small_files()
        if data is not None:
            files[member] = data
        return patch_zip_member(write_container(path, files), member, local={8: ("<H", method)}, central={10: ("<H", method)})
    return build


def _manifest_case(edit):
    return lambda path: write_container(path, with_manifest(small_files(), edit))


def _bug_case(case_id: str, kind: str, build, raises, reason: str):
    """A malformed input that once escaped as `raises` (for the reason given) instead of a ScenegenError."""
    return pytest.param(kind, build, id=case_id)


def _track_with_time(t):
    return lambda m: m["objects"][0].update(track={"times": [t], "rotations": [[1, 0, 0, 0]], "translations": [[0, 0, 0]]})


LOAD_BUGS = [
    _bug_case("deeply-nested-json", "folder", _manifest_case(lambda m: b"[" * 100_000), RecursionError,
              "json.loads raises RecursionError on deeply nested JSON; load() only catches JSONDecodeError"),
    _bug_case("5000-digit-int", "folder", _manifest_case(lambda m: b'{"format_version": ' + b"1" * 5000 + b"}"), ValueError,
              "json.loads raises a plain ValueError (int max str digits) for a 5000-digit number, not a JSONDecodeError"),
    _bug_case("huge-int-time-range", "folder", _manifest_case(_set("time_range", [0, 10**400])), OverflowError,
              "_number() calls math.isfinite on a huge JSON integer, which raises OverflowError"),
    _bug_case("huge-int-track-time", "folder", _manifest_case(_track_with_time(10**400)), OverflowError,
              "Track.from_dict catches TypeError/ValueError/RuntimeError, but torch raises OverflowError for a huge integer"),
    _bug_case("camera-huge-int", "folder", _manifest_case(_set("cameras", {**_camera_dict(None), "fx": [10**400]})), OverflowError,
              "_cameras_from_json does not catch the OverflowError torch raises for a huge integer"),
    _bug_case("camera-times-string", "folder", _manifest_case(_set("cameras", _camera_dict("soon"))), TypeError,
              "cameras.times goes to Scene(camera_times=...) unchecked; torch.as_tensor('soon') raises TypeError, "
              "and load() only converts ScenegenError around Scene(...)"),
    _bug_case("nul-in-member-path", "folder", _manifest_case(_set_ply("object", "objects/a\u0000b.ply")), ValueError,
              "_safe_relpath lets a NUL character through; Path.resolve() then raises ValueError('embedded null byte')"),
    _bug_case("over-long-member-name", "folder", _manifest_case(_set_ply("object", "a" * 300 + ".ply")), OSError,
              "_Reader.read: Path.is_file() raises OSError(ENAMETOOLONG) for a 300-character member name"),
    _bug_case("zip-bad-deflate", "zip", _zip_claiming_method("background.ply", zipfile.ZIP_DEFLATED), zlib.error,
              "_Reader.read does not catch zlib.error from a member whose deflate stream is invalid"),
    _bug_case("zip-bad-lzma", "zip", _zip_claiming_method("background.ply", zipfile.ZIP_LZMA, b"\0" * 64), lzma.LZMAError,
              "_Reader.read does not catch lzma.LZMAError from a corrupt LZMA member"),
]


@pytest.mark.parametrize("kind, build", LOAD_BUGS)
def test_malformed_input_raises_only_scenegen_errors(tmp_path, kind, build):
    path = build(scene_path(tmp_path, kind))
    with pytest.raises(ScenegenError):
        load(path)


def test_scene_without_background_gaussians_round_trips(tmp_path):
    scene = Scene(None, [SceneObject("only", random_gaussians(3, 0, seed=1))])
    save(scene, tmp_path / "s")
    assert_same_scene(scene, load(tmp_path / "s"))


# ------------------------------------------------------------------------------------------
# PLY sequences
# ------------------------------------------------------------------------------------------

def test_export_ply_sequence(tmp_path):
    scene = make_scene()
    times = [0.0, 0.5, 2.0]
    paths = export_ply_sequence(scene, tmp_path / "seq", times)
    assert paths == [tmp_path / "seq" / f"frame_{i:05d}.ply" for i in range(3)]
    assert others_in(tmp_path / "seq") == ["frame_00000.ply", "frame_00001.ply", "frame_00002.ply", "sequence.json"]
    listing = json.loads((tmp_path / "seq" / "sequence.json").read_text())
    assert listing == {"frames": [{"file": p.name, "time": t} for p, t in zip(paths, times)]}
    frames = [read_ply(p) for p in paths]
    for frame, t in zip(frames, times):
        assert_same_gaussians(frame, scene.gaussians_at(t)[0])
    n_bg = len(scene.background.gaussians)
    assert_same_gaussians(frames[0][:n_bg], frames[2][:n_bg])  # the background is static
    assert not torch.allclose(frames[0].means[n_bg:], frames[2].means[n_bg:])  # the objects move
    assert paths[0].read_bytes() != paths[2].read_bytes()
    assert others_in(tmp_path, "seq") == []


def test_static_scene_sequence_frames_are_identical(tmp_path):
    scene = Scene(random_gaussians(6, 1, seed=3), [SceneObject("still", random_gaussians(2, 1, seed=4))])
    paths = export_ply_sequence(scene, tmp_path / "seq", torch.tensor([0.0, 1.0, 2.5]))
    assert paths[0].read_bytes() == paths[1].read_bytes() == paths[2].read_bytes()
    assert_same_gaussians(read_ply(paths[0]), scene.gaussians_at(0.0)[0])


def test_export_replaces_a_previous_sequence(tmp_path):
    export_ply_sequence(make_scene(), tmp_path / "seq", [0.0, 1.0, 2.0])
    export_ply_sequence(make_scene(), tmp_path / "seq", [1.0])
    assert others_in(tmp_path / "seq") == ["frame_00000.ply", "sequence.json"]
    assert json.loads((tmp_path / "seq" / "sequence.json").read_text())["frames"] == [{"file": "frame_00000.ply", "time": 1.0}]


@pytest.mark.parametrize("times, message", [([], "empty"), ([0.0, float("nan")], "NaN"), ([float("inf")], "infinite")])
def test_export_refuses_bad_times(tmp_path, times, message):
    with pytest.raises(InvalidArgumentError, match=message):
        export_ply_sequence(make_scene(), tmp_path / "seq", times)
    assert list(tmp_path.iterdir()) == []


def test_export_does_not_delete_unrelated_files(tmp_path):
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "notes.txt").write_text("precious")
    try:
        export_ply_sequence(make_scene(), tmp_path / "renders", [0.0])
    except ScenegenError:
        pass  # refusing is fine too
    assert (tmp_path / "renders" / "notes.txt").read_text() == "precious"

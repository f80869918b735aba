"""Fuzzing the readers: random bytes and mutated valid files may only ever raise ScenegenError.

Every reader of untrusted files (3DGS PLY, .splat, COLMAP binary models, native scenes as .zip
or folder) gets random input and random damage to a valid file (flipped bytes, cuts, insertions,
huge counts in headers). A crash with any other exception, or a hang past the deadline, fails.

Runs are deterministic (derandomize=True) so that the suite is reproducible; set
SCENEGEN_FUZZ=explore for fresh random examples and more of them.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenegen.data.colmap import read_cameras_binary, read_images_binary, read_points_binary
from scenegen.errors import ScenegenError
from scenegen.gaussians import Gaussians
from scenegen.io import load, read_ply, read_splat
from scenegen.io.ply import ply_bytes
from scenegen.io.scene_file import scene_to_files
from scenegen.io.splat import splat_bytes
from scenegen.scene import Scene, SceneObject, Track

pytestmark = pytest.mark.bounded_memory  # every reader here runs under a memory limit

settings.register_profile("repro", max_examples=200, deadline=2000, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("explore", max_examples=2000, deadline=2000, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ = settings.get_profile("explore" if os.environ.get("SCENEGEN_FUZZ") == "explore" else "repro")


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def survive(fn, *args, **kwargs):
    """fn(*args): its result, or None when it raised a ScenegenError; anything else propagates."""
    try:
        return fn(*args, **kwargs)
    except ScenegenError as exc:
        assert str(exc), "a ScenegenError must say what is wrong"
        return None


def assert_well_formed(g: Gaussians) -> None:
    n = len(g)
    assert g.means.shape == (n, 3) and g.scales.shape == (n, 3) and g.quats.shape == (n, 4)
    assert g.opacities.shape == (n,) and g.sh.shape[0] == n and g.sh.shape[2] == 3


def assert_valid_rows(g: Gaussians) -> None:
    """After any on_invalid policy, no NaN/inf and no zero quaternion remains."""
    assert_well_formed(g)
    for field in ("means", "scales", "quats", "opacities", "sh"):
        assert bool(torch.isfinite(getattr(g, field)).all()), field
    assert bool((g.quats.norm(dim=-1) > 0).all())


def sample_gaussians(n: int = 3, degree: int = 1) -> Gaussians:
    gen = torch.Generator().manual_seed(n * 10 + degree)
    return Gaussians(torch.randn(n, 3, generator=gen), torch.randn(n, 3, generator=gen) - 2, torch.randn(n, 4, generator=gen),
                     torch.randn(n, generator=gen), torch.randn(n, (degree + 1) ** 2, 3, generator=gen))


def ascii_ply(g: Gaussians) -> bytes:
    """The same content as ply_bytes(g), in ASCII."""
    head, body = ply_bytes(g).split(b"end_header\n", 1)
    names = [line.split()[2] for line in head.decode().splitlines() if line.startswith("property")]
    rows = np.frombuffer(body, "<f4").reshape(-1, len(names))
    text = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in rows)
    return head.replace(b"binary_little_endian", b"ascii") + b"end_header\n" + text.encode()


PLY_BINARY = ply_bytes(sample_gaussians(3, 1))
PLY_ASCII = ascii_ply(sample_gaussians(2, 1))
SPLAT = splat_bytes(sample_gaussians(4, 0))


@st.composite
def mutated(draw, base: bytes, max_ops: int = 6) -> bytes:
    """`base` with a few random edits: overwrite, flip bits, cut, insert, delete."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["set", "flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "set" and data:
            data[at] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, ord("\n"), ord(" "), ord("9")]) | st.integers(0, 255))
        elif op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


HUGE_COUNTS = st.sampled_from([0, 1, 2, 4, 2**31 - 1, 2**31, 2**32 + 1, 2**63, 99999999999, 10**30]) | st.integers(0, 10**12)


def with_count(data: bytes, element: str, count: int) -> bytes:
    return re.sub(rb"element " + element.encode() + rb" \d+", f"element {element} {count}".encode(), data, count=1)


PLY_TYPE_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int": 4, "uint": 4,
                  "float": 4, "float32": 4, "double": 8, "float64": 8}
GS_NAMES = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
            "rot_0", "rot_1", "rot_2", "rot_3"] + [f"f_rest_{i}" for i in range(10)]


@st.composite
def random_ply(draw) -> bytes:
    """A PLY with a random but well-formed-looking header and a body of about the right size."""
    fmt = draw(st.sampled_from(["ascii", "binary_little_endian", "binary_big_endian"]))
    lines = ["ply", f"format {fmt} 1.0"]
    size = 0
    for name in draw(st.lists(st.sampled_from(["vertex", "face", "camera", "edge"]), min_size=1, max_size=3, unique=True)):
        count = draw(st.integers(0, 6) | HUGE_COUNTS)
        lines.append(f"element {name} {count}")
        props = draw(st.lists(st.sampled_from(GS_NAMES + ["nx", "foo"]), max_size=20))
        for prop in props:
            if draw(st.integers(0, 9)) == 0:
                lines.append(f"property list uchar int {prop}")
            else:
                ptype = draw(st.sampled_from(sorted(PLY_TYPE_SIZES)))
                lines.append(f"property {ptype} {prop}")
                size += min(count, 8) * PLY_TYPE_SIZES[ptype]
    header = ("\n".join(lines) + "\nend_header\n").encode()
    if fmt == "ascii":
        numbers = st.sampled_from(["0", "1", "-1.5", "nan", "inf", "1e39", "x", "0x10", "3"])
        rows = draw(st.lists(st.lists(numbers, max_size=30).map(" ".join), max_size=10))
        return header + "\n".join(rows).encode()
    return header + draw(st.binary(min_size=max(size - 8, 0), max_size=size + 8))


# ------------------------------------------------------------------------------------------
# PLY
# ------------------------------------------------------------------------------------------

def check_ply(data: bytes) -> None:
    for on_invalid in ("raise", "drop", "repair"):
        g = survive(read_ply, data, on_invalid=on_invalid)
        if g is not None:
            assert_valid_rows(g)


@FUZZ
@given(st.binary(max_size=512) | st.binary(max_size=512).map(lambda b: b"ply\n" + b)
       | st.binary(max_size=512).map(lambda b: b"ply\nformat binary_little_endian 1.0\nelement vertex 2\n" + b))
def test_ply_random_bytes(data):
    check_ply(data)


@FUZZ
@given(mutated(PLY_BINARY) | mutated(PLY_ASCII))
def test_ply_mutated(data):
    check_ply(data)


@FUZZ
@given(st.sampled_from([PLY_BINARY, PLY_ASCII]), HUGE_COUNTS | st.just(0))
def test_ply_vertex_count_changed(base, count):
    data = with_count(base, "vertex", count)
    g = survive(read_ply, data)
    if g is not None:  # only a count no larger than the real one can be read
        assert len(g) == count <= (3 if base is PLY_BINARY else 2)


@FUZZ
@given(random_ply())
def test_ply_random_headers(data):
    check_ply(data)


def test_ply_fuzz_bases_are_valid():
    assert len(read_ply(PLY_BINARY)) == 3 and len(read_ply(PLY_ASCII)) == 2
    assert torch.equal(read_ply(PLY_BINARY).sh, sample_gaussians(3, 1).sh)


# ------------------------------------------------------------------------------------------
# .splat
# ------------------------------------------------------------------------------------------

def check_splat(data: bytes) -> None:
    for on_invalid in ("raise", "drop", "repair"):
        g = survive(read_splat, data, on_invalid=on_invalid)
        if g is not None:
            assert_valid_rows(g)
            assert len(data) % 32 == 0 and len(g) <= len(data) // 32
            if on_invalid == "raise":
                assert len(g) == len(data) // 32


@FUZZ
@given(st.binary(max_size=400) | st.integers(0, 12).flatmap(lambda n: st.binary(min_size=32 * n, max_size=32 * n)))
def test_splat_random_bytes(data):
    check_splat(data)


@FUZZ
@given(mutated(SPLAT))
def test_splat_mutated(data):
    check_splat(data)


# ------------------------------------------------------------------------------------------
# COLMAP binary models
# ------------------------------------------------------------------------------------------

def cameras_bin() -> bytes:
    out = struct.pack("<Q", 2)
    out += struct.pack("<iiQQ", 1, 1, 640, 480) + struct.pack("<4d", 500, 510, 320, 240)  # PINHOLE
    out += struct.pack("<iiQQ", 2, 4, 800, 600) + struct.pack("<8d", 600, 600, 400, 300, 0.1, -0.01, 0, 0)  # OPENCV
    return out


def images_bin() -> bytes:
    out = struct.pack("<Q", 2)
    for image_id, n_points in ((1, 2), (2, 0)):
        out += struct.pack("<i7di", image_id, 1, 0, 0, 0, 0.5, -1, 2, 1) + f"frame_{image_id:03d}.png".encode() + b"\0"
        out += struct.pack("<Q", n_points) + b"".join(struct.pack("<ddq", 10.0 * k, 5.0, k) for k in range(n_points))
    return out


def points_bin() -> bytes:
    out = struct.pack("<Q", 2)
    for point_id, track in ((1, 2), (2, 1)):
        out += struct.pack("<Q3d3BdQ", point_id, 0.5, -1, 3, 255, 128, 0, 0.7, track) + struct.pack(f"<{2 * track}i", *range(2 * track))
    return out


COLMAP_READERS = {"cameras": (read_cameras_binary, cameras_bin()), "images": (read_images_binary, images_bin()),
                  "points": (read_points_binary, points_bin())}


def check_colmap(kind: str, data: bytes) -> None:
    reader = COLMAP_READERS[kind][0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{kind}.bin"
        path.write_bytes(data)
        result = survive(reader, path)
    if result is not None and kind == "points":
        xyz, rgb = result
        assert xyz.shape == rgb.shape and xyz.shape[1] == 3 and rgb.dtype == np.uint8


def test_colmap_fuzz_bases_are_valid(tmp_path):
    for kind, (reader, data) in COLMAP_READERS.items():
        (tmp_path / kind).write_bytes(data)
    cams = read_cameras_binary(tmp_path / "cameras")
    assert cams[1].model == "PINHOLE" and cams[2].params[4] == 0.1 and cams[2].width == 800
    images = read_images_binary(tmp_path / "images")
    assert images[2].name == "frame_002.png" and images[1].tvec == (0.5, -1, 2)
    xyz, rgb = read_points_binary(tmp_path / "points")
    assert xyz.tolist() == [[0.5, -1, 3]] * 2 and rgb.tolist() == [[255, 128, 0]] * 2


@FUZZ
@given(st.sampled_from(sorted(COLMAP_READERS)), st.binary(max_size=300))
def test_colmap_random_bytes(kind, data):
    check_colmap(kind, data)


@FUZZ
@given(st.sampled_from(sorted(COLMAP_READERS)).flatmap(lambda k: st.tuples(st.just(k), mutated(COLMAP_READERS[k][1]))))
def test_colmap_mutated(case):
    check_colmap(*case)


@FUZZ
@given(st.sampled_from(sorted(COLMAP_READERS)), HUGE_COUNTS.filter(lambda c: c < 2**64) | st.integers(0, 2**64 - 1))
def test_colmap_huge_counts(kind, count):
    check_colmap(kind, struct.pack("<Q", count) + COLMAP_READERS[kind][1][8:])


@pytest.mark.parametrize("name", ["", "a", "a.j"])
def test_colmap_short_image_names_are_valid(tmp_path, name):
    """The smallest image record is 73 bytes (pose 64, name terminator 1, point count 8)."""
    record = struct.pack("<i7di", 7, 1, 0, 0, 0, 0, 0, 0, 1) + name.encode() + b"\0" + struct.pack("<Q", 0)
    (tmp_path / "images.bin").write_bytes(struct.pack("<Q", 1) + record)
    assert read_images_binary(tmp_path / "images.bin")[7].name == name
    (tmp_path / "images.bin").write_bytes(struct.pack("<Q", 1) + record[:-1])
    with pytest.raises(ScenegenError, match="truncated|corrupt"):
        read_images_binary(tmp_path / "images.bin")


# ------------------------------------------------------------------------------------------
# native scenes: .zip and folder
# ------------------------------------------------------------------------------------------

def small_scene_files() -> dict[str, bytes]:
    mover = SceneObject("mover", sample_gaussians(2, 0), Track([0.0, 1.0], [[1, 0, 0, 0]] * 2, [[0, 0, 0], [1, 0, 0]]))
    return scene_to_files(Scene(sample_gaussians(2, 0), [mover], time_range=(0.0, 1.0), metadata={"a": 1}))


def zip_bytes(files: dict[str, bytes]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for rel, data in files.items():
                zf.writestr(rel, data)
        return path.read_bytes()


SCENE_FILES = small_scene_files()
SCENE_ZIP = zip_bytes(SCENE_FILES)
MANIFEST = json.loads(SCENE_FILES["scene.json"])


def check_load_zip(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.zip"
        path.write_bytes(data)
        scene = survive(load, path)
    if scene is not None:
        assert isinstance(scene, Scene) and scene.object_names[0] == "background"


def check_load_folder(manifest: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scene"
        for rel, data in {**SCENE_FILES, "scene.json": manifest}.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        scene = survive(load, folder)
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["scene"]  # load never writes
    if scene is not None:
        assert isinstance(scene, Scene) and scene.object_names[0] == "background"


def test_scene_fuzz_bases_are_valid():
    check_load_zip(SCENE_ZIP)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.zip").write_bytes(SCENE_ZIP)
        assert load(Path(tmp) / "s.zip").object_names == ["background", "mover"]


@FUZZ
@given(st.binary(max_size=600) | st.binary(max_size=600).map(lambda b: b"PK\x03\x04" + b))
def test_load_random_zip(data):
    check_load_zip(data)


@FUZZ
@given(mutated(SCENE_ZIP, max_ops=4))
def test_load_mutated_zip(data):
    check_load_zip(data)


@FUZZ
@given(st.binary(max_size=300) | mutated(SCENE_FILES["scene.json"]))
def test_load_folder_random_manifest(data):
    check_load_folder(data)


JSON_LEAF = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.sampled_from([10**400, -(10**30)])
             | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
             | st.sampled_from(["background.ply", "objects/001_mover.ply", "../x.ply", "linear", "cubic", ""]))
JSON_VALUES = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["times", "rotations", "translations", "interpolation", "name", "ply", "fx", "c2w"]) | st.text(max_size=5),
    inner, max_size=4), max_leaves=12)
MANIFEST_KEYS = [("format_version",), ("time_range",), ("time_range", 0), ("metadata",), ("objects",), ("objects", 0),
                 ("background",), ("cameras",)] + [(where, key) for where in ("background", ("objects", 0))
                                                   for key in ("name", "ply", "track", "visible", "metadata")]


def replaced(manifest, key_path, value):
    """A deep copy of `manifest` with the item at `key_path` replaced by `value`."""
    out = json.loads(json.dumps(manifest))
    keys = [k for part in key_path for k in (part if isinstance(part, tuple) else (part,))]
    node = out
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return out


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(MANIFEST_KEYS), JSON_VALUES), min_size=1, max_size=3))
def test_load_folder_manifest_with_random_fields(edits):
    manifest = MANIFEST
    for key_path, value in edits:
        try:
            manifest = replaced(manifest, key_path, value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier edit removed the container of this key
    check_load_folder(json.dumps(manifest).encode())


def test_the_memory_bound_of_these_tests_holds():
    with pytest.raises(MemoryError):
        np.ones(3 << 30, np.uint8)  # 3 GiB, past the budget conftest.MEMORY_BUDGET gives a fuzzed reader

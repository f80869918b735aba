"""scenegen.io.ply: the standard 3D Gaussian Splatting PLY.

PLYs are built by hand here (independently of the writer) so that the reader is checked
against the layout itself, not against our own writer.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import scenegen.io.ply as ply_module
from scenegen.errors import FormatError
from scenegen.gaussians import Gaussians
from scenegen.io import read_ply, write_ply

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
requires_data = pytest.mark.skipif(not DATA.exists(), reason=f"real data folder {DATA} (the repo's ../shared/data) is absent")
REAL_PLY = DATA / "splats" / "test-splat.3-points-from-train.ply"

FIELDS = ("means", "scales", "quats", "opacities", "sh")
TYPE_CODES = {"float": "f4", "double": "f8", "uchar": "u1", "int": "i4", "short": "i2"}


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def random_gaussians(n: int, degree: int, seed: int = 0) -> Gaussians:
    gen = torch.Generator().manual_seed(seed)
    k = (degree + 1) ** 2
    return Gaussians(
        means=torch.randn(n, 3, generator=gen) * 3, scales=torch.randn(n, 3, generator=gen) - 3,
        quats=torch.randn(n, 4, generator=gen), opacities=torch.randn(n, generator=gen) * 2,
        sh=torch.randn(n, k, 3, generator=gen),
    )


def assert_same(a: Gaussians, b: Gaussians) -> None:
    """Bit-for-bit equality of every field."""
    assert len(a) == len(b)
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype == torch.float32, f
        assert x.shape == y.shape, f"{f}: {x.shape} vs {y.shape}"
        assert torch.equal(x, y), f"{f} differs"


def reference_columns(g: Gaussians) -> dict[str, np.ndarray]:
    """The 3DGS property columns of `g` in the reference order, written out from the spec:
    f_rest is channel-major, f_rest_{c*(K-1)+k-1} = sh[:, k, c] (this loop emits them in order)."""
    n, k = len(g), g.sh.shape[1]
    cols = {name: g.means[:, i].numpy() for i, name in enumerate("xyz")}
    cols.update({name: np.zeros(n, np.float32) for name in ("nx", "ny", "nz")})
    cols.update({f"f_dc_{c}": g.sh[:, 0, c].numpy() for c in range(3)})
    for c in range(3):
        for b in range(1, k):
            cols[f"f_rest_{c * (k - 1) + b - 1}"] = g.sh[:, b, c].numpy()
    cols["opacity"] = g.opacities.numpy()
    cols.update({f"scale_{i}": g.scales[:, i].numpy() for i in range(3)})
    cols.update({f"rot_{i}": g.quats[:, i].numpy() for i in range(4)})
    return cols


def build_ply(cols: dict[str, np.ndarray], *, fmt: str = "binary_little_endian", types: dict[str, str] | None = None,
              before: tuple[str, bytes] | None = None, after: tuple[str, bytes] | None = None) -> bytes:
    """A PLY with one vertex element holding `cols` (in dict order), typed float unless `types`
    says otherwise. `before`/`after`: (header lines, body bytes) of an extra element."""
    types = types or {}
    names = list(cols)
    n = len(next(iter(cols.values())))
    header = ["ply", f"format {fmt} 1.0", "comment hand-built by test_io_ply"]
    if before:
        header.append(before[0])
    header.append(f"element vertex {n}")
    header += [f"property {types.get(p, 'float')} {p}" for p in names]
    if after:
        header.append(after[0])
    header.append("end_header")
    if fmt == "ascii":
        rows = [" ".join(repr(cols[p][i].item()) for p in names) for i in range(n)]
        body = "".join(r + "\n" for r in rows).encode("ascii")
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        arr = np.empty(n, dtype=[(p, order + TYPE_CODES[types.get(p, "float")]) for p in names])
        for p in names:
            arr[p] = cols[p]
        body = arr.tobytes()
    return ("\n".join(header) + "\n").encode("ascii") + (before[1] if before else b"") + body + (after[1] if after else b"")


def parse_written(path: Path) -> tuple[list[str], np.ndarray]:
    """Property names and the float32 table of a PLY we wrote, parsed without scenegen."""
    data = path.read_bytes()
    head, body = data.split(b"end_header\n", 1)
    lines = head.decode("ascii").splitlines()
    assert lines[:2] == ["ply", "format binary_little_endian 1.0"]
    names = [line.split()[2] for line in lines if line.startswith("property")]
    assert all(line.startswith("property float ") for line in lines if line.startswith("property"))
    return names, np.frombuffer(body, dtype="<f4").reshape(-1, len(names))


def expected_names(degree: int) -> list[str]:
    k = (degree + 1) ** 2
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(3 * (k - 1))]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ------------------------------------------------------------------------------------------
# round trip and layout
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_exact(tmp_path, degree):
    g = random_gaussians(37, degree, seed=degree)
    path = tmp_path / "g.ply"
    write_ply(path, g)
    back = read_ply(path)
    assert back.sh_degree == degree
    assert_same(back, g)
    assert_same(read_ply(path.read_bytes()), g)  # bytes in, same result


@pytest.mark.parametrize("degree", [0, 3])
def test_written_layout_is_the_reference_3dgs_layout(tmp_path, degree):
    g = random_gaussians(5, degree)
    path = tmp_path / "g.ply"
    write_ply(path, g)
    names, table = parse_written(path)
    assert names == expected_names(degree)
    assert len(names) == (62 if degree == 3 else 17)
    ref = reference_columns(g)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(table[:, i], ref[name], err_msg=name)


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_f_rest_is_channel_major(degree):
    n, k = 4, (degree + 1) ** 2
    cols = reference_columns(random_gaussians(n, degree))
    assert list(cols) == expected_names(degree)
    for i in range(3 * (k - 1)):
        cols[f"f_rest_{i}"] = np.arange(n, dtype=np.float32) * 1000 + i  # recognisable: 1000*row + i
    sh = read_ply(build_ply(cols)).sh
    assert sh.shape == (n, k, 3)
    for row in range(n):
        for c in range(3):
            for b in range(1, k):
                assert sh[row, b, c].item() == 1000 * row + c * (k - 1) + b - 1, (row, b, c)


def test_shuffled_properties_and_extras_are_tolerated():
    g = random_gaussians(9, 2, seed=3)
    cols = reference_columns(g)
    cols["foo"] = np.arange(9, dtype=np.float32) * 7
    cols["bar"] = np.arange(9) % 256
    cols["baz"] = np.linspace(0, 1, 9)
    names = list(cols)
    random.Random(1).shuffle(names)
    assert names != list(cols)
    shuffled = {p: cols[p] for p in names}
    back = read_ply(build_ply(shuffled, types={"bar": "uchar", "baz": "double"}))
    assert_same(back, g)


@pytest.mark.parametrize("fmt", ["ascii", "binary_big_endian"])
def test_other_encodings_read_identically(fmt):
    g = random_gaussians(11, 3, seed=5)
    data = build_ply(reference_columns(g), fmt=fmt)
    assert fmt.encode() in data
    assert_same(read_ply(data), g)


def test_ascii_with_crlf_line_endings():
    g = random_gaussians(3, 1, seed=8)
    data = build_ply(reference_columns(g), fmt="ascii").replace(b"\n", b"\r\n")
    assert_same(read_ply(data), g)


def test_extra_element_after_the_vertices_is_ignored():
    g = random_gaussians(6, 1, seed=7)
    face = ("element face 2\nproperty list uchar int vertex_indices",
            bytes([3]) + np.array([0, 1, 2], "<i4").tobytes() + bytes([3]) + np.array([3, 4, 5], "<i4").tobytes())
    assert_same(read_ply(build_ply(reference_columns(g), after=face)), g)


@pytest.mark.parametrize("fmt", ["binary_little_endian", "ascii"])
def test_fixed_size_element_before_the_vertices_is_skipped(fmt):
    g = random_gaussians(6, 1, seed=9)
    if fmt == "ascii":
        camera = ("element camera 2\nproperty float a\nproperty int b", b"1.5 2\n-3 4\n")
    else:
        camera = ("element camera 2\nproperty float a\nproperty int b", np.array([(1.5, 2), (-3, 4)], "<f4,<i4").tobytes())
    assert_same(read_ply(build_ply(reference_columns(g), fmt=fmt, before=camera)), g)


def test_write_creates_parent_folders_and_replaces_existing_file(tmp_path):
    path = tmp_path / "a" / "b" / "g.ply"
    write_ply(path, random_gaussians(3, 0, seed=1))
    g = random_gaussians(4, 1, seed=2)
    write_ply(path, g)
    assert_same(read_ply(path), g)
    assert leftovers(path.parent, {"g.ply"}) == []


def test_written_file_has_ordinary_permissions(tmp_path):
    path = tmp_path / "g.ply"
    write_ply(path, random_gaussians(2, 0))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------------------------------
# real file and Open3D
# ------------------------------------------------------------------------------------------

@requires_data
def test_real_3dgs_file_with_trailing_byte():
    data = REAL_PLY.read_bytes()
    head, body = data.split(b"end_header\n", 1)
    names = [line.split()[2] for line in head.decode().splitlines() if line.startswith("property")]
    assert names == expected_names(3) and len(body) == 3 * 62 * 4 + 1  # the trailing byte
    table = np.frombuffer(body[:-1], dtype="<f4").reshape(3, 62)
    col = {p: table[:, i] for i, p in enumerate(names)}
    g = read_ply(REAL_PLY)
    assert len(g) == 3 and g.sh_degree == 3
    np.testing.assert_array_equal(g.means.numpy(), np.stack([col["x"], col["y"], col["z"]], 1))
    np.testing.assert_array_equal(g.opacities.numpy(), col["opacity"])
    np.testing.assert_array_equal(g.scales.numpy(), np.stack([col[f"scale_{i}"] for i in range(3)], 1))
    np.testing.assert_array_equal(g.quats.numpy(), np.stack([col[f"rot_{i}"] for i in range(4)], 1))
    for c in range(3):
        np.testing.assert_array_equal(g.sh[:, 0, c].numpy(), col[f"f_dc_{c}"])
        for b in range(1, 16):
            np.testing.assert_array_equal(g.sh[:, b, c].numpy(), col[f"f_rest_{c * 15 + b - 1}"])
    assert all(torch.isfinite(getattr(g, f)).all() for f in FIELDS)


def _open3d():
    try:
        import open3d
    except Exception as exc:  # ImportError, or a broken binary wheel
        pytest.skip(f"open3d is not importable ({exc})")
    return open3d


@pytest.mark.parametrize("degree", [0, 3])
def test_open3d_reads_our_file(tmp_path, degree):
    o3d = _open3d()
    g = random_gaussians(8, degree, seed=11)
    path = tmp_path / "g.ply"
    write_ply(path, g)
    pcd = o3d.t.io.read_point_cloud(str(path))
    attr = {name: pcd.point[name].numpy() for name in pcd.point}
    np.testing.assert_array_equal(attr["positions"], g.means.numpy())
    np.testing.assert_array_equal(attr["f_dc"], g.sh[:, 0].numpy())
    np.testing.assert_array_equal(attr["opacity"].reshape(-1), g.opacities.numpy())
    np.testing.assert_array_equal(attr["rot"], g.quats.numpy())
    # Open3D 0.20 exposes `scale` exponentiated (linear), not the stored log scale.
    np.testing.assert_allclose(attr["scale"], np.exp(g.scales.numpy()), rtol=1e-6)
    if degree:
        assert attr["f_rest"].shape == (8, 15, 3)  # [N, K-1, 3]
        np.testing.assert_array_equal(attr["f_rest"], g.sh[:, 1:].numpy())
    else:
        assert "f_rest" not in attr


def test_we_read_what_open3d_writes(tmp_path):
    o3d = _open3d()
    g = random_gaussians(8, 3, seed=12)
    write_ply(tmp_path / "ours.ply", g)
    pcd = o3d.t.io.read_point_cloud(str(tmp_path / "ours.ply"))
    assert o3d.t.io.write_point_cloud(str(tmp_path / "o3d.ply"), pcd)
    assert (tmp_path / "o3d.ply").read_bytes() != (tmp_path / "ours.ply").read_bytes()  # another property order
    back = read_ply(tmp_path / "o3d.ply")
    for f in ("means", "quats", "opacities", "sh"):
        assert torch.equal(getattr(back, f), getattr(g, f)), f
    torch.testing.assert_close(back.scales, g.scales, atol=1e-6, rtol=0)  # through exp/log


# ------------------------------------------------------------------------------------------
# invalid input
# ------------------------------------------------------------------------------------------

def _valid_bytes(n=4, degree=1) -> bytes:
    return build_ply(reference_columns(random_gaussians(n, degree)))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"PLY" + d[3:], "not a PLY"),
    (lambda d: d.replace(b"end_header", b"end_heade_"), "end_header"),
    (lambda d: d[:-5], "truncated"),
    (lambda d: d.replace(b"element vertex 4", b"element vertex 99999999999"), "99999999999 vertices"),
    (lambda d: d.replace(b"format binary_little_endian", b"format binary_middle_endian"), "unknown format"),
    (lambda d: d.replace(b"property float opacity\n", b""), "missing properties ['opacity']"),
    (lambda d: d.replace(b"property float f_rest_8\n", b"property float f_rest_9\n"), "f_rest"),
    (lambda d: d.replace(b"property float x\n", b"property float x\nproperty float x\n"), "twice"),
    (lambda d: d.replace(b"element vertex", b"element vertices"), "no 'vertex' element"),
    (lambda d: d.replace(b"comment", b"remark"), "unknown keyword"),
])
def test_malformed_files_raise_format_error(mutate, message):
    data = mutate(_valid_bytes())
    with pytest.raises(FormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_ply(data)


def test_missing_file_and_folder_raise_format_error(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_ply(tmp_path / "nope.ply")
    with pytest.raises(FormatError, match="is a folder"):
        read_ply(tmp_path)


def test_invalid_rows_policies():
    g = random_gaussians(5, 1, seed=4)
    g.means[1, 0] = float("nan")
    g.quats[3] = 0.0
    data = build_ply(reference_columns(g))
    with pytest.raises(FormatError, match="1 Gaussians have NaN.*1 have zero-length"):
        read_ply(data)
    dropped = read_ply(data, on_invalid="drop")
    assert_same(dropped, g[torch.tensor([True, False, True, False, True])])
    repaired = read_ply(data, on_invalid="repair")
    assert len(repaired) == 4
    assert torch.equal(repaired.quats[2], torch.tensor([1.0, 0, 0, 0]))
    assert torch.equal(repaired.means, g.means[[0, 2, 3, 4]])
    with pytest.raises(FormatError, match="on_invalid"):
        read_ply(data, on_invalid="ignore")


# ------------------------------------------------------------------------------------------
# atomic writes
# ------------------------------------------------------------------------------------------

def _write_old(tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "scene.ply"
    write_ply(path, random_gaussians(3, 0, seed=1))
    return path, path.read_bytes()


def test_exception_while_encoding_keeps_old_file(tmp_path, monkeypatch):
    path, old = _write_old(tmp_path)

    def boom(_):
        raise RuntimeError("encoder failed")

    monkeypatch.setattr(ply_module, "ply_bytes", boom)
    with pytest.raises(RuntimeError, match="encoder failed"):
        write_ply(path, random_gaussians(5, 1))
    assert path.read_bytes() == old
    assert leftovers(tmp_path, {"scene.ply"}) == []


def test_exception_half_way_through_writing_keeps_old_file(tmp_path, monkeypatch):
    path, old = _write_old(tmp_path)
    real_write = Path.write_bytes

    def half_then_fail(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        write_ply(path, random_gaussians(50, 3))
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert leftovers(tmp_path, {"scene.ply"}) == []


def test_failed_rename_keeps_old_file(tmp_path, monkeypatch):
    """What a read-only folder does to the final rename, simulated (works even as root)."""
    path, old = _write_old(tmp_path)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_ply(path, random_gaussians(5, 1))
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert leftovers(tmp_path, {"scene.ply"}) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user (root ignores them)")
def test_read_only_parent_keeps_old_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path, old = _write_old(folder)
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            write_ply(path, random_gaussians(5, 1))
        assert path.read_bytes() == old
        assert leftovers(folder, {"scene.ply"}) == []
    finally:
        folder.chmod(0o755)


# ------------------------------------------------------------------------------------------
# edge cases that once escaped as the wrong exception
# ------------------------------------------------------------------------------------------

def test_empty_ply_round_trip(tmp_path):
    write_ply(tmp_path / "empty.ply", Gaussians.empty(0))
    assert len(read_ply(tmp_path / "empty.ply")) == 0


def test_duplicate_property_in_element_before_vertex_is_a_format_error():
    before = ("element camera 1\nproperty int a\nproperty int a", b"\0" * 8)
    data = build_ply(reference_columns(random_gaussians(2, 0)), before=before)
    with pytest.raises(FormatError):
        read_ply(data)


def test_property_less_vertex_element_with_huge_count_is_a_format_error():
    with pytest.raises(FormatError):
        read_ply(b"ply\nformat binary_little_endian 1.0\nelement vertex 9223372036854775808\nend_header\n")

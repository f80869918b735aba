"""scenegen.io.sog: PlayCanvas's SOG, against its published layout and a file splat-transform
wrote (tests/fixtures/README.md says where it comes from)."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from scenegen.errors import FormatError, UnsafePathError, UnsupportedVersionError
from scenegen.io import load, read_splat, read_splats, write_splats
from scenegen.io.sog import palette_size, read_sog, sog_bytes, sog_files, write_sog
from scenegen.io.splat_packing import morton_order
from splat_format_checks import SPLATS, random_gaussians, render_psnr, unit_quats_alike
from test_io_fuzz import FUZZ, mutated, survive

pytestmark = pytest.mark.bounded_memory  # every reader here runs under a memory limit

PLAYBOT = Path(__file__).parent / "fixtures" / "playcanvas-playbot-sog"


def pixels(data: bytes) -> np.ndarray:
    """[H, W, 4] bytes of a WebP, read with Pillow alone."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def bundle(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def hand_decode(files: dict[str, bytes], i: int) -> dict:
    """Splat i of a version-2 SOG, from the format's published description alone."""
    meta = json.loads(files["meta.json"])
    px = {k: pixels(files[k]).reshape(-1, 4)[i].astype(int) for k in files if k.endswith(".webp") and "centroids" not in k}
    out = {}
    for axis in range(3):
        q = px["means_l.webp"][axis] + 256 * px["means_u.webp"][axis]
        lo, hi = meta["means"]["mins"][axis], meta["means"]["maxs"][axis]
        v = lo + (hi - lo) * q / 65535
        out[f"p{axis}"] = math.copysign(math.exp(abs(v)) - 1, v)
    r, g, b, a = px["quats.webp"]
    abc = [(c / 255 - 0.5) * math.sqrt(2) for c in (r, g, b)]
    largest = a - 252
    q = abc[:largest] + [math.sqrt(max(0.0, 1 - sum(c * c for c in abc)))] + abc[largest:]
    out["quat"] = q  # w, x, y, z
    out["scales"] = [meta["scales"]["codebook"][c] for c in px["scales.webp"][:3]]
    out["dc"] = [meta["sh0"]["codebook"][c] for c in px["sh0.webp"][:3]]
    out["alpha"] = px["sh0.webp"][3] / 255
    if "shN" in meta:
        coeffs = {1: 3, 2: 8, 3: 15}[meta["shN"]["bands"]]
        label = px["shN_labels.webp"][0] + 256 * px["shN_labels.webp"][1]
        atlas = pixels(files["shN_centroids.webp"])
        row, col = divmod(label, 64)
        out["rest"] = [[meta["shN"]["codebook"][atlas[row, col * coeffs + j, c]] for c in range(3)] for j in range(coeffs)]
    return out


def playbot_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in PLAYBOT.iterdir() if p.suffix in (".webp", ".json")}


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_within_each_fields_quantisation_step(degree):
    g = random_gaussians(700, degree, seed=degree)
    files = sog_files(g)
    back = read_sog(bundle(files))
    g = g[morton_order(g.means)]
    meta = json.loads(files["meta.json"])
    assert meta["version"] == 2 and meta["count"] == 700 and len(back) == 700 and back.sh_degree == degree
    # positions: 16 bits of l(p) = sign(p) ln(1 + |p|) over its range, so the step in p grows with |p|
    span = np.array(meta["means"]["maxs"]) - np.array(meta["means"]["mins"])
    step = torch.from_numpy(span / 65535).float() * (1 + g.means.abs())
    assert bool(((back.means - g.means).abs() <= 0.5 * step + 1e-6).all())
    # scales and DC terms: each is the nearest of its codebook's 256 entries
    for values, decoded, key in ((g.scales, back.scales, "scales"), (g.sh[:, 0], back.sh[:, 0], "sh0")):
        book = torch.tensor(meta[key]["codebook"])
        nearest = (values.reshape(-1, 1) - book).abs().min(1).values
        assert torch.allclose((values.reshape(-1) - decoded.reshape(-1)).abs(), nearest, atol=1e-5)
    assert float(unit_quats_alike(back.quats, g.quats).max()) <= 2 ** 0.5 / 255 + 1e-6  # 8 bits of q sqrt(2)/2 + 1/2
    assert float((torch.sigmoid(back.opacities) - torch.sigmoid(g.opacities)).abs().max()) <= 0.5 / 255 + 1e-5
    if degree:
        # fewer than 1024 splats: every splat is its own palette entry, each coefficient the nearest codebook entry
        assert meta["shN"]["count"] == 700 == palette_size(700)
        book = torch.tensor(meta["shN"]["codebook"])
        rest = g.sh[:, 1:].reshape(-1, 1)
        assert torch.allclose((rest.reshape(-1) - back.sh[:, 1:].reshape(-1)).abs(), (rest - book).abs().min(1).values, atol=1e-5)


def test_the_layout_is_the_published_one():
    g = random_gaussians(1500, 2, seed=4)
    files = sog_files(g)
    meta = json.loads(files["meta.json"])
    assert set(files) == {"meta.json", "means_l.webp", "means_u.webp", "quats.webp", "scales.webp", "sh0.webp",
                          "shN_centroids.webp", "shN_labels.webp"}
    assert all(data[:4] == b"RIFF" and data[12:16] == b"VP8L" for name, data in files.items() if name.endswith(".webp"))  # lossless
    width = math.ceil(math.sqrt(1500) / 4) * 4
    height = math.ceil(1500 / width / 4) * 4
    for name in ("means_l.webp", "means_u.webp", "quats.webp", "scales.webp", "sh0.webp", "shN_labels.webp"):
        image = pixels(files[name])
        assert image.shape == (height, width, 4)
        assert not image.reshape(-1, 4)[1500:].any()  # zero padding
    quats = pixels(files["quats.webp"]).reshape(-1, 4)[:1500]
    assert set(np.unique(quats[:, 3])) <= {252, 253, 254, 255}
    k = meta["shN"]["count"]
    assert k == palette_size(1500) == 1024 and meta["shN"]["bands"] == 2
    assert pixels(files["shN_centroids.webp"]).shape == (k // 64, 64 * 8, 4)
    labels = pixels(files["shN_labels.webp"]).reshape(-1, 4)[:1500].astype(int)
    assert (labels[:, 0] + 256 * labels[:, 1]).max() < k and not labels[:, 2].any()
    assert all(len(meta[key]["codebook"]) == 256 for key in ("scales", "sh0")) and len(meta["shN"]["codebook"]) == 256
    # the splats are in Morton order, and every one decodes by hand as the reader decodes it
    ordered = g[morton_order(g.means)]
    back = read_sog(sog_bytes(g))
    for i in (0, 1, 777, 1499):
        want = hand_decode(files, i)
        assert np.allclose([want[f"p{a}"] for a in range(3)], back.means[i].numpy(), atol=1e-5)
        assert np.allclose([want[f"p{a}"] for a in range(3)], ordered.means[i].numpy(), atol=1e-3)
        assert np.allclose(want["quat"], back.quats[i].numpy(), atol=1e-6)
        assert np.allclose(want["scales"], back.scales[i].numpy()) and np.allclose(want["dc"], back.sh[i, 0].numpy())
        assert math.isclose(want["alpha"], float(torch.sigmoid(back.opacities[i])), abs_tol=1e-5)
        assert np.allclose(want["rest"], back.sh[i, 1:].numpy())
    # the bundle is a zip of stored members at its root, meta.json last, with no comment
    with zipfile.ZipFile(io.BytesIO(sog_bytes(g))) as zf:
        infos = zf.infolist()
        assert infos[-1].filename == "meta.json" and all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert zf.comment == b""


def test_a_file_splat_transform_wrote_reads_as_its_bytes_say():
    files = playbot_files()
    g = read_sog(PLAYBOT / "meta.json")
    assert len(g) == 1873 and g.sh_degree == 2
    assert torch.equal(read_sog(PLAYBOT).means, g.means)  # the folder, too
    assert torch.equal(read_sog(bundle(files)).sh, g.sh)  # and bundled
    for i in (0, 1, 1000, 1872):
        want = hand_decode(files, i)
        assert np.allclose([want[f"p{a}"] for a in range(3)], g.means[i].numpy(), atol=1e-6)
        assert np.allclose(want["quat"], g.quats[i].numpy(), atol=1e-6)
        assert np.allclose(want["scales"], g.scales[i].numpy()) and np.allclose(want["dc"], g.sh[i, 0].numpy())
        assert math.isclose(want["alpha"], float(torch.sigmoid(g.opacities[i])), abs_tol=1e-5)
        assert np.allclose(want["rest"], g.sh[i, 1:].numpy())
    # splat-transform's own bounds for this part of the model (lod-meta.json beside it upstream)
    assert float(g.means.abs().max()) < 1.1 and bool(torch.isfinite(g.sh).all())


def test_version_1_reads(tmp_path):
    """A version-1 SOG (no "version": linear ranges, opacity as a logit), made from its description."""
    n, side = 20, 16  # version 1 sized images in multiples of 16
    rng = np.random.default_rng(0)
    def image(rows):
        full = np.zeros((side * side, 4), np.uint8)
        full[:n] = rows
        Image.fromarray(full.reshape(side, side, 4), "RGBA").save(tmp_path / name, "WEBP", lossless=True, exact=True)
    q16 = rng.integers(0, 65536, (n, 3))
    names = {"means_l.webp": np.c_[q16 & 255, np.full(n, 255)], "means_u.webp": np.c_[q16 >> 8, np.full(n, 255)],
             "quats.webp": np.c_[rng.integers(0, 256, (n, 3)), np.full(n, 253)], "scales.webp": np.c_[rng.integers(0, 256, (n, 3)), np.full(n, 255)],
             "sh0.webp": rng.integers(0, 256, (n, 4))}
    for name, rows in names.items():
        image(rows)
    meta = {"means": {"shape": [n, 3], "dtype": "float32", "mins": [-1, -2, -3], "maxs": [1, 2, 3], "files": ["means_l.webp", "means_u.webp"]},
            "scales": {"shape": [n, 3], "dtype": "float32", "mins": [-8, -7, -6], "maxs": [0, 1, 2], "files": ["scales.webp"]},
            "quats": {"shape": [n, 4], "dtype": "uint8", "encoding": "quaternion_packed", "files": ["quats.webp"]},
            "sh0": {"shape": [n, 1, 4], "dtype": "float32", "mins": [-2, -2, -2, -5], "maxs": [2, 2, 2, 5], "files": ["sh0.webp"]}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    g = read_sog(tmp_path / "meta.json")
    assert len(g) == n and g.sh_degree == 0
    s, c = names["scales.webp"][:, :3] / 255, names["sh0.webp"] / 255
    assert np.allclose(g.scales.numpy(), np.array([-8, -7, -6]) + np.array([8, 8, 8]) * s, atol=1e-5)
    assert np.allclose(g.sh[:, 0].numpy(), -2 + 4 * c[:, :3], atol=1e-5)
    assert np.allclose(g.opacities.numpy(), -5 + 10 * c[:, 3], atol=1e-5)  # a logit, linear between its bounds
    log = np.array([-1, -2, -3]) + np.array([2, 4, 6]) * q16 / 65535
    assert np.allclose(g.means.numpy(), np.sign(log) * np.expm1(np.abs(log)), rtol=1e-5, atol=1e-5)
    assert np.allclose(g.quats[:, 1].numpy(), np.sqrt(np.clip(1 - ((names["quats.webp"][:, :3] / 255 - 0.5) ** 2 * 2).sum(1), 0, 1)),
                       atol=1e-5)  # tag 253: x is the largest


def test_every_front_door_reads_and_writes_it(tmp_path):
    g = random_gaussians(40, 1)
    assert len(read_splats(write_splats(tmp_path / "a.sog", g))) == 40 and load(tmp_path / "a.sog").num_gaussians == 40
    write_sog(tmp_path / "unbundled" / "meta.json", g)
    assert load(tmp_path / "unbundled" / "meta.json").num_gaussians == 40


@pytest.mark.skipif(not SPLATS.exists(), reason=f"real splats {SPLATS} (../shared/data) are absent")
def test_a_real_scene_renders_the_same_after_a_round_trip():
    g = read_splat(SPLATS / "winter_fountain.splat")
    value = render_psnr(g[morton_order(g.means)], read_sog(sog_bytes(g)))
    assert value >= 35.0, value


def test_bad_files_are_refused_with_the_file_named(tmp_path):
    files = sog_files(random_gaussians(30, 1))
    meta = json.loads(files["meta.json"])

    def with_meta(**changes):
        return {**files, "meta.json": json.dumps({**meta, **changes}).encode()}

    tiny = io.BytesIO()
    Image.new("RGBA", (4, 4)).save(tiny, "WEBP", lossless=True)
    cases = {
        "not a zip": {"raw": b"PK\x03\x04 not a zip"},
        "no meta": {k: v for k, v in files.items() if k != "meta.json"},
        "meta not json": {**files, "meta.json": b"{"},
        "deep json": {**files, "meta.json": b"[" * 100000},
        "missing image": {k: v for k, v in files.items() if k != "quats.webp"},
        "image not webp": {**files, "quats.webp": b"RIFF1234WEBPjunk"},
        "image too small": {**files, "scales.webp": tiny.getvalue()},
        "count over the images": with_meta(count=10**8),
        "count not a number": with_meta(count="30"),
        "codebook with NaN": with_meta(scales={**meta["scales"], "codebook": [float("nan")] * 256}),
        "codebook too long": with_meta(sh0={**meta["sh0"], "codebook": [0.0] * 300}),
        "float32 overflow": with_meta(means={**meta["means"], "mins": [1e39, 0, 0]}),
        "bands out of range": with_meta(shN={**meta["shN"], "bands": 7}),
        "centroids wrong width": {**files, "shN_centroids.webp": tiny.getvalue()},
    }
    path = tmp_path / "bad.sog"
    for what, content in cases.items():
        path.write_bytes(content["raw"] if "raw" in content else bundle(content))
        with pytest.raises(FormatError, match=str(path)):
            read_sog(path)
    path.write_bytes(bundle(with_meta(version=3)))
    with pytest.raises(UnsupportedVersionError, match="version 3"):
        read_sog(path)
    path.write_bytes(bundle(with_meta(quats={"files": ["../outside.webp"]})))
    with pytest.raises(UnsafePathError, match="outside"):
        read_sog(path)
    (tmp_path / "folder").mkdir()
    with pytest.raises(FormatError, match="without meta.json"):
        read_sog(tmp_path / "folder")


BASE = sog_bytes(random_gaussians(20, 1, seed=3))
BASE_META = sog_files(random_gaussians(20, 1, seed=3))["meta.json"]


@FUZZ
@given(st.just(BASE).flatmap(mutated))
def test_damaged_files_give_project_errors_or_clean_splats(data):
    g = survive(read_sog, data)
    if g is not None:
        assert len(g) <= 20 * 64 and bool(torch.isfinite(g.means).all())


@FUZZ
@given(st.just(BASE_META).flatmap(mutated))
def test_damaged_meta_gives_project_errors_or_clean_splats(text):
    files = sog_files(random_gaussians(20, 1, seed=3))
    g = survive(read_sog, bundle({**files, "meta.json": text}))
    if g is not None:
        assert len(g) <= 20 * 64 and bool(torch.isfinite(g.means).all())


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_give_project_errors(data):
    for prefix in (b"", b"PK\x03\x04"):
        survive(read_sog, prefix + data)

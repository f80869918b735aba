"""Every splat format through every front door: convert, export (--object, --time, sequences),
load and the table in scenegen.io.splat_formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from scenegen.cli import main
from scenegen.errors import InvalidArgumentError
from scenegen.io import load, read_splats, splat_format, splat_formats, write_splats
from splat_format_checks import render_psnr

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo_scene.zip"
SUFFIX = {f.name: f.suffixes[0] for f in splat_formats()}
ABOVE_DB = {"ply": 80.0, "compressed-ply": 40.0, "spz": 40.0, "sog": 35.0, "gltf": 80.0,
            "splat": 20.0}  # .splat drops SH beyond DC (demo: 25.5 dB)


def test_the_table_names_each_format_once():
    assert set(SUFFIX) == {"ply", "compressed-ply", "splat", "spz", "sog", "gltf"}
    assert splat_format("a/b.Compressed.PLY").name == "compressed-ply" and splat_format("x.ply").name == "ply"
    assert splat_format("x.glb").name == splat_format("x.GLTF").name == "gltf"
    assert splat_format("a/meta.json").name == splat_format("b.sog").name == "sog"
    assert splat_format("x.obj") is None and splat_format("scene.json") is None
    with pytest.raises(InvalidArgumentError, match="not a splat file name"):
        write_splats("x.txt", load(DEMO).gaussians_at(0.0)[0])


@pytest.mark.parametrize("name", sorted(SUFFIX))
def test_convert_and_export_write_each_format(name, tmp_path, capsys):
    scene = load(DEMO)
    out = tmp_path / f"all{SUFFIX[name]}"
    assert main(["convert", str(DEMO), str(out), "--time", "1.0"]) == 0
    original = scene.gaussians_at(1.0)[0]
    back = read_splats(out)
    assert len(back) == len(original)
    sort = lambda g: g[torch.argsort(g.means[:, 0] * 1e6 + g.means[:, 1] * 1e3 + g.means[:, 2])]  # noqa: E731
    if name in ("ply", "gltf"):
        assert torch.allclose(sort(back).means, sort(original).means, atol=1e-6, rtol=0)
    assert render_psnr(original, back, views=2, size=96) >= ABOVE_DB[name]
    # one object, at a time
    one = tmp_path / f"cube{SUFFIX[name]}"
    assert main(["export", str(DEMO), str(one), "--object", "cube", "--time", "0.5", "--kind", "splats"]) == 0
    assert len(read_splats(one)) == len(scene.objects["cube"].gaussians)
    assert f"format {name}" in capsys.readouterr().out
    # and every format converts to every other and loads as a scene
    for other in SUFFIX.values():
        target = tmp_path / f"again{other}"
        assert main(["convert", str(out), str(target)]) == 0
        assert load(target).num_gaussians == len(original)


@pytest.mark.parametrize("name", ["spz", "compressed-ply", "sog", "gltf"])
def test_a_moving_scene_exports_a_sequence_in_any_format(name, tmp_path):
    out = tmp_path / "frames"
    assert main(["export", str(DEMO), str(out), "--frames", "3", "--format", name]) == 0
    listing = json.loads((out / "sequence.json").read_text())
    assert [f["file"] for f in listing["frames"]] == [f"frame_{i:05d}{SUFFIX[name]}" for i in range(3)]
    assert [f["time"] for f in listing["frames"]] == [0.0, 1.0, 2.0]
    first, last = (read_splats(out / f["file"]) for f in (listing["frames"][0], listing["frames"][-1]))
    assert len(first) == len(last) == load(DEMO).num_gaussians
    assert main(["export", str(DEMO), str(tmp_path / "bad"), "--frames", "2", "--format", "gif"]) == 2


def test_a_glb_is_a_mesh_unless_splats_are_asked_for(tmp_path):
    from scenegen.export import export_kind

    assert export_kind(tmp_path / "a.glb") == export_kind(tmp_path / "a.gltf") == "mesh"
    assert export_kind(tmp_path / "a.glb", "splats") == "splats" and export_kind(tmp_path / "a.sog") == "splats"
    assert export_kind(tmp_path / "meta.json") == "splats"


def test_an_unbundled_sog_round_trips_through_convert(tmp_path):
    out = tmp_path / "sog" / "meta.json"
    assert main(["convert", str(DEMO), str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["meta.json", "means_l.webp", "means_u.webp", "quats.webp", "scales.webp", "sh0.webp", "shN_centroids.webp",
         "shN_labels.webp"])
    original = load(DEMO).gaussians_at(None)[0]
    assert render_psnr(original, load(out).gaussians_at(None)[0], views=2, size=96) >= 35.0
    named = tmp_path / "sog" / "other.meta.json"  # a second SOG in the same folder keeps its own images
    assert main(["convert", str(out), str(named)]) == 0
    assert (tmp_path / "sog" / "other.means_l.webp").is_file() and len(read_splats(out)) == len(read_splats(named))

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

from scenegen.cli import main
from scenegen.io import load, read_ply, read_splat

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "demo_scene.zip"


def test_console_script_help_lists_commands():
    script = Path(sys.executable).parent / "scenegen"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "scenegen.cli"]
    out = subprocess.run(command + ["--help"], capture_output=True, text=True, check=True).stdout
    for name in ("info", "render", "convert", "dataset"):
        assert name in out


def test_info_json_reports_versions_backends_and_gpu(capsys):
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["render_backends"][-1] == "torch"
    assert report["packages"]["torch"].startswith("2.")
    assert "gpu" in report


def test_render_the_bundled_scene(tmp_path, capsys):
    out = tmp_path / "views.png"
    assert main(["render", str(DEMO), "-o", str(out), "--views", "2", "--size", "48x32"]) == 0
    img = iio.imread(out)
    assert img.shape == (32, 96, 3)
    assert img.std() > 10  # something was drawn on the white background
    assert "3 objects" in capsys.readouterr().out


def test_render_reports_bad_arguments_as_one_line(tmp_path, capsys):
    assert main(["render", str(DEMO), "-o", str(tmp_path / "x.png"), "--size", "big"]) == 2
    assert "--size" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "missing.zip"), "-o", str(tmp_path / "x.png")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_mistyped_option_is_a_usage_error_not_a_traceback(capsys):
    assert main(["train", "--stepz", "3"]) == 2
    assert "No such option: --stepz" in capsys.readouterr().err


def test_convert_between_formats(tmp_path):
    scene = load(DEMO)
    assert main(["convert", str(DEMO), str(tmp_path / "all.ply"), "--time", "1.0"]) == 0
    assert len(read_ply(tmp_path / "all.ply")) == scene.num_gaussians
    assert main(["convert", str(tmp_path / "all.ply"), str(tmp_path / "all.splat")]) == 0
    assert len(read_splat(tmp_path / "all.splat")) == scene.num_gaussians
    assert main(["convert", str(DEMO), str(tmp_path / "copy")]) == 0
    assert load(tmp_path / "copy").object_names == scene.object_names


def test_dataset_summary(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    iio.imwrite(tmp_path / "imgs" / "a.png", (pytest.importorskip("numpy").zeros((4, 5, 3), dtype="uint8")))
    assert main(["dataset", str(tmp_path / "imgs")]) == 0
    assert "1 images" in capsys.readouterr().out
    assert main(["dataset", str(tmp_path / "nothing")]) == 2

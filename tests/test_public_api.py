"""The public API, listed: anything that drops out of it fails here."""

import subprocess
import sys

import scenegen
import scenegen.data
import scenegen.io
import scenegen.render


def test_top_level_names():
    assert set(scenegen.__all__) == {
        "Camera", "Cameras", "Dataset", "Gaussians", "RenderOutput", "Scene", "SceneObject", "Track",
        "load", "load_dataset", "reconstruct", "render", "save", "__version__",
    }
    for name in scenegen.__all__:
        assert getattr(scenegen, name) is not None


def test_subpackage_names():
    assert set(scenegen.io.__all__) == {"read_ply", "write_ply", "read_splat", "write_splat", "load", "save", "export_ply_sequence", "FORMAT_VERSION"}
    assert {"load_dataset", "Dataset", "detect_format", "FORMATS"} <= set(scenegen.data.__all__)
    assert {"render", "RenderConfig", "RenderOutput", "available_backends"} <= set(scenegen.render.__all__)
    for module in (scenegen.io, scenegen.data, scenegen.render):
        for name in module.__all__:
            assert hasattr(module, name)


def test_gaussians_field_names_are_the_public_api():
    import dataclasses

    assert [f.name for f in dataclasses.fields(scenegen.Gaussians)] == ["means", "scales", "quats", "opacities", "sh"]
    assert [f.name for f in dataclasses.fields(scenegen.Camera)] == ["fx", "fy", "cx", "cy", "width", "height", "c2w", "distortion"]


def test_import_is_light():
    code = "import sys, scenegen; print(sorted(m for m in ('torch', 'open3d', 'pycolmap', 'imageio', 'typer') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_errors_derive_from_builtins():
    from scenegen import errors

    assert issubclass(errors.FormatError, ValueError) and issubclass(errors.DatasetError, ValueError)
    assert issubclass(errors.UnsupportedVersionError, errors.FormatError)
    assert issubclass(errors.MissingDependencyError, ImportError)
    assert issubclass(errors.BackendUnavailableError, RuntimeError)

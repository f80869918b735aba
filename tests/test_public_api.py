"""The public API, listed: anything that drops out of it fails here."""

import subprocess
import sys

import scenegen
import scenegen.data
import scenegen.edit
import scenegen.export
import scenegen.io
import scenegen.recon
import scenegen.render


def test_top_level_names():
    assert set(scenegen.__all__) == {
        "Camera", "Cameras", "Dataset", "Gaussians", "RenderOutput", "Scene", "SceneObject", "Track",
        "load", "load_dataset", "reconstruct", "render", "save", "__version__",
    }
    for name in scenegen.__all__:
        assert getattr(scenegen, name) is not None


def test_subpackage_names():
    assert set(scenegen.io.__all__) == {"read_ply", "write_ply", "read_splat", "write_splat", "load", "save", "export_ply_sequence",
                                        "write_mesh", "point_cloud", "write_point_cloud", "write_png", "FORMAT_VERSION",
                                        "read_splats", "write_splats", "splat_format", "splat_formats", "splat_suffixes",
                                        "read_spz", "write_spz", "read_compressed_ply", "write_compressed_ply",
                                        "read_sog", "write_sog", "read_gltf_splats", "write_gltf_splats"}
    assert set(scenegen.export.__all__) == {"export", "export_kind", "extract_mesh", "extract_meshes", "mesh_views", "sphere_views"}
    assert {"EditSession", "OPERATIONS", "in_box", "split_selection", "replay", "object_at"} <= set(scenegen.edit.__all__)
    assert {"load_dataset", "Dataset", "detect_format", "FORMATS"} <= set(scenegen.data.__all__)
    assert {"render", "render_image", "RenderConfig", "RenderOutput", "available_backends"} <= set(scenegen.render.__all__)
    assert {"train", "TrainConfig", "Trainer", "DynamicTrainer", "ObjectTrainer", "find_objects", "split_objects",
            "evaluate"} == set(scenegen.recon.__all__)
    for module in (scenegen.io, scenegen.data, scenegen.render, scenegen.recon):
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


def test_render_is_callable_even_after_its_submodules_are_imported():
    import torch

    import scenegen.render.views  # binds the name `scenegen.render` to the package
    from scenegen import Camera, Gaussians, render

    gaussians = Gaussians.from_points(torch.zeros(1, 3), torch.ones(1, 3), scale=0.1)
    camera = Camera.look_at([0.0, -2.0, 0.0], [0.0, 0.0, 0.0], width=16, height=12)
    out = render(gaussians, camera, backend="torch")
    assert out.rgb.shape == (1, 12, 16, 3) and out.alpha.max() > 0.2
    assert scenegen.render.views is not None


def test_synth_names():
    import scenegen.synth

    assert set(scenegen.synth.__all__) == {"SceneSpec", "load_spec", "builtin_names", "generate", "camera_path", "SyntheticRenderer"}
    for name in scenegen.synth.__all__:
        assert callable(getattr(scenegen.synth, name))

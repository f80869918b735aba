"""Where training runs (recon/device.py): the choice and its refusals on every machine; the CUDA
runs themselves (gsplat) only where a CUDA GPU and gsplat are, skipped with the reason elsewhere."""

import logging

import pytest
import torch

from scenegen.cli import main
from scenegen.data import load_dataset
from scenegen.errors import BackendUnavailableError, InvalidArgumentError
from scenegen.io import load
from scenegen.recon import TrainConfig, Trainer, train
from scenegen.recon import device as device_module
from scenegen.recon.device import gsplat_imports, training_device
from test_recon_train import make_dataset, small_config

HAS_CUDA = torch.cuda.is_available()
CUDA_READY = HAS_CUDA and gsplat_imports()
needs_cuda = pytest.mark.skipif(not CUDA_READY, reason="needs a CUDA GPU and gsplat (pip install 'scenegen[cuda]')")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("device_views"))


def test_auto_trains_where_it_can_and_says_so_once(caplog, monkeypatch):
    monkeypatch.setattr(device_module, "_announced", set())
    with caplog.at_level(logging.INFO, logger="scenegen.train"):
        first = training_device("auto")
        assert training_device("auto") == first
    assert first.type == ("cuda" if CUDA_READY else "cpu")
    said = [r.getMessage() for r in caplog.records if "training on" in r.getMessage()]
    assert len(said) == 1 and ("cuda" in said[0] if CUDA_READY else "the CPU" in said[0])
    assert training_device("auto", "cpu").type == "cpu"  # the compiled CPU kernels run only there
    assert training_device("cpu").type == "cpu"


def test_settings_that_cannot_run_are_refused_with_the_fix():
    with pytest.raises(InvalidArgumentError, match="device must be auto, cpu, cuda or cuda:N; got 'gpu'"):
        TrainConfig(device="gpu")
    with pytest.raises(InvalidArgumentError, match="backend must be auto, cpu, torch or gsplat"):
        TrainConfig(backend="vulkan")
    assert TrainConfig(device="cuda:1", backend="gsplat").device == "cuda:1"  # valid names; whether they run is asked later
    with pytest.raises(InvalidArgumentError, match="backend 'gsplat' cannot train on cpu"):
        training_device("cpu", "gsplat")
    if not HAS_CUDA:
        with pytest.raises(BackendUnavailableError, match=r"sees no CUDA GPU.*scenegen\[cuda\].*--device cpu"):
            training_device("cuda")
        with pytest.raises(BackendUnavailableError, match="backend gsplat needs a CUDA GPU"):
            training_device("auto", "gsplat")


@pytest.mark.skipif(HAS_CUDA, reason="checks the refusal on a machine without CUDA")
def test_asking_for_cuda_without_one_fails_before_any_work(dataset_dir, tmp_path, capsys):
    ds = load_dataset(dataset_dir)
    with pytest.raises(BackendUnavailableError, match="sees no CUDA GPU"):
        train(ds, small_config(device="cuda"), out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing written
    code = main(["train", str(dataset_dir), "-o", str(tmp_path / "cli"), "--device", "cuda", "--steps", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "sees no CUDA GPU" in err and "Traceback" not in err


def test_the_trained_scene_and_checkpoint_come_back_on_the_cpu(dataset_dir, tmp_path):
    # whatever device trains, the scene saves as a CPU-trained one, and checkpoints load anywhere
    ds = load_dataset(dataset_dir)
    trainer = Trainer(ds, small_config(steps=20, checkpoint_every=10), out=tmp_path)
    trainer.run(progress=False)
    scene = trainer.make_scene({})
    assert scene.background.gaussians.means.device.type == "cpu"
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True, map_location="cpu")
    assert state["params"]["means"].shape[0] == len(scene.background.gaussians)


# --- on a CUDA GPU ------------------------------------------------------------------------------


@needs_cuda
def test_cuda_training_matches_the_cpu_run(shared_dataset):
    # 300 steps on lego at 200 px: the same PSNR on either device within 0.5 dB
    ds = load_dataset(shared_dataset("nerf_synthetic_lego_400"))
    results = {}
    for device in ("cpu", "cuda"):
        cfg = TrainConfig(steps=300, max_image_size=200, device=device, checkpoint_every=0)
        scene = train(ds, cfg, progress=False)
        results[device] = scene
    from scenegen.recon.evaluation import evaluate
    from scenegen.recon.trainer import held_out

    test = held_out(ds).downscaled(2)
    test = test.subset(torch.arange(min(len(test), 20)))
    psnr = {d: evaluate(s, test)["psnr"] for d, s in results.items()}
    assert abs(psnr["cuda"] - psnr["cpu"]) < 0.5, psnr
    assert results["cuda"].background.gaussians.means.device.type == "cpu"


@needs_cuda
def test_every_trainer_runs_on_cuda_and_checkpoints_move_between_devices(tmp_path):
    from scenegen.synth import generate, load_spec

    data = generate(load_spec("tabletop-dynamic"), tmp_path / "tt", frames=12, size=(96, 72), progress=False, video=False)
    ds = load_dataset(data)
    for motion, objects in (("static", "none"), ("dynamic", "none"), ("dynamic", "masks"), ("dynamic", "motion")):
        out = tmp_path / f"{motion}-{objects}"
        cfg = small_config(steps=40, device="cuda", motion=motion, objects=objects, checkpoint_every=20)
        train(ds, cfg, out=out, progress=False)
        assert load(out / "scene").background.gaussians.means.device.type == "cpu"
        # the checkpoint a CUDA run wrote resumes on the CPU, and back
        cpu_cfg = small_config(steps=60, device="cpu", motion=motion, objects=objects, checkpoint_every=20)
        train(ds, cpu_cfg, out=out, resume=True, progress=False)
        train(ds, small_config(steps=80, device="cuda", motion=motion, objects=objects, checkpoint_every=20),
              out=out, resume=True, progress=False)
        assert load(out / "scene").num_gaussians > 0

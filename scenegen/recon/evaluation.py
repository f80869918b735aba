"""Evaluation on held-out views: PSNR and SSIM, test renders and side-by-side pictures."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.dataset import Dataset
from ..gaussians import Gaussians
from ..common.atomic import atomic_write_bytes, atomic_write_png
from ..metrics import psnr, ssim
from ..render import render


def evaluate(gaussians, dataset: Dataset, *, sh_degree: int | None = None, backend: str = "auto",
             out_dir: Path | None = None, save_images: int = 8, progress=None, device: torch.device | str = "cpu") -> dict:
    """Mean PSNR/SSIM of `gaussians` (Gaussians, or a Scene rendered at each view's time)
    rendered at every camera of `dataset` against its images, on `device` (where training ran).

    With out_dir: writes eval.json, renders/ (the first `save_images` test renders) and compare/
    (ground truth | render | 4x absolute error, side by side)."""
    psnrs, ssims = [], []
    with torch.no_grad():
        for i in range(len(dataset)):
            target = dataset.image(i).to(device)
            g = gaussians
            if not isinstance(gaussians, Gaussians):
                g = gaussians.gaussians_at(None if dataset.times is None else float(dataset.times[i]))[0]
            g = g.to(device)
            out = render(g, dataset.cameras[i], sh_degree=sh_degree, background=dataset.background, backend=backend)
            rgb = out.rgb[0].clamp(0, 1)
            psnrs.append(float(psnr(rgb, target)))
            ssims.append(float(ssim(rgb, target)))
            if out_dir is not None and i < save_images:
                rgb, target = rgb.cpu(), target.cpu()
                atomic_write_png(out_dir / "renders" / f"{i:04d}.png", rgb)
                atomic_write_png(out_dir / "compare" / f"{i:04d}.png",
                           torch.cat([target, rgb, ((rgb - target).abs() * 4).clamp(0, 1)], dim=1))
            if progress is not None:
                progress(i + 1, len(dataset))
    result = {
        "psnr": sum(psnrs) / max(len(psnrs), 1),
        "ssim": sum(ssims) / max(len(ssims), 1),
        "num_images": len(psnrs),
        "per_image": [{"index": i, "psnr": p, "ssim": s} for i, (p, s) in enumerate(zip(psnrs, ssims))],
    }
    if out_dir is not None:
        atomic_write_bytes(out_dir / "eval.json", json.dumps(result, indent=1).encode())
    return result

"""Rebuild the mesh files the built-in synthetic scenes load (scenegen/synth/scenes/meshes/)."""

from pathlib import Path

import numpy as np
import trimesh

OUT = Path(__file__).resolve().parents[1] / "scenegen" / "synth" / "scenes" / "meshes"


def vase() -> trimesh.Trimesh:
    """A closed vase: a radius profile revolved about z, 0.3 tall."""
    h = np.linspace(0, 0.3, 24)
    r = 0.06 + 0.035 * np.sin(np.pi * h / 0.3 * 1.3) + 0.02 * (h / 0.3) ** 3
    profile = np.stack([np.r_[0.0, r, 0.0], np.r_[0.0, h, 0.3]], 1)
    return trimesh.creation.revolve(profile, sections=40)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    vase().export(OUT / "vase.obj")
    print(f"wrote {OUT / 'vase.obj'}")

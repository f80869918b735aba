"""Settings shared by scenegen's numba kernels (the CPU rasterizer, procedural textures).

Threads come from OpenMP before TBB: Open3D loads its own older TBB, which numba then refuses
with a warning on the first parallel call; OpenMP (libgomp) is always there on Linux, and the
workqueue layer is the last resort."""

import numba

if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]

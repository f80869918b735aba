"""Compiled CPU kernels of the `cpu` backend: tile binning, forward blending, hand-written backward.

Compiled by numba on first use and cached on disk (`cache=True`); nothing compiles at import of
scenegen. Tiles run in parallel over the CPU's threads, each thread taking every k-th row of tiles
(the work of an image is uneven from top to bottom, and the threads split the loop into
contiguous parts). Inside a tile, the loop over its pixels is branch-free float32 arithmetic with
an inlined exponential, so LLVM vectorises it.

The semantics are those of the reference rasterizer (backends/torch_ref.py), which is the spec.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from ... import compiled  # noqa: F401  (threading layer)

F = np.float32
ONE = F(1.0)
ZERO = F(0.0)
HALF = F(0.5)
EXP_FLOOR = F(-30.0)
INV16 = F(1.0 / 16.0)
C2, C3, C4, C5, C6 = F(1 / 2), F(1 / 6), F(1 / 24), F(1 / 120), F(1 / 720)


@njit(inline="always", fastmath=True)
def fast_exp(x):
    """exp(x) for x <= 0 without a libm call: a degree-6 Taylor series at x/16, squared 4 times.

    Relative error < 1e-5 on [-6, 0], where blending weights live (exp(-6) < 1/255).
    """
    y = max(x, EXP_FLOOR) * INV16
    p = ONE + y * (ONE + y * (C2 + y * (C3 + y * (C4 + y * (C5 + y * C6)))))
    p = p * p
    p = p * p
    p = p * p
    return p * p


@njit(inline="always", fastmath=True)
def blend_weight(dx, dy, a, b, c, o, r, min_alpha, max_alpha, t_min, T, live):
    """One Gaussian at one pixel, front to back: (blending weight, transmittance, live) after it.
    A pixel whose transmittance would fall below t_min stops (live 0) without this Gaussian."""
    power = -HALF * (a * dx * dx + c * dy * dy) - b * dx * dy
    al = min(max_alpha, o * fast_exp(power))
    ok = (abs(dx) <= r) & (abs(dy) <= r) & (power <= ZERO) & (al >= min_alpha) & (live > ZERO)
    al = al if ok else ZERO
    new_t = T * (ONE - al)
    stop = new_t < t_min
    w = ZERO if stop else al * T
    return w, (T if stop else new_t), (ZERO if stop else live)


def threads() -> int:
    """The threads the parallel kernels run on (their `stripes` argument)."""
    return get_num_threads()


@njit(inline="always")
def striped_tile(u, tiles_x, tiles_y, stripes):
    """The tile at place u of the order that lists rows of tiles by their row number modulo
    `stripes` (rows 0, s, 2s, ..., then 1, s + 1, ...; the kernels' last argument, the number of
    threads): the threads' contiguous parts of that order each hold rows spread over the image."""
    q, m = tiles_y // stripes, tiles_y % stripes
    ru, col = u // tiles_x, u % tiles_x
    if ru < m * (q + 1):
        row = ru // (q + 1) + (ru % (q + 1)) * stripes
    else:
        rest = ru - m * (q + 1)
        row = m + rest // q + (rest % q) * stripes
    return row * tiles_x + col


@njit(parallel=True, cache=True)
def bin_gaussians(order, rects, n_tiles, tiles_x, n_chunks):
    """Per-tile lists of Gaussians in depth order.

    order: [M] Gaussian ids sorted by depth (visible ones only). rects: [N, 4] int32 inclusive tile
    ranges (x0, x1, y0, y1). Returns (offsets [n_tiles + 1], ids [pairs]): tile t's Gaussians are
    ids[offsets[t]:offsets[t + 1]], front to back. Chunks of `order` are binned in parallel and
    placed chunk after chunk inside each tile, which keeps the depth order.
    """
    m = order.shape[0]
    hist = np.zeros((n_chunks, n_tiles), dtype=np.int64)
    step = (m + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for i in range(c * step, min(m, (c + 1) * step)):
            g = order[i]
            for ty in range(rects[g, 2], rects[g, 3] + 1):
                for tx in range(rects[g, 0], rects[g, 1] + 1):
                    hist[c, ty * tiles_x + tx] += 1
    offsets = np.zeros(n_tiles + 1, dtype=np.int64)
    cursor = np.zeros((n_chunks, n_tiles), dtype=np.int64)
    total = 0
    for t in range(n_tiles):
        offsets[t] = total
        for c in range(n_chunks):
            cursor[c, t] = total
            total += hist[c, t]
    offsets[n_tiles] = total
    ids = np.empty(total, dtype=np.int32)
    for c in prange(n_chunks):
        for i in range(c * step, min(m, (c + 1) * step)):
            g = order[i]
            for ty in range(rects[g, 2], rects[g, 3] + 1):
                for tx in range(rects[g, 0], rects[g, 1] + 1):
                    t = ty * tiles_x + tx
                    ids[cursor[c, t]] = g
                    cursor[c, t] += 1
    return offsets, ids


@njit(parallel=True, fastmath=True, cache=True)
def forward(means2d, conics, colours, opacities, depths, radii, offsets, ids, width, height, tile, bg,
            min_alpha, max_alpha, t_min, rgb, alpha, depth, final_t, last, best_id, stripes):
    """Blend front to back. Writes rgb [H, W, 3], alpha and depth [H, W], final transmittance
    [H, W], the list index of each pixel's last contributing Gaussian (-1: none) and the id of the
    Gaussian with the largest weight (-1: none)."""
    tiles_x = (width + tile - 1) // tile
    tiles_y = (height + tile - 1) // tile
    npix = tile * tile
    stripes = max(1, min(stripes, tiles_y))
    for u in prange(tiles_x * tiles_y):
        t = striped_tile(u, tiles_x, tiles_y, stripes)
        x0 = (t % tiles_x) * tile
        y0 = (t // tiles_x) * tile
        px = np.empty(npix, dtype=F)
        py = np.empty(npix, dtype=F)
        T = np.ones(npix, dtype=F)
        live = np.ones(npix, dtype=F)
        cr = np.zeros(npix, dtype=F)
        cg = np.zeros(npix, dtype=F)
        cb = np.zeros(npix, dtype=F)
        cd = np.zeros(npix, dtype=F)
        bw = np.zeros(npix, dtype=F)
        lastj = np.full(npix, -1, dtype=np.int32)
        bid = np.full(npix, -1, dtype=np.int32)
        for k in range(npix):
            px[k] = F(x0 + k % tile) + HALF
            py[k] = F(y0 + k // tile) + HALF
        start, end = offsets[t], offsets[t + 1]
        for j in range(start, end):
            g = ids[j]
            mx, my = means2d[g, 0], means2d[g, 1]
            a, b, c = conics[g, 0], conics[g, 1], conics[g, 2]
            o, z, r = opacities[g], depths[g], radii[g]
            r0, r1, r2 = colours[g, 0], colours[g, 1], colours[g, 2]
            for k in range(npix):
                w, T[k], live[k] = blend_weight(px[k] - mx, py[k] - my, a, b, c, o, r, min_alpha, max_alpha, t_min, T[k], live[k])
                cr[k] += w * r0
                cg[k] += w * r1
                cb[k] += w * r2
                cd[k] += w * z
                contributed = w > ZERO
                lastj[k] = np.int32(j) if contributed else lastj[k]
                better = w > bw[k]
                bw[k] = w if better else bw[k]
                bid[k] = np.int32(g) if better else bid[k]
            if (j - start) % 32 == 31:
                if live.max() == ZERO:
                    break
        for k in range(npix):
            x = x0 + k % tile
            y = y0 + k // tile
            if x < width and y < height:
                acc = ONE - T[k]
                rgb[y, x, 0] = cr[k] + T[k] * bg[0]
                rgb[y, x, 1] = cg[k] + T[k] * bg[1]
                rgb[y, x, 2] = cb[k] + T[k] * bg[2]
                alpha[y, x] = acc
                depth[y, x] = cd[k] / max(acc, F(1e-10))
                final_t[y, x] = T[k]
                last[y, x] = lastj[k]
                best_id[y, x] = bid[k]


@njit(parallel=True, fastmath=True, cache=True)
def forward_image(means2d, conics, colours, opacities, radii, offsets, ids, width, height, bg,
                  min_alpha, max_alpha, t_min, image, stripes):
    """The colour image alone, for display: image [H, W, 3] uint8, blended as `forward` blends
    (8x8 tiles) with none of the outputs the backward pass needs (alpha, depth, transmittance,
    last and heaviest Gaussian), and rounded to 8 bits in place."""
    tile = 8
    tiles_x = (width + tile - 1) // tile
    tiles_y = (height + tile - 1) // tile
    stripes = max(1, min(stripes, tiles_y))
    for u in prange(tiles_x * tiles_y):
        t = striped_tile(u, tiles_x, tiles_y, stripes)
        x0 = (t % tiles_x) * tile
        y0 = (t // tiles_x) * tile
        npix = tile * tile
        px = np.empty(npix, dtype=F)
        py = np.empty(npix, dtype=F)
        T = np.ones(npix, dtype=F)
        live = np.ones(npix, dtype=F)
        cr = np.zeros(npix, dtype=F)
        cg = np.zeros(npix, dtype=F)
        cb = np.zeros(npix, dtype=F)
        for k in range(npix):
            px[k] = F(x0 + k % tile) + HALF
            py[k] = F(y0 + k // tile) + HALF
        start, end = offsets[t], offsets[t + 1]
        for j in range(start, end):
            g = ids[j]
            mx, my = means2d[g, 0], means2d[g, 1]
            a, b, c = conics[g, 0], conics[g, 1], conics[g, 2]
            o, r = opacities[g], radii[g]
            r0, r1, r2 = colours[g, 0], colours[g, 1], colours[g, 2]
            for k in range(npix):
                w, T[k], live[k] = blend_weight(px[k] - mx, py[k] - my, a, b, c, o, r, min_alpha, max_alpha, t_min, T[k], live[k])
                cr[k] += w * r0
                cg[k] += w * r1
                cb[k] += w * r2
            if (j - start) % 32 == 31:
                if live.max() == ZERO:
                    break
        for k in range(npix):
            x = x0 + k % tile
            y = y0 + k // tile
            if x < width and y < height:
                image[y, x, 0] = np.uint8(min(max(cr[k] + T[k] * bg[0], ZERO), ONE) * F(255.0) + HALF)
                image[y, x, 1] = np.uint8(min(max(cg[k] + T[k] * bg[1], ZERO), ONE) * F(255.0) + HALF)
                image[y, x, 2] = np.uint8(min(max(cb[k] + T[k] * bg[2], ZERO), ONE) * F(255.0) + HALF)


@njit(parallel=True, fastmath=True, cache=True)
def backward(means2d, conics, colours, opacities, depths, radii, offsets, ids, width, height, tile, bg,
             min_alpha, max_alpha, alpha, depth, final_t, last, g_rgb, g_alpha, g_depth, grads, stripes):
    """Gradients per Gaussian, walking each tile's list back to front.

    grads [chunks, N, 10] (zeros) receives d/d(mean x, mean y, conic a, b, c, opacity, r, g, b,
    depth): the tiles are split into `chunks` contiguous parts of the striped order, each summed
    into its own row in a fixed order (the same result however the threads are scheduled); the
    caller adds the chunks together (sum_chunks).
    With per pixel Q_i = g . (colour_i, 1, z_i) and S = sum over later Gaussians of w_j Q_j,
    dL/dalpha_i = T_i Q_i - S / (1 - alpha_i), as in 3DGS's backward pass.
    """
    tiles_x = (width + tile - 1) // tile
    tiles_y = (height + tile - 1) // tile
    npix = tile * tile
    stripes = max(1, min(stripes, tiles_y))
    n_tiles = tiles_x * tiles_y
    chunks = grads.shape[0]
    per_chunk = (n_tiles + chunks - 1) // chunks
    for ch in prange(chunks):
        for u in range(ch * per_chunk, min(n_tiles, (ch + 1) * per_chunk)):
            _backward_tile(striped_tile(u, tiles_x, tiles_y, stripes), means2d, conics, colours, opacities, depths, radii,
                           offsets, ids, width, height, tile, bg, min_alpha, max_alpha, alpha, depth, final_t, last,
                           g_rgb, g_alpha, g_depth, grads[ch])


@njit(parallel=True, cache=True)
def sum_chunks(grads):
    """[chunks, N, K] -> [N, K], the chunks added in order."""
    out = grads[0].copy()
    for g in prange(grads.shape[1]):
        for ch in range(1, grads.shape[0]):
            for k in range(grads.shape[2]):
                out[g, k] += grads[ch, g, k]
    return out


@njit(inline="always", fastmath=True)
def _backward_tile(t, means2d, conics, colours, opacities, depths, radii, offsets, ids, width, height, tile, bg,
                   min_alpha, max_alpha, alpha, depth, final_t, last, g_rgb, g_alpha, g_depth, grads):
    """backward's work on tile t, added into grads [N, 10]."""
    tiles_x = (width + tile - 1) // tile
    npix = tile * tile
    x0 = (t % tiles_x) * tile
    y0 = (t // tiles_x) * tile
    px = np.empty(npix, dtype=F)
    py = np.empty(npix, dtype=F)
    T = np.ones(npix, dtype=F)
    S = np.zeros(npix, dtype=F)
    gr = np.zeros(npix, dtype=F)
    gg = np.zeros(npix, dtype=F)
    gb = np.zeros(npix, dtype=F)
    ga = np.zeros(npix, dtype=F)
    gd = np.zeros(npix, dtype=F)
    lastj = np.full(npix, -1, dtype=np.int32)
    max_last = -1
    for k in range(npix):
        x = x0 + k % tile
        y = y0 + k // tile
        px[k] = F(x) + HALF
        py[k] = F(y) + HALF
        if x < width and y < height:
            T[k] = final_t[y, x]
            acc = alpha[y, x]
            gr[k], gg[k], gb[k] = g_rgb[y, x, 0], g_rgb[y, x, 1], g_rgb[y, x, 2]
            # depth = sum(w z) / max(acc, eps): split its gradient into the numerator and acc
            den = max(acc, F(1e-10))
            gd[k] = g_depth[y, x] / den
            ga[k] = g_alpha[y, x] - (gr[k] * bg[0] + gg[k] * bg[1] + gb[k] * bg[2])
            if acc > F(1e-10):
                ga[k] -= g_depth[y, x] * depth[y, x] / den
            lastj[k] = last[y, x]
            max_last = max(max_last, np.int64(lastj[k]))
    start = offsets[t]
    for j in range(max_last, start - 1, -1):
        g = ids[j]
        j32 = np.int32(j)
        mx, my = means2d[g, 0], means2d[g, 1]
        a, b, c = conics[g, 0], conics[g, 1], conics[g, 2]
        o, z, r = opacities[g], depths[g], radii[g]
        r0, r1, r2 = colours[g, 0], colours[g, 1], colours[g, 2]
        d_mx = d_my = d_a = d_b = d_c = d_o = d_r = d_g = d_bl = d_z = ZERO
        for k in range(npix):
            dx = px[k] - mx
            dy = py[k] - my
            power = -HALF * (a * dx * dx + c * dy * dy) - b * dx * dy
            gauss = fast_exp(power)
            raw = o * gauss
            al = min(max_alpha, raw)
            ok = (abs(dx) <= r) & (abs(dy) <= r) & (power <= ZERO) & (al >= min_alpha) & (j32 <= lastj[k])
            al = al if ok else ZERO
            t_i = T[k] / (ONE - al)
            T[k] = t_i
            w = al * t_i
            q = gr[k] * r0 + gg[k] * r1 + gb[k] * r2 + ga[k] + gd[k] * z
            d_al = t_i * q - S[k] / (ONE - al)
            S[k] += w * q
            d_r += gr[k] * w
            d_g += gg[k] * w
            d_bl += gb[k] * w
            d_z += gd[k] * w
            # No gradient through the 0.99 clamp, nor where the Gaussian did not contribute.
            d_al = d_al if (ok & (raw < max_alpha)) else ZERO
            d_o += d_al * gauss
            d_pow = d_al * al
            d_mx += d_pow * (a * dx + b * dy)
            d_my += d_pow * (b * dx + c * dy)
            d_a += -HALF * d_pow * dx * dx
            d_b += -d_pow * dx * dy
            d_c += -HALF * d_pow * dy * dy
        grads[g, 0] += d_mx
        grads[g, 1] += d_my
        grads[g, 2] += d_a
        grads[g, 3] += d_b
        grads[g, 4] += d_c
        grads[g, 5] += d_o
        grads[g, 6] += d_r
        grads[g, 7] += d_g
        grads[g, 8] += d_bl
        grads[g, 9] += d_z


@njit(cache=True)
def argsort_positive(keys):
    """Stable argsort of non-negative float32 keys by LSD radix sort on their bits (whose order
    matches the values' for non-negative floats): 3 passes of 11 bits, O(n). The keys travel with
    their indices, so every pass reads its input in order; a pass whose digit is the same for all
    keys (the high bits of depths in a narrow range) is skipped."""
    n = keys.shape[0]
    src = keys.view(np.uint32).copy()
    dst = np.empty(n, dtype=np.uint32)
    idx = np.arange(n).astype(np.int32)
    tmp = np.empty(n, dtype=np.int32)
    count = np.zeros((3, 2049), dtype=np.int64)
    for i in range(n):
        k = src[i]
        count[0, (k & 2047) + 1] += 1
        count[1, ((k >> 11) & 2047) + 1] += 1
        count[2, (k >> 22) + 1] += 1
    for p in range(3):
        if count[p].max() == n:
            continue
        offset = count[p]
        for b in range(2048):
            offset[b + 1] += offset[b]
        shift = 11 * p
        for i in range(n):
            k = src[i]
            d = (k >> shift) & 2047
            at = offset[d]
            dst[at] = k
            tmp[at] = idx[i]
            offset[d] = at + 1
        src, dst = dst, src
        idx, tmp = tmp, idx
    return idx

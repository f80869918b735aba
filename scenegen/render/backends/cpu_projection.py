"""Compiled projection of the `cpu` backend: 3D Gaussians to screen space and view-dependent
colour, with its hand-written backward pass. One thread-parallel loop over Gaussians each way.

It computes exactly what render/projection.py computes in PyTorch (the spec, tested for parity):
EWA projection with the frustum-clamped Jacobian, the low-pass filter, optional antialiasing
compensation of opacity, 3-sigma radii, and SH colours along the camera-to-Gaussian direction.
Gaussians culled here (radius 0) get no gradient.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ... import compiled  # noqa: F401  (threading layer)

from ...sh import _C1 as C1, _C2 as C2, _C3 as C3, SH_C0


@njit(inline="always")
def sh_basis(degree, x, y, z, out):
    out[0] = SH_C0
    if degree >= 1:
        out[1] = -C1 * y
        out[2] = C1 * z
        out[3] = -C1 * x
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out[4] = C2[0] * x * y
        out[5] = C2[1] * y * z
        out[6] = C2[2] * (2 * zz - xx - yy)
        out[7] = C2[3] * x * z
        out[8] = C2[4] * (xx - yy)
        if degree >= 3:
            out[9] = C3[0] * y * (3 * xx - yy)
            out[10] = C3[1] * x * y * z
            out[11] = C3[2] * y * (4 * zz - xx - yy)
            out[12] = C3[3] * z * (2 * zz - 3 * xx - 3 * yy)
            out[13] = C3[4] * x * (4 * zz - xx - yy)
            out[14] = C3[5] * z * (xx - yy)
            out[15] = C3[6] * x * (xx - 3 * yy)


@njit(inline="always")
def sh_basis_grad(degree, x, y, z, w):
    """Gradient w.r.t. the direction (x, y, z) of sum_k w[k] * Y_k(x, y, z)."""
    gx = gy = gz = 0.0
    if degree >= 1:
        gx += -C1 * w[3]
        gy += -C1 * w[1]
        gz += C1 * w[2]
    if degree >= 2:
        gx += C2[0] * y * w[4] - 2 * C2[2] * x * w[6] + C2[3] * z * w[7] + 2 * C2[4] * x * w[8]
        gy += C2[0] * x * w[4] + C2[1] * z * w[5] - 2 * C2[2] * y * w[6] - 2 * C2[4] * y * w[8]
        gz += C2[1] * y * w[5] + 4 * C2[2] * z * w[6] + C2[3] * x * w[7]
        if degree >= 3:
            xx, yy, zz = x * x, y * y, z * z
            gx += (6 * C3[0] * x * y * w[9] + C3[1] * y * z * w[10] - 2 * C3[2] * x * y * w[11] - 6 * C3[3] * x * z * w[12]
                   + C3[4] * (4 * zz - 3 * xx - yy) * w[13] + 2 * C3[5] * x * z * w[14] + C3[6] * (3 * xx - 3 * yy) * w[15])
            gy += (C3[0] * (3 * xx - 3 * yy) * w[9] + C3[1] * x * z * w[10] + C3[2] * (4 * zz - xx - 3 * yy) * w[11]
                   - 6 * C3[3] * y * z * w[12] - 2 * C3[4] * x * y * w[13] - 2 * C3[5] * y * z * w[14] - 6 * C3[6] * x * y * w[15])
            gz += (C3[1] * x * y * w[10] + 8 * C3[2] * y * z * w[11] + C3[3] * (6 * zz - 3 * xx - 3 * yy) * w[12]
                   + 8 * C3[4] * x * z * w[13] + C3[5] * (xx - yy) * w[14])
    return gx, gy, gz


@njit(inline="always")
def rotation(qw, qx, qy, qz, R):
    R[0, 0] = 1 - 2 * (qy * qy + qz * qz)
    R[0, 1] = 2 * (qx * qy - qw * qz)
    R[0, 2] = 2 * (qx * qz + qw * qy)
    R[1, 0] = 2 * (qx * qy + qw * qz)
    R[1, 1] = 1 - 2 * (qx * qx + qz * qz)
    R[1, 2] = 2 * (qy * qz - qw * qx)
    R[2, 0] = 2 * (qx * qz - qw * qy)
    R[2, 1] = 2 * (qy * qz + qw * qx)
    R[2, 2] = 1 - 2 * (qx * qx + qy * qy)


@njit(inline="always")
def frustum_limits(fx, fy, cx, cy, width, height):
    mx, my = 0.3 * (0.5 * width / fx), 0.3 * (0.5 * height / fy)
    return -(cx / fx + mx), (width - cx) / fx + mx, -(cy / fy + my), (height - cy) / fy + my


@njit(inline="always")
def to_camera(view, i, means):
    """Camera-space point of Gaussian i: view [3, 4] @ (mean, 1)."""
    mx, my, mz = means[i, 0], means[i, 1], means[i, 2]
    return (view[0, 0] * mx + view[0, 1] * my + view[0, 2] * mz + view[0, 3],
            view[1, 0] * mx + view[1, 1] * my + view[1, 2] * mz + view[1, 3],
            view[2, 0] * mx + view[2, 1] * my + view[2, 2] * mz + view[2, 3])


@njit(inline="always")
def covariance_3d(i, quats, log_scales, R, S, sc):
    """Fill R (rotation of the normalised quaternion), sc (scales) and S = R diag(sc)^2 R^T;
    return the quaternion's norm."""
    q0, q1, q2, q3 = quats[i, 0], quats[i, 1], quats[i, 2], quats[i, 3]
    qn = max(math.sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3), 1e-12)
    rotation(q0 / qn, q1 / qn, q2 / qn, q3 / qn, R)
    for j in range(3):
        sc[j] = math.exp(log_scales[i, j])
    for r in range(3):
        for c in range(3):
            S[r, c] = R[r, 0] * R[c, 0] * sc[0] ** 2 + R[r, 1] * R[c, 1] * sc[1] ** 2 + R[r, 2] * R[c, 2] * sc[2] ** 2
    return qn


@njit(inline="always")
def covariance_2d(view, fx, fy, z, tx, ty, S, t0, t1):
    """Rows t0, t1 of T = J W (EWA Jacobian times the view rotation) and (a, b, c) of T S T^T."""
    for j in range(3):
        t0[j] = fx / z * view[0, j] - fx * tx / (z * z) * view[2, j]
        t1[j] = fy / z * view[1, j] - fy * ty / (z * z) * view[2, j]
    a = b = c = 0.0
    for r in range(3):
        for cc in range(3):
            a += t0[r] * S[r, cc] * t0[cc]
            b += t0[r] * S[r, cc] * t1[cc]
            c += t1[r] * S[r, cc] * t1[cc]
    return a, b, c


@njit(parallel=True, fastmath=False, cache=True)
def project_forward(means, log_scales, quats, opacity_logits, sh, degree, view, campos, fx, fy, cx, cy, width, height,
                    near, far, eps2d, antialiased, colour_culled, means2d, conics, depths, radii, opacities, colours):
    n = means.shape[0]
    k = (degree + 1) * (degree + 1)
    lx0, lx1, ly0, ly1 = frustum_limits(fx, fy, cx, cy, width, height)
    chunk = 256  # scratch arrays are allocated once per chunk of Gaussians, not per Gaussian
    for chunk_id in prange((n + chunk - 1) // chunk):
        R = np.empty((3, 3))
        S = np.empty((3, 3))
        basis = np.empty(16)
        t0 = np.empty(3)
        t1 = np.empty(3)
        sc = np.empty(3)
        for i in range(chunk_id * chunk, min(n, (chunk_id + 1) * chunk)):
            mx_, my_, mz_ = means[i, 0], means[i, 1], means[i, 2]
            x, y, z = to_camera(view, i, means)
            depths[i] = z
            radii[i] = 0
            in_front = (z > near) and (z < far)
            zs = z if in_front else 1.0
            means2d[i, 0] = fx * x / zs + cx
            means2d[i, 1] = fy * y / zs + cy
            tx = min(max(x / zs, lx0), lx1) * zs
            ty = min(max(y / zs, ly0), ly1) * zs
            covariance_3d(i, quats, log_scales, R, S, sc)
            a, b, c = covariance_2d(view, fx, fy, zs, tx, ty, S, t0, t1)
            det_orig = a * c - b * b
            a += eps2d
            c += eps2d
            det = a * c - b * b
            op = 1.0 / (1.0 + math.exp(-opacity_logits[i]))
            if antialiased:
                op *= math.sqrt(max(det_orig / det, 0.0)) if det != 0 else 0.0
            opacities[i] = op
            valid = in_front and det > 0
            ds = det if valid else 1.0
            conics[i, 0] = c / ds
            conics[i, 1] = -b / ds
            conics[i, 2] = a / ds
            mid = 0.5 * (a + c)
            lam = mid + math.sqrt(max(mid * mid - ds, 0.1))
            rad = math.ceil(3 * math.sqrt(lam))
            u, v = means2d[i, 0], means2d[i, 1]
            if valid and u + rad > 0 and u - rad < width and v + rad > 0 and v - rad < height:
                radii[i] = rad
            elif not colour_culled:  # for display: nothing reads a culled Gaussian's colour
                colours[i, 0] = colours[i, 1] = colours[i, 2] = 0.0
                continue
            # colour along the camera-to-Gaussian direction
            dx, dy, dz = mx_ - campos[0], my_ - campos[1], mz_ - campos[2]
            dn = max(math.sqrt(dx * dx + dy * dy + dz * dz), 1e-12)
            sh_basis(degree, dx / dn, dy / dn, dz / dn, basis)
            for ch in range(3):
                acc = 0.5
                for kk in range(k):
                    acc += basis[kk] * sh[i, kk, ch]
                colours[i, ch] = max(acc, 0.0)


@njit(parallel=True, fastmath=False, cache=True)
def project_backward(means, log_scales, quats, opacity_logits, sh, degree, view, campos, fx, fy, cx, cy, width, height,
                     eps2d, antialiased, radii, colours, g_means2d, g_conics, g_depths, g_opacities, g_colours,
                     d_means, d_log_scales, d_quats, d_logits, d_sh):
    n = means.shape[0]
    k = (degree + 1) * (degree + 1)
    lx0, lx1, ly0, ly1 = frustum_limits(fx, fy, cx, cy, width, height)
    chunk = 256  # scratch arrays are allocated once per chunk of Gaussians, not per Gaussian
    for chunk_id in prange((n + chunk - 1) // chunk):
        R = np.empty((3, 3))
        S = np.empty((3, 3))
        basis = np.empty(16)
        w = np.zeros(16)
        t0 = np.empty(3)
        t1 = np.empty(3)
        gS = np.empty((3, 3))
        gt0 = np.zeros(3)
        gt1 = np.zeros(3)
        gR = np.empty((3, 3))
        sc = np.empty(3)
        for i in range(chunk_id * chunk, min(n, (chunk_id + 1) * chunk)):
            if radii[i] <= 0:
                continue
            mx_, my_, mz_ = means[i, 0], means[i, 1], means[i, 2]
            x, y, z = to_camera(view, i, means)
            ux, uy = x / z, y / z
            clamp_x, clamp_y = min(max(ux, lx0), lx1), min(max(uy, ly0), ly1)
            tx, ty = clamp_x * z, clamp_y * z
            qn = covariance_3d(i, quats, log_scales, R, S, sc)
            qw, qx, qy, qz = quats[i, 0] / qn, quats[i, 1] / qn, quats[i, 2] / qn, quats[i, 3] / qn
            a0, b, c0 = covariance_2d(view, fx, fy, z, tx, ty, S, t0, t1)
            a, c = a0 + eps2d, c0 + eps2d
            det = a * c - b * b
            det_orig = a0 * c0 - b * b
            sig = 1.0 / (1.0 + math.exp(-opacity_logits[i]))

            # opacity (and the antialiasing compensation, which depends on the 2D covariance)
            g_op = g_opacities[i]
            ga = gb = gc = 0.0
            if antialiased:
                ratio = max(det_orig / det, 0.0)
                root = math.sqrt(ratio)
                d_logits[i] = g_op * root * sig * (1 - sig)
                if ratio > 0:
                    g_ratio = g_op * sig / (2 * root)
                    ga += g_ratio * (c0 * det - det_orig * c) / (det * det)
                    gc += g_ratio * (a0 * det - det_orig * a) / (det * det)
                    gb += g_ratio * (-2 * b * det + 2 * b * det_orig) / (det * det)
            else:
                d_logits[i] = g_op * sig * (1 - sig)

            # conic = (c, -b, a) / det
            gA, gB, gC = g_conics[i, 0], g_conics[i, 1], g_conics[i, 2]
            d2 = det * det
            ga += gA * (-c * c / d2) + gB * (b * c / d2) + gC * (1 / det - a * c / d2)
            gc += gA * (1 / det - c * a / d2) + gB * (b * a / d2) + gC * (-a * a / d2)
            gb += gA * (2 * b * c / d2) + gB * (-1 / det - 2 * b * b / d2) + gC * (2 * b * a / d2)

            # cov2d = T Sigma T^T with rows t0, t1
            for r in range(3):
                for cc in range(3):
                    gS[r, cc] = ga * t0[r] * t0[cc] + gb * t0[r] * t1[cc] + gc * t1[r] * t1[cc]
            for r in range(3):
                st0 = S[r, 0] * t0[0] + S[r, 1] * t0[1] + S[r, 2] * t0[2]
                st1 = S[r, 0] * t1[0] + S[r, 1] * t1[1] + S[r, 2] * t1[2]
                gt0[r] = 2 * ga * st0 + gb * st1
                gt1[r] = gb * st0 + 2 * gc * st1

            # T = J W: t0 = fx (W0 / z - tx W2 / z^2), t1 = fy (W1 / z - ty W2 / z^2)
            gx = gy = gz = 0.0
            gtx = gty = 0.0
            for j in range(3):
                gz += gt0[j] * fx * (-view[0, j] / (z * z) + 2 * tx * view[2, j] / (z * z * z))
                gz += gt1[j] * fy * (-view[1, j] / (z * z) + 2 * ty * view[2, j] / (z * z * z))
                gtx += gt0[j] * (-fx * view[2, j] / (z * z))
                gty += gt1[j] * (-fy * view[2, j] / (z * z))
            if lx0 < ux < lx1:
                gx += gtx
            else:
                gz += gtx * clamp_x
            if ly0 < uy < ly1:
                gy += gty
            else:
                gz += gty * clamp_y

            # Sigma = M M^T with M = R diag(s): dM = (gS + gS^T) M
            for r in range(3):
                for cc in range(3):
                    gsym = 0.0
                    for j in range(3):
                        gsym += (gS[r, j] + gS[j, r]) * R[j, cc] * sc[cc]
                    S[r, cc] = gsym  # reuse S as dL/dM
            for r in range(3):
                for cc in range(3):
                    gR[r, cc] = S[r, cc] * sc[cc]
            for cc in range(3):
                ds = 0.0
                for r in range(3):
                    ds += S[r, cc] * R[r, cc]
                d_log_scales[i, cc] = ds * sc[cc]
            dw = 2 * (-qz * gR[0, 1] + qy * gR[0, 2] + qz * gR[1, 0] - qx * gR[1, 2] - qy * gR[2, 0] + qx * gR[2, 1])
            dx_ = 2 * (qy * gR[0, 1] + qz * gR[0, 2] + qy * gR[1, 0] - 2 * qx * gR[1, 1] - qw * gR[1, 2] + qz * gR[2, 0]
                       + qw * gR[2, 1] - 2 * qx * gR[2, 2])
            dy_ = 2 * (-2 * qy * gR[0, 0] + qx * gR[0, 1] + qw * gR[0, 2] + qx * gR[1, 0] + qz * gR[1, 2] - qw * gR[2, 0]
                       + qz * gR[2, 1] - 2 * qy * gR[2, 2])
            dz_ = 2 * (-2 * qz * gR[0, 0] - qw * gR[0, 1] + qx * gR[0, 2] + qw * gR[1, 0] - 2 * qz * gR[1, 1] + qy * gR[1, 2]
                       + qx * gR[2, 0] + qy * gR[2, 1])
            dot = qw * dw + qx * dx_ + qy * dy_ + qz * dz_
            d_quats[i, 0] = (dw - qw * dot) / qn
            d_quats[i, 1] = (dx_ - qx * dot) / qn
            d_quats[i, 2] = (dy_ - qy * dot) / qn
            d_quats[i, 3] = (dz_ - qz * dot) / qn

            # means2d = (fx x / z + cx, fy y / z + cy); depth = z
            gu, gv = g_means2d[i, 0], g_means2d[i, 1]
            gx += gu * fx / z
            gy += gv * fy / z
            gz += -gu * fx * x / (z * z) - gv * fy * y / (z * z) + g_depths[i]

            # camera-space point -> world: p = W m + t
            dmx = view[0, 0] * gx + view[1, 0] * gy + view[2, 0] * gz
            dmy = view[0, 1] * gx + view[1, 1] * gy + view[2, 1] * gz
            dmz = view[0, 2] * gx + view[1, 2] * gy + view[2, 2] * gz

            # colours: clamp at 0, SH coefficients, and the viewing direction
            ddx, ddy, ddz = mx_ - campos[0], my_ - campos[1], mz_ - campos[2]
            dn = max(math.sqrt(ddx * ddx + ddy * ddy + ddz * ddz), 1e-12)
            ex, ey, ez = ddx / dn, ddy / dn, ddz / dn
            sh_basis(degree, ex, ey, ez, basis)
            for kk in range(k):
                w[kk] = 0.0
            for ch in range(3):
                gcol = g_colours[i, ch] if colours[i, ch] > 0 else 0.0
                for kk in range(k):
                    d_sh[i, kk, ch] = basis[kk] * gcol
                    w[kk] += sh[i, kk, ch] * gcol
            gex, gey, gez = sh_basis_grad(degree, ex, ey, ez, w)
            proj = gex * ex + gey * ey + gez * ez
            dmx += (gex - ex * proj) / dn
            dmy += (gey - ey * proj) / dn
            dmz += (gez - ez * proj) / dn
            d_means[i, 0] = dmx
            d_means[i, 1] = dmy
            d_means[i, 2] = dmz

"""Real-time splat rendering with OpenGL (moderngl): depth-sorted, instanced screen-space quads.

How real-time splat viewers work, kept honest to `scenegen.render`: every Gaussian's data (mean,
opacity, 3D covariance, object id, SH coefficients) lives in one float texture. Each frame the
CPU sorts the Gaussians far to near along the view axis and uploads only that order; the vertex
shader projects each Gaussian exactly as scenegen.render.projection does (EWA Jacobian clamped
beyond the frustum, the 0.3 px low-pass, radius 3 sigma of the larger eigenvalue, SH colour along
the camera-to-Gaussian direction) and spans a square quad of that radius; the fragment shader
evaluates the Gaussian at each pixel centre (alpha capped at 0.99, below 1/255 dropped), and
premultiplied "over" blending composites back to front into a float framebuffer.

An EGL context renders without any window or display (Mesa's llvmpipe on a CPU-only machine).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from scenegen import Camera
from scenegen.gaussians import Gaussians

TEXTURE_WIDTH = 4096
NEAR = 0.01

VERTEX_SHADER = """
#version 330
uniform sampler2D u_data;
uniform int u_texels;          // texels per Gaussian
uniform int u_degree;
uniform mat3 u_rot;            // world -> camera rotation (OpenCV axes)
uniform vec3 u_trans;
uniform vec3 u_campos;
uniform vec4 u_intr;           // fx, fy, cx, cy
uniform vec2 u_size;           // width, height
uniform float u_highlight;     // object id to highlight, -1 for none
in int a_index;
in vec2 a_corner;
out vec4 v_color;
out vec2 v_d;
flat out vec3 v_conic;

vec4 fetch(int i) {
    int t = a_index * u_texels + i;
    return texelFetch(u_data, ivec2(t % %(width)d, t / %(width)d), 0);
}

float coeff(int k) {  // flat SH coefficient k (k-major, then RGB) from texel 3 on
    vec4 t = fetch(3 + k / 4);
    int c = k - 4 * (k / 4);
    return c == 0 ? t.x : (c == 1 ? t.y : (c == 2 ? t.z : t.w));
}

vec3 sh(int k) { return vec3(coeff(3 * k), coeff(3 * k + 1), coeff(3 * k + 2)); }

void main() {
    vec4 t0 = fetch(0);
    vec4 t1 = fetch(1);
    vec4 t2 = fetch(2);
    vec3 mean = t0.xyz;
    vec3 pc = u_rot * mean + u_trans;
    if (pc.z <= %(near)f) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); return; }
    float fx = u_intr.x, fy = u_intr.y, cx = u_intr.z, cy = u_intr.w;
    float W = u_size.x, H = u_size.y;
    float mx = 0.3 * (0.5 * W / fx), my = 0.3 * (0.5 * H / fy);
    float tx = clamp(pc.x / pc.z, -(cx / fx + mx), (W - cx) / fx + mx) * pc.z;
    float ty = clamp(pc.y / pc.z, -(cy / fy + my), (H - cy) / fy + my) * pc.z;
    mat3 cov = mat3(t1.x, t1.y, t1.z,  t1.y, t1.w, t2.x,  t1.z, t2.x, t2.y);
    float iz = 1.0 / pc.z;
    vec3 r0 = fx * iz * vec3(u_rot[0][0], u_rot[1][0], u_rot[2][0]) - fx * tx * iz * iz * vec3(u_rot[0][2], u_rot[1][2], u_rot[2][2]);
    vec3 r1 = fy * iz * vec3(u_rot[0][1], u_rot[1][1], u_rot[2][1]) - fy * ty * iz * iz * vec3(u_rot[0][2], u_rot[1][2], u_rot[2][2]);
    vec3 s0 = cov * r0;
    vec3 s1 = cov * r1;
    float a = dot(s0, r0) + 0.3, b = dot(s0, r1), c = dot(s1, r1) + 0.3;
    float det = a * c - b * b;
    if (det <= 0.0) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); return; }
    float mid = 0.5 * (a + c);
    float radius = ceil(3.0 * sqrt(mid + sqrt(max(mid * mid - det, 0.1))));
    vec2 centre = vec2(fx * pc.x * iz + cx, fy * pc.y * iz + cy);
    v_conic = vec3(c / det, -b / det, a / det);
    v_d = a_corner * radius;                     // offset of this corner from the centre, pixels
    vec2 p = centre + v_d;
    gl_Position = vec4(2.0 * p.x / W - 1.0, 1.0 - 2.0 * p.y / H, 0.0, 1.0);

    vec3 d = normalize(mean - u_campos);
    float x = d.x, y = d.y, z = d.z;
    vec3 rgb = 0.28209479177387814 * sh(0);
    if (u_degree >= 1) {
        rgb += 0.4886025119029199 * (-y * sh(1) + z * sh(2) - x * sh(3));
    }
    if (u_degree >= 2) {
        float xx = x * x, yy = y * y, zz = z * z;
        rgb += 1.0925484305920792 * x * y * sh(4) - 1.0925484305920792 * y * z * sh(5)
             + 0.31539156525252005 * (2.0 * zz - xx - yy) * sh(6) - 1.0925484305920792 * x * z * sh(7)
             + 0.5462742152960396 * (xx - yy) * sh(8);
        if (u_degree >= 3) {
            rgb += -0.5900435899266435 * y * (3.0 * xx - yy) * sh(9) + 2.890611442640554 * x * y * z * sh(10)
                 - 0.4570457994644658 * y * (4.0 * zz - xx - yy) * sh(11)
                 + 0.3731763325901154 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * sh(12)
                 - 0.4570457994644658 * x * (4.0 * zz - xx - yy) * sh(13) + 1.445305721320277 * z * (xx - yy) * sh(14)
                 - 0.5900435899266435 * x * (xx - 3.0 * yy) * sh(15);
        }
    }
    rgb = max(rgb + 0.5, vec3(0.0));
    if (u_highlight >= 0.0 && abs(t2.z - u_highlight) < 0.5) rgb = mix(rgb, vec3(1.0, 0.8, 0.1), 0.45);
    v_color = vec4(rgb, t0.w);
}
"""

FRAGMENT_SHADER = """
#version 330
in vec4 v_color;
in vec2 v_d;
flat in vec3 v_conic;
out vec4 f_color;
void main() {
    float sigma = 0.5 * (v_conic.x * v_d.x * v_d.x + v_conic.z * v_d.y * v_d.y) + v_conic.y * v_d.x * v_d.y;
    float alpha = min(0.99, v_color.a * exp(-sigma));
    if (sigma < 0.0 || alpha < 1.0 / 255.0) discard;
    f_color = vec4(v_color.rgb * alpha, alpha);
}
"""


def create_context():
    """A standalone OpenGL 3.3+ context: EGL first (no display needed), then the platform default."""
    import moderngl

    errors = []
    for kwargs in ({"backend": "egl"}, {}):
        try:
            return moderngl.create_standalone_context(require=330, **kwargs)
        except Exception as exc:  # moderngl/glcontext raise plain Exceptions for missing drivers
            errors.append(f"{kwargs.get('backend', 'default')}: {exc}")
    raise RuntimeError("no OpenGL 3.3 context could be created (" + "; ".join(errors) + ")")


def pack_gaussians(gaussians: Gaussians, object_ids=None) -> tuple[np.ndarray, int]:
    """The texture data [rows, TEXTURE_WIDTH, 4] float32 of the Gaussians and the texels each takes."""
    g = gaussians.detach().to("cpu", torch.float32)
    n = len(g)
    k = g.sh.shape[1]
    texels = 3 + math.ceil(3 * k / 4)
    data = np.zeros((n, texels * 4), dtype=np.float32)
    data[:, 0:3] = g.means.numpy()
    data[:, 3] = torch.sigmoid(g.opacities).numpy()
    cov = g.covariances().numpy()
    data[:, 4:8] = cov[:, [0, 0, 0, 1], [0, 1, 2, 1]]
    data[:, 8:10] = cov[:, [1, 2], [2, 2]]
    data[:, 10] = -1.0 if object_ids is None else torch.as_tensor(object_ids).float().numpy()
    data[:, 12:12 + 3 * k] = g.sh.reshape(n, 3 * k).numpy()
    flat = data.reshape(-1, 4)
    rows = max(1, math.ceil(len(flat) / TEXTURE_WIDTH))
    out = np.zeros((rows * TEXTURE_WIDTH, 4), dtype=np.float32)
    out[: len(flat)] = flat
    return out.reshape(rows, TEXTURE_WIDTH, 4), texels


class GLSplatRenderer:
    """Renders Gaussians with OpenGL. `set_gaussians` once per scene state, `render` per frame."""

    def __init__(self, ctx=None):
        import moderngl

        self.ctx = ctx or create_context()
        self.program = self.ctx.program(
            vertex_shader=VERTEX_SHADER.replace("%(width)d", str(TEXTURE_WIDTH)).replace("%(near)f", f"{NEAR:.6f}"),
            fragment_shader=FRAGMENT_SHADER)
        self.corners = self.ctx.buffer(np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype="f4").tobytes())
        self.order = None
        self.vao = None
        self.texture = None
        self.fbo = None
        self.count = 0
        self.degree = 0
        self.means = np.zeros((0, 3), dtype=np.float32)
        self.quick_mask = None
        self.moderngl = moderngl
        self.renderer_name = self.ctx.info.get("GL_RENDERER", "OpenGL")

    def set_gaussians(self, gaussians: Gaussians, object_ids=None):
        """Upload the Gaussians (and their object ids, for highlighting)."""
        data, texels = pack_gaussians(gaussians, object_ids)
        if self.texture is not None:
            self.texture.release()
        self.texture = self.ctx.texture((TEXTURE_WIDTH, data.shape[0]), 4, data.tobytes(), dtype="f4")
        self.texture.filter = (self.moderngl.NEAREST, self.moderngl.NEAREST)
        self.count = len(gaussians)
        self.degree = gaussians.sh_degree
        self.means = gaussians.means.detach().to("cpu", torch.float32).numpy()
        from .renderers import quick_subset

        subset = quick_subset(gaussians)
        self.quick_mask = None
        if subset is not None:
            self.quick_mask = np.zeros(self.count, dtype=bool)
            self.quick_mask[subset.numpy()] = True
        self.program["u_texels"] = texels
        self.program["u_degree"] = self.degree
        if self.order is None or self.order.size < 4 * max(self.count, 1):
            if self.order is not None:
                self.order.release()
                self.vao.release()
            self.order = self.ctx.buffer(reserve=4 * max(self.count, 1), dynamic=True)
            self.vao = self.ctx.vertex_array(self.program, [(self.corners, "2f", "a_corner"), (self.order, "i/i", "a_index")])

    def _framebuffer(self, width: int, height: int):
        if self.fbo is None or self.fbo.size != (width, height):
            if self.fbo is not None:
                self.fbo.release()
            self.fbo = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer((width, height), 4, dtype="f4")])
        return self.fbo

    def render(self, camera: Camera, background=(1.0, 1.0, 1.0), highlight: int | None = None,
               quick: bool = False) -> np.ndarray:
        """The image [H, W, 3] float32 in [0, 1] seen by `camera` (quick: only the Gaussians that
        cover the most, see renderers.quick_subset)."""
        width, height = int(camera.width), int(camera.height)
        fbo = self._framebuffer(width, height)
        fbo.use()
        fbo.clear(*[float(v) for v in background], 1.0)
        if self.count:
            w2c = camera.w2c.detach().to("cpu", torch.float32).numpy()
            rot, trans = w2c[:3, :3], w2c[:3, 3]
            depth = self.means @ rot[2] + trans[2]
            keep = depth > NEAR
            if quick and self.quick_mask is not None:
                keep &= self.quick_mask
            visible = np.flatnonzero(keep)
            order = visible[np.argsort(-depth[visible], kind="stable")].astype(np.int32)
            if len(order):
                self.order.write(order.tobytes())
                p = self.program
                p["u_rot"].write(np.ascontiguousarray(rot.T).tobytes())  # GLSL matrices are column-major
                p["u_trans"] = tuple(float(v) for v in trans)
                p["u_campos"] = tuple(float(v) for v in camera.position.detach().cpu())
                p["u_intr"] = (float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy))
                p["u_size"] = (float(width), float(height))
                p["u_highlight"] = -1.0 if highlight is None else float(highlight)
                self.texture.use(0)
                p["u_data"] = 0
                self.ctx.enable(self.moderngl.BLEND)
                self.ctx.blend_func = (self.moderngl.ONE, self.moderngl.ONE_MINUS_SRC_ALPHA)
                self.vao.render(self.moderngl.TRIANGLE_STRIP, vertices=4, instances=len(order))
        pixels = np.frombuffer(fbo.read(components=3, dtype="f4"), dtype=np.float32).reshape(height, width, 3)
        return np.clip(pixels[::-1], 0.0, 1.0)

    def release(self):
        for item in (self.vao, self.order, self.texture, self.fbo, self.corners, self.program):
            if item is not None:
                item.release()

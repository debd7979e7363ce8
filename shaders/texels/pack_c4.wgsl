// Packs a 4-D array (n, c, h, w), element (n, c, y, x) at n * stride_n + c * stride_c +
// y * stride_h + x * stride_w of `src`, into texels four channels deep: texel
// ((n * c4 + q) * h + y) * w + x holds channels 4q .. 4q + 3 at (n, y, x), zero past c.
// Activations pack with NCHW strides; filters [co, ci, kh, kw] pack as (co, ci, 1, kh*kw),
// or transposed as (ci, co, 1, kh*kw), for the texel GEMM's K walk (gemm/texel_*.wgsl).
struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    c4: u32,
    stride_n: u32,
    stride_c: u32,
    stride_h: u32,
    stride_w: u32,
    texels: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.texels) {
        return;
    }
    let x = i % p.w;
    let rest = i / p.w;
    let y = rest % p.h;
    let planes = rest / p.h;
    let q = planes % p.c4;
    let n = planes / p.c4;
    let first = n * p.stride_n + 4u * q * p.stride_c + y * p.stride_h + x * p.stride_w;
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (4u * q + j < p.c) {
            v[j] = src[first + j * p.stride_c];
        }
    }
    textureStore(dst, vec2<u32>(i & 4095u, i >> 12u), v);
}

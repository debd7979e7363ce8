// Convolution of a one-channel input (a network's first layer) with 3x3 filters, stride 1
// and zero padding 1: y [batch, out_c, h, w] from x [batch, 1, h, w], w a multiple of 4.
// For software adapters, where every storage-buffer load runs a loop over the SIMD lanes:
// each invocation computes four neighbouring pixels of one row for every output channel,
// reading its 3 x 6 input window once (per row a vec4 and two scalars), the filters and
// biases from a uniform buffer (a load at a uniform offset is one scalar load, shared by
// all lanes), and writing each channel's four outputs as one vec4. The taps are summed in
// the GEMM path's order, (kh, kw) from 0 by fused multiply-adds, and the bias added last,
// so both paths give the same bits.
struct Params {
    batch: u32,
    out_c: u32,
    h: u32,
    w: u32,
    has_bias: u32,
}

// Filter f = (co, kh, kw) at co * 9 + kh * 3 + kw; the biases from BIAS_AT. The launcher
// (src/kernels/conv.rs) fills the buffer with the same layout: keep the two together.
const BIAS_AT: u32 = 512u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> weights: array<vec4<f32>, 144>;
@group(0) @binding(4) var<storage, read_write> y4: array<vec4<f32>>;

fn weight(i: u32) -> f32 {
    return weights[i >> 2u][i & 3u];
}

// Input row oh + kh - 1 of image n under the four pixels of quad q and their two
// neighbours: 0 above or below the image and beyond its left and right edges.
struct WindowRow {
    left: f32,
    centre: vec4<f32>,
    right: f32,
}

fn window_row(n: u32, oh: u32, kh: u32, q: u32, quads: u32) -> WindowRow {
    let iy = i32(oh + kh) - 1;
    let inside = iy >= 0 && iy < i32(p.h);
    let plane = n * p.h * p.w;
    let start = plane + u32(clamp(iy, 0, i32(p.h) - 1)) * p.w + 4u * q;
    let centre = select(vec4<f32>(0.0), x4[start / 4u], inside);
    let left = select(0.0, x[max(start, 1u) - 1u], inside && q > 0u);
    let right = select(0.0, x[min(start + 4u, plane + p.h * p.w - 1u)], inside && q + 1u < quads);
    return WindowRow(left, centre, right);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let quads = p.w / 4u;
    let i = flat_group(wg, groups) * 64u + local;
    if (i >= p.batch * p.h * quads) {
        return;
    }
    let row = i / quads;
    let q = i - row * quads;
    let n = row / p.h;
    let oh = row - n * p.h;
    let top = window_row(n, oh, 0u, q, quads);
    let middle = window_row(n, oh, 1u, q, quads);
    let bottom = window_row(n, oh, 2u, q, quads);
    // The input under each tap (kh, kw) of the four pixels, 0 outside.
    let t0 = vec4<f32>(top.left, top.centre.xyz);
    let t1 = top.centre;
    let t2 = vec4<f32>(top.centre.yzw, top.right);
    let t3 = vec4<f32>(middle.left, middle.centre.xyz);
    let t4 = middle.centre;
    let t5 = vec4<f32>(middle.centre.yzw, middle.right);
    let t6 = vec4<f32>(bottom.left, bottom.centre.xyz);
    let t7 = bottom.centre;
    let t8 = vec4<f32>(bottom.centre.yzw, bottom.right);
    let out_row = (n * p.out_c * p.h + oh) * quads + q;
    for (var co = 0u; co < p.out_c; co = co + 1u) {
        let f = co * 9u;
        var acc = fma(vec4<f32>(weight(f)), t0, vec4<f32>(0.0));
        acc = fma(vec4<f32>(weight(f + 1u)), t1, acc);
        acc = fma(vec4<f32>(weight(f + 2u)), t2, acc);
        acc = fma(vec4<f32>(weight(f + 3u)), t3, acc);
        acc = fma(vec4<f32>(weight(f + 4u)), t4, acc);
        acc = fma(vec4<f32>(weight(f + 5u)), t5, acc);
        acc = fma(vec4<f32>(weight(f + 6u)), t6, acc);
        acc = fma(vec4<f32>(weight(f + 7u)), t7, acc);
        acc = fma(vec4<f32>(weight(f + 8u)), t8, acc);
        if (p.has_bias != 0u) {
            acc = acc + weight(BIAS_AT + co);
        }
        y4[out_row + co * p.h * quads] = acc;
    }
}

// Convolution of a one-channel input (a network's first layer) with 3x3 filters, stride 1
// and zero padding 1: y [batch, out_c, h, w] from x [batch, 1, h, w], w a multiple of 4.
// For software adapters, where every storage-buffer load runs a loop over the SIMD lanes:
// each invocation computes four neighbouring pixels of one row for every output channel,
// reading its 3 x 6 input window once (per row a vec4 and two scalars), the filters and
// biases from a uniform buffer (a load at a uniform offset is one scalar load, shared by
// all lanes), and writing each channel's four outputs as one vec4. The taps are summed in
// the GEMM path's order, (kh, kw) from 0 by fused multiply-adds, and the bias added last,
// so both paths give the same bits. The entry points: conv/single_channel_forward_main.wgsl,
// and conv/single_channel_forward_moments.wgsl for a training step's batch norm.
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

// Invocation i's four pixels: row oh of image n, quad q of the row, and where channel 0's
// four outputs go in y4.
struct Quad {
    n: u32,
    oh: u32,
    q: u32,
    out_row: u32,
}

fn quad(i: u32, quads: u32) -> Quad {
    let row = i / quads;
    let q = i - row * quads;
    let n = row / p.h;
    let oh = row - n * p.h;
    return Quad(n, oh, q, (n * p.out_c * p.h + oh) * quads + q);
}

// Invocations in all: one per four output pixels of a channel.
fn quad_count() -> u32 {
    return p.batch * p.h * (p.w / 4u);
}

// Output channel co at the four pixels under window t.
fn output(t: Window, co: u32) -> vec4<f32> {
    let f = co * 9u;
    var acc = fma(vec4<f32>(weight(f)), t.tap0, vec4<f32>(0.0));
    acc = fma(vec4<f32>(weight(f + 1u)), t.tap1, acc);
    acc = fma(vec4<f32>(weight(f + 2u)), t.tap2, acc);
    acc = fma(vec4<f32>(weight(f + 3u)), t.tap3, acc);
    acc = fma(vec4<f32>(weight(f + 4u)), t.tap4, acc);
    acc = fma(vec4<f32>(weight(f + 5u)), t.tap5, acc);
    acc = fma(vec4<f32>(weight(f + 6u)), t.tap6, acc);
    acc = fma(vec4<f32>(weight(f + 7u)), t.tap7, acc);
    acc = fma(vec4<f32>(weight(f + 8u)), t.tap8, acc);
    if (p.has_bias != 0u) {
        acc = acc + weight(BIAS_AT + co);
    }
    return acc;
}

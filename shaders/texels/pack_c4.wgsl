// Packs a 3-D array (n, c, pixels), element (n, c, i) at n * stride_n + c * stride_c +
// i * stride_pixel of `src` (channel c counted within its stack of stack_channels, the
// stacks stride_stack apart: a stacked convolution output), into texels four channels
// deep: texel (n * c4 + q) * plane + i holds channels 4q .. 4q + 3 at (n, i), zero past c.
// The texels go to a storage buffer in texel order, which the launcher then copies into
// the texel array (on llvmpipe a texel store costs about four times a vec4 buffer store
// plus the copy: `cargo run --release --example store_probe`).
// Activations pack as (batch, channels, h*w); filters [co, ci, kh, kw] as (co, ci, kh*kw),
// or by output channel as (1, co, ci*kh*kw), for the texel GEMM's K walk
// (gemm/conv_*.wgsl); a matrix operand as (1, k, rows) with its own strides
// (gemm/matmul.wgsl).
// One invocation per texel on a grid of (pixel groups, q, n), so nothing is divided but
// the stack, in floats (llvmpipe divides integers lane by lane); one array per dispatch
// (a kernel packing two, one after the other, ran both paths masked on llvmpipe and took
// longer than two dispatches). The four loads are straight-line (a loop with a guarded,
// dynamically indexed write to the texel took 10% longer on llvmpipe).
struct Params {
    c: u32,
    c4: u32,
    plane: u32,
    stride_n: u32,
    stride_c: u32,
    stride_pixel: u32,
    stack_channels: u32,
    stride_stack: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let pixel = wg.x * 64u + lid.x;
    if (pixel >= p.plane) {
        return;
    }
    let q = wg.y;
    let n = wg.z;
    let c0 = 4u * q;
    // The launcher packs stacks of a multiple of four channels only, so the texel's four
    // are in one stack; one stack holds every channel (stack 0).
    let stack = stack_of(c0, p.stack_channels);
    let first = n * p.stride_n + pixel * p.stride_pixel + c0 * p.stride_c
        + stack * (p.stride_stack - p.stack_channels * p.stride_c);
    // Straight-line: channels past c read the last channel's element (in bounds) and are
    // zeroed by the select.
    let last = first + (min(p.c - 1u, c0 + 3u) - c0) * p.stride_c;
    let s = p.stride_c;
    let v = vec4<f32>(
        src[first],
        select(0.0, src[min(first + s, last)], c0 + 1u < p.c),
        select(0.0, src[min(first + 2u * s, last)], c0 + 2u < p.c),
        select(0.0, src[min(first + 3u * s, last)], c0 + 3u < p.c));
    dst[(n * p.c4 + q) * p.plane + pixel] = v;
}

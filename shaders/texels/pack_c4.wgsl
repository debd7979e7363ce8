// Packs one or two 3-D arrays (n, c, pixels) in one dispatch (a convolution's filters and
// input, or its filters and output gradient): element (n, c, i) of an array at
// n * stride_n + c * stride_c + i * stride_pixel of its source (channel c counted within
// its stack of stack_channels, the stacks stride_stack apart) goes into texels four
// channels deep: texel (n * c4 + q) * plane + i holds channels 4q .. 4q + 3 at (n, i),
// zero past c. Activations pack as (batch, channels, h*w); filters [co, ci, kh, kw] as
// (co, ci, kh*kw), or by output channel as (1, co, ci*kh*kw), for the texel GEMM's K walk
// (gemm/conv_*.wgsl); a matrix operand as (1, k, rows) with its own strides
// (gemm/matmul.wgsl).
// One invocation per texel. The workgroups run over array a's (pixel group, q, n) with
// the pixel group fastest, then over b's, folded into rows of a 2-D grid; a workgroup
// finds its (pixel group, q, n) by two divisions of uniform values. The four loads are straight-line (a loop with a guarded, dynamically
// indexed write to the texel took 10% longer on llvmpipe).
struct Params {
    a_c: u32,
    a_c4: u32,
    a_plane: u32,
    a_pixel_groups: u32,
    a_stride_n: u32,
    a_stride_c: u32,
    a_stride_pixel: u32,
    a_groups: u32,
    b_c: u32,
    b_c4: u32,
    b_plane: u32,
    b_pixel_groups: u32,
    b_stride_n: u32,
    b_stride_c: u32,
    b_stride_pixel: u32,
    b_groups: u32,
    a_stack_channels: u32,
    a_stride_stack: u32,
    b_stack_channels: u32,
    b_stride_stack: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a_src: array<f32>;
@group(0) @binding(2) var a_dst: texture_storage_2d<rgba32float, write>;
@group(0) @binding(3) var<storage, read> b_src: array<f32>;
@group(0) @binding(4) var b_dst: texture_storage_2d<rgba32float, write>;

struct Job {
    c: u32,
    c4: u32,
    plane: u32,
    pixel_groups: u32,
    stride_n: u32,
    stride_c: u32,
    stride_pixel: u32,
    stack_channels: u32,
    stride_stack: u32,
}

// Where texel `pixel` of channel group q of plane n is read, and which texel it is.
struct Texel {
    first: u32,
    last: u32,
    c0: u32,
    index: u32,
}

fn locate(j: Job, group: u32, lane: u32) -> Texel {
    let pixel_group = group % j.pixel_groups;
    let rest = group / j.pixel_groups;
    let q = rest % j.c4;
    let n = rest / j.c4;
    let pixel = pixel_group * 64u + lane;
    let c0 = 4u * q;
    // The launcher packs stacks of a multiple of four channels only, so the texel's four
    // are in one stack.
    let stack = c0 / j.stack_channels;
    let first = n * j.stride_n + pixel * j.stride_pixel + stack * j.stride_stack + (c0 - stack * j.stack_channels) * j.stride_c;
    let last = first + (min(j.c - 1u, c0 + 3u) - c0) * j.stride_c;
    return Texel(first, last, c0, (n * j.c4 + q) * j.plane + pixel);
}

fn texel_address(i: u32) -> vec2<u32> {
    return vec2<u32>(i & 4095u, i >> 12u);
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let group = wg.y * groups.x + wg.x;
    // Straight-line loads: channels past c read channel c - 1's element (in bounds) and
    // are zeroed by the select.
    if (group < p.a_groups) {
        let j = Job(p.a_c, p.a_c4, p.a_plane, p.a_pixel_groups, p.a_stride_n, p.a_stride_c, p.a_stride_pixel, p.a_stack_channels, p.a_stride_stack);
        if (group % j.pixel_groups * 64u + lid.x >= j.plane) {
            return;
        }
        let t = locate(j, group, lid.x);
        let s = j.stride_c;
        let v = vec4<f32>(
            a_src[t.first],
            select(0.0, a_src[min(t.first + s, t.last)], t.c0 + 1u < j.c),
            select(0.0, a_src[min(t.first + 2u * s, t.last)], t.c0 + 2u < j.c),
            select(0.0, a_src[min(t.first + 3u * s, t.last)], t.c0 + 3u < j.c));
        textureStore(a_dst, texel_address(t.index), v);
        return;
    }
    let b_group = group - p.a_groups;
    if (b_group >= p.b_groups) {
        return;
    }
    let j = Job(p.b_c, p.b_c4, p.b_plane, p.b_pixel_groups, p.b_stride_n, p.b_stride_c, p.b_stride_pixel, p.b_stack_channels, p.b_stride_stack);
    if (b_group % j.pixel_groups * 64u + lid.x >= j.plane) {
        return;
    }
    let t = locate(j, b_group, lid.x);
    let s = j.stride_c;
    let v = vec4<f32>(
        b_src[t.first],
        select(0.0, b_src[min(t.first + s, t.last)], t.c0 + 1u < j.c),
        select(0.0, b_src[min(t.first + 2u * s, t.last)], t.c0 + 2u < j.c),
        select(0.0, b_src[min(t.first + 3u * s, t.last)], t.c0 + 3u < j.c));
    textureStore(b_dst, texel_address(t.index), v);
}

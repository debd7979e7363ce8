// Weight gradient of the single-channel convolution (conv/single_channel_forward.wgsl):
// dw[co, kh, kw] = sum over (n, oh, ow) of dy[n, co, oh, ow] * x[n, oh + kh - 1, ow + kw - 1],
// out_c a multiple of 8. For software adapters, where every storage-buffer load runs a
// loop over the SIMD lanes: invocation (r, q) takes quad q (four neighbouring pixels) of
// rows r, r + row_lanes, r + 2 row_lanes, ... of the whole batch, reading each quad's
// 3 x 6 input window once per eight output channels and dy as one vec4 per channel; the
// eight channels' nine sums are 18 vec4 accumulators (taps x channels 0-3 and 4-7), each
// quad adding the products of a tap's four pixels with a vec4 x mat4x4. It writes its
// sums to its own row of `partial` ([quads * row_lanes, out_c * 9]); the launcher adds
// the rows (src/kernels/conv.rs).
struct Params {
    batch: u32,
    out_c: u32,
    h: u32,
    w: u32,
    row_lanes: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;

// Channels per pass over the rows.
const CHANNELS: u32 = 8u;

// Writes channels c0 .. c0 + 7 of tap `tap` (channels 0-3 in lo, 4-7 in hi) to the row
// starting at `row`.
fn put(row: u32, c0: u32, tap: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let at = row + c0 * 9u + tap;
    partial[at] = lo.x;
    partial[at + 9u] = lo.y;
    partial[at + 18u] = lo.z;
    partial[at + 27u] = lo.w;
    partial[at + 36u] = hi.x;
    partial[at + 45u] = hi.y;
    partial[at + 54u] = hi.z;
    partial[at + 63u] = hi.w;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let quads = p.w / 4u;
    let i = flat_group(wg, groups) * 64u + local;
    if (i >= quads * p.row_lanes) {
        return;
    }
    let first_row = i / quads;
    let q = i - first_row * quads;
    let rows = p.batch * p.h;
    let plane = p.h * quads;
    let out_row = i * p.out_c * 9u;
    for (var c0 = 0u; c0 < p.out_c; c0 = c0 + CHANNELS) {
        var l0 = vec4<f32>(0.0);
        var l1 = vec4<f32>(0.0);
        var l2 = vec4<f32>(0.0);
        var l3 = vec4<f32>(0.0);
        var l4 = vec4<f32>(0.0);
        var l5 = vec4<f32>(0.0);
        var l6 = vec4<f32>(0.0);
        var l7 = vec4<f32>(0.0);
        var l8 = vec4<f32>(0.0);
        var h0 = vec4<f32>(0.0);
        var h1 = vec4<f32>(0.0);
        var h2 = vec4<f32>(0.0);
        var h3 = vec4<f32>(0.0);
        var h4 = vec4<f32>(0.0);
        var h5 = vec4<f32>(0.0);
        var h6 = vec4<f32>(0.0);
        var h7 = vec4<f32>(0.0);
        var h8 = vec4<f32>(0.0);
        // (n, oh) of the row, stepped without dividing.
        var n = first_row / p.h;
        var oh = first_row - n * p.h;
        for (var row = first_row; row < rows; row = row + p.row_lanes) {
            let t = window(n, oh, q, quads);
            let g = ((n * p.out_c + c0) * p.h + oh) * quads + q;
            let lo = mat4x4<f32>(dy4[g], dy4[g + plane], dy4[g + 2u * plane], dy4[g + 3u * plane]);
            let hi = mat4x4<f32>(dy4[g + 4u * plane], dy4[g + 5u * plane], dy4[g + 6u * plane],
                                 dy4[g + 7u * plane]);
            l0 = l0 + t.tap0 * lo;
            l1 = l1 + t.tap1 * lo;
            l2 = l2 + t.tap2 * lo;
            l3 = l3 + t.tap3 * lo;
            l4 = l4 + t.tap4 * lo;
            l5 = l5 + t.tap5 * lo;
            l6 = l6 + t.tap6 * lo;
            l7 = l7 + t.tap7 * lo;
            l8 = l8 + t.tap8 * lo;
            h0 = h0 + t.tap0 * hi;
            h1 = h1 + t.tap1 * hi;
            h2 = h2 + t.tap2 * hi;
            h3 = h3 + t.tap3 * hi;
            h4 = h4 + t.tap4 * hi;
            h5 = h5 + t.tap5 * hi;
            h6 = h6 + t.tap6 * hi;
            h7 = h7 + t.tap7 * hi;
            h8 = h8 + t.tap8 * hi;
            oh = oh + p.row_lanes;
            while (oh >= p.h) {
                oh = oh - p.h;
                n = n + 1u;
            }
        }
        put(out_row, c0, 0u, l0, h0);
        put(out_row, c0, 1u, l1, h1);
        put(out_row, c0, 2u, l2, h2);
        put(out_row, c0, 3u, l3, h3);
        put(out_row, c0, 4u, l4, h4);
        put(out_row, c0, 5u, l5, h5);
        put(out_row, c0, 6u, l6, h6);
        put(out_row, c0, 7u, l7, h7);
        put(out_row, c0, 8u, l8, h8);
    }
}

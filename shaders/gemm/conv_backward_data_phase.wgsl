// The data gradient of a strided convolution, one stride phase per dispatch. The input
// pixels of a phase, iy = first_y + stride_h * a and ix = first_x + stride_w * b, are
// reached only through the taps kh = tap0_h + stride_h * t and kw = tap0_w + stride_w * u,
// each from dy at oh = base_oh + a - t, ow = base_ow + b - u. So
// dx[b] (in_c x the phase's pixels) = sum over (co, t, u) of W[co, ci, kh, kw] * dy[..]:
// an implicit GEMM with M = in_c, N = batch * phase_rows * phase_cols and
// K = out_c * taps_h * taps_w, with no division in the K loop and no tap that misses (a
// stride-2 3x3 walked all nine taps for every pixel, a quarter of them matching).
// A is W (a_src), B is dy (b_src); for the texel core both are packed four output
// channels deep (W as (1, co, ci, kh*kw)), so co counts groups of four.
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

struct RowInfo {
    offset: u32,
}

// A pixel of the phase: the image's dy offset, its dy position for tap (0, 0) of the
// phase, and its own offset in dx for input channel 0.
struct ColInfo {
    base: u32,
    y: i32,
    x: i32,
    out: u32,
}

// A k = (co, t, u): the weight's offset for ci = 0 at the tap, dy's channel offset, the
// phase's tap indices, and the output channels (Values) of dy's stack from co on.
struct KInfo {
    weight: u32,
    channel: u32,
    t: i32,
    u: i32,
    stack_left: u32,
}

fn row_info(batch: u32, row: u32) -> RowInfo {
    return RowInfo(row * p.kernel_h * p.kernel_w);
}

fn col_info(batch: u32, col: u32) -> ColInfo {
    let pixels = p.phase_rows * p.phase_cols;
    let b = col / pixels;
    let pixel = col - b * pixels;
    let a = pixel / p.phase_cols;
    let c = pixel - a * p.phase_cols;
    let iy = p.first_y + a * p.stride_h;
    let ix = p.first_x + c * p.stride_w;
    return ColInfo(
        b * stored_channels(p.out_stack) * p.out_h * p.out_w,
        i32(p.base_oh + a),
        i32(p.base_ow + c),
        b * p.m * p.in_h * p.in_w + iy * p.in_w + ix,
    );
}

fn k_first(batch: u32) -> KInfo {
    return KInfo(p.tap0_h * p.kernel_w + p.tap0_w, 0u, 0, 0, stored_channels(p.out_stack));
}

fn k_next(kk: KInfo) -> KInfo {
    var n = kk;
    if (kk.u + 1 < i32(p.taps_w)) {
        n.u = kk.u + 1;
        n.weight = kk.weight + p.stride_w;
        return n;
    }
    n.u = 0;
    let row_back = u32(kk.u) * p.stride_w;
    if (kk.t + 1 < i32(p.taps_h)) {
        n.t = kk.t + 1;
        n.weight = kk.weight + p.stride_h * p.kernel_w - row_back;
        return n;
    }
    // Next output channel, at the phase's first tap: skip the other input channels' taps
    // of this one.
    n.t = 0;
    n.weight = kk.weight + p.in_c * p.kernel_h * p.kernel_w
        - u32(kk.t) * p.stride_h * p.kernel_w - row_back;
    let next = next_output_channel(kk.channel, kk.stack_left);
    n.channel = next.channel;
    n.stack_left = next.left;
    return n;
}

fn read_a(r: RowInfo, kk: KInfo) -> Value {
    return load_a(kk.weight + r.offset);
}

fn read_b(kk: KInfo, c: ColInfo) -> Value {
    let oh = c.y - kk.t;
    let ow = c.x - kk.u;
    if (oh < 0 || ow < 0 || oh >= i32(p.out_h) || ow >= i32(p.out_w)) {
        return Value(0.0);
    }
    return load_b(c.base + kk.channel + u32(oh) * p.out_w + u32(ow));
}

fn write_c(batch: u32, row: u32, col: u32, c: ColInfo, value: f32) {
    dx[c.out + row * p.in_h * p.in_w] = value;
}

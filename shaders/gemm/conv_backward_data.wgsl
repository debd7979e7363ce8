// dx[b] (in_c x in_h*in_w) = sum over (co, kh, kw) of W[co, ci, kh, kw] * dy[b, co, oh, ow]
// where oh * stride + kh - pad = iy (and likewise for x): implicit GEMM with
// M = in_c, N = batch*in_h*in_w (every input pixel of every image), K = out_c*kh*kw.
// For stride 1 (`read_b` from conv_backward_data_unit_stride.wgsl); strided convolutions
// take conv_backward_data_phase.wgsl, a GEMM per stride phase.
// A is W (a_src), B is dy (b_src); for the texel core both are packed four output channels
// deep (W as (1, co, ci, kh*kw)), so a Value's index follows the same formulas with co
// counted in groups of four.
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

struct RowInfo {
    offset: u32,
}

// An input pixel of an image: the image's dy offset, the pixel's padded position, and its
// own offset in dx for input channel 0.
struct ColInfo {
    base: u32,
    ty: i32,
    tx: i32,
    out: u32,
}

// A k = (co, kh, kw): the weight's offset for ci = 0, dy's channel offset, the tap, and
// the output channels (Values) of dy's stack from co on.
struct KInfo {
    weight: u32,
    channel: u32,
    kh: i32,
    kw: i32,
    stack_left: u32,
}

fn row_info(batch: u32, row: u32) -> RowInfo {
    return RowInfo(row * p.kernel_h * p.kernel_w);
}

fn col_info(batch: u32, col: u32) -> ColInfo {
    let plane = p.in_h * p.in_w;
    let b = col / plane;
    let pixel = col - b * plane;
    let iy = pixel / p.in_w;
    let ix = pixel - iy * p.in_w;
    return ColInfo(b * stored_channels(p.out_stack) * p.out_h * p.out_w, i32(iy + p.pad_top), i32(ix + p.pad_left), b * p.m * plane + pixel);
}

fn k_first(batch: u32) -> KInfo {
    return KInfo(0u, 0u, 0, 0, stored_channels(p.out_stack));
}

fn k_next(kk: KInfo) -> KInfo {
    let t = next_tap(kk.kh, kk.kw);
    var n = KInfo(kk.weight + 1u, kk.channel, t.kh, t.kw, kk.stack_left);
    if (t.wrapped) {
        // Next output channel: skip the other input channels' taps of this one.
        let next = next_output_channel(kk.channel, kk.stack_left);
        n.channel = next.channel;
        n.stack_left = next.left;
        n.weight = n.weight + (p.in_c - 1u) * p.kernel_h * p.kernel_w;
    }
    return n;
}

fn read_a(r: RowInfo, kk: KInfo) -> Value {
    return load_a(kk.weight + r.offset);
}

fn write_c(batch: u32, row: u32, col: u32, c: ColInfo, value: f32) {
    dx[c.out + row * p.in_h * p.in_w] = value;
}

// y (out_c x batch*out_h*out_w) = W (out_c x in_c*kh*kw) * im2col(x), im2col read on the
// fly: the columns run over every output pixel of every image, so small feature maps still
// fill whole tiles; y is stored in stacks of p.out_stack channels (conv_params.wgsl). A is
// W (a_src), B is x (b_src), read as one channel per Value or, for the texel core, as four
// (both packed by channel, so the formulas are the same). A variant file supplies
// `output_bias` (conv_forward_bias.wgsl or conv_forward_no_bias.wgsl): which one is a
// compile-time choice, because llvmpipe runs both sides of every branch with lanes masked,
// so a load under `if (has_bias)` would cost a lane-by-lane loop in every store.
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

struct RowInfo {
    base: u32,
}

// An output pixel of an image: the image's input offset, the input position of its
// window's corner, and its own offset in y for output channel 0.
struct ColInfo {
    base: u32,
    y0: i32,
    x0: i32,
    out: u32,
}

// A k = (ci, kh, kw): the channel's offset and the tap.
struct KInfo {
    k: u32,
    channel: u32,
    kh: i32,
    kw: i32,
}

fn row_info(batch: u32, row: u32) -> RowInfo {
    return RowInfo(row * p.k);
}

fn col_info(batch: u32, col: u32) -> ColInfo {
    let plane = p.out_h * p.out_w;
    let b = col / plane;
    let pixel = col - b * plane;
    let oh = pixel / p.out_w;
    let ow = pixel - oh * p.out_w;
    return ColInfo(b * stored_channels(p.in_c) * p.in_h * p.in_w, input_y(oh, 0u), input_x(ow, 0u), b * p.out_stack * plane + pixel);
}

fn k_first(batch: u32) -> KInfo {
    return KInfo(0u, 0u, 0, 0);
}

fn k_next(kk: KInfo) -> KInfo {
    let t = next_tap(kk.kh, kk.kw);
    var n = KInfo(kk.k + 1u, kk.channel, t.kh, t.kw);
    if (t.wrapped) {
        n.channel = n.channel + p.in_h * p.in_w;
    }
    return n;
}

fn read_a(r: RowInfo, kk: KInfo) -> Value {
    return load_a(r.base + kk.k);
}

fn read_b(kk: KInfo, c: ColInfo) -> Value {
    let iy = c.y0 + kk.kh;
    let ix = c.x0 + kk.kw;
    if (!inside(iy, ix)) {
        return Value(0.0);
    }
    return load_b(c.base + kk.channel + u32(iy) * p.in_w + u32(ix));
}

fn write_c(batch: u32, row: u32, col: u32, c: ColInfo, value: f32) {
    y[c.out + output_channel_offset(row)] = value + output_bias(row);
}

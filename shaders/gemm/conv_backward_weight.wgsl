// dW (out_c x in_c*kh*kw) = sum over (b, oh, ow) of dy[b, co, oh, ow] * x[b, ci, iy, ix]:
// A = dy viewed as out_c x (batch*out_h*out_w), B = im2col(x)^T. K is long and M, N are
// small, so K is split: core batch z sums K-range [z * p.k, (z + 1) * p.k) of the full
// p.k_total into its own slice of `partial` ([splits, m, in_c*kh*kw]); the launcher sums
// the slices. A is dy (a_src), B is x (b_src). For the texel core (an outer product per k)
// both are packed four channels deep: a Value of A is four rows (output channels), one of
// B four columns, so the columns run over (tap, ci) with ci padded to a multiple of four
// instead of over (ci, tap).
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

struct RowInfo {
    channel: u32,
}

// A weight column (ci, kh, kw): the channel's offset in an image, the tap.
struct ColInfo {
    channel: u32,
    kh: i32,
    kw: i32,
}

// A k = (b, oh, ow): dy's offset for co = 0, x's image offset, the window corner; `valid`
// is false past the end of K. `k`, `oh` and `ow` let k_next step without dividing.
struct KInfo {
    valid: bool,
    dy: u32,
    image: u32,
    y0: i32,
    x0: i32,
    k: u32,
    oh: u32,
    ow: u32,
}

fn row_info(split: u32, row: u32) -> RowInfo {
    return RowInfo(output_channel_offset(row / CHANNELS_PER_VALUE));
}

// A column's input channel and tap.
fn channel_and_tap(col: u32) -> vec2<u32> {
    let taps = p.kernel_h * p.kernel_w;
    if (CHANNELS_PER_VALUE == 1u) {
        return vec2<u32>(col / taps, col % taps);
    }
    let padded = stored_channels(p.in_c) * CHANNELS_PER_VALUE;
    return vec2<u32>(col % padded, col / padded);
}

fn col_info(split: u32, col: u32) -> ColInfo {
    let ct = channel_and_tap(col);
    let kh = ct.y / p.kernel_w;
    return ColInfo(ct.x / CHANNELS_PER_VALUE * p.in_h * p.in_w, i32(kh), i32(ct.y - kh * p.kernel_w));
}

fn k_first(split: u32) -> KInfo {
    let k = split * p.k;
    let plane = p.out_h * p.out_w;
    let b = k / plane;
    let pos = k - b * plane;
    let oh = pos / p.out_w;
    let ow = pos - oh * p.out_w;
    return KInfo(k < p.k_total, b * stored_channels(p.out_stack) * plane + pos, b * stored_channels(p.in_c) * p.in_h * p.in_w, input_y(oh, 0u), input_x(ow, 0u), k, oh, ow);
}

fn k_next(kk: KInfo) -> KInfo {
    var n = kk;
    n.k = kk.k + 1u;
    n.valid = n.k < p.k_total;
    n.dy = kk.dy + 1u;
    n.ow = kk.ow + 1u;
    n.x0 = kk.x0 + i32(p.stride_w);
    if (n.ow == p.out_w) {
        n.ow = 0u;
        n.x0 = input_x(0u, 0u);
        n.oh = n.oh + 1u;
        n.y0 = n.y0 + i32(p.stride_h);
        if (n.oh == p.out_h) {
            // Next image: skip the other output channels' planes of this one in dy.
            n.oh = 0u;
            n.y0 = input_y(0u, 0u);
            n.dy = n.dy + (stored_channels(p.out_stack) - 1u) * p.out_h * p.out_w;
            n.image = n.image + stored_channels(p.in_c) * p.in_h * p.in_w;
        }
    }
    return n;
}

fn read_a(r: RowInfo, kk: KInfo) -> Value {
    if (!kk.valid) {
        return Value(0.0);
    }
    return load_a(kk.dy + r.channel);
}

fn read_b(kk: KInfo, c: ColInfo) -> Value {
    let iy = kk.y0 + c.kh;
    let ix = kk.x0 + c.kw;
    if (!kk.valid || !inside(iy, ix)) {
        return Value(0.0);
    }
    return load_b(kk.image + c.channel + u32(iy) * p.in_w + u32(ix));
}

// Padding channels (texel core) are not written.
fn write_c(split: u32, row: u32, col: u32, c_info: ColInfo, value: f32) {
    let ct = channel_and_tap(col);
    let taps = p.kernel_h * p.kernel_w;
    if (ct.x < p.in_c) {
        partial[(split * p.m + row) * p.in_c * taps + ct.x * taps + ct.y] = value;
    }
}

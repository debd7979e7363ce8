// y[b] (out_c x out_h*out_w) = W (out_c x in_c*kh*kw) * im2col(x[b]), im2col read on the fly.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

struct RowInfo {
    base: u32,
}

// An output pixel: its image's offset and the input position of its window's corner.
struct ColInfo {
    base: u32,
    y0: i32,
    x0: i32,
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
    let oh = col / p.out_w;
    let ow = col - oh * p.out_w;
    return ColInfo(batch * p.in_c * p.in_h * p.in_w, input_y(oh, 0u), input_x(ow, 0u));
}

fn k_info(batch: u32, k: u32) -> KInfo {
    let taps = p.kernel_h * p.kernel_w;
    let ci = k / taps;
    let tap = k - ci * taps;
    let kh = tap / p.kernel_w;
    return KInfo(k, ci * p.in_h * p.in_w, i32(kh), i32(tap - kh * p.kernel_w));
}

fn read_a(r: RowInfo, kk: KInfo) -> f32 {
    return w[r.base + kk.k];
}

fn read_b(kk: KInfo, c: ColInfo) -> f32 {
    let iy = c.y0 + kk.kh;
    let ix = c.x0 + kk.kw;
    if (!inside(iy, ix)) {
        return 0.0;
    }
    return x[c.base + kk.channel + u32(iy) * p.in_w + u32(ix)];
}

fn write_c(batch: u32, row: u32, col: u32, value: f32) {
    let i = (batch * p.m + row) * p.n + col;
    var v = value;
    if (p.has_bias != 0u) {
        v = v + bias[row];
    }
    if (p.accumulate != 0u) {
        v = v + y[i];
    }
    y[i] = v;
}

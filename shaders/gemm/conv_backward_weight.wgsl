// dW (out_c x in_c*kh*kw) = sum over (b, oh, ow) of dy[b, co, oh, ow] * x[b, ci, iy, ix]:
// A = dy viewed as out_c x (batch*out_h*out_w), B = im2col(x)^T. K is long and M, N are
// small, so K is split: core batch z sums K-range [z * p.k, (z + 1) * p.k) of the full
// p.k_total into its own slice of `partial` ([splits, m, n]); the launcher sums the slices.
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
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
// is false past the end of K.
struct KInfo {
    valid: bool,
    dy: u32,
    image: u32,
    y0: i32,
    x0: i32,
}

fn row_info(split: u32, row: u32) -> RowInfo {
    return RowInfo(row * p.out_h * p.out_w);
}

fn col_info(split: u32, col: u32) -> ColInfo {
    let taps = p.kernel_h * p.kernel_w;
    let ci = col / taps;
    let tap = col - ci * taps;
    let kh = tap / p.kernel_w;
    return ColInfo(ci * p.in_h * p.in_w, i32(kh), i32(tap - kh * p.kernel_w));
}

fn k_info(split: u32, kk: u32) -> KInfo {
    let k = split * p.k + kk;
    let plane = p.out_h * p.out_w;
    let b = k / plane;
    let pos = k - b * plane;
    let oh = pos / p.out_w;
    let ow = pos - oh * p.out_w;
    return KInfo(k < p.k_total, b * p.out_c * plane + pos, b * p.in_c * p.in_h * p.in_w, input_y(oh, 0u), input_x(ow, 0u));
}

fn read_a(r: RowInfo, kk: KInfo) -> f32 {
    if (!kk.valid) {
        return 0.0;
    }
    return dy[kk.dy + r.channel];
}

fn read_b(kk: KInfo, c: ColInfo) -> f32 {
    let iy = kk.y0 + c.kh;
    let ix = kk.x0 + c.kw;
    if (!kk.valid || !inside(iy, ix)) {
        return 0.0;
    }
    return x[kk.image + c.channel + u32(iy) * p.in_w + u32(ix)];
}

fn write_c(split: u32, row: u32, col: u32, value: f32) {
    partial[(split * p.m + row) * p.n + col] = value;
}

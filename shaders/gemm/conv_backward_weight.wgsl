// dW (out_c x in_c*kh*kw) = sum over (b, oh, ow) of dy[b, co, oh, ow] * x[b, ci, iy, ix]:
// A = dy viewed as out_c x (batch*out_h*out_w), B = im2col(x)^T. One batch of the core.
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

fn read_a(batch: u32, row: u32, k: u32) -> f32 {
    let plane = p.out_h * p.out_w;
    let b = k / plane;
    let pos = k - b * plane;
    return dy[(b * p.out_c + row) * plane + pos];
}

fn read_b(batch: u32, k: u32, col: u32) -> f32 {
    let plane = p.out_h * p.out_w;
    let b = k / plane;
    let pos = k - b * plane;
    let oh = pos / p.out_w;
    let ow = pos - oh * p.out_w;
    let taps = p.kernel_h * p.kernel_w;
    let ci = col / taps;
    let tap = col - ci * taps;
    let kh = tap / p.kernel_w;
    let kw = tap - kh * p.kernel_w;
    let iy = input_y(oh, kh);
    let ix = input_x(ow, kw);
    if (!inside(iy, ix)) {
        return 0.0;
    }
    return x[((b * p.in_c + ci) * p.in_h + u32(iy)) * p.in_w + u32(ix)];
}

fn write_c(batch: u32, row: u32, col: u32, value: f32) {
    let i = row * p.n + col;
    var v = value;
    if (p.accumulate != 0u) {
        v = v + dw[i];
    }
    dw[i] = v;
}

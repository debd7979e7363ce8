// y[b] (out_c x out_h*out_w) = W (out_c x in_c*kh*kw) * im2col(x[b]), im2col read on the fly.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn read_a(batch: u32, row: u32, k: u32) -> f32 {
    return w[row * p.k + k];
}

fn read_b(batch: u32, k: u32, col: u32) -> f32 {
    let taps = p.kernel_h * p.kernel_w;
    let ci = k / taps;
    let tap = k - ci * taps;
    let kh = tap / p.kernel_w;
    let kw = tap - kh * p.kernel_w;
    let oh = col / p.out_w;
    let ow = col - oh * p.out_w;
    let iy = input_y(oh, kh);
    let ix = input_x(ow, kw);
    if (!inside(iy, ix)) {
        return 0.0;
    }
    return x[((batch * p.in_c + ci) * p.in_h + u32(iy)) * p.in_w + u32(ix)];
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

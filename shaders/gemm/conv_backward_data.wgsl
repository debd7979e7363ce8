// dx[b] (in_c x in_h*in_w) = W^T-like gather: sum over (co, kh, kw) of
// W[co, ci, kh, kw] * dy[b, co, oh, ow] where oh*stride + kh - pad = iy (same for x).
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

fn read_a(batch: u32, row: u32, k: u32) -> f32 {
    // row = ci, k = (co, kh, kw); w is [out_c, in_c, kh, kw].
    let taps = p.kernel_h * p.kernel_w;
    let co = k / taps;
    let tap = k - co * taps;
    return w[(co * p.in_c + row) * taps + tap];
}

fn read_b(batch: u32, k: u32, col: u32) -> f32 {
    let taps = p.kernel_h * p.kernel_w;
    let co = k / taps;
    let tap = k - co * taps;
    let kh = tap / p.kernel_w;
    let kw = tap - kh * p.kernel_w;
    let iy = col / p.in_w;
    let ix = col - iy * p.in_w;
    let ty = i32(iy + p.pad_top) - i32(kh);
    let tx = i32(ix + p.pad_left) - i32(kw);
    if (ty < 0 || tx < 0) {
        return 0.0;
    }
    let uy = u32(ty);
    let ux = u32(tx);
    if (uy % p.stride_h != 0u || ux % p.stride_w != 0u) {
        return 0.0;
    }
    let oh = uy / p.stride_h;
    let ow = ux / p.stride_w;
    if (oh >= p.out_h || ow >= p.out_w) {
        return 0.0;
    }
    return dy[((batch * p.out_c + co) * p.out_h + oh) * p.out_w + ow];
}

fn write_c(batch: u32, row: u32, col: u32, value: f32) {
    let i = (batch * p.m + row) * p.n + col;
    var v = value;
    if (p.accumulate != 0u) {
        v = v + dx[i];
    }
    dx[i] = v;
}

// dx[b] (in_c x in_h*in_w) = sum over (co, kh, kw) of W[co, ci, kh, kw] * dy[b, co, oh, ow]
// where oh * stride + kh - pad = iy (and likewise for x): implicit GEMM with
// M = in_c, N = in_h*in_w, K = out_c*kh*kw. `read_b` comes from
// conv_backward_data_strided.wgsl, or conv_backward_data_unit_stride.wgsl for stride 1.
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

struct RowInfo {
    offset: u32,
}

// An input pixel: its image's dy offset and its padded position.
struct ColInfo {
    base: u32,
    ty: i32,
    tx: i32,
}

// A k = (co, kh, kw): the weight's offset for ci = 0, dy's channel offset, the tap.
struct KInfo {
    weight: u32,
    channel: u32,
    kh: i32,
    kw: i32,
}

fn row_info(batch: u32, row: u32) -> RowInfo {
    return RowInfo(row * p.kernel_h * p.kernel_w);
}

fn col_info(batch: u32, col: u32) -> ColInfo {
    let iy = col / p.in_w;
    let ix = col - iy * p.in_w;
    return ColInfo(batch * p.out_c * p.out_h * p.out_w, i32(iy + p.pad_top), i32(ix + p.pad_left));
}

fn k_info(batch: u32, k: u32) -> KInfo {
    let taps = p.kernel_h * p.kernel_w;
    let co = k / taps;
    let tap = k - co * taps;
    let kh = tap / p.kernel_w;
    return KInfo(co * p.in_c * taps + tap, co * p.out_h * p.out_w, i32(kh), i32(tap - kh * p.kernel_w));
}

fn read_a(r: RowInfo, kk: KInfo) -> f32 {
    return w[kk.weight + r.offset];
}

fn write_c(batch: u32, row: u32, col: u32, value: f32) {
    let i = (batch * p.m + row) * p.n + col;
    var v = value;
    if (p.accumulate != 0u) {
        v = v + dx[i];
    }
    dx[i] = v;
}

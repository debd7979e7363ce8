// A dense layer's weight and bias gradients in one GEMM:
// C [out, in + 1] = dy^T [out, batch] * [x | 1] [batch, in + 1], where x is given a column
// of ones after its last: C's first `features` columns are dw [out, in], its last the bias
// gradient db [out] (the column sums of dy), written to their own buffers.
struct Params {
    m: u32,
    n: u32,
    k: u32,
    features: u32,
    outputs: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

struct RowInfo {
    output: u32,
}

struct ColInfo {
    // The input feature (0 for the column of ones, whose reads are discarded).
    feature: u32,
    ones: bool,
}

struct KInfo {
    dy: u32,
    x: u32,
}

fn row_info(batch: u32, row: u32) -> RowInfo {
    return RowInfo(row);
}

fn col_info(batch: u32, col: u32) -> ColInfo {
    let ones = col == p.features;
    return ColInfo(select(col, 0u, ones), ones);
}

fn k_first(batch: u32) -> KInfo {
    return KInfo(0u, 0u);
}

fn k_next(kk: KInfo) -> KInfo {
    return KInfo(kk.dy + p.outputs, kk.x + p.features);
}

fn read_a(r: RowInfo, kk: KInfo) -> f32 {
    return dy[kk.dy + r.output];
}

fn read_b(kk: KInfo, c: ColInfo) -> f32 {
    return select(x[kk.x + c.feature], 1.0, c.ones);
}

fn write_c(batch: u32, row: u32, col: u32, c: ColInfo, value: f32) {
    if (c.ones) {
        db[row] = value;
    } else {
        dw[row * p.features + col] = value;
    }
}

// Strided batched matmul: A and B are read through row/column strides, so transposed
// operands (dense backward's X^T and W^T) need no copy. C is dense [batch, m, n].
// c = A B (+ bias[col]: `output_bias` from matmul_bias.wgsl or matmul_no_bias.wgsl, a
// compile-time choice because llvmpipe runs both sides of a branch, so a load under
// `if (has_bias)` would cost a lane-by-lane loop in every store). A and B come from
// operands_storage.wgsl, or operands_texels.wgsl with the strides counting texels (each
// four K values; texel k4 * m + row of A, k4 * n + col of B).
struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row: u32,
    a_col: u32,
    a_batch: u32,
    b_row: u32,
    b_col: u32,
    b_batch: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

struct RowInfo {
    base: u32,
}

struct ColInfo {
    base: u32,
}

struct KInfo {
    a: u32,
    b: u32,
}

fn row_info(batch: u32, row: u32) -> RowInfo {
    return RowInfo(batch * p.a_batch + row * p.a_row);
}

fn col_info(batch: u32, col: u32) -> ColInfo {
    return ColInfo(batch * p.b_batch + col * p.b_col);
}

fn k_first(batch: u32) -> KInfo {
    return KInfo(0u, 0u);
}

fn k_next(kk: KInfo) -> KInfo {
    return KInfo(kk.a + p.a_col, kk.b + p.b_row);
}

fn read_a(r: RowInfo, kk: KInfo) -> Value {
    return load_a(r.base + kk.a);
}

fn read_b(kk: KInfo, c: ColInfo) -> Value {
    return load_b(c.base + kk.b);
}

fn write_c(batch: u32, row: u32, col: u32, c_info: ColInfo, value: f32) {
    c[(batch * p.m + row) * p.n + col] = value + output_bias(col);
}

// Register-blocked GEMM core: C[batch] (m x n) = A[batch] (m x k) * B[batch] (k x n).
// A variant file defines `Params` (with fields m, n, k) and its loaders. Index work is
// hoisted out of the k loop: `row_info(batch, row)` and `col_info(batch, col)` are computed
// once per output row / column, `k_info(batch, k)` once per k (shared by the block's four
// rows and four columns), and `read_a(RowInfo, KInfo)`, `read_b(KInfo, ColInfo)` only
// combine them. `write_c(batch, row, col, value)` stores. matmul and the three convolution
// passes are this core with other loaders (implicit GEMM: no im2col buffer).
// Each invocation owns a 4x4 block of C in four vec4 registers; a workgroup of 8x8
// invocations covers a 32x32 tile. Rows and columns past the edge are clamped when read
// and skipped when written, so any m, n, k works.
const ROWS_PER_THREAD: u32 = 4u;
const COLS_PER_THREAD: u32 = 4u;

fn store_row(batch: u32, row: u32, col0: u32, v: vec4<f32>) {
    if (row >= p.m) {
        return;
    }
    for (var j = 0u; j < COLS_PER_THREAD; j = j + 1u) {
        if (col0 + j < p.n) {
            write_c(batch, row, col0 + j, v[j]);
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = (wg.y * 8u + lid.y) * ROWS_PER_THREAD;
    let col0 = (wg.x * 8u + lid.x) * COLS_PER_THREAD;
    let batch = wg.z;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    let last_row = p.m - 1u;
    let last_col = p.n - 1u;
    let a0 = row_info(batch, row0);
    let a1 = row_info(batch, min(row0 + 1u, last_row));
    let a2 = row_info(batch, min(row0 + 2u, last_row));
    let a3 = row_info(batch, min(row0 + 3u, last_row));
    let b0 = col_info(batch, col0);
    let b1 = col_info(batch, min(col0 + 1u, last_col));
    let b2 = col_info(batch, min(col0 + 2u, last_col));
    let b3 = col_info(batch, min(col0 + 3u, last_col));
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k = k + 1u) {
        let kk = k_info(batch, k);
        let b = vec4<f32>(read_b(kk, b0), read_b(kk, b1), read_b(kk, b2), read_b(kk, b3));
        acc0 = fma(vec4<f32>(read_a(a0, kk)), b, acc0);
        acc1 = fma(vec4<f32>(read_a(a1, kk)), b, acc1);
        acc2 = fma(vec4<f32>(read_a(a2, kk)), b, acc2);
        acc3 = fma(vec4<f32>(read_a(a3, kk)), b, acc3);
    }
    store_row(batch, row0, col0, acc0);
    store_row(batch, row0 + 1u, col0, acc1);
    store_row(batch, row0 + 2u, col0, acc2);
    store_row(batch, row0 + 3u, col0, acc3);
}

// A product without bias (gemm/matmul.wgsl).
fn output_bias(col: u32) -> f32 {
    return 0.0;
}

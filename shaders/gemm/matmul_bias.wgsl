// A dense layer's bias, one per output column (gemm/matmul.wgsl).
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn output_bias(col: u32) -> f32 {
    return bias[col];
}

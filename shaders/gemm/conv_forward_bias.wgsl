// The forward convolution's bias, one per output channel (gemm/conv_forward.wgsl).
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn output_bias(row: u32) -> f32 {
    return bias[row];
}

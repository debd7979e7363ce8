// A forward convolution without bias (gemm/conv_forward.wgsl); the moments variant is one.
fn output_bias(row: u32) -> f32 {
    return 0.0;
}

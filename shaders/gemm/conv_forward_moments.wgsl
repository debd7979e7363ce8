// The forward convolution's per-tile moments of each output channel, for the batch-norm
// statistics (written by the core's epilogue, channel_moments_source in
// src/kernels/texel_gemm.rs; merged by norm/batch_norm_merge_stats.wgsl).
@group(0) @binding(4) var<storage, read_write> moments: array<vec2<f32>>;

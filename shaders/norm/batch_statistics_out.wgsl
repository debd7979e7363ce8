// The outputs of the batch-statistics kernels (norm/batch_norm_stats.wgsl,
// norm/batch_norm_merge_stats.wgsl), whose Params have update_running and momentum.
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> variance: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

// Writes channel c's batch mean m and biased variance v over `count` elements; in training
// the running statistics move toward them: running = (1 - momentum) * running +
// momentum * batch, with the unbiased variance for running_var (as PyTorch).
fn write_batch_statistics(c: u32, m: f32, v: f32, count: u32) {
    mean[c] = m;
    variance[c] = v;
    if (p.update_running != 0u) {
        let unbiased = v * f32(count) / f32(max(count, 2u) - 1u);
        running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * m;
        running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
    }
}

// dx of batch norm. With batch statistics (training):
//   dx = gamma * inv_std / M * (M * dy - dbeta - xhat * dgamma), M = batch * inner;
// with fixed (running) statistics: dx = gamma * inv_std * dy.
struct Params {
    len: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    count: f32,
    batch_stats: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read> dbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    let c = (i / p.inner) % p.channels;
    let inv_std = inverseSqrt(variance[c] + p.eps);
    if (p.batch_stats == 0u) {
        dx[i] = gamma[c] * inv_std * dy[i];
        return;
    }
    let xhat = (x[i] - mean[c]) * inv_std;
    dx[i] = gamma[c] * inv_std / p.count * (p.count * dy[i] - dbeta[c] - xhat * dgamma[c]);
}

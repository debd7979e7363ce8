// y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], x viewed as [batch, channels, inner].
struct Params {
    len: u32,
    channels: u32,
    inner: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    let c = (i / p.inner) % p.channels;
    y[i] = (x[i] - mean[c]) * inverseSqrt(variance[c] + p.eps) * gamma[c] + beta[c];
}

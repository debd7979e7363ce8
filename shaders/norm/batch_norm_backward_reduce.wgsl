// Per channel: dbeta = sum dy, dgamma = sum dy * xhat, xhat = (x - mean) / sqrt(var + eps).
struct Params {
    batch: u32,
    channels: u32,
    inner: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let c = flat_group(wg, groups);
    if (c >= p.channels) {
        return;
    }
    let count = p.batch * p.inner;
    let m = mean[c];
    let inv_std = inverseSqrt(variance[c] + p.eps);
    var acc = vec2<f32>(0.0);
    for (var j = local; j < count; j = j + GROUP) {
        let n = j / p.inner;
        let idx = (n * p.channels + c) * p.inner + (j - n * p.inner);
        acc = acc + vec2<f32>(dy[idx] * (x[idx] - m) * inv_std, dy[idx]);
    }
    let total = group_sum2(local, acc);
    if (local == 0u) {
        dgamma[c] = total.x;
        dbeta[c] = total.y;
    }
}

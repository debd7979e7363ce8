// Per channel: dbeta = sum dy, dgamma = sum dy * xhat, xhat = (x - mean) / sqrt(var + eps).
// With `relu` set, dy is first masked by the fused ReLU's output (0 where y <= 0).
struct Params {
    batch: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    relu: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read> dy: array<Elem>;
@group(0) @binding(3) var<storage, read> y: array<Elem>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> variance: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read_write> dbeta: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let c = flat_group(wg, groups);
    if (c >= p.channels) {
        return;
    }
    let m = mean[c];
    let inv_std = inverseSqrt(variance[c] + p.eps);
    var acc = vec2<f32>(0.0);
    let inner = p.inner / WIDTH;
    for (var w = channel_walk(0u, p.batch, local, inner); w.j < w.end; advance(&w, inner)) {
        let idx = (w.n * p.channels + c) * inner + w.i;
        var g = dy[idx];
        if (p.relu != 0u) {
            g = select(Elem(0.0), g, y[idx] > Elem(0.0));
        }
        acc = acc + vec2<f32>(elem_sum(g * (x[idx] - m) * inv_std), elem_sum(g));
    }
    let total = group_sum2(local, acc);
    if (local == 0u) {
        dgamma[c] = total.x;
        dbeta[c] = total.y;
    }
}

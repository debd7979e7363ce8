// y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], then max(y, 0) when `relu`
// is set (batch norm and ReLU fused), x viewed as [batch, channels, inner]. One workgroup
// per channel and run of `images_per_group` images (channel_walk.wgsl): the channel comes
// from the workgroup id, so no invocation divides, and the channel's constants are read
// once.
struct Params {
    batch: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    relu: u32,
    images_per_group: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<Elem>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let c = wg.x;
    let scale = inverseSqrt(variance[c] + p.eps) * gamma[c];
    let m = mean[c];
    let shift = beta[c];
    let floor = select(-3.4e38, 0.0, p.relu != 0u);
    let first = wg.y * p.images_per_group;
    let last = min(first + p.images_per_group, p.batch);
    let inner = p.inner / WIDTH;
    for (var w = channel_walk(first, last, local, inner); w.j < w.end; advance(&w, inner)) {
        let at = (w.n * p.channels + c) * inner + w.i;
        y[at] = max((x[at] - m) * scale + shift, Elem(floor));
    }
}

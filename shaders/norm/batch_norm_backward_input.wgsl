// dx of batch norm (norm/batch_norm_input_gradient.wgsl has the formula, with batch or
// with fixed running statistics). With `relu` set, dy is first masked by the fused ReLU's
// output (0 where y <= 0). One workgroup per channel and run of images, as in
// batch_norm_apply.
struct Params {
    batch: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    count: f32,
    batch_stats: u32,
    relu: u32,
    images_per_group: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read> dy: array<Elem>;
@group(0) @binding(3) var<storage, read> y: array<Elem>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> variance: array<f32>;
@group(0) @binding(6) var<storage, read> gamma: array<f32>;
@group(0) @binding(7) var<storage, read> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read> dbeta: array<f32>;
@group(0) @binding(9) var<storage, read_write> dx: array<Elem>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let c = wg.x;
    let t = input_gradient(c);
    let m = mean[c];
    let first = wg.y * p.images_per_group;
    let last = min(first + p.images_per_group, p.batch);
    let inner = p.inner / WIDTH;
    for (var w = channel_walk(first, last, local, inner); w.j < w.end; advance(&w, inner)) {
        let at = (w.n * p.channels + c) * inner + w.i;
        var g = dy[at];
        if (p.relu != 0u) {
            g = select(Elem(0.0), g, y[at] > Elem(0.0));
        }
        dx[at] = t.k * g - t.slope * (x[at] - m) - t.shift;
    }
}

// Batch statistics of x [batch, channels, inner], one workgroup per channel: mean and
// biased variance in one pass over x. Each invocation sums d = x - K and d * d with K the
// channel's first element, so that the variance E[d^2] - E[d]^2 does not cancel
// catastrophically when the mean is large against the spread (norm/batch_statistics_out.wgsl
// writes them and moves the running statistics).
struct Params {
    batch: u32,
    channels: u32,
    inner: u32,
    update_running: u32,
    momentum: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Elem>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let c = flat_group(wg, groups);
    if (c >= p.channels) {
        return;
    }
    let count = p.batch * p.inner;
    let inner = p.inner / WIDTH;
    let shift = elem_first(x[c * inner]);
    var sums = vec2<f32>(0.0);
    for (var w = channel_walk(0u, p.batch, local, inner); w.j < w.end; advance(&w, inner)) {
        let d = x[(w.n * p.channels + c) * inner + w.i] - shift;
        sums = sums + vec2<f32>(elem_sum(d), elem_sum(d * d));
    }
    let total = group_sum2(local, sums) / f32(count);
    let m = shift + total.x;
    let v = max(total.y - total.x * total.x, 0.0);
    if (local == 0u) {
        write_batch_statistics(c, m, v, count);
    }
}

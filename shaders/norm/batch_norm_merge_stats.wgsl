// Batch statistics from per-chunk moments that the kernel producing x wrote as it went
// (a convolution's epilogue, src/kernels/conv.rs): chunk t of channel c holds `chunk` of
// the channel's `count` elements (the last chunk what is left) and at
// partials[t * row + first_channel + c] their mean and sum of squared deviations (the
// channels from first_channel of a convolution's `row`: one stack of its output). One workgroup per
// channel merges them by Chan et al.'s pairwise formula, in a fixed order (each invocation
// its chunks in turn, then a tree over the workgroup), so a run gives the same bits every
// time; merging means and deviations never subtracts two large sums.
struct Params {
    chunks: u32,
    channels: u32,
    chunk: u32,
    count: u32,
    update_running: u32,
    momentum: f32,
    first_channel: u32,
    row: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec2<f32>>;

const MERGE_LANES: u32 = 64u;

// (elements, mean, sum of squared deviations) of a set.
var<workgroup> moments: array<vec3<f32>, MERGE_LANES>;

// The moments of the union of two disjoint sets (either may be empty).
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
    let n = a.x + b.x;
    let share = select(0.0, b.x / max(n, 1.0), n > 0.0);
    let d = b.y - a.y;
    return vec3<f32>(n, a.y + d * share, a.z + b.z + d * d * a.x * share);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let c = flat_group(wg, groups);
    if (c >= p.channels) {
        return;
    }
    var acc = vec3<f32>(0.0);
    for (var t = local; t < p.chunks; t = t + MERGE_LANES) {
        let part = partials[t * p.row + p.first_channel + c];
        let elements = min(p.chunk, p.count - t * p.chunk);
        acc = merge(acc, vec3<f32>(f32(elements), part.x, part.y));
    }
    moments[local] = acc;
    workgroupBarrier();
    for (var stride = MERGE_LANES / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            moments[local] = merge(moments[local], moments[local + stride]);
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        let total = moments[0];
        write_batch_statistics(c, total.y, total.z / f32(p.count), p.count);
    }
}

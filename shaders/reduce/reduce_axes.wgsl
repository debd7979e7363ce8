// out[m] = scale * sum over (o, i) of x[o, m, i] (or of x^2): x viewed as [outer, mid, inner].
// One workgroup per output element; a fixed tree order keeps results deterministic.
struct Params {
    outer: u32,
    mid: u32,
    inner: u32,
    square: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, GROUP>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let m = flat_group(wg, groups);
    // Every invocation of a workgroup takes the same branch here, so the barriers below
    // stay in uniform control flow.
    if (m >= p.mid) {
        return;
    }
    let count = p.outer * p.inner;
    var sum = 0.0;
    for (var j = local; j < count; j = j + GROUP) {
        let o = j / p.inner;
        let i = j - o * p.inner;
        let v = x[(o * p.mid + m) * p.inner + i];
        sum = sum + select(v, v * v, p.square != 0u);
    }
    partial[local] = sum;
    workgroupBarrier();
    for (var stride = GROUP / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            partial[local] = partial[local] + partial[local + stride];
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        out[m] = p.scale * partial[0];
    }
}

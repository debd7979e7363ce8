// out[m] = scale * sum over (o, i) of x[o, m, i] (or of x^2): x viewed as [outer, mid, inner].
// One workgroup of LANES invocations per output element, for long sums over few outputs.
// Each invocation walks its share of (o, i) without dividing in the loop (integer
// division is scalarised on SIMD CPUs), then a fixed tree order sums the lanes, so results
// are deterministic.
const LANES: u32 = 64u;

var<workgroup> partial: array<f32, LANES>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let m = flat_group(wg, groups);
    // Every invocation of a workgroup takes the same branch here, so the barriers below
    // stay in uniform control flow.
    if (m >= p.mid) {
        return;
    }
    let count = p.outer * p.inner;
    let inner = max(p.inner, 1u);
    let step_o = LANES / inner;
    let step_i = LANES - step_o * inner;
    var o = local / inner;
    var i = local - o * inner;
    var sum = 0.0;
    for (var j = local; j < count; j = j + LANES) {
        let v = x[(o * p.mid + m) * p.inner + i];
        sum = sum + select(v, v * v, p.square != 0u);
        o = o + step_o;
        i = i + step_i;
        if (i >= inner) {
            i = i - inner;
            o = o + 1u;
        }
    }
    partial[local] = sum;
    workgroupBarrier();
    for (var stride = LANES / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            partial[local] = partial[local] + partial[local + stride];
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        out[m] = masked(p.scale * partial[0], m);
    }
}

// out[m] = scale * sum over (o, i) of x[o, m, i] (or of x^2): x viewed as [outer, mid, inner].
// One invocation per output element, summing in (o, i) order: for many outputs, or short
// sums (global average pooling, bias gradients, batch means). No barriers, no division.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let m = flat_group(wg, groups) * 64u + local;
    if (m >= p.mid) {
        return;
    }
    var sum = 0.0;
    for (var o = 0u; o < p.outer; o = o + 1u) {
        let base = (o * p.mid + m) * p.inner;
        for (var i = 0u; i < p.inner; i = i + 1u) {
            let v = x[base + i];
            sum = sum + select(v, v * v, p.square != 0u);
        }
    }
    out[m] = masked(p.scale * sum, m);
}

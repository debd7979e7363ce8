// Prepended to kernels that reduce two quantities at once over a workgroup of LANES
// invocations (per-channel statistics).
const LANES: u32 = 64u;

var<workgroup> pairs: array<vec2<f32>, LANES>;

// Sums each invocation's pair over the workgroup in a fixed tree order; every invocation
// gets the total. Call from uniform control flow.
fn group_sum2(local: u32, value: vec2<f32>) -> vec2<f32> {
    pairs[local] = value;
    workgroupBarrier();
    for (var stride = LANES / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            pairs[local] = pairs[local] + pairs[local + stride];
        }
        workgroupBarrier();
    }
    let total = pairs[0];
    workgroupBarrier();
    return total;
}

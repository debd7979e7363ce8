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

// Walks the elements (n, i) of one channel of x [batch, channels, inner] that invocation
// `local` of LANES sums: j = local, local + LANES, ... over batch * inner, with (n, i)
// advanced without dividing (integer division is scalarised on SIMD CPUs).
struct ChannelWalk {
    n: u32,
    i: u32,
    step_n: u32,
    step_i: u32,
}

fn channel_walk(local: u32, inner: u32) -> ChannelWalk {
    let step_n = LANES / inner;
    let n = local / inner;
    return ChannelWalk(n, local - n * inner, step_n, LANES - step_n * inner);
}

fn advance(w: ptr<function, ChannelWalk>, inner: u32) {
    (*w).n = (*w).n + (*w).step_n;
    (*w).i = (*w).i + (*w).step_i;
    if ((*w).i >= inner) {
        (*w).i = (*w).i - inner;
        (*w).n = (*w).n + 1u;
    }
}

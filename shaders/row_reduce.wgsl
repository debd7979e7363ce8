// Prepended to the row kernels (one workgroup of LANES invocations per row).
const LANES: u32 = 64u;
const SUM: u32 = 0u;
const MAX: u32 = 1u;

var<workgroup> scratch: array<f32, LANES>;

// Tree reduction of each lane's value over the workgroup, in a fixed order; every lane
// gets the result. Call from uniform control flow.
fn row_reduce(local: u32, value: f32, op: u32) -> f32 {
    scratch[local] = value;
    workgroupBarrier();
    for (var stride = LANES / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            let other = scratch[local + stride];
            scratch[local] = select(scratch[local] + other, max(scratch[local], other), op == MAX);
        }
        workgroupBarrier();
    }
    let result = scratch[0];
    workgroupBarrier();
    return result;
}

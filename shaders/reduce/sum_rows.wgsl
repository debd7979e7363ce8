// out[c] = sum over r of x[r, c], one invocation per column (for few rows and many
// columns, e.g. the K-split partial sums of a weight gradient).
struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let c = flat_index(wg, groups, local);
    if (c >= p.cols) {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < p.rows; r = r + 1u) {
        sum = sum + x[r * p.cols + c];
    }
    out[c] = sum;
}

// Row-wise softmax (the weight unit's task weights), one workgroup per row.
struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let row = flat_group(wg, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var local_max = -3.0e38;
    for (var c = local; c < p.cols; c = c + LANES) {
        local_max = max(local_max, z[base + c]);
    }
    let row_max = row_reduce(local, local_max, MAX);
    var local_sum = 0.0;
    for (var c = local; c < p.cols; c = c + LANES) {
        local_sum = local_sum + exp(z[base + c] - row_max);
    }
    let total = row_reduce(local, local_sum, SUM);
    for (var c = local; c < p.cols; c = c + LANES) {
        probs[base + c] = exp(z[base + c] - row_max) / total;
    }
}

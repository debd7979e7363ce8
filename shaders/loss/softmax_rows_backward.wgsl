// Backward of row-wise softmax: dz = p * (dp - <p, dp>) per row, where dp is read as
// dprobs_scale * dprobs[row * dprobs_row + c]: the upstream gradient itself (row stride
// cols, scale 1), or one row broadcast to all (stride 0; scale 1 / rows for the gradient
// of the rows' mean).
struct Params {
    rows: u32,
    cols: u32,
    dprobs_row: u32,
    dprobs_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
@group(0) @binding(2) var<storage, read> dprobs: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let row = flat_group(wg, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    let upstream = row * p.dprobs_row;
    var partial = 0.0;
    for (var c = local; c < p.cols; c = c + LANES) {
        partial = partial + probs[base + c] * (p.dprobs_scale * dprobs[upstream + c]);
    }
    let dot = row_reduce(local, partial, SUM);
    for (var c = local; c < p.cols; c = c + LANES) {
        dz[base + c] = probs[base + c] * (p.dprobs_scale * dprobs[upstream + c] - dot);
    }
}

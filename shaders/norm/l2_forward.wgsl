// Row-wise L2 normalisation: y = x / max(||x||, eps); norm[row] keeps max(||x||, eps).
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> norm: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let row = flat_group(wg, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var ss = 0.0;
    for (var c = local; c < p.cols; c = c + LANES) {
        ss = ss + x[base + c] * x[base + c];
    }
    let denom = max(sqrt(row_reduce(local, ss, SUM)), p.eps);
    for (var c = local; c < p.cols; c = c + LANES) {
        y[base + c] = x[base + c] / denom;
    }
    if (local == 0u) {
        norm[row] = denom;
    }
}

// Backward of y = x / max(||x||, eps): dx = (dy - y * <y, dy>) / ||x|| where ||x|| > eps,
// else dx = dy / eps (the clamp is constant there).
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> norm: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let row = flat_group(wg, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    let n = norm[row];
    var partial = 0.0;
    for (var c = local; c < p.cols; c = c + LANES) {
        partial = partial + y[base + c] * dy[base + c];
    }
    let dot = row_reduce(local, partial, SUM);
    let clamped = n <= p.eps;
    for (var c = local; c < p.cols; c = c + LANES) {
        dx[base + c] = select((dy[base + c] - y[base + c] * dot) / n, dy[base + c] / p.eps, clamped);
    }
}

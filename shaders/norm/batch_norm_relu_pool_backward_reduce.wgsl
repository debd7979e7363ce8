// Per-channel sums of the fused batch norm + ReLU + 2x2 max pool's backward: dbeta = sum
// dy_y, dgamma = sum dy_y * xhat, where dy_y (the gradient at the ReLU's output) is the
// pooled gradient at each window's argmax where the window's maximum is positive (the ReLU
// passed it) and 0 everywhere else. So only the pooled elements are walked: per window its
// gradient, its maximum, its argmax and the one x it points at, a quarter of the reads of
// the unfused batch-norm backward (and no full-size dy is ever written). One workgroup per
// channel walks all its windows, one or two per step (window_walk.wgsl,
// norm/window_step_*.wgsl).
struct Params {
    batch: u32,
    channels: u32,
    in_h: u32,
    in_w: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<Values>;
@group(0) @binding(3) var<storage, read> pooled: array<Values>;
@group(0) @binding(4) var<storage, read> argmax: array<Positions>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> variance: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(8) var<storage, read_write> dbeta: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let c = flat_group(wg, groups);
    if (c >= p.channels) {
        return;
    }
    let m = mean[c];
    let inv_std = inverseSqrt(variance[c] + p.eps);
    let out_h = p.in_h / 2u;
    let out_w = p.in_w / 2u;
    let steps = out_w / STEP;
    var acc = vec2<f32>(0.0);
    for (var w = window_walk(0u, p.batch, local, out_h, steps); w.j < w.end;
         advance_window(&w, out_h, steps)) {
        let plane = w.n * p.channels + c;
        let o = step_output(w, plane, out_h, steps);
        let g = select(Values(0.0), dy[o], pooled[o] > Values(0.0));
        let at = argmax[o];
        let x_base = plane * p.in_h * p.in_w;
        for (var k = 0u; k < STEP; k = k + 1u) {
            let xhat = (x[x_base + position_of(at, k)] - m) * inv_std;
            acc = acc + vec2<f32>(value_of(g, k) * xhat, value_of(g, k));
        }
    }
    let total = group_sum2(local, acc);
    if (local == 0u) {
        dgamma[c] = total.x;
        dbeta[c] = total.y;
    }
}

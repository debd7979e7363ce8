// Batch norm, ReLU and a 2x2 stride-2 max pool in one pass over x [batch, channels, h, w]
// (h and w even): of y = max((x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], 0)
// only each 2x2 window's maximum and its position (iy * w + ix in the plane, the first one
// scanned on ties, as pool/max_forward) are written, to `pooled` and `argmax`; y itself
// never reaches memory (the fused backward needs only those two and x). One workgroup per
// channel and run of `images_per_group` images (window_walk.wgsl), one or two windows per
// step (norm/window_step_*.wgsl).
struct Params {
    batch: u32,
    channels: u32,
    in_h: u32,
    in_w: u32,
    eps: f32,
    images_per_group: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<RowPart>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> pooled: array<Values>;
@group(0) @binding(7) var<storage, read_write> argmax: array<Positions>;

// The larger of a window's four values (ReLU applied) and its position: the rows `upper`
// and `lower` of the window whose top-left input is at `top`, scanned top-left, top-right,
// bottom-left, bottom-right; the first of equal values wins.
struct WindowMax {
    value: f32,
    at: u32,
}

fn window_max(upper: vec2<f32>, lower: vec2<f32>, top: u32) -> WindowMax {
    let bottom = top + p.in_w;
    var best = WindowMax(upper.x, top);
    if (upper.y > best.value) {
        best = WindowMax(upper.y, top + 1u);
    }
    if (lower.x > best.value) {
        best = WindowMax(lower.x, bottom);
    }
    if (lower.y > best.value) {
        best = WindowMax(lower.y, bottom + 1u);
    }
    return best;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let c = wg.x;
    let scale = inverseSqrt(variance[c] + p.eps) * gamma[c];
    let m = mean[c];
    let shift = beta[c];
    let out_h = p.in_h / 2u;
    let out_w = p.in_w / 2u;
    let steps = out_w / STEP;
    let first = wg.y * p.images_per_group;
    let last = min(first + p.images_per_group, p.batch);
    for (var w = window_walk(first, last, local, out_h, steps); w.j < w.end;
         advance_window(&w, out_h, steps)) {
        let plane = w.n * p.channels + c;
        let base = plane * p.in_h * p.in_w;
        // The step's rows as one load each.
        let top = step_top(w, p.in_w);
        let upper = max((x[row_part_at(base + top)] - m) * scale + shift, RowPart(0.0));
        let lower = max((x[row_part_at(base + top + p.in_w)] - m) * scale + shift,
                        RowPart(0.0));
        let first_window = window_max(window_part(upper, 0u), window_part(lower, 0u), top);
        let second = window_max(window_part(upper, 1u), window_part(lower, 1u), top + 2u);
        let o = step_output(w, plane, out_h, steps);
        pooled[o] = pack_values(first_window.value, second.value);
        argmax[o] = pack_positions(first_window.at, second.at);
    }
}

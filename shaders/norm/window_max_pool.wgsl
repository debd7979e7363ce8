// A 2x2 stride-2 max pool over activate(x) for x [batch, channels, h, w] (h and w even):
// each window's maximum and its position (iy * w + ix in the plane, the first one scanned
// on ties, as pool/max_forward) go to `pooled` and `argmax`. One workgroup per channel and
// run of `images_per_group` images (window_walk.wgsl), one or two windows per step
// (window_step_*.wgsl). The file before this one declares `p` (batch, channels, in_h, in_w,
// images_per_group), `x`, `pooled` and `argmax`, and the activation: `Activation`, the
// per-channel values `channel_activation(c)` reads once, and `activate(row, a)`.

// The larger of a window's four values (activated) and its position: the rows `upper`
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
    let a = channel_activation(c);
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
        let upper = activate(x[row_part_at(base + top)], a);
        let lower = activate(x[row_part_at(base + top + p.in_w)], a);
        let first_window = window_max(window_part(upper, 0u), window_part(lower, 0u), top);
        let second = window_max(window_part(upper, 1u), window_part(lower, 1u), top + 2u);
        let o = step_output(w, plane, out_h, steps);
        pooled[o] = pack_values(first_window.value, second.value);
        argmax[o] = pack_positions(first_window.at, second.at);
    }
}

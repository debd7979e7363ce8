// dx of the fused batch norm + ReLU + 2x2 max pool. The gradient at the ReLU's output is
// the pooled gradient at each window's argmax where the window's maximum is positive, 0
// elsewhere; it goes through batch norm as in norm/batch_norm_input_gradient.wgsl. Each
// invocation takes whole steps of one or two 2x2 windows (norm/window_step_*.wgsl),
// writing every dx of them; one workgroup per channel and run of `images_per_group`
// images (window_walk.wgsl), as the forward kernel.
struct Params {
    batch: u32,
    channels: u32,
    in_h: u32,
    in_w: u32,
    eps: f32,
    count: f32,
    batch_stats: u32,
    images_per_group: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<RowPart>;
@group(0) @binding(2) var<storage, read> dy: array<Values>;
@group(0) @binding(3) var<storage, read> pooled: array<Values>;
@group(0) @binding(4) var<storage, read> argmax: array<Positions>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> variance: array<f32>;
@group(0) @binding(7) var<storage, read> gamma: array<f32>;
@group(0) @binding(8) var<storage, read> dgamma: array<f32>;
@group(0) @binding(9) var<storage, read> dbeta: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<RowPart>;

// The gradient at the ReLU's output of window k of the step in the row starting at `left`:
// the window's gradient where its argmax is, 0 elsewhere.
fn window_gradient(g: Values, best: Positions, k: u32, left: u32) -> vec2<f32> {
    let at = position_of(best, k);
    return vec2<f32>(select(0.0, value_of(g, k), at == left),
                     select(0.0, value_of(g, k), at == left + 1u));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let c = wg.x;
    let t = input_gradient(c);
    let m = mean[c];
    let out_h = p.in_h / 2u;
    let out_w = p.in_w / 2u;
    let steps = out_w / STEP;
    let first = wg.y * p.images_per_group;
    let last = min(first + p.images_per_group, p.batch);
    for (var w = window_walk(first, last, local, out_h, steps); w.j < w.end;
         advance_window(&w, out_h, steps)) {
        let plane = w.n * p.channels + c;
        let base = plane * p.in_h * p.in_w;
        let o = step_output(w, plane, out_h, steps);
        let g = t.k * select(Values(0.0), dy[o], pooled[o] > Values(0.0));
        let best = argmax[o];
        // The step's rows as one load and one store each.
        let top = step_top(w, p.in_w);
        let bottom = top + p.in_w;
        let upper = x[row_part_at(base + top)];
        let lower = x[row_part_at(base + bottom)];
        let g_upper = pack_row(window_gradient(g, best, 0u, top),
                               window_gradient(g, best, 1u, top + 2u));
        let g_lower = pack_row(window_gradient(g, best, 0u, bottom),
                               window_gradient(g, best, 1u, bottom + 2u));
        dx[row_part_at(base + top)] = g_upper - t.slope * (upper - m) - t.shift;
        dx[row_part_at(base + bottom)] = g_lower - t.slope * (lower - m) - t.shift;
    }
}

// Batch norm, ReLU and a 2x2 stride-2 max pool in one pass over x [batch, channels, h, w]
// (h and w even): of y = max((x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], 0)
// only each 2x2 window's maximum and its position (iy * w + ix in the plane, the first one
// scanned on ties, as pool/max_forward) are written, to `pooled` and `argmax`; y itself
// never reaches memory (the fused backward needs only those two and x). One workgroup per
// channel and run of `images_per_group` images (window_walk.wgsl).
struct Params {
    batch: u32,
    channels: u32,
    in_h: u32,
    in_w: u32,
    eps: f32,
    images_per_group: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(7) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let c = wg.x;
    let scale = inverseSqrt(variance[c] + p.eps) * gamma[c];
    let m = mean[c];
    let shift = beta[c];
    let out_h = p.in_h / 2u;
    let out_w = p.in_w / 2u;
    let first = wg.y * p.images_per_group;
    let last = min(first + p.images_per_group, p.batch);
    for (var w = window_walk(first, last, local, out_h, out_w); w.j < w.end;
         advance_window(&w, out_h, out_w)) {
        let oh = w.oh;
        let ow = w.ow;
        let plane = w.n * p.channels + c;
        let base = plane * p.in_h * p.in_w;
        let out_base = plane * out_h * out_w;
        // The window's rows as pairs (the plane and every window's left column
        // are even), scanned in the order top-left, top-right, bottom-left,
        // bottom-right; the first of equal values wins.
        let top = (2u * oh) * p.in_w + 2u * ow;
        let bottom = top + p.in_w;
        let upper = max((x[(base + top) / 2u] - m) * scale + shift, vec2<f32>(0.0));
        let lower = max((x[(base + bottom) / 2u] - m) * scale + shift, vec2<f32>(0.0));
        var best = upper.x;
        var best_at = top;
        if (upper.y > best) {
            best = upper.y;
            best_at = top + 1u;
        }
        if (lower.x > best) {
            best = lower.x;
            best_at = bottom;
        }
        if (lower.y > best) {
            best = lower.y;
            best_at = bottom + 1u;
        }
        let o = out_base + oh * out_w + ow;
        pooled[o] = best;
        argmax[o] = best_at;
    }
}

// Batch norm, ReLU and a 2x2 stride-2 max pool in one pass over x [batch, channels, h, w]
// (h and w even): of y = max((x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], 0)
// only each 2x2 window's maximum and its position (iy * w + ix in the plane, the first one
// scanned on ties, as pool/max_forward) are written, to `pooled` and `argmax`; y itself
// never reaches memory (the fused backward needs only those two and x). One workgroup per
// channel and run of `images_per_group` images (window_walk.wgsl), one or two windows per
// step (norm/window_step_*.wgsl). The walk and the windows are norm/window_max_pool.wgsl's;
// this file gives it the channel's batch norm and ReLU as the activation.
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

struct Activation {
    mean: f32,
    scale: f32,
    shift: f32,
}

fn channel_activation(c: u32) -> Activation {
    return Activation(mean[c], inverseSqrt(variance[c] + p.eps) * gamma[c], beta[c]);
}

fn activate(row: RowPart, a: Activation) -> RowPart {
    return max((row - a.mean) * a.scale + a.shift, RowPart(0.0));
}

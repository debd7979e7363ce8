// RMSProp with momentum in TensorFlow's form (the paper's optimiser):
// ms = decay * ms + (1 - decay) * g^2; mom = momentum * mom + lr * g / sqrt(ms + eps);
// param -= mom; with g = grad * grad_scale + wd * param.
struct Params {
    len: u32,
    lr: f32,
    decay: f32,
    momentum: f32,
    eps: f32,
    weight_decay: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> grad_scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean_square: array<f32>;
@group(0) @binding(5) var<storage, read_write> momentum: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    let g = grad[i] * grad_scale[0] + p.weight_decay * param[i];
    let ms = p.decay * mean_square[i] + (1.0 - p.decay) * g * g;
    let mom = p.momentum * momentum[i] + p.lr * g / sqrt(ms + p.eps);
    mean_square[i] = ms;
    momentum[i] = mom;
    param[i] = param[i] - mom;
}

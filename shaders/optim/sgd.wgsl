// SGD with momentum and L2 weight decay, PyTorch's form:
// g = grad * grad_scale + wd * param; v = momentum * v + g; param -= lr * v.
// grad_scale (one float on the device) carries global-norm clipping without a readback.
struct Params {
    len: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> grad_scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    let g = grad[i] * grad_scale[0] + p.weight_decay * param[i];
    let v = p.momentum * velocity[i] + g;
    velocity[i] = v;
    param[i] = param[i] - p.lr * v;
}

// The scaled residual of Inception-ResNet's blocks: y = act(x + scale * r), act a ReLU
// when RELU (prepended) and the identity otherwise (the network's last block).
struct Params {
    len: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    let z = x[i] + p.scale * r[i];
    if (RELU) {
        y[i] = max(z, 0.0);
    } else {
        y[i] = z;
    }
}

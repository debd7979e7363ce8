// dlogits = dloss * mask[row] * (probs - onehot(label)) / max(valid, 1).
struct Params {
    rows: u32,
    classes: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> valid: array<f32>;
@group(0) @binding(5) var<storage, read> dloss: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let idx = flat_index(wg, groups, local);
    if (idx >= p.rows * p.classes) {
        return;
    }
    let row = idx / p.classes;
    let c = idx - row * p.classes;
    let label = min(labels[row], p.classes - 1u);
    let target_p = select(0.0, 1.0, c == label);
    let scale = dloss[0] * mask[row] / max(valid[0], 1.0);
    dlogits[idx] = scale * (probs[idx] - target_p);
}

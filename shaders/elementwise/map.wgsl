// Elementwise maps over flat tensors, one f32 per invocation (map_ops.wgsl, prepended,
// names the ops).

// hash, kept and drop_out: dropout_mask.wgsl (prepended).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    switch OP {
        case AXPBY: { out[i] = p.alpha * a[i] + p.beta * b[i]; }
        case MUL: { out[i] = p.alpha * a[i] * b[i]; }
        case RELU: { out[i] = max(a[i], 0.0); }
        case RELU_BACKWARD: { out[i] = select(0.0, b[i], a[i] > 0.0); }
        case ACCUMULATE: { out[i] = out[i] + p.alpha * a[i]; }
        case DROPOUT: { out[i] = drop_out(a[i], p.seed, i, p.alpha); }
        case CLIP_SCALE: { out[i] = min(1.0, p.alpha / (sqrt(a[i]) + 1e-6)); }
        case RELU_DROPOUT: { out[i] = drop_out(max(a[i], 0.0), p.seed, i, p.alpha); }
        case RELU_DROPOUT_BACKWARD: {
            out[i] = select(0.0, b[i] / p.alpha, kept(p.seed, i, p.alpha) && a[i] > 0.0);
        }
        default: { out[i] = bitcast<f32>(0x7fc00000u); }
    }
}

// The maps of map_ops.wgsl whose formula is the same for every element, over flat tensors
// whose length is a multiple of 4: one vec4 per invocation, `p.len` counting vec4s. On
// llvmpipe each storage access costs a loop over the SIMD lanes whatever its width, so
// this takes a quarter of map.wgsl's loads and stores.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    let zero = vec4<f32>(0.0);
    switch OP {
        case AXPBY: { out[i] = p.alpha * a[i] + p.beta * b[i]; }
        case MUL: { out[i] = p.alpha * a[i] * b[i]; }
        case RELU: { out[i] = max(a[i], zero); }
        case RELU_BACKWARD: { out[i] = select(zero, b[i], a[i] > zero); }
        case ACCUMULATE: { out[i] = out[i] + p.alpha * a[i]; }
        default: { out[i] = vec4<f32>(bitcast<f32>(0x7fc00000u)); }
    }
}

// The adjoint of reduce_axes: out[o, m, i] = scale * masked(src[m], m) (reduce/no_dropout.wgsl,
// or reduce/dropout.wgsl with keep and seed).
struct Params {
    outer: u32,
    mid: u32,
    inner: u32,
    scale: f32,
    keep: f32,
    seed: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let idx = flat_index(wg, groups, local);
    if (idx >= p.outer * p.mid * p.inner) {
        return;
    }
    let m = (idx / p.inner) % p.mid;
    out[idx] = p.scale * masked(src[m], m);
}

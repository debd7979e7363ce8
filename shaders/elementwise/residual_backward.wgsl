// The backward of residual.wgsl from its output y: dx = dy where y > 0 (everywhere
// without the ReLU), dr = scale * dx. Both gradients in one pass over dy.
struct Params {
    len: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> dr: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = flat_index(wg, groups, local);
    if (i >= p.len) {
        return;
    }
    var g = dy[i];
    if (RELU) {
        g = select(0.0, g, y[i] > 0.0);
    }
    dx[i] = g;
    dr[i] = p.scale * g;
}

// Max pooling's backward for overlapping windows, one class of windows per dispatch: the
// windows (oy, ox) with oy % step_y == class_y and ox % step_x == class_x, which never
// overlap, so each adds its dy to dx at its recorded argmax with no other window of the
// dispatch writing there (no atomics; the classes run in a fixed order, so the sums are
// deterministic). dx starts at zero. One invocation per window: no divisions, unlike the
// gather (max_backward.wgsl), which finds each input's windows.
struct Params {
    planes: u32,
    out_h: u32,
    out_w: u32,
    in_plane: u32,  // in_h * in_w
    class_y: u32,
    class_x: u32,
    step_y: u32,
    step_x: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let ox = (wg.x * 8u + lid.x) * p.step_x + p.class_x;
    let oy = (wg.y * 8u + lid.y) * p.step_y + p.class_y;
    if (ox >= p.out_w || oy >= p.out_h) {
        return;
    }
    // Planes beyond the grid's z limit are taken in strides of the grid.
    for (var plane = wg.z; plane < p.planes; plane = plane + groups.z) {
        let o = (plane * p.out_h + oy) * p.out_w + ox;
        let at = plane * p.in_plane + argmax[o];
        dx[at] = dx[at] + dy[o];
    }
}

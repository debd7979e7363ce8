// dx gathers dy from every window whose recorded argmax is this input position: each
// invocation writes one dx element, so there are no atomics and the order is fixed.
// Workgroups of 8 x 8 input positions of one plane (z).
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let ix = wg.x * 8u + lid.x;
    let iy = wg.y * 8u + lid.y;
    if (ix >= p.in_w || iy >= p.in_h) {
        return;
    }
    // Planes beyond the grid's z limit are taken in strides of the grid.
    for (var plane = wg.z; plane < p.planes; plane = plane + groups.z) {
        let at = iy * p.in_w + ix;
        let out_base = plane * p.out_h * p.out_w;
        var sum = 0.0;
        let oy_last = last_window(iy, p.pad_h, p.stride_h, p.out_h);
        let ox_last = last_window(ix, p.pad_w, p.stride_w, p.out_w);
        for (var oy = i32(first_window(iy, p.pad_h, p.kernel_h, p.stride_h)); oy <= oy_last; oy = oy + 1) {
            for (var ox = i32(first_window(ix, p.pad_w, p.kernel_w, p.stride_w)); ox <= ox_last; ox = ox + 1) {
                let o = out_base + u32(oy) * p.out_w + u32(ox);
                if (argmax[o] == at) {
                    sum = sum + dy[o];
                }
            }
        }
        dx[plane * p.in_h * p.in_w + at] = sum;
    }
}

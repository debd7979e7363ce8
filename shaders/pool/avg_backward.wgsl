// dx gathers dy / window size from every window that covers this input position.
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let idx = flat_index(wg, groups, local);
    let in_plane = p.in_h * p.in_w;
    if (idx >= p.planes * in_plane) {
        return;
    }
    let plane = idx / in_plane;
    let at = idx - plane * in_plane;
    let iy = at / p.in_w;
    let ix = at - iy * p.in_w;
    let out_base = plane * p.out_h * p.out_w;
    var sum = 0.0;
    let oy_last = last_window(iy, p.pad_h, p.stride_h, p.out_h);
    let ox_last = last_window(ix, p.pad_w, p.stride_w, p.out_w);
    for (var oy = i32(first_window(iy, p.pad_h, p.kernel_h, p.stride_h)); oy <= oy_last; oy = oy + 1) {
        for (var ox = i32(first_window(ix, p.pad_w, p.kernel_w, p.stride_w)); ox <= ox_last; ox = ox + 1) {
            sum = sum + dy[out_base + u32(oy) * p.out_w + u32(ox)];
        }
    }
    dx[idx] = sum / f32(p.kernel_h * p.kernel_w);
}

// Average pooling; the divisor is the full window (padding counts as zeros).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let idx = flat_index(wg, groups, local);
    let out_plane = p.out_h * p.out_w;
    if (idx >= p.planes * out_plane) {
        return;
    }
    let plane = idx / out_plane;
    let pos = idx - plane * out_plane;
    let oh = pos / p.out_w;
    let ow = pos - oh * p.out_w;
    let base = plane * p.in_h * p.in_w;
    var sum = 0.0;
    for (var kh = 0u; kh < p.kernel_h; kh = kh + 1u) {
        let iy = i32(oh * p.stride_h + kh) - i32(p.pad_h);
        if (iy < 0 || iy >= i32(p.in_h)) {
            continue;
        }
        for (var kw = 0u; kw < p.kernel_w; kw = kw + 1u) {
            let ix = i32(ow * p.stride_w + kw) - i32(p.pad_w);
            if (ix >= 0 && ix < i32(p.in_w)) {
                sum = sum + x[base + u32(iy) * p.in_w + u32(ix)];
            }
        }
    }
    y[idx] = sum / f32(p.kernel_h * p.kernel_w);
}

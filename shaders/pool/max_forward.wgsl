// Max pooling; also records, per output, the winning input position (iy * in_w + ix) in its
// plane for the backward pass. Padding never wins; ties go to the first position scanned.
// Workgroups of 8 x 8 outputs of a plane (z), so no invocation divides.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let ow = wg.x * 8u + lid.x;
    let oh = wg.y * 8u + lid.y;
    if (ow >= p.out_w || oh >= p.out_h) {
        return;
    }
    // Planes beyond the grid's z limit are taken in strides of the grid.
    for (var plane = wg.z; plane < p.planes; plane = plane + groups.z) {
        let idx = (plane * p.out_h + oh) * p.out_w + ow;
        let base = plane * p.in_h * p.in_w;
        var best = -3.0e38;
        var best_at = 0xffffffffu;
        for (var kh = 0u; kh < p.kernel_h; kh = kh + 1u) {
            let iy = i32(oh * p.stride_h + kh) - i32(p.pad_h);
            if (iy < 0 || iy >= i32(p.in_h)) {
                continue;
            }
            for (var kw = 0u; kw < p.kernel_w; kw = kw + 1u) {
                let ix = i32(ow * p.stride_w + kw) - i32(p.pad_w);
                if (ix < 0 || ix >= i32(p.in_w)) {
                    continue;
                }
                let at = u32(iy) * p.in_w + u32(ix);
                let v = x[base + at];
                if (best_at == 0xffffffffu || v > best) {
                    best = v;
                    best_at = at;
                }
            }
        }
        y[idx] = best;
        argmax[idx] = best_at;
    }
}

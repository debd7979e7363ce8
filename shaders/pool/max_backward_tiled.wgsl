// dx of max pooling whose windows tile the input exactly (stride = kernel, no padding,
// in = out * stride): every input position lies in one window, so each output's invocation
// writes its whole window, dy at the recorded argmax and 0 elsewhere. Workgroups of 8 x 8
// outputs of one plane (z).
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

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
        let o = (plane * p.out_h + oh) * p.out_w + ow;
        let g = dy[o];
        let best = argmax[o];
        let base = plane * p.in_h * p.in_w;
        for (var kh = 0u; kh < p.kernel_h; kh = kh + 1u) {
            let row = (oh * p.stride_h + kh) * p.in_w;
            for (var kw = 0u; kw < p.kernel_w; kw = kw + 1u) {
                let at = row + ow * p.stride_w + kw;
                dx[base + at] = select(0.0, g, at == best);
            }
        }
    }
}

// Channel concatenation and its inverse. One part [n, c_part, h, w] is copied into
// (INTO, prepended as true) or out of (false) channels [offset, offset + c_part) of the
// whole [n, c_whole, h, w]; a concatenation of k parts is k dispatches, its backward (the
// split) k more. Each row of workgroups (workgroup_id.y) is one sample, so no index needs
// an integer division (llvmpipe runs those lane by lane).
struct Params {
    part_inner: u32,   // c_part * h * w: one sample of the part
    whole_inner: u32,  // c_whole * h * w: one sample of the whole
    offset: u32,       // the part's first channel * h * w
    samples: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let r = wg.x * GROUP + local;
    if (r >= p.part_inner || wg.y >= p.samples) {
        return;
    }
    let part = wg.y * p.part_inner + r;
    let whole = wg.y * p.whole_inner + p.offset + r;
    if (INTO) {
        dst[whole] = src[part];
    } else {
        dst[part] = src[whole];
    }
}

// Prepended to every kernel. Flat kernels run 256 invocations per workgroup on a 2-D grid
// of workgroups (the host splits large counts over y to respect the per-dimension limit).
const GROUP: u32 = 256u;

fn flat_index(wg: vec3<u32>, groups: vec3<u32>, local: u32) -> u32 {
    return (wg.y * groups.x + wg.x) * GROUP + local;
}

fn flat_group(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wg.y * groups.x + wg.x;
}

// Which stack of `per` channels channel `channel` is in (channel / per), without an
// integer division, which llvmpipe runs lane by lane: (channel + 0.5) / per in f32 is
// within 2.5 ulp of the exact quotient, less than the 0.5 / per it keeps from the
// nearest integer while channel < 2^20 (the launchers hold channels under that).
fn stack_of(channel: u32, per: u32) -> u32 {
    return u32((f32(channel) + 0.5) / f32(per));
}

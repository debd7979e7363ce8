// Prepended to every kernel. Flat kernels run 256 invocations per workgroup on a 2-D grid
// of workgroups (the host splits large counts over y to respect the per-dimension limit).
const GROUP: u32 = 256u;

fn flat_index(wg: vec3<u32>, groups: vec3<u32>, local: u32) -> u32 {
    return (wg.y * groups.x + wg.x) * GROUP + local;
}

fn flat_group(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wg.y * groups.x + wg.x;
}

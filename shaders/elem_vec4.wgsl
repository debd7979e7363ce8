// Prepended to the per-channel kernels instead of elem_f32.wgsl where the plane's size is
// a multiple of 4: each step of the walk loads and stores a vec4, and the walk runs over
// quarter-length planes. On llvmpipe a storage-buffer access costs a loop over the SIMD
// lanes whatever its width, so this takes a quarter of the loads and stores.
alias Elem = vec4<f32>;
const WIDTH: u32 = 4u;

fn elem_sum(v: Elem) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}

fn elem_first(v: Elem) -> f32 {
    return v.x;
}
